"""GcpPubSubSource against the real Pub/Sub emulator and real loopback sinks."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import pubsub_v1

from eventwire_runtime.adapters.pubsub import PubSubAdapter, _wait_closed
from eventwire_runtime.delivery.errors import ConfigError
from tests.adapters.conftest import make_env, metered_sender, running, wait_for
from tests.support.pubsub import create_topic, emulator, publish, pubsub_emulator
from tests.support.sink import ConcurrencyProbe, Received, Reply, Responder, Sink

__all__ = ["emulator", "pubsub_emulator"]  # the fixtures, used by name

PROJECT = "eventwire-test"


def _pull_leftovers(subscription: str) -> int:
    with pubsub_v1.SubscriberClient() as subscriber:
        response = subscriber.pull(
            request={"subscription": f"projects/{PROJECT}/subscriptions/{subscription}", "max_messages": 10},
            timeout=5,
        )
        return len(response.received_messages)


@contextlib.asynccontextmanager
async def adapter_for(
    emulator: str,
    responder: Responder | None = None,
    delivery: dict[str, object] | None = None,
    **settings: str,
) -> AsyncIterator[tuple[PubSubAdapter, Sink]]:
    async with Sink.start(responder) as sink:
        extra = {"PUBSUB_PROJECT": PROJECT, "PUBSUB_EMULATOR_HOST": emulator, **settings}
        env = make_env("gcppubsubsource", sink.url, delivery, extra=extra)
        async with metered_sender(env) as (sender, _):
            adapter = PubSubAdapter(env, sender)
            async with running(adapter, drain=20):
                await wait_for(lambda: adapter.ready, within=20)
                yield adapter, sink


async def test_created_subscription_delivers_messages_in_push_format_and_acks(emulator: str) -> None:
    topic = await asyncio.to_thread(create_topic, PROJECT)
    subscription = f"s-{uuid.uuid4().hex[:10]}"
    async with adapter_for(
        emulator,
        PUBSUB_TOPIC=topic,
        PUBSUB_SUBSCRIPTION=subscription,
        PUBSUB_CREATE_SUBSCRIPTION="true",
        K_CE_OVERRIDES='{"extensions": {"team": "data"}}',
    ) as (_, sink):
        [message_id] = await asyncio.to_thread(
            publish, PROJECT, topic, (b"\x00binary\xff", {"kind": "order"})
        )
        [event] = await sink.wait_for(1, within=20)
    assert event.headers["ce-type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert event.headers["ce-source"] == f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}"
    assert event.headers["ce-id"] == message_id
    assert event.headers["ce-team"] == "data"
    assert event.headers["content-type"] == "application/json"
    push = json.loads(event.body)
    assert push["subscription"] == f"projects/{PROJECT}/subscriptions/{subscription}"
    assert base64.b64decode(push["message"]["data"]) == b"\x00binary\xff"
    assert push["message"]["attributes"] == {"kind": "order"}
    assert push["message"]["messageId"] == message_id
    assert push["message"]["publishTime"].endswith("Z")
    assert await asyncio.to_thread(_pull_leftovers, subscription) == 0, "acked after delivery"


async def test_failed_delivery_is_nacked_and_redelivered(emulator: str) -> None:
    def refuse_first(index: int, _: Received) -> Reply:
        return Reply(500) if index == 0 else Reply(202)

    topic = await asyncio.to_thread(create_topic, PROJECT)
    subscription = f"s-{uuid.uuid4().hex[:10]}"
    async with adapter_for(
        emulator,
        refuse_first,
        delivery={"retry": 0},
        PUBSUB_TOPIC=topic,
        PUBSUB_SUBSCRIPTION=subscription,
        PUBSUB_CREATE_SUBSCRIPTION="true",
    ) as (_, sink):
        [message_id] = await asyncio.to_thread(publish, PROJECT, topic, (b"again", {}))
        received = await sink.wait_for(2, within=30)
    assert [r.headers["ce-id"] for r in received[:2]] == [message_id, message_id]
    assert await asyncio.to_thread(_pull_leftovers, subscription) == 0


async def test_existing_subscription_tells_the_topic_and_flow_control_bounds_outstanding(
    emulator: str,
) -> None:
    slow = ConcurrencyProbe(delay=0.2)

    topic = await asyncio.to_thread(create_topic, PROJECT)
    subscription = f"s-{uuid.uuid4().hex[:10]}"

    def create() -> None:
        with pubsub_v1.SubscriberClient() as subscriber:
            subscriber.create_subscription(
                name=f"projects/{PROJECT}/subscriptions/{subscription}",
                topic=f"projects/{PROJECT}/topics/{topic}",
            )

    await asyncio.to_thread(create)
    async with adapter_for(
        emulator, slow, PUBSUB_SUBSCRIPTION=subscription, PUBSUB_MAX_OUTSTANDING_MESSAGES="2"
    ) as (adapter, sink):
        assert adapter.topic == topic
        await asyncio.to_thread(publish, PROJECT, topic, *[(f"m{i}".encode(), {}) for i in range(8)])
        received = await sink.wait_for(8, within=30)
    assert sorted(base64.b64decode(json.loads(r.body)["message"]["data"]) for r in received) == sorted(
        f"m{i}".encode() for i in range(8)
    )
    assert slow.peak <= 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        # No project and a key file that does not exist: nothing to take the project from.
        ({"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"}, "PUBSUB_PROJECT is not set"),
        (
            {"PUBSUB_PROJECT": "p", "PUBSUB_RETENTION_DURATION": "60"},
            "PUBSUB_RETENTION_DURATION must be at least 600",
        ),
        ({"PUBSUB_PROJECT": "p", "PUBSUB_CREATE_SUBSCRIPTION": "true"}, "PUBSUB_TOPIC is required"),
        ({"PUBSUB_PROJECT": "p", "PUBSUB_TOPIC": "projects/p/topics/t"}, "must be an id"),
        ({"PUBSUB_PROJECT": "p", "PUBSUB_ACK_DEADLINE": "5"}, "PUBSUB_ACK_DEADLINE must be at least 10"),
    ],
)
async def test_bad_settings_fail_at_construction(settings: dict[str, str], message: str) -> None:
    env = make_env("gcppubsubsource", "http://127.0.0.1:9/", extra=settings)
    async with metered_sender(env) as (sender, _):
        with pytest.raises(ConfigError, match=message):
            PubSubAdapter(env, sender)


async def test_missing_subscription_fails_the_run_with_a_clear_error(emulator: str) -> None:
    env = make_env(
        "gcppubsubsource",
        "http://127.0.0.1:9/",
        extra={"PUBSUB_PROJECT": PROJECT, "PUBSUB_EMULATOR_HOST": emulator, "PUBSUB_SUBSCRIPTION": "nope"},
    )
    async with metered_sender(env) as (sender, _):
        adapter = PubSubAdapter(env, sender)
        with pytest.raises(ConfigError, match="subscriptions/nope does not exist"):
            async with asyncio.timeout(20):
                await adapter.run()


async def test_shutdown_finishes_deliveries_in_flight_and_acks_them(emulator: str) -> None:
    async def slow(_: int, __: Received) -> Reply:
        return Reply(202, delay=1.0)

    topic = await asyncio.to_thread(create_topic, PROJECT)
    subscription = f"s-{uuid.uuid4().hex[:10]}"
    async with Sink.start(slow) as sink:
        extra = {
            "PUBSUB_PROJECT": PROJECT,
            "PUBSUB_EMULATOR_HOST": emulator,
            "PUBSUB_TOPIC": topic,
            "PUBSUB_SUBSCRIPTION": subscription,
            "PUBSUB_CREATE_SUBSCRIPTION": "true",
        }
        env = make_env("gcppubsubsource", sink.url, extra=extra)
        async with metered_sender(env) as (sender, _):
            adapter = PubSubAdapter(env, sender)
            task = asyncio.create_task(adapter.run())
            await wait_for(lambda: adapter.ready, within=20)
            await asyncio.to_thread(publish, PROJECT, topic, (b"drain", {}))
            await sink.wait_for(1, within=20)
            adapter.stop()  # the sink still holds the event
            async with asyncio.timeout(20):
                await task
    assert len(sink.received) == 1
    assert await asyncio.to_thread(_pull_leftovers, subscription) == 0, "acked before the stream closed"


def _stream_ending(subscription: str, within: float) -> None:
    """A real streaming pull on `subscription`, cancelled and waited for by `_wait_closed`. Blocking."""
    with pubsub_v1.SubscriberClient() as subscriber:
        future = subscriber.subscribe(f"projects/{PROJECT}/subscriptions/{subscription}", lambda m: m.nack())
        try:
            _wait_closed(future, within)
        finally:
            future.cancel()
            with contextlib.suppress(Exception):  # the first call said how it ended
                future.result(timeout=10)


def test_a_stream_that_ends_with_an_error_is_logged_with_its_traceback(
    emulator: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="eventwire_runtime.adapters.pubsub"):
        _stream_ending("never-created", within=20)  # the stream fails: NotFound
    [record] = [r for r in caplog.records if r.name == "eventwire_runtime.adapters.pubsub"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], NotFound)


def test_a_stream_that_does_not_shut_down_in_time_is_a_warning(
    emulator: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = create_topic(PROJECT)
    subscription = f"s-{uuid.uuid4().hex[:10]}"
    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.create_subscription(
            name=f"projects/{PROJECT}/subscriptions/{subscription}",
            topic=f"projects/{PROJECT}/topics/{topic}",
        )
    with caplog.at_level(logging.DEBUG, logger="eventwire_runtime.adapters.pubsub"):
        _stream_ending(subscription, within=0.2)  # a healthy stream, never cancelled in that time
    [record] = [r for r in caplog.records if r.name == "eventwire_runtime.adapters.pubsub"]
    assert record.levelno == logging.WARNING
    assert "did not shut down within 0.2s" in record.getMessage()
