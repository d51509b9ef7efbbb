"""Brokers and Triggers end to end: a real dispatcher subprocess on loopback, real subscribers,
and real nats-server/redis-server for the persistent backends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
import yaml

from tests.dispatcher.conftest import Routes, RunningDispatcher, binary_headers, run_dispatcher
from tests.dispatcher.ledger import Ledger, producing
from tests.support.nats import nats_server
from tests.support.redis import redis_server
from tests.support.sink import Received, Reply, Sink
from tests.support.waiting import eventually_async


@pytest.fixture(params=["memory", "jetstream", "redis"])
def any_backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "jetstream":
        with nats_server() as url:
            yield {"backend": "jetstream", "nats_url": url, "ack_wait": "2"}
    elif request.param == "redis":
        with redis_server() as url:
            yield {"backend": "redis", "redis_url": url, "ack_wait": "2"}
    else:
        yield {"backend": "in-memory"}


def write_brokers(routes: Routes, *brokers: dict[str, Any]) -> None:
    tmp = routes.path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"channels": [], "brokers": list(brokers)}))
    tmp.replace(routes.path)


def broker(name: str, *triggers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"namespace": "default", "name": name, "triggers": list(triggers), **extra}


def trigger(uid: str, uri: str, **extra: Any) -> dict[str, Any]:
    return {"uid": uid, "name": uid, "subscriberUri": uri, **extra}


def by_type(event_type: str) -> dict[str, Any]:
    return {"filter": {"attributes": {"type": event_type}}}


def write_dead_lettering(
    routes: Routes, uid: str, uri: str, dls: str, event_type: str, retry: int = 2
) -> None:
    """Broker `default` with one Trigger for `event_type`, dead-lettering to `dls` after `retry` quick retries."""
    write_brokers(
        routes,
        broker(
            "default",
            trigger(uid, uri, deadLetterSinkUri=dls, **by_type(event_type)),
            delivery={"retry": retry, "backoffDelay": "PT0.01S"},
        ),
    )


def url(d: RunningDispatcher, name: str) -> str:
    return f"{d.base}/brokers/default/{name}"


async def send(http: aiohttp.ClientSession, target: str, event_id: str, event_type: str, **extra: str) -> int:
    headers = binary_headers(event_id, **{"ce-type": event_type, **extra})
    async with http.post(target, data=b"{}", headers=headers) as resp:
        return resp.status


async def metric(http: aiohttp.ClientSession, d: RunningDispatcher, name: str, **labels: str) -> float:
    async with http.get(f"{d.base}/metrics") as resp:
        text = await resp.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def until(check: Callable[[], Awaitable[object]], within: float = 10.0) -> None:
    """The shared `eventually_async`, polling an async probe every 50 ms."""
    await eventually_async(check, timeout=within, interval=0.05)


def ids(sink: Sink) -> list[str]:
    return [r.headers["ce-id"] for r in sink.received]


@contextlib.asynccontextmanager
async def started(routes: Routes, settings: dict[str, str]) -> AsyncIterator[RunningDispatcher]:
    async with run_dispatcher(routes, **settings) as d:
        yield d


async def test_each_trigger_gets_exactly_the_events_its_filter_selects(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    async with Sink.start() as orders, Sink.start() as shop, Sink.start() as everything, Sink.start() as big:
        write_brokers(
            routes,
            broker(
                "default",
                trigger("orders", orders.url, **by_type("order.created")),
                trigger("shop", shop.url, filters=[{"prefix": {"source": "/shop"}}]),
                trigger("all", everything.url),
                trigger("big", big.url, filters=[{"cesql": "INT(amount) > 100"}]),
            ),
        )
        async with started(routes, any_backend) as d:
            target = url(d, "default")
            assert await send(http, target, "1", "order.created", **{"ce-source": "/shop/eu"}) == 202
            assert await send(http, target, "2", "order.paid", **{"ce-amount": "500"}) == 202
            assert await send(http, target, "3", "order.paid", **{"ce-amount": "cheap"}) == 202
            assert await send(http, target, "4", "order.created", **{"ce-amount": "50"}) == 202
            await everything.wait_for(4)
            await orders.wait_for(2)
            await shop.wait_for(1)
            await big.wait_for(1)
            await until(lambda: _decisions(http, d, 3 * 4))  # 3 Triggers filter, 4 events each
            assert (
                await metric(http, d, "eventwire_dispatcher_trigger_filter_errors_total", trigger="big") == 2
            )  # event 1 has no amount, "cheap" is no integer: no match, counted
            assert (
                await metric(
                    http,
                    d,
                    "eventwire_dispatcher_trigger_events_total",
                    trigger="orders",
                    outcome="filtered_out",
                )
                == 2
            )
            assert (
                await metric(
                    http,
                    d,
                    "eventwire_dispatcher_trigger_events_total",
                    trigger="orders",
                    outcome="delivered",
                )
                == 2
            )
            # Barrier: a marker every Trigger selects; once each has it, nothing else trickles in.
            marker = {"ce-source": "/shop/marker", "ce-amount": "1000"}
            assert await send(http, target, "marker", "order.created", **marker) == 202
            for sink in (orders, shop, everything, big):
                await until(lambda sink=sink: _has(sink, "marker"))  # type: ignore[misc]
    assert sorted(ids(orders)) == ["1", "4", "marker"]
    assert ids(shop) == ["1", "marker"]
    assert sorted(ids(everything)) == ["1", "2", "3", "4", "marker"]
    assert ids(big) == ["2", "marker"]
    assert "ce-knativebrokerttl" not in everything.received[0].headers  # Knative's filter removes it


async def _decisions(http: aiohttp.ClientSession, d: RunningDispatcher, expected: int) -> bool:
    name = "eventwire_dispatcher_trigger_events_total"
    matched = await metric(http, d, name, outcome="matched")
    return matched + await metric(http, d, name, outcome="filtered_out") >= expected


async def test_a_broker_and_a_channel_of_the_same_name_are_different_addresses(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with Sink.start() as from_broker, Sink.start() as from_channel:
        tmp = routes.path.with_suffix(".tmp")
        tmp.write_text(
            yaml.safe_dump(
                {
                    "channels": [
                        {"name": "mesh", "subscribers": [{"uid": "c1", "subscriberUri": from_channel.url}]}
                    ],
                    "brokers": [broker("mesh", trigger("t1", from_broker.url))],
                }
            )
        )
        tmp.replace(routes.path)
        async with started(routes, {}) as d:
            assert await send(http, url(d, "mesh"), "b", "x") == 202
            assert await send(http, d.url("default", "mesh"), "c", "x") == 202
            await from_broker.wait_for(1)
            await from_channel.wait_for(1)
            async with http.post(url(d, "nothere"), data=b"{}", headers=binary_headers()) as resp:
                assert resp.status == 404
            async with http.post(url(d, "mesh"), data=b"{}", headers={"ce-id": "1"}) as resp:
                assert resp.status == 400  # the channel contract's validation applies
    assert ids(from_broker) == ["b"]
    assert ids(from_channel) == ["c"]


def replying(event_type: str) -> Any:
    def answer(_: int, rec: Received) -> Reply:
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "re-" + rec.headers["ce-id"],
            "ce-source": "/checker",
            "ce-type": event_type,
            "content-type": "application/json",
        }
        return Reply(200, headers, b'{"checked": true}')

    return answer


async def test_a_reply_re_enters_the_broker(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    async with Sink.start(replying("order.checked")) as checker, Sink.start() as audit:
        write_brokers(
            routes,
            broker(
                "default",
                trigger("checker", checker.url, **by_type("order.created")),
                trigger("audit", audit.url, **by_type("order.checked")),
            ),
        )
        async with started(routes, any_backend) as d:
            assert await send(http, url(d, "default"), "o-1", "order.created") == 202
            [reply] = await audit.wait_for(1)
    assert reply.headers["ce-id"] == "re-o-1"
    assert "ce-knativebrokerttl" not in reply.headers
    assert reply.body == b'{"checked": true}'
    assert ids(checker) == ["o-1"]


async def _equals(value: Any, expected: float) -> bool:
    return bool(await value == expected)


async def test_a_failing_trigger_dead_letters_with_the_error(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    async with Sink.start(lambda i, r: Reply(422, body=b"no")) as bad, Sink.start() as dls:
        write_dead_lettering(routes, "bad", bad.url, dls.url, "x", retry=1)
        async with started(routes, any_backend) as d:
            assert await send(http, url(d, "default"), "d-1", "x") == 202
            assert await send(http, url(d, "default"), "d-2", "y") == 202  # filtered: never tried
            [dead] = await dls.wait_for(1)
            await until(
                lambda: _equals(
                    metric(
                        http,
                        d,
                        "eventwire_dispatcher_trigger_events_total",
                        trigger="bad",
                        outcome="dead_lettered",
                    ),
                    1,
                )
            )
    assert dead.headers["ce-id"] == "d-1"
    assert dead.headers["ce-knativeerrorcode"] == "422"
    assert ids(bad) == ["d-1"]  # a 422 is not retried (as for channels)


async def test_a_stuck_trigger_does_not_hold_up_the_others(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    release = asyncio.Event()

    async def stuck(_: int, __: Received) -> Reply:
        await release.wait()
        return Reply(202)

    async with Sink.start(stuck) as slow, Sink.start() as fast:
        write_brokers(routes, broker("default", trigger("slow", slow.url), trigger("fast", fast.url)))
        async with started(routes, {**any_backend, "subscriber_concurrency": "4"}) as d:
            for i in range(30):
                assert await send(http, url(d, "default"), f"s-{i}", "x") == 202
            await fast.wait_for(30)  # while the slow subscriber has answered nothing at all
            release.set()
            await slow.wait_for(30)
    assert sorted(ids(fast)) == sorted(f"s-{i}" for i in range(30))


async def test_a_trigger_added_at_runtime_gets_events_soon_after_the_change(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    async with Sink.start() as first, Sink.start() as added:
        write_brokers(routes, broker("default", trigger("first", first.url)))
        async with started(routes, any_backend) as d:
            changed = time.monotonic()
            write_brokers(routes, broker("default", trigger("first", first.url), trigger("added", added.url)))
            posted: dict[str, float] = {}
            for i in range(200):
                posted[f"r-{i}"] = time.monotonic() - changed
                assert await send(http, url(d, "default"), f"r-{i}", "x") in (202, 503)
                if added.received:
                    break
                await asyncio.sleep(0.02)
            await added.wait_for(1)
            first_id = added.received[0].headers["ce-id"]
    # How soon is a figure, not a bound: a one-second window flakes on a loaded machine.
    print(f"FIGURE trigger added at runtime: first event posted {posted[first_id]:.3f}s after the change")


async def test_kill_9_loses_no_accepted_event(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=0.01)) as sink, Sink.start() as other:
        write_brokers(
            routes,
            broker(
                "default",
                trigger("mine", sink.url, **by_type("dev.eventwire.test")),
                trigger("other", other.url, **by_type("something.else")),
            ),
        )
        ledger = Ledger(sink)
        async with run_dispatcher(routes, consumer_name="replica-a", **backend) as d:
            port = d.port
            async with producing(http, url(d, "default"), ledger):
                await sink.wait_for(50, within=20)
                d.proc.kill()
                await eventually_async(lambda: not d.proc.alive(), what="the killed dispatcher to exit")
        assert len(ledger.accepted) >= 25
        async with run_dispatcher(routes, port=port, consumer_name="replica-b", **backend):
            await ledger.all_delivered(within=30)
    assert not other.received


async def test_a_trigger_whose_type_filter_changes_gets_the_new_type(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    odd_type = "com.example/odd type*>%"  # needs escaping as a NATS subject token
    odd_wire = "com.example/odd%20type*>%25"  # as a binary-mode header (percent-encoded)
    async with Sink.start() as sink:
        write_brokers(routes, broker("default", trigger("t", sink.url, **by_type("a.b"))))
        async with started(routes, any_backend) as d:
            assert await send(http, url(d, "default"), "a-1", "a.b") == 202
            await sink.wait_for(1)
            write_brokers(
                routes, broker("default", trigger("t", sink.url, filters=[{"exact": {"type": odd_type}}]))
            )

            async def switched() -> bool:
                await send(http, url(d, "default"), "probe", odd_wire)
                return any(r.headers["ce-id"] == "probe" for r in sink.received)

            await until(switched)
            assert await send(http, url(d, "default"), "a-2", "a.b") == 202
            assert await send(http, url(d, "default"), "o-1", odd_wire) == 202
            await until(lambda: _has(sink, "o-1"))  # the marker, sent after "a-2"
    assert "a-2" not in ids(sink)


async def _has(sink: Sink, event_id: str) -> bool:
    return event_id in ids(sink)


async def test_a_trigger_whose_type_changes_gets_every_event_a_new_trigger_of_that_type_gets(
    routes: Routes, http: aiohttp.ClientSession, any_backend: dict[str, str]
) -> None:
    """Trigger t switches from type a to b while a Trigger w on b is added in the same update:
    every event of type b accepted once w gets events must reach t too (jetstream: ingress must
    not take them before t's consumer has its new subject)."""
    async with Sink.start() as changed, Sink.start() as witness:
        write_brokers(routes, broker("default", trigger("t", changed.url, **by_type("a"))))
        async with started(routes, any_backend) as d:
            assert await send(http, url(d, "default"), "a-1", "a") == 202
            await changed.wait_for(1)
            write_brokers(
                routes,
                broker(
                    "default",
                    trigger("t", changed.url, **by_type("b")),
                    trigger("w", witness.url, **by_type("b")),
                ),
            )

            async def produce(n: int) -> None:
                for i in range(2000):  # producers keep sending while the change is applied
                    if len(witness.received) >= 40:
                        return
                    status = await send(http, url(d, "default"), f"b-{n}-{i}", "b")
                    assert status in (202, 503)  # 503: held until the Triggers' state is ready

            await asyncio.gather(*(produce(n) for n in range(8)))
            assert await send(http, url(d, "default"), "marker", "b") == 202
            await until(lambda: _has(witness, "marker"))
            await until(lambda: _has(changed, "marker"))
            missing = set(ids(witness)) - set(ids(changed))
            assert not missing, f"{len(missing)} events of type b reached w but not t"


async def _has_all(sink: Sink, event_ids: list[str]) -> bool:
    return set(event_ids) <= set(ids(sink))


async def test_a_paused_trigger_whose_type_changes_keeps_events_of_the_new_type(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    """A paused Trigger keeps its backlog: by the filter it has now, also after a type change."""
    async with Sink.start() as sink, Sink.start() as elsewhere:
        gone = broker("gone", trigger("g", elsewhere.url))
        write_brokers(routes, broker("default", trigger("t", sink.url, **by_type("a"))), gone)
        async with started(routes, backend) as d:
            assert await send(http, url(d, "default"), "a-1", "a") == 202
            await sink.wait_for(1)
            paused = trigger("t", sink.url, ready="False", **by_type("b"))
            write_brokers(routes, broker("default", paused))  # Broker "gone" goes in the same update

            async def applied() -> bool:
                return await send(http, url(d, "gone"), "probe", "b") == 404

            await until(applied)
            for i in range(5):
                assert await send(http, url(d, "default"), f"b-{i}", "b") == 202
            assert not sink.received[1:]
            write_brokers(routes, broker("default", trigger("t", sink.url, **by_type("b"))))
            await sink.wait_for(6)
    assert sorted(ids(sink)) == ["a-1", *(f"b-{i}" for i in range(5))]


async def test_a_reply_too_large_for_the_broker_dead_letters_with_413_without_retry(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    def big_reply(_: int, rec: Received) -> Reply:
        reply = replying("order.checked")(0, rec)
        return Reply(200, reply.headers, b'"' + b"x" * 100_000 + b'"')

    with nats_server(max_payload=64 * 1024) as nats_url:
        settings = {"backend": "jetstream", "nats_url": nats_url, "ack_wait": "2"}
        async with Sink.start(big_reply) as checker, Sink.start() as dls:
            write_dead_lettering(routes, "checker", checker.url, dls.url, "order.created")
            async with started(routes, settings) as d:
                assert await send(http, url(d, "default"), "o-1", "order.created") == 202
                [dead] = await dls.wait_for(1)
    assert dead.headers["ce-id"] == "o-1"
    assert dead.headers["ce-knativeerrorcode"] == "413"
    assert ids(checker) == ["o-1"]  # retrying cannot make the reply smaller
