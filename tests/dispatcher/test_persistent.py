"""The jetstream and redis backends against real nats-server and redis-server processes."""

from __future__ import annotations

import asyncio
import io
import re

import aiohttp

from tests.dispatcher.conftest import Routes, binary_headers, channel, run_dispatcher, subscriber
from tests.dispatcher.ledger import Ledger, producing
from tests.dispatcher.test_control_plane_changes import consumers_are
from tests.support.nats import nats_server
from tests.support.sink import Reply, Sink
from tests.support.waiting import eventually_async


async def post(http: aiohttp.ClientSession, url: str, event_id: str) -> int:
    async with http.post(url, data=b"{}", headers=binary_headers(event_id)) as resp:
        return resp.status


async def delivered_count(http: aiohttp.ClientSession, base: str) -> float:
    async with http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    found = re.findall(
        r'eventwire_dispatcher_deliveries_total\{[^}]*outcome="delivered"[^}]*\} ([0-9.e+]+)', text
    )
    return sum(float(v) for v in found)


async def test_delivers_with_retries_and_dead_letter(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with (
        Sink.start(lambda i, r: Reply(503) if i == 0 else Reply(202)) as sink,
        Sink.start(lambda i, r: Reply(400)) as bad,
        Sink.start() as dls,
    ):
        routes.write(
            [
                channel(
                    "orders",
                    subscriber("ok", sink.url, delivery={"retry": 2, "backoffDelay": "PT0.05S"}),
                    subscriber("bad", bad.url, deadLetterSinkUri=dls.url),
                )
            ]
        )
        async with run_dispatcher(routes, **backend) as d:
            await eventually_async(lambda: consumers_are(backend, "default:orders", {"sub-ok", "sub-bad"}))
            assert await post(http, d.url("default", "orders"), "p-1") == 202
            await sink.wait_for(2)
            [dead] = await dls.wait_for(1)
    assert [r.headers["ce-id"] for r in sink.received] == ["p-1", "p-1"]
    assert dead.headers["ce-knativeerrorcode"] == "400"


async def test_kill_9_mid_stream_loses_nothing(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=0.01)) as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        ledger = Ledger(sink)
        async with run_dispatcher(routes, consumer_name="replica-a", **backend) as d:
            await eventually_async(lambda: consumers_are(backend, "default:orders", {"sub-s1"}))
            port = d.port
            async with producing(http, d.url("default", "orders"), ledger):
                await sink.wait_for(50, within=20)
                d.proc.kill()  # SIGKILL: no graceful anything
                await eventually_async(lambda: not d.proc.alive(), what="the killed dispatcher to exit")
        assert len(ledger.accepted) >= 25  # a real stream was cut, not an idle channel
        async with run_dispatcher(routes, port=port, consumer_name="replica-b", **backend):
            await ledger.all_delivered(within=30)


async def test_replicas_share_the_work(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=0.02)) as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        async with (
            run_dispatcher(routes, consumer_name="r1", **backend) as one,
            run_dispatcher(routes, consumer_name="r2", **backend) as two,
        ):
            await eventually_async(lambda: consumers_are(backend, "default:orders", {"sub-s1"}))
            for i in range(200):
                target = one if i % 2 else two
                assert await post(http, target.url("default", "orders"), str(i)) == 202
            await sink.wait_for(200, within=30)

            async def counted() -> tuple[int, int] | None:  # the last responses may be on their way back
                counts = await delivered_count(http, one.base), await delivered_count(http, two.base)
                return counts if sum(counts) >= 200 else None

            first, second = await eventually_async(counted, what="200 deliveries counted")
    assert {r.headers["ce-id"] for r in sink.received} == {str(i) for i in range(200)}
    assert first > 0
    assert second > 0
    assert first + second >= 200


async def test_ingress_is_held_back_when_delivery_lags(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=0.2)) as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        async with run_dispatcher(routes, max_backlog="3", subscriber_concurrency="1", **backend) as d:
            await eventually_async(lambda: consumers_are(backend, "default:orders", {"sub-s1"}))
            results = await asyncio.gather(
                *(post(http, d.url("default", "orders"), str(i)) for i in range(40))
            )
            accepted = {str(i) for i, status in enumerate(results) if status == 202}
            assert set(results) <= {202, 429}
            assert 429 in results  # the backlog could not drain within the hold time
            await eventually_async(
                lambda: accepted <= {r.headers["ce-id"] for r in sink.received},
                timeout=20,
                what="accepted ones",
            )
    assert accepted <= {r.headers["ce-id"] for r in sink.received}


async def test_github_sized_event_through_jetstream_arrives_intact(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    body = bytes(range(256)) * (26 * 1024 * 1024 // 256)  # 26 MiB: above GitHub's 25 MB webhooks
    headers = binary_headers("big", traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    with nats_server() as url:  # the fixture raises max_payload as the install does
        async with Sink.start() as sink:
            routes.write([channel("orders", subscriber("s1", sink.url))])
            async with run_dispatcher(routes, backend="jetstream", nats_url=url) as d:
                jetstream = {"backend": "jetstream", "nats_url": url}
                await eventually_async(lambda: consumers_are(jetstream, "default:orders", {"sub-s1"}))
                async with http.post(
                    d.url("default", "orders"), data=io.BytesIO(body), headers=headers
                ) as resp:
                    assert resp.status == 202
                [got] = await sink.wait_for(1, within=30)
    assert got.body == body
    assert {k: v for k, v in got.headers.items() if k in headers} == headers


async def test_event_above_the_brokers_max_payload_gets_413_naming_the_limit(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    limit = 1024 * 1024  # NATS's default max_payload
    with nats_server(max_payload=limit) as url:
        async with Sink.start() as sink:
            routes.write([channel("orders", subscriber("s1", sink.url))])
            async with run_dispatcher(routes, backend="jetstream", nats_url=url) as d:
                async with http.post(
                    d.url("default", "orders"),
                    data=io.BytesIO(b"x" * (2 * limit)),
                    headers=binary_headers("big"),
                ) as resp:
                    assert resp.status == 413
                    message = await resp.text()
                async with http.post(
                    d.url("default", "orders"), data=b"{}", headers=binary_headers("small")
                ) as ok:
                    assert ok.status == 202  # the connection and the backend are fine afterwards
                await sink.wait_for(1)
    assert "max_payload" in message
    assert str(limit) in message
    assert [r.headers["ce-id"] for r in sink.received] == ["small"]
