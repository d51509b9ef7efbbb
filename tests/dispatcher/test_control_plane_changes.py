"""An accepted event is never lost when the control plane changes (real nats-server and redis-server).

Every scenario streams events at a channel while the routing table changes under the dispatcher
(a subscription turns not ready, the provisioner is briefly unresolved, the routes file is empty,
truncated or garbage, a channel is new), then waits until every id answered 202 reached the
counting sink. Waits are on conditions with bounded timeouts, and "the dispatcher saw it" is an
explicit barrier (a refusal it counted, a table it logged, a marker it delivered); the two fixed
sleeps left are how long a scenario holds a state (the control-plane change itself), never a window
an assertion depends on.
Each test prints a `FIGURE` line (accepted, delivered, duplicates) for the issue's figures.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from eventwire.api import render_crds
from tests.dispatcher.conftest import (
    Routes,
    RunningDispatcher,
    channel,
    run_dispatcher,
    subscriber,
)
from tests.dispatcher.ledger import Ledger, post, producing, until
from tests.dispatcher.test_kube_source import dispatcher as kube_dispatcher
from tests.support.kube import running_kube
from tests.support.nats import consumer_names
from tests.support.processes import ManagedProcess, free_port
from tests.support.sink import Reply, Sink
from tests.support.waiting import eventually_async

API = "messaging.eventwire.dev/v1"


# 1. A subscription that turns not ready for a moment keeps its backlog and resumes.


@pytest.mark.parametrize("pause", ["short", "long"])
async def test_not_ready_flip_keeps_the_backlog_and_resumes(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str], pause: str
) -> None:
    """`short`: 1 s. `long` stands for a 60 s pause: what a pause's length can change is what
    expires meanwhile, and the only such clock is the ack wait (redelivery of deliveries in flight
    when the pause began); with ack_wait 0.5 s, a 4 s pause spans eight of them, as 60 s spans
    many of a production ack wait."""
    settings = dict(backend)
    hold = 1.0
    if pause == "long":
        settings["ack_wait"], hold = "0.5", 4.0
    async with Sink.start(lambda i, r: Reply(202, delay=0.02)) as sink:
        ready = subscriber("s1", sink.url)
        routes.write([channel("orders", ready)])
        ledger = Ledger(sink)
        async with run_dispatcher(routes, **settings) as d:
            async with producing(http, d.url("default", "orders"), ledger):
                await until(lambda: len(sink.received) >= 20, what="first deliveries")
                routes.write([channel("orders", {**ready, "ready": "False"})])
                await table_loaded(http, d, channels=1, subscribers=0, paused=1)  # the pause took effect
                await asyncio.sleep(hold)  # the subscription stays not ready this long
                routes.write([channel("orders", ready)])
                await ledger.accepts_more(20, what="events after the pause")
            await ledger.all_delivered()


# 2. A Channel whose provisioner is briefly unresolved keeps its route and its durable state.


async def test_provisioner_briefly_unresolved_loses_nothing(
    http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    with running_kube() as kube:
        kube.install_crds(render_crds())
        async with Sink.start(lambda i, r: Reply(202, delay=0.02)) as sink:
            kube.create(
                {"apiVersion": API, "kind": "Channel", "metadata": {"name": "orders", "namespace": "default"}}
            )
            status = {
                "provisioner": "p1",
                "subscribers": [{"uid": "s1", "subscriberUri": sink.url, "ready": "True"}],
            }
            kube.patch(API, "Channel", "orders", {"status": status}, "default", subresource="status")
            ledger = Ledger(sink)
            env = {"EVENTWIRE_" + k.upper(): v for k, v in backend.items()}
            async with kube_dispatcher(
                kube, EVENTWIRE_PROVISIONER="p1", EVENTWIRE_SUBSCRIBER_CONCURRENCY="2", **env
            ) as base:
                url = f"{base}/default/orders"
                results = await asyncio.gather(*(post(http, url, f"b-{i}") for i in range(300)))
                ledger.accepted += [f"b-{i}" for i, code in enumerate(results) if code == 202]
                async with producing(http, url, ledger):
                    assert len(ledger.missing()) > 50  # a real backlog when the provisioner goes
                    unresolved = {"status": {"provisioner": None}}
                    kube.patch(API, "Channel", "orders", unresolved, "default", subresource="status")
                    await asyncio.sleep(1.0)  # the state under test: no provisioner for a second
                    kube.patch(API, "Channel", "orders", {"status": status}, "default", subresource="status")
                    await ledger.accepts_more(20, what="events after")
                await ledger.all_delivered()


# 3. An empty or truncated routes file is not a deletion.


async def test_empty_routes_file_keeps_the_table_and_the_backlog(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=0.01)) as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        ledger = Ledger(sink)
        async with run_dispatcher(routes, subscriber_concurrency="2", **backend) as d:
            url = d.url("default", "orders")
            results = await asyncio.gather(*(post(http, url, f"b-{i}") for i in range(600)))
            ledger.accepted += [f"b-{i}" for i, status in enumerate(results) if status == 202]
            assert len(ledger.missing()) > 50  # a real backlog when the file goes empty
            async with producing(http, url, ledger):
                # A file rewritten in place is empty for a moment, or holds only a comment. Each
                # is held until the dispatcher has refused it (its errors count went up) and 20
                # more events were accepted meanwhile.
                for content in ("", "# only a comment\n"):
                    await refused(http, d, lambda content=content: routes.path.write_text(content))
                    await ledger.accepts_more(20, what=f"events while the file holds {content!r}")
                routes.write([channel("orders", subscriber("s1", sink.url))])
                await ledger.accepts_more(20, what="events after")
            await ledger.all_delivered()


async def test_truncated_routes_file_is_not_a_deletion(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with (
        Sink.start(lambda i, r: Reply(202, delay=0.01)) as first,
        Sink.start(lambda i, r: Reply(202, delay=0.01)) as second,
    ):
        full = [
            channel("orders", subscriber("s1", first.url)),
            channel("payments", subscriber("s2", second.url), subscriber("s3", first.url)),
        ]
        routes.write(full)
        text = routes.path.read_text()
        ledger, copies = Ledger(second), Ledger(first)  # s2's and s3's copies
        async with run_dispatcher(routes, subscriber_concurrency="2", **backend) as d:
            url = d.url("default", "payments")
            results = await asyncio.gather(*(post(http, url, f"t-{i}") for i in range(400)))
            ledger.accepted += [f"t-{i}" for i, status in enumerate(results) if status == 202]
            # Cuts where the rest still parses: the payments channel without its last subscriber
            # (s3), then without the payments channel; then a cut that does not parse.
            # Each cut is held until the dispatcher has read it: the table its routes gauge shows
            # (2 channels and 2 subscribers, then 1 and 1), then the refusal it counted.
            for cut, table in (
                (text.rindex("  - subscriberUri"), (2, 2)),
                (text.index("- name: payments"), (1, 1)),
            ):
                routes.path.write_text(text[:cut])
                await table_loaded(http, d, *table)
            await refused(http, d, lambda: routes.path.write_text(text[: text.index("subscriberUri") + 5]))
            routes.write(full)
            async with producing(http, url, ledger, prefix="after", limit=50):
                await ledger.accepts_more(20, what="events after")
            await ledger.all_delivered()
            copies.accepted = ledger.accepted
            await copies.all_delivered()


# 4. Ready means ready: no event accepted before its backend state exists.


async def hammer(http: aiohttp.ClientSession, url: str, ledger: Ledger, prefix: str, want: int = 300) -> None:
    """16 concurrent posters from before the channel exists until `want` events were accepted.

    Refused connections, 404 and 503 are what a sender may see before the dispatcher is ready;
    only 202 is a promise.
    """

    async def worker(w: int) -> None:
        for j in range(5000):
            if len(ledger.accepted) >= want:
                return
            event_id = f"{prefix}-{w}-{j}"
            status = await post(http, url, event_id)
            assert status in (0, 202, 404, 503), status
            if status == 202:
                ledger.accepted.append(event_id)
            else:
                await asyncio.sleep(0.001)  # a sender pacing its retries, as a real one would

    await asyncio.gather(*(worker(w) for w in range(16)))
    assert len(ledger.accepted) >= want


@pytest.mark.parametrize("run", [1, 2, 3])
async def test_fresh_start_under_immediate_load(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str], run: int
) -> None:
    async with Sink.start() as one, Sink.start() as two:
        routes.write([channel("orders", subscriber("s1", one.url), subscriber("s2", two.url))])
        ledger, copies = Ledger(one), Ledger(two)
        port = free_port()
        env = {
            "EVENTWIRE_ROUTES_FILE": str(routes.path),
            "EVENTWIRE_PORT": str(port),
            **{"EVENTWIRE_" + k.upper(): v for k, v in backend.items()},
        }
        proc = ManagedProcess([sys.executable, "-m", "eventwire_runtime", "dispatcher"], env=env)
        try:
            await hammer(http, f"http://127.0.0.1:{port}/default/orders", ledger, "f")  # from process start
            copies.accepted = ledger.accepted
            await ledger.all_delivered(within=30)
            await copies.all_delivered(within=30)
        finally:
            await asyncio.to_thread(proc.stop)


@pytest.mark.parametrize("run", [1, 2, 3])
async def test_new_channel_under_immediate_load(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str], run: int
) -> None:
    async with Sink.start() as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        ledger = Ledger(sink)
        async with run_dispatcher(routes, **backend) as d:
            url = d.url("default", "fresh")
            assert await post(http, url, "probe") == 404
            both = [
                channel("orders", subscriber("s1", sink.url)),
                channel("fresh", subscriber("s9", sink.url)),
            ]
            asyncio.get_running_loop().call_later(0.2, routes.write, both)  # while posting
            await hammer(http, url, ledger, "n", want=100)
            await ledger.all_delivered(within=30)


# 5. The routes watcher survives garbage and follows the next valid file.


async def test_watcher_survives_garbage_and_follows_the_next_valid_file(
    routes: Routes, http: aiohttp.ClientSession
) -> None:
    async with Sink.start() as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        async with run_dispatcher(routes) as d:
            garbage = {
                "'utf-8' codec can't decode": b"channels:\n- name: \xff\xfe\xfa\n",
                "nested too deeply": ("a: " + "[" * 20000 + "]" * 20000).encode(),
            }
            for i, (problem, content) in enumerate(garbage.items()):
                routes.path.write_bytes(content)

                async def unready(problem: str = problem) -> bool:
                    async with http.get(f"{d.base}/readyz") as resp:
                        return resp.status == 503 and problem in await resp.text()

                await eventually_async(unready, timeout=30, what=f"/readyz naming {problem!r}")
                assert await post(http, d.url("default", "orders"), f"kept-{i}") == 202  # previous table
            async with http.get(f"{d.base}/metrics") as resp:
                metrics = await resp.text()
            # At least one error per garbage file: a watcher that reads a file mid-write on a loaded
            # machine may count the same garbage twice, which is still the behaviour asked for.
            errors = re.search(
                r'eventwire_dispatcher_routes_errors_total\{source="file"\} ([0-9.]+)', metrics
            )
            assert errors is not None, metrics
            assert float(errors.group(1)) >= 2, metrics
            routes.write(
                [channel("orders", subscriber("s1", sink.url)), channel("later", subscriber("s2", sink.url))]
            )

            async def later_routed() -> bool:
                return await post(http, d.url("default", "later"), "later-1") == 202

            await eventually_async(later_routed, timeout=30, what="the channel of the valid file routed")
            await sink.wait_for(3)
            async with http.get(f"{d.base}/readyz") as resp:
                assert resp.status == 200
            d.proc.kill(signal.SIGTERM)
            code = await asyncio.to_thread(d.proc.proc.wait, 20)
    assert code == 0, d.proc.output()
    assert {r.headers["ce-id"] for r in sink.received} == {"kept-0", "kept-1", "later-1"}


# 6. A subscriber that asks for Retry-After: 999999 does not hold its events (or others) forever.


async def test_retry_after_beyond_bounds_is_not_honoured(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with (
        Sink.start(lambda i, r: Reply(503, headers={"Retry-After": "999999"})) as stubborn,
        Sink.start() as dead_letters,
    ):
        delivery = {"retry": 2, "backoffDelay": "PT0.05S"}
        routes.write(
            [
                channel(
                    "orders",
                    subscriber("s1", stubborn.url, delivery=delivery, deadLetterSinkUri=dead_letters.url),
                )
            ]
        )
        ledger = Ledger(dead_letters)
        async with run_dispatcher(routes, subscriber_concurrency="1", **backend) as d:
            for i in range(5):
                assert await post(http, d.url("default", "orders"), f"r-{i}") == 202
                ledger.accepted.append(f"r-{i}")
            await ledger.all_delivered(within=30)
    assert len(stubborn.received) == 15  # 1 + 2 retries each, none waiting 999999 s


async def test_a_waiting_retry_does_not_hold_up_the_events_behind_it(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    def answer(index: int, request: Any) -> Reply:
        return Reply(503) if request.headers["ce-id"] == "slow" and index == 0 else Reply(202)

    async with Sink.start(answer) as sink:
        delivery = {"retry": 1, "backoffDelay": "PT5S"}
        routes.write([channel("orders", subscriber("s1", sink.url, delivery=delivery))])
        ledger = Ledger(sink)
        async with run_dispatcher(routes, subscriber_concurrency="1", **backend) as d:
            for event_id in ["slow", *(f"fast-{i}" for i in range(5))]:
                assert await post(http, d.url("default", "orders"), event_id) == 202
                ledger.accepted.append(event_id)
            await sink.wait_for(7, within=30)  # the five, and "slow" twice (503, then 202)
            ledger.report()
    order = [r.headers["ce-id"] for r in sink.received]
    # The fast ones went out while "slow" waited 5 s for its retry, holding no slot.
    assert order == ["slow", *(f"fast-{i}" for i in range(5)), "slow"], order


# 7. A slow delivery is not redelivered as a duplicate while it is in progress.


async def test_delivery_longer_than_the_ack_wait_is_not_duplicated(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    answered: list[str] = []

    async def slow(index: int, request: Any) -> Reply:
        event_id = request.headers["ce-id"]
        if event_id != "marker":
            await asyncio.sleep(5.0)  # 2.5 ack waits: the slow delivery is the behaviour under test
        answered.append(event_id)
        return Reply(202)

    async with Sink.start(slow) as sink:
        routes.write([channel("orders", subscriber("s1", sink.url))])
        ledger = Ledger(sink)
        async with run_dispatcher(routes, **{**backend, "ack_wait": "2"}) as d:
            for i in range(5):
                assert await post(http, d.url("default", "orders"), f"s-{i}") == 202
                ledger.accepted.append(f"s-{i}")
            await ledger.all_delivered(within=30)
            # Barriers instead of a pause: every slow delivery answered (two ack waits passed
            # during each), the broker holds nothing unacknowledged (nothing left to redeliver),
            # and a marker sent after that was delivered (the consumer went round again).
            await until(lambda: len(answered) >= 5, within=30, what="the slow deliveries answered")
            await until(lambda: unacked(backend, "default:orders", "sub-s1"), what="everything acked")
            assert await post(http, d.url("default", "orders"), "marker") == 202
            await until(lambda: "marker" in answered, what="the marker delivered")
    assert max(ledger.delivered().values()) == 1, ledger.delivered()


async def unacked(backend: dict[str, str], key: str, consumer: str) -> bool:
    """Whether `consumer` of stream `key` has no delivered-but-unacknowledged entry (is settled)."""
    if backend["backend"] == "jetstream":
        import nats

        nc = await nats.connect(backend["nats_url"])
        try:
            info = await nc.jetstream().consumer_info("EVENTWIRE", consumer)
            return bool(info.num_ack_pending == 0)
        finally:
            await nc.close()
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(backend["redis_url"])
    try:
        return int((await client.xpending(f"EVENTWIRE:{key}", consumer))["pending"]) == 0
    finally:
        await client.aclose()


async def file_errors(http: aiohttp.ClientSession, d: RunningDispatcher) -> float:
    """The dispatcher's count of refused routes files."""
    async with http.get(f"{d.base}/metrics") as resp:
        metrics = await resp.text()
    found = re.search(r'eventwire_dispatcher_routes_errors_total\{source="file"\} ([0-9.]+)', metrics)
    return float(found.group(1)) if found else 0.0


async def refused(http: aiohttp.ClientSession, d: RunningDispatcher, write: Callable[[], object]) -> None:
    """`write()` an unusable routes file; wait until the dispatcher counted it refused."""
    before = await file_errors(http, d)
    write()

    async def counted() -> bool:
        return await file_errors(http, d) > before

    await until(counted, what="the routes file refused")


async def table_loaded(
    http: aiohttp.ClientSession, d: RunningDispatcher, channels: int, subscribers: int, paused: int = 0
) -> None:
    """Wait until the dispatcher's table holds this many channels, ready and paused subscribers
    (its eventwire_dispatcher_routes gauge): proof it took the file in."""
    want = {"channel": channels, "subscriber": subscribers, "paused": paused}

    async def holds() -> bool:
        async with http.get(f"{d.base}/metrics") as resp:
            metrics = await resp.text()
        found = dict(re.findall(r'eventwire_dispatcher_routes\{kind="(\w+)"\} ([0-9.]+)', metrics))
        return all(float(found.get(kind, -1)) == count for kind, count in want.items())

    await until(holds, what=f"a table of {channels} channels, {subscribers} subscribers, {paused} paused")


# 8. Durable state is deleted only on an explicit tombstone, never on absence.


async def broker_names(backend: dict[str, str], key: str) -> set[str]:
    """Durable consumer names (jetstream) or consumer groups of stream `key` (redis)."""
    if backend["backend"] == "jetstream":
        return await consumer_names(backend["nats_url"], "EVENTWIRE")
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(backend["redis_url"])
    try:
        return {g["name"].decode() for g in await client.xinfo_groups(f"EVENTWIRE:{key}")}
    finally:
        await client.aclose()


async def test_durable_state_is_deleted_only_by_a_tombstone(
    routes: Routes, http: aiohttp.ClientSession, backend: dict[str, str]
) -> None:
    async with Sink.start() as sink:
        both = [subscriber("s1", sink.url), subscriber("s2", sink.url)]
        added = subscriber("s3", sink.url)
        routes.write([channel("orders", *both)])
        async with run_dispatcher(routes, **backend) as d:
            assert await post(http, d.url("default", "orders"), "x") == 202
            await sink.wait_for(2)
            assert await broker_names(backend, "default:orders") == {"sub-s1", "sub-s2"}
            # s2 absent is not a deletion. s3 arrives in the same write: its consumer is the barrier
            # showing the table was applied, with s2's state still there.
            routes.write([channel("orders", both[0], added)])
            assert await eventually_async(
                lambda: _names_include(backend, "default:orders", "sub-s3"), what="sub-s3"
            ) == {"sub-s1", "sub-s2", "sub-s3"}
            routes.write(
                [channel("orders", both[0], added, deletedSubscribers=[{"uid": "s2", "name": "two"}])]
            )
            await eventually_async(
                lambda: consumers_are(backend, "default:orders", {"sub-s1", "sub-s3"}), what="s2 tombstoned"
            )


async def _names_include(backend: dict[str, str], key: str, name: str) -> set[str]:
    names = await broker_names(backend, key)
    return names if name in names else set()


async def consumers_are(backend: dict[str, str], key: str, want: set[str]) -> bool:
    """Whether stream `key` has exactly the consumers `want` (a barrier: the table is applied)."""
    return await broker_names(backend, key) == want
