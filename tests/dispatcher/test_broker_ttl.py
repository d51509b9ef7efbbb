"""A Broker's hop count as Knative keeps it, through a real dispatcher on loopback with subscribers
that read and answer with the `cloudevents` SDK.

Knative's rules (knative/eventing pkg/broker/ttl.go, ingress/ingress_handler.go,
filter/filter_handler.go): ingress sets the `knativebrokerttl` extension to 255 when absent, else
counts one hop (minus one), and refuses with 400 an event left at 0; a Trigger's subscriber never
sees the extension; its reply carries the answered event's count back into the Broker, so the
reply that would reach 0 is refused and the delivery that produced it fails (dead letter, no
retry: a 400 is not retried).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from cloudevents.core.bindings.http import HTTPMessage, from_http, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.dispatcher.conftest import Routes, binary_headers
from tests.dispatcher.test_broker import (
    _equals,
    broker,
    metric,
    send,
    started,
    trigger,
    until,
    url,
    write_dead_lettering,
)
from tests.dispatcher.test_broker import write_brokers as write
from tests.support.sink import Received, Reply, Sink

TTL = "knativebrokerttl"


def sdk_event(rec: Received) -> Any:
    """The request as a subscriber using the CloudEvents SDK reads it."""
    return from_http(HTTPMessage(rec.headers, rec.body), JSONFormat())


def sdk_replying(event_type: str) -> Any:
    """A subscriber that answers every event with a reply made by the SDK, which also tries to
    reset the hop count (Knative overwrites a reply's count with the answered event's)."""

    def answer(_: int, rec: Received) -> Reply:
        got = sdk_event(rec)
        attributes = {
            "id": "re-" + got.get_id(),
            "source": "/looper",
            "type": event_type,
            "specversion": "1.0",
            TTL: "255",
        }
        message = to_binary(CloudEvent(attributes, data=b"{}"), JSONFormat())
        return Reply(200, dict(message.headers), message.body)

    return answer


async def test_subscribers_never_see_the_hop_count(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    async with Sink.start() as binary, Sink.start() as structured:
        write(
            routes,
            broker(
                "default",
                trigger("binary", binary.url),
                trigger("structured", structured.url, delivery={"format": "structured"}),
            ),
        )
        async with started(routes, any_backend) as d:
            assert await send(http, url(d, "default"), "fresh", "x") == 202
            assert await send(http, url(d, "default"), "counted", "x", **{"ce-" + TTL: "9"}) == 202
            await binary.wait_for(2)
            await structured.wait_for(2)
    for rec in [*binary.received, *structured.received]:
        event = sdk_event(rec)
        assert event.get_id() in ("fresh", "counted")
        assert TTL not in event.get_attributes(), event.get_attributes()
    assert "application/cloudevents+json" in structured.received[0].headers["content-type"]


async def test_ingress_counts_one_hop_and_refuses_an_event_left_at_zero(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with Sink.start() as sink:
        write(routes, broker("default", trigger("all", sink.url)))
        async with started(routes, {}) as d:
            target = url(d, "default")
            assert await send(http, target, "two", "x", **{"ce-" + TTL: "2"}) == 202
            for value in ("1", "0", "-3"):
                headers = {"ce-" + TTL: value}
                async with http.post(target, data=b"{}", headers=_event("refused", **headers)) as resp:
                    assert resp.status == 400, value
                    assert "hop limit" in await resp.text()
            # Not Knative's (it replaces a count it cannot read by 255): bad input is named.
            for value in ("many", "2147483648"):
                async with http.post(
                    target, data=b"{}", headers=_event("bad", **{"ce-" + TTL: value})
                ) as resp:
                    assert resp.status == 400, value
                    assert TTL in await resp.text()
            await sink.wait_for(1)
            assert await metric(http, d, "eventwire_dispatcher_events_received_total", code="400") == 5
    assert [sdk_event(r).get_id() for r in sink.received] == ["two"]


def _event(event_id: str, **extra: str) -> dict[str, str]:
    return binary_headers(event_id, **{"ce-type": "x", **extra})


async def test_a_reply_carries_the_answered_count_and_the_refused_one_dead_letters(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    async with Sink.start(sdk_replying("ping")) as looper, Sink.start() as dls:
        write_dead_lettering(routes, "loop", looper.url, dls.url, "ping")
        async with started(routes, any_backend) as d:
            # 4 at the producer, 3 once ingress counted a hop, then 2 and 1 for the replies; the
            # third reply would be at 0: refused, so the delivery that produced it dead-letters.
            assert await send(http, url(d, "default"), "p", "ping", **{"ce-" + TTL: "4"}) == 202
            [dead] = await dls.wait_for(1)
            await until(
                lambda: _equals(
                    metric(http, d, "eventwire_dispatcher_trigger_events_total", outcome="hop_limit"), 1
                )
            )
    assert [sdk_event(r).get_id() for r in looper.received] == ["p", "re-p", "re-re-p"]  # no retry
    assert dead.headers["ce-id"] == "re-re-p"
    assert dead.headers["ce-knativeerrorcode"] == "400"


async def test_the_default_count_lets_a_loop_run_255_deliveries(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with Sink.start(sdk_replying("ping")) as looper, Sink.start() as dls:
        write_dead_lettering(routes, "loop", looper.url, dls.url, "ping")
        async with started(routes, {}) as d:
            assert await send(http, url(d, "default"), "p", "ping") == 202
            await dls.wait_for(1, within=30)
    assert len(looper.received) == 255
