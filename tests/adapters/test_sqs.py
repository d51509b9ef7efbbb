"""AwsSqsSource against a real moto_server and real loopback sinks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session

from eventwire_runtime.adapters.sqs import SqsAdapter
from eventwire_runtime.delivery.errors import ConfigError
from tests.adapters.conftest import make_env, metered_sender, running, until, wait_for
from tests.support.moto import CREDENTIALS, REGION, moto_endpoint
from tests.support.sink import Received, Reply, Responder, Sink

__all__ = ["moto_endpoint"]  # the fixture, used by name


@contextlib.asynccontextmanager
async def sqs_client(endpoint: str) -> AsyncIterator[Any]:
    session = get_session()
    async with session.create_client(
        "sqs",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ) as client:
        yield client


async def _queue(client: Any, fifo: bool = False) -> str:
    name = f"q-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
    response = await client.create_queue(QueueName=name, Attributes=attributes)
    return str(response["QueueUrl"])


async def _counts(client: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages in the queue."""
    response = await client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    attributes = response["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def _drained(client: Any, queue_url: str) -> bool:
    return await _counts(client, queue_url) == (0, 0)


@contextlib.asynccontextmanager
async def adapter_for(
    queue_url: str,
    endpoint: str,
    responder: Responder | None = None,
    delivery: dict[str, object] | None = None,
    **settings: str,
) -> AsyncIterator[tuple[SqsAdapter, Sink]]:
    async with Sink.start(responder) as sink:
        extra = {
            "SQS_QUEUE_URL": queue_url,
            "SQS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "SQS_WAIT_TIME_SECONDS": "1",
            **CREDENTIALS,
            **settings,
        }
        env = make_env("awssqssource", sink.url, delivery, extra=extra)
        async with metered_sender(env) as (sender, _):
            adapter = SqsAdapter(env, sender)
            async with running(adapter):
                await wait_for(lambda: adapter.ready, within=10)
                yield adapter, sink


async def test_messages_become_events_and_are_deleted_after_delivery(moto_endpoint: str) -> None:
    async with sqs_client(moto_endpoint) as client:
        queue_url = await _queue(client)
        sent = await client.send_message(
            QueueUrl=queue_url,
            MessageBody='{"order": 1}',
        )
        await client.send_message(
            QueueUrl=queue_url,
            MessageBody="plain text",
            MessageAttributes={"datacontenttype": {"DataType": "String", "StringValue": "text/csv"}},
        )
        async with adapter_for(
            queue_url, moto_endpoint, K_CE_OVERRIDES='{"extensions": {"env": "test"}}'
        ) as (
            _,
            sink,
        ):
            received = await sink.wait_for(2)
        # Deleted: nothing visible or in flight remains.
        await until(lambda: _drained(client, queue_url))
    by_body = {r.body: r for r in received}
    event = by_body[b'{"order": 1}']
    assert event.headers["ce-type"] == "aws.sqs.message"
    assert event.headers["ce-source"] == queue_url
    assert event.headers["ce-id"] == sent["MessageId"]
    assert event.headers["ce-env"] == "test"
    assert event.headers["content-type"] == "application/json"
    assert event.headers["ce-time"].endswith("Z")
    assert by_body[b"plain text"].headers["content-type"] == "text/csv"


async def test_batches_of_up_to_ten(moto_endpoint: str) -> None:
    async with sqs_client(moto_endpoint) as client:
        queue_url = await _queue(client)
        for start in range(0, 25, 10):
            entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(start + 10, 25))]
            await client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        async with adapter_for(queue_url, moto_endpoint, SQS_BATCH_SIZE="10") as (_, sink):
            received = await sink.wait_for(25)
        assert sorted(r.body.decode() for r in received) == sorted(f"m{i}" for i in range(25))
        await until(lambda: _drained(client, queue_url))


async def test_failed_sink_leaves_the_message_for_redelivery(moto_endpoint: str) -> None:
    # The sink refuses the first two attempts (one delivery with no retries, twice), then accepts.
    def refuse_twice(index: int, _: Received) -> Reply:
        return Reply(500) if index < 2 else Reply(202)

    async with sqs_client(moto_endpoint) as client:
        queue_url = await _queue(client)
        sent = await client.send_message(QueueUrl=queue_url, MessageBody="again")
        async with adapter_for(
            queue_url, moto_endpoint, refuse_twice, delivery={"retry": 0}, SQS_VISIBILITY_TIMEOUT="1"
        ) as (_, sink):
            await sink.wait_for(1)
            # Not deleted after the failure: still in the queue (hidden until the timeout ends).
            visible, hidden = await _counts(client, queue_url)
            assert visible + hidden == 1
            received = await sink.wait_for(3, within=15)
            await until(lambda: _drained(client, queue_url))
        assert await _counts(client, queue_url) == (0, 0)
    assert [r.headers["ce-id"] for r in received[:3]] == [sent["MessageId"]] * 3


async def test_nothing_is_deleted_before_the_sink_answers_and_visibility_is_extended(
    moto_endpoint: str,
) -> None:
    # The sink holds the event for 3.5 s with a 2 s visibility timeout: without extension the
    # message would be received twice; it must be delivered once and deleted only afterwards.
    async def slow(_: int, __: Received) -> Reply:
        return Reply(202, delay=3.5)

    async with sqs_client(moto_endpoint) as client:
        queue_url = await _queue(client)
        await client.send_message(QueueUrl=queue_url, MessageBody="slow")
        async with adapter_for(queue_url, moto_endpoint, slow, SQS_VISIBILITY_TIMEOUT="2") as (_, sink):
            await sink.wait_for(1)
            assert await _counts(client, queue_url) == (0, 1), "in flight, not deleted"
            await until(lambda: _drained(client, queue_url))
            assert await _counts(client, queue_url) == (0, 0)
        assert len(sink.received) == 1


async def test_fifo_queue_holds_back_the_rest_of_a_group_after_a_failure(moto_endpoint: str) -> None:
    # The first attempt of a2 fails: a3 (same group) must not be delivered in that pass; it waits
    # for the queue to hand the group out again. Group B is unaffected. (moto's FIFO emulation
    # does not reproduce SQS's in-order redelivery within a group, so only the adapter's part,
    # holding back the rest of the group, is asserted.)
    failed_at: list[float] = []

    def fail_a2_once(_: int, request: Received) -> Reply:
        if request.body == b"a2" and not failed_at:
            failed_at.append(request.at)
            return Reply(500)
        return Reply(202)

    async with sqs_client(moto_endpoint) as client:
        queue_url = await _queue(client, fifo=True)
        for body in ("a1", "a2", "a3"):
            await client.send_message(QueueUrl=queue_url, MessageBody=body, MessageGroupId="A")
        await client.send_message(QueueUrl=queue_url, MessageBody="b1", MessageGroupId="B")
        async with adapter_for(
            queue_url, moto_endpoint, fail_a2_once, delivery={"retry": 0}, SQS_VISIBILITY_TIMEOUT="1"
        ) as (_, sink):
            await wait_for(
                lambda: (
                    {r.body for r in sink.received} >= {b"a1", b"a2", b"a3", b"b1"}
                    and sum(r.body == b"a2" for r in sink.received) == 2
                ),
                within=20,
            )
            await until(lambda: _drained(client, queue_url), within=15)
    bodies = [r.body.decode() for r in sink.received]
    assert bodies.index("a1") < bodies.index("a2")
    [first_a3] = [r for r in sink.received if r.body == b"a3"]
    assert first_a3.at - failed_at[0] >= 0.9, "a3 was held back until the group came back"
    assert sink.received[-1].body in (b"a2", b"a3")
    assert any(r.headers.get("ce-sqsmessagegroupid") == "B" for r in sink.received)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "SQS_QUEUE_URL is required"),
        ({"SQS_QUEUE_URL": "sqs://queue"}, "must be an http"),
        ({"SQS_QUEUE_URL": "http://127.0.0.1:1/123/q"}, "AWS_REGION is required"),
        ({"SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q", "SQS_BATCH_SIZE": "11"}, "at most 10"),
        ({"SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q", "AWS_ACCESS_KEY_ID": "x"}, "set both"),
    ],
)
async def test_bad_settings_fail_at_construction(settings: dict[str, str], message: str) -> None:
    env = make_env("awssqssource", "http://127.0.0.1:9/", extra=settings)
    async with metered_sender(env) as (sender, _):
        with pytest.raises(ConfigError, match=message):
            SqsAdapter(env, sender)


async def test_region_is_read_from_an_aws_queue_url() -> None:
    env = make_env(
        "awssqssource", "http://127.0.0.1:9/", SQS_QUEUE_URL="https://sqs.eu-west-1.amazonaws.com/1/q"
    )
    async with metered_sender(env) as (sender, _):
        assert SqsAdapter(env, sender).region == "eu-west-1"


def test_event_time_comes_from_sent_timestamp() -> None:
    from eventwire_runtime.adapters.sqs import to_event

    event = to_event(
        "http://q",
        {"MessageId": "m", "Body": json.dumps([1]), "Attributes": {"SentTimestamp": "1764000000123"}},
    )
    assert event.time is not None
    assert event.time.isoformat() == "2025-11-24T16:00:00.123000+00:00"
    assert event.datacontenttype == "application/json"


async def test_shutdown_finishes_deliveries_in_flight_then_deletes(moto_endpoint: str) -> None:
    async def slow(_: int, __: Received) -> Reply:
        return Reply(202, delay=1.0)

    async with Sink.start(slow) as sink, sqs_client(moto_endpoint) as client:
        queue_url = await _queue(client)
        await client.send_message(QueueUrl=queue_url, MessageBody="drain me")
        extra = {
            "SQS_QUEUE_URL": queue_url,
            "SQS_ENDPOINT_URL": moto_endpoint,
            "AWS_REGION": REGION,
            **CREDENTIALS,
        }
        env = make_env("awssqssource", sink.url, extra=extra)
        async with metered_sender(env) as (sender, _):
            adapter = SqsAdapter(env, sender)
            task = asyncio.create_task(adapter.run())
            await sink.wait_for(1)
            adapter.stop()  # while the sink still holds the request
            async with asyncio.timeout(10):
                await task
        assert await _counts(client, queue_url) == (0, 0), "delivered, so deleted before exit"


async def test_a_failing_receive_is_logged_and_polling_goes_on(
    moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The queue vanishing makes every receive fail with the service's ClientError
    # (QueueDoesNotExist): the adapter logs it and keeps polling, it does not crash.
    async with sqs_client(moto_endpoint) as client:
        queue_url = await _queue(client)
        with caplog.at_level("ERROR", logger="eventwire_runtime.adapters.sqs"):
            async with adapter_for(queue_url, moto_endpoint) as (adapter, _):
                await client.delete_queue(QueueUrl=queue_url)
                await wait_for(lambda: any("receive from" in r.message for r in caplog.records))
                assert adapter.ready, "still running after a failed receive"
