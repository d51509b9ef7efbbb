"""Adapter delivery against real loopback sinks: retries, dead letter, in-flight limit, metrics."""

from __future__ import annotations

import asyncio

from eventwire_runtime.adapters.events import SourceEvent, binary_message
from tests.adapters.conftest import make_env, metered_sender, metric
from tests.support.sink import ConcurrencyProbe, Received, Reply, Sink


def _message() -> tuple[list[tuple[str, str]], bytes]:
    return binary_message(
        SourceEvent(type="t", source="/s", id="e1", data=b"x", datacontenttype="text/plain")
    )


async def test_sink_that_fails_then_recovers_gets_the_event_after_retries() -> None:
    def flaky(index: int, _: Received) -> Reply:
        return Reply(503) if index < 2 else Reply(202)

    async with Sink.start(flaky) as sink:
        env = make_env("pingsource", sink.url, PING_SCHEDULE="@hourly")
        async with metered_sender(env) as (sender, metrics):
            outcome = await sender.send(*_message())
    assert outcome.delivered
    assert outcome.accepted
    assert outcome.attempts == 3
    assert [r.headers["ce-id"] for r in sink.received] == ["e1", "e1", "e1"]
    assert metric(metrics, "eventwire_adapter_events_delivered_total") == 1
    assert metric(metrics, "eventwire_adapter_delivery_retries_total") == 2
    assert metric(metrics, "eventwire_adapter_events_failed_total") == 0


async def test_sink_that_never_recovers_sends_the_event_to_the_dead_letter_sink() -> None:
    async with Sink.start(lambda i, r: Reply(500, body=b"boom")) as sink, Sink.start() as dls:
        delivery = {"retry": 2, "backoffDelay": "PT0.01S", "deadLetterSinkUri": dls.url}
        env = make_env("pingsource", sink.url, delivery=delivery)
        async with metered_sender(env) as (sender, metrics):
            outcome = await sender.send(*_message())
    assert not outcome.delivered
    assert outcome.dead_lettered
    assert outcome.accepted, "a dead-lettered event may be acknowledged upstream"
    assert len(sink.received) == 3
    [dead] = dls.received
    assert dead.body == b"x"
    assert dead.headers["ce-id"] == "e1"
    assert dead.headers["ce-knativeerrordest"] == sink.url
    assert dead.headers["ce-knativeerrorcode"] == "500"
    assert dead.headers["ce-knativeerrordata"] == "Ym9vbQ=="
    assert metric(metrics, "eventwire_adapter_events_dead_lettered_total") == 1
    assert metric(metrics, "eventwire_adapter_events_failed_total") == 1


async def test_non_retryable_status_is_not_retried_and_not_accepted() -> None:
    async with Sink.start(lambda i, r: Reply(400)) as sink:
        env = make_env("pingsource", sink.url)
        async with metered_sender(env) as (sender, _):
            outcome = await sender.send(*_message())
    assert not outcome.accepted
    assert outcome.status == 400
    assert len(sink.received) == 1


async def test_in_flight_limit_bounds_concurrent_deliveries() -> None:
    slow = ConcurrencyProbe(delay=0.05)

    async with Sink.start(slow) as sink:
        env = make_env("pingsource", sink.url, K_MAX_IN_FLIGHT="3")
        async with metered_sender(env) as (sender, metrics):
            outcomes = await asyncio.gather(*(sender.send(*_message()) for _ in range(12)))
    assert all(o.delivered for o in outcomes)
    assert slow.peak == 3
    assert metric(metrics, "eventwire_adapter_events_produced_total") == 12
