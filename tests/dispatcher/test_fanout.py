"""Fan-out, delivery spec, dead letter, replies and back-pressure through a real dispatcher process."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import signal

import aiohttp
import pytest

from tests.dispatcher.conftest import Routes, binary_headers, channel, run_dispatcher, subscriber
from tests.support.processes import free_port
from tests.support.sink import Received, Reply, Responder, Sink
from tests.support.waiting import eventually_async


async def post(
    http: aiohttp.ClientSession, url: str, event_id: str = "1", body: bytes = b"{}", **headers: str
) -> int:
    async with http.post(url, data=body, headers={**binary_headers(event_id), **headers}) as resp:
        return resp.status


async def test_binary_attributes_and_trace_headers_reach_subscriber_unchanged(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with Sink.start() as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        async with run_dispatcher(routes) as d:
            extra = {
                "ce-subject": "caf%C3%A9%20au%20lait",
                "ce-myext": "a%25b",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "tracestate": "congo=t61rcWkgMzE",
                "x-private": "not forwarded",
            }
            body = bytes(range(256)) * 4
            assert await post(http, d.url("default", "orders"), "e-1", body, **extra) == 202
            [got] = await sink.wait_for(1)
    assert got.body == body
    for name, value in {**binary_headers("e-1"), **extra}.items():
        if name != "x-private":
            assert got.headers[name] == value
    assert "x-private" not in got.headers
    assert got.headers["prefer"] == "reply"


async def test_structured_in_binary_out_and_structured_on_request(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with Sink.start() as binary_sink, Sink.start() as structured_sink:
        routes.write(
            [
                channel(
                    "orders",
                    subscriber("b", binary_sink.url),
                    subscriber("s", structured_sink.url, delivery={"format": "json"}),
                )
            ]
        )
        async with run_dispatcher(routes) as d:
            event = {
                "specversion": "1.0",
                "id": "x-1",
                "source": "/s",
                "type": "t",
                "subject": "héllo",
                "datacontenttype": "application/json",
                "data": {"n": 1},
            }
            async with http.post(
                d.url("default", "orders"),
                data=json.dumps(event),
                headers={"content-type": "application/cloudevents+json"},
            ) as resp:
                assert resp.status == 202
            [b] = await binary_sink.wait_for(1)
            [s] = await structured_sink.wait_for(1)
    assert b.headers["ce-id"] == "x-1"
    assert b.headers["ce-subject"] == "h%C3%A9llo"
    assert b.headers["content-type"] == "application/json"
    assert json.loads(b.body) == {"n": 1}
    assert s.headers["content-type"].startswith("application/cloudevents+json")
    got = json.loads(s.body)
    assert {k: got[k] for k in event} == event


async def accepted(http: aiohttp.ClientSession, url: str, event_id: str) -> bool:
    return await post(http, url, event_id) == 202


async def _status_is(http: aiohttp.ClientSession, url: str, status: int) -> bool:
    return await post(http, url, "probe") == status


async def probed(http: aiohttp.ClientSession, url: str, sink: Sink) -> bool:
    """Post a probe event; true once `sink` has received anything."""
    assert await post(http, url, "probe") == 202
    return bool(sink.received)


async def metrics_showing(http: aiohttp.ClientSession, base: str, text: str) -> str:
    """The /metrics page if it shows `text`, else empty."""
    async with http.get(f"{base}/metrics") as resp:
        page = await resp.text()
    return page if text in page else ""


def has(sink: Sink, event_id: str) -> bool:
    return any(r.headers["ce-id"] == event_id for r in sink.received)


async def test_fan_out_is_concurrent_and_a_slow_subscriber_delays_nobody(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    release = asyncio.Event()

    async def stuck(_: int, __: Received) -> Reply:
        await release.wait()
        return Reply(202)

    async with (
        Sink.start(stuck) as slow,
        Sink.start() as fast1,
        Sink.start(lambda i, r: Reply(500)) as failing,
        Sink.start() as fast2,
    ):
        routes.write(
            [
                channel(
                    "orders",
                    subscriber("slow", slow.url),
                    subscriber("f1", fast1.url),
                    subscriber("bad", failing.url, delivery={"retry": 5, "backoffDelay": "PT1S"}),
                    subscriber("f2", fast2.url),
                )
            ]
        )
        async with run_dispatcher(routes) as d:
            for i in range(5):
                assert await post(http, d.url("default", "orders"), f"e{i}") == 202
            await fast1.wait_for(5)  # while the slow subscriber has answered nothing at all
            await fast2.wait_for(5)
            assert {r.headers["ce-id"] for r in fast1.received} == {f"e{i}" for i in range(5)}
            await slow.wait_for(5)  # all five in flight at once, none answered yet
            release.set()


@pytest.mark.parametrize(("policy", "gaps"), [("exponential", [0.1, 0.2, 0.4]), ("linear", [0.1, 0.2, 0.3])])
async def test_retry_delays_through_dispatcher(
    routes: Routes, http: aiohttp.ClientSession, policy: str, gaps: list[float]
) -> None:
    async with Sink.start(lambda i, r: Reply(503) if i < 3 else Reply(202)) as sink:
        delivery = {"retry": 3, "backoffPolicy": policy, "backoffDelay": "PT0.1S"}
        routes.write([channel("orders", subscriber("s1", sink.url, delivery=delivery))])
        async with run_dispatcher(routes) as d:
            assert await post(http, d.url("default", "orders")) == 202
            received = list(await sink.wait_for(4))
            # Barrier: a marker sent after the success; once it is in, no fifth attempt came.
            assert await post(http, d.url("default", "orders"), "marker") == 202
            await sink.wait_for(5)
    assert [r.headers["ce-id"] for r in sink.received] == ["1"] * 4 + ["marker"]
    measured = [b.at - a.at for a, b in itertools.pairwise(received)]
    # The dispatcher is a process with its own clock, so only the lower bound (the policy's gap
    # less the default ±10 % jitter) is asserted: an upper bound flakes on a loaded machine.
    for got, want in zip(measured, gaps, strict=True):
        assert got >= want * 0.9, (measured, gaps)


async def test_no_retry_on_400_and_dead_letter_content(routes: Routes, http: aiohttp.ClientSession) -> None:
    async with (
        Sink.start(lambda i, r: Reply(400, body=b"bad event!")) as sink,
        Sink.start() as dls,
    ):
        routes.write(
            [
                channel(
                    "orders",
                    subscriber(
                        "s1",
                        sink.url,
                        deadLetterSinkUri=dls.url,
                        delivery={"retry": 3, "backoffDelay": "PT0.01S"},
                    ),
                )
            ]
        )
        async with run_dispatcher(routes) as d:
            assert (
                await post(http, d.url("default", "orders"), "dl-1", b'{"v":1}', **{"ce-subject": "a%20b"})
                == 202
            )
            [dead] = await dls.wait_for(1)
            # The outcome is counted once the dead-letter sink has answered: no retry after that.
            metrics = await eventually_async(lambda: metrics_showing(http, d.base, 'outcome="dead_lettered"'))
    assert len(sink.received) == 1
    assert dead.body == b'{"v":1}'
    assert dead.headers["ce-id"] == "dl-1"
    assert dead.headers["ce-subject"] == "a%20b"
    assert dead.headers["ce-knativeerrordest"] == sink.url
    assert dead.headers["ce-knativeerrorcode"] == "400"
    assert base64.b64decode(dead.headers["ce-knativeerrordata"]) == b"bad event!"
    assert 'outcome="dead_lettered"' in metrics
    assert "eventwire_dispatcher_dead_lettered_total" in metrics


async def test_retries_exhausted_then_dead_lettered(routes: Routes, http: aiohttp.ClientSession) -> None:
    async with Sink.start(lambda i, r: Reply(502)) as sink, Sink.start() as dls:
        delivery = {"retry": 2, "backoffDelay": "PT0.01S", "deadLetterSinkUri": dls.url}
        routes.write([channel("orders", subscriber("s1", sink.url, delivery=delivery))])
        async with run_dispatcher(routes) as d:
            assert await post(http, d.url("default", "orders")) == 202
            [dead] = await dls.wait_for(1)
    assert len(sink.received) == 3
    assert dead.headers["ce-knativeerrorcode"] == "502"


def replier(reply_type: str) -> Responder:
    def respond(index: int, req: Received) -> Reply:
        return Reply(
            200,
            headers={
                "ce-specversion": "1.0",
                "ce-id": "reply-" + req.headers["ce-id"],
                "ce-source": "/replier",
                "ce-type": reply_type,
                "content-type": "text/plain",
            },
            body=b"reply body",
        )

    return respond


async def test_reply_chaining_through_two_channels(routes: Routes, http: aiohttp.ClientSession) -> None:
    async with (
        Sink.start(replier("t.reply")) as first,
        Sink.start() as second,
        Sink.start(lambda i, r: Reply(200, body=b"{}")) as plain,
        run_dispatcher(routes) as d,
    ):
        routes.write(
            [
                channel("one", subscriber("a", first.url, replyUri=d.url("default", "two"))),
                channel("two", subscriber("b", second.url)),
                # a 200 without an event is not a reply; a reply without replyUri is discarded
                channel("three", subscriber("c", plain.url), subscriber("d", first.url)),
            ]
        )
        await eventually_async(lambda: accepted(http, d.url("default", "one"), "orig"), what="routes")
        [got] = await second.wait_for(1)
        assert await post(http, d.url("default", "three"), "other") == 202
        await plain.wait_for(1)
        await first.wait_for(2)
        # Barrier: a second reply through "two", sent after the discarded one, arrives alone.
        assert await post(http, d.url("default", "one"), "marker") == 202
        await second.wait_for(2)
    assert got.headers["ce-id"] == "reply-orig"
    assert got.headers["ce-type"] == "t.reply"
    assert got.body == b"reply body"
    assert [r.headers["ce-id"] for r in second.received] == ["reply-orig", "reply-marker"]


async def test_failed_reply_delivery_retries_whole_delivery(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with (
        Sink.start(replier("t.reply")) as first,
        Sink.start(lambda i, r: Reply(500) if i == 0 else Reply(202)) as reply_target,
    ):
        delivery = {"retry": 2, "backoffDelay": "PT0.05S"}
        routes.write(
            [channel("one", subscriber("a", first.url, replyUri=reply_target.url, delivery=delivery))]
        )
        async with run_dispatcher(routes) as d:
            assert await post(http, d.url("default", "one"), "orig") == 202
            await reply_target.wait_for(2)
    assert len(first.received) == 2  # the subscriber saw the event again after the reply failed


@pytest.mark.parametrize(("status", "attempts"), [(500, 2), (400, 1)])
async def test_a_reply_that_cannot_be_forwarded_dead_letters_with_the_reply_hops_outcome(
    routes: Routes, http: aiohttp.ClientSession, status: int, attempts: int
) -> None:
    """As Knative's dispatcher: the dead letter names the hop that failed (the reply destination,
    its status and body), not the subscriber's 200; a status retrying cannot change is not retried."""
    async with (
        Sink.start(replier("t.reply")) as first,
        Sink.start(lambda i, r: Reply(status, body=b"reply target down")) as reply_target,
        Sink.start() as dls,
    ):
        delivery = {"retry": 1, "backoffDelay": "PT0.05S", "deadLetterSink": {"uri": dls.url}}
        routes.write(
            [channel("one", subscriber("a", first.url, replyUri=reply_target.url, delivery=delivery))]
        )
        async with run_dispatcher(routes) as d:
            assert await post(http, d.url("default", "one"), "orig") == 202
            [dead] = await dls.wait_for(1)
    assert len(first.received) == len(reply_target.received) == attempts
    assert dead.headers["ce-id"] == "orig"
    assert dead.headers["ce-knativeerrorcode"] == str(status)
    assert dead.headers["ce-knativeerrordest"] == reply_target.url
    assert base64.b64decode(dead.headers["ce-knativeerrordata"]) == b"reply target down"


async def test_a_reply_destination_that_does_not_answer_is_named_by_the_dead_letter(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    closed = free_port()  # nothing listens: a transport error, retried, with no status to report
    async with Sink.start(replier("t.reply")) as first, Sink.start() as dls:
        delivery = {"retry": 1, "backoffDelay": "PT0.05S", "deadLetterSink": {"uri": dls.url}}
        reply_uri = f"http://127.0.0.1:{closed}/"
        routes.write([channel("one", subscriber("a", first.url, replyUri=reply_uri, delivery=delivery))])
        async with run_dispatcher(routes) as d:
            assert await post(http, d.url("default", "one"), "orig") == 202
            [dead] = await dls.wait_for(1)
    assert len(first.received) == 2
    assert dead.headers["ce-knativeerrordest"] == reply_uri
    assert "ce-knativeerrorcode" not in dead.headers


async def test_full_channel_answers_429_with_retry_after(routes: Routes, http: aiohttp.ClientSession) -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=2.0)) as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        async with run_dispatcher(routes, queue_capacity="3", retry_after="2") as d:
            statuses = [await post(http, d.url("default", "orders"), str(i)) for i in range(5)]
            async with http.post(d.url("default", "orders"), data=b"", headers=binary_headers()) as resp:
                assert resp.status == 429
                assert resp.headers["Retry-After"] == "2"
            await sink.wait_for(3)
            # Capacity frees as deliveries finish.
            await eventually_async(
                lambda: accepted(http, d.url("default", "orders"), "later"), what="accepted again"
            )
    assert statuses == [202, 202, 202, 429, 429]


async def test_subscription_added_and_removed_at_runtime(routes: Routes, http: aiohttp.ClientSession) -> None:
    async with Sink.start() as a, Sink.start() as b, Sink.start() as marker:
        routes.write([channel("orders", subscriber("a", a.url))])
        async with run_dispatcher(routes) as d:
            routes.write([channel("orders", subscriber("a", a.url), subscriber("b", b.url))])
            await eventually_async(
                lambda: probed(http, d.url("default", "orders"), b), what="b's first event"
            )
            # b is swapped for a marker subscriber in one write: once the marker has an event the
            # new table is in force, so an event sent after that never reaches b.
            routes.write([channel("orders", subscriber("a", a.url), subscriber("c", marker.url))])
            await eventually_async(lambda: probed(http, d.url("default", "orders"), marker), what="marker")
            assert await post(http, d.url("default", "orders"), "after") == 202
            await eventually_async(lambda: has(a, "after") and has(marker, "after"), what="'after'")
            assert not has(b, "after")
            routes.write([])
            await eventually_async(lambda: _status_is(http, d.url("default", "orders"), 404), what="404")


async def test_bad_routes_file_keeps_previous_table(routes: Routes, http: aiohttp.ClientSession) -> None:
    async with Sink.start() as a:
        routes.write([channel("orders", subscriber("a", a.url))])
        async with run_dispatcher(routes) as d:
            routes.path.write_text("channels: [{name: x, subscribers: [{uid: u, subscriberUri: 'ftp://x'}]}]")
            await eventually_async(lambda: "subscriberUri" in d.proc.output(), what="the refusal logged")
            assert await post(http, d.url("default", "orders")) == 202
            await a.wait_for(1)


async def test_graceful_shutdown_finishes_in_flight_deliveries(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=1.0)) as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        async with run_dispatcher(routes) as d:
            for i in range(5):
                assert await post(http, d.url("default", "orders"), str(i)) == 202
            await sink.wait_for(5)
            d.proc.kill(signal.SIGTERM)
            await eventually_async(lambda: not d.proc.alive(), what="the dispatcher to exit")
            assert d.proc.proc.returncode == 0, d.proc.output()
            assert '"msg": "dispatcher stopped"' in d.proc.output()
    # all five answered (the sink completed them) before the process exited
    assert len(sink.received) == 5


async def test_github_sized_event_is_delivered_intact(routes: Routes, http: aiohttp.ClientSession) -> None:
    body = bytes(range(256)) * (26 * 1024 * 1024 // 256)  # 26 MiB: above GitHub's 25 MB webhooks
    async with Sink.start() as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        async with run_dispatcher(routes) as d:
            async with http.post(
                d.url("default", "orders"), data=io.BytesIO(body), headers=binary_headers()
            ) as resp:
                assert resp.status == 202
            [got] = await sink.wait_for(1, within=30)
    assert got.body == body
