"""The jetstream backend's batched NATS writes (nats_io.py) against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from eventwire_runtime.dispatcher.backends.nats_io import ACK, Publisher, Replies
from tests.support.nats import nats_server
from tests.support.waiting import eventually_async


@pytest.fixture
async def nc() -> AsyncIterator[NATS]:
    with nats_server() as url:
        client = await nats.connect(url)
        try:
            yield client
        finally:
            await client.close()


async def outcome_of(publisher: Publisher, subject: str) -> BaseException | None:
    done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    publisher.publish(subject, b"event", done.set_result)
    async with asyncio.timeout(10):
        return await done


async def test_a_publish_is_reported_stored_only_once_the_stream_acknowledged_it(nc: NATS) -> None:
    await nc.jetstream().add_stream(StreamConfig(name="S", subjects=["s.>"]))
    publisher = Publisher(nc)
    await publisher.start()
    assert await outcome_of(publisher, "s.one") is None
    assert (await nc.jetstream().stream_info("S")).state.messages == 1
    failed = await outcome_of(publisher, "nostream.one")  # no responders: no stream takes it
    assert isinstance(failed, nats.errors.Error)


async def test_a_publish_whose_ack_never_comes_fails_with_a_timeout_never_stored(nc: NATS) -> None:
    silent = await nc.subscribe("silent.>")  # takes the publish and never answers it
    publisher = Publisher(nc, timeout=0.3)
    await publisher.start()
    failed = await outcome_of(publisher, "silent.one")
    assert isinstance(failed, TimeoutError)
    assert not publisher.pending  # a late ack finds nothing to report to
    await silent.unsubscribe()


async def test_gathered_acks_reach_the_consumer_and_flush_sends_them_at_once(nc: NATS) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="S", subjects=["s.>"]))
    config = ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT, ack_wait=60)
    for i in range(4):
        await js.publish(f"s.{i}", b"event")
    sub = await js.pull_subscribe("s.>", durable="c", config=config)
    messages = await sub.fetch(4, timeout=5)
    replies = Replies(nc, delay=3600)  # the timer never fires here: only flush() sends
    for msg in messages[:2]:
        replies.send(msg, ACK)
    await asyncio.sleep(0.2)
    assert (await js.consumer_info("S", "c")).num_ack_pending == 4  # gathered, not yet written
    await replies.flush()
    await nc.flush()
    assert (await js.consumer_info("S", "c")).num_ack_pending == 2
    soon = Replies(nc, delay=0.01)
    for msg in messages[2:]:
        soon.send(msg, ACK)

    async def all_acked() -> bool:
        return (await js.consumer_info("S", "c")).num_ack_pending == 0

    await eventually_async(all_acked, timeout=10, what="the timer's acks reach the consumer")
