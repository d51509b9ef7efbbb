"""Pure units of the durable-state rules: routing entries, tombstones, the backends' plan, the
routes-file reader's refusals, and a waiting retry's released concurrency slot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher.backends.durable import Provisioned, plan
from eventwire_runtime.dispatcher.fanout import _Limiter
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable, channel_from_object
from eventwire_runtime.dispatcher.sources import load_routes_file
from tests.support.waiting import eventually_async


def route(name: str, *entries: dict[str, str], deleted: tuple[str, ...] = ()) -> ChannelRoute:
    return channel_from_object(
        {"name": name, "subscribers": list(entries), "deletedSubscribers": [{"uid": u} for u in deleted]}
    )


def test_not_ready_entries_are_paused_not_dropped() -> None:
    got = route(
        "orders",
        {"uid": "ready", "subscriberUri": "http://a/"},
        {"uid": "false", "subscriberUri": "http://b/", "ready": "False"},
        {"uid": "unresolved", "ready": "Unknown"},
        deleted=("gone", "ready"),
    )
    assert [s.uid for s in got.subscribers] == ["ready"]
    assert got.paused == ("false", "unresolved")
    assert got.deleted == ("gone",)  # a live entry wins over a stale tombstone
    assert got.uids == ("ready", "false", "unresolved")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"ready": "False"}, r"subscribers\[0\]\.uid"),
        ({"uid": ""}, r"subscribers\[0\]\.uid"),
    ],
)
def test_every_entry_needs_a_uid(entry: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        route("orders", entry)


def test_tombstones_must_name_a_uid() -> None:
    with pytest.raises(ConfigError, match=r"deletedSubscribers\[0\]\.uid"):
        channel_from_object({"name": "orders", "deletedSubscribers": [{"name": "x"}]})


def test_the_plan_deletes_only_tombstoned_or_explicitly_deleted_state() -> None:
    table = RoutingTable()
    table.replace_all(
        [
            route(
                "a",
                {"uid": "s1", "subscriberUri": "http://a/"},
                {"uid": "s2", "ready": "False"},
                deleted=("s3",),
            ),
            route("b", {"uid": "s4", "subscriberUri": "http://b/"}),
        ]
    )
    todo = plan(table)
    assert (set(todo.consume), set(todo.keep), todo.delete) == (
        {"s1", "s4"},
        {"s2"},
        {"s3": ("default", "a")},
    )

    # Channel b deleted explicitly: its subscriptions' state goes, including one only the
    # backend still remembered (no longer in the table).
    deleted = table.channels[("default", "b")]
    table.remove("default", "b", deleted=True)
    todo = plan(
        table, [deleted], known={"s4": ("default", "b"), "s5": ("default", "b"), "s1": ("default", "a")}
    )
    assert todo.delete == {"s3": ("default", "a"), "s4": ("default", "b"), "s5": ("default", "b")}


def test_table_listeners_hear_explicit_deletions_only() -> None:
    table = RoutingTable()
    heard: list[tuple[tuple[str, str], ...]] = []
    table.listeners.append(lambda t, deleted: heard.append(tuple(r.key for r in deleted)))
    table.replace_all([route("a"), route("b")])
    table.replace_all([route("a")])  # b left out: not a deletion
    table.remove("default", "a")  # no longer routed: not a deletion
    table.remove("default", "b", deleted=True)  # not routed any more, deleted all the same
    assert heard == [(), (), (), (("default", "b"),)]


async def test_provisioned_waits_for_every_subscription_of_the_channel() -> None:
    provisioned = Provisioned()
    orders = route("orders", {"uid": "s1", "subscriberUri": "http://a/"}, {"uid": "s2", "ready": "False"})
    assert not await provisioned.wait(orders, 0.01)
    waiting = asyncio.ensure_future(provisioned.wait(orders, 5))
    provisioned.add("s1")
    await asyncio.sleep(0)  # one loop turn: the waiter has seen s1 and still waits for s2
    assert not waiting.done()
    provisioned.add("s2")
    assert await waiting


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"# just a comment\n", "empty"),
        (b"channels:\n- name: \xff\n", "utf-8"),
        (("x: " + "[" * 5000 + "]" * 5000).encode(), "nested too deeply"),
        (b"channels: {", "cannot read routes file"),
        (b"channels:\n- name: orders\n  subscribers:\n  - subsc", "must be a mapping"),
    ],
)
def test_unusable_routes_files_are_refused_with_the_reason(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem):
        load_routes_file(str(path))


def test_an_explicit_empty_table_is_one(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("channels: []\n")
    assert load_routes_file(str(path)) == []


async def test_a_pausing_holder_lends_its_slot_and_gets_one_back() -> None:
    limit = _Limiter(1)
    assert limit.try_take()
    pausing = asyncio.ensure_future(limit.pause(0.05))
    await asyncio.sleep(0)  # one loop turn: the pause has started and given its slot back
    assert limit.try_take()  # the slot is free while the retry waits
    # The pause is over once it queues for a slot; the slot is taken, so it waits in line.
    await eventually_async(lambda: limit.waiters, timeout=10, what="the pause queued for a slot")
    assert not pausing.done()
    limit.give()
    await pausing
    assert limit.free == 0  # the pausing holder holds it again


async def test_a_cancelled_pause_still_counts_one_slot_for_its_holder() -> None:
    limit = _Limiter(1)
    assert limit.try_take()
    pausing = asyncio.ensure_future(limit.pause(10))
    await asyncio.sleep(0)  # one loop turn: the pause has started
    pausing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pausing
    limit.give()  # the holder's own release
    assert limit.free == 1


async def test_the_backlog_monitor_logs_counts_and_survives_an_unexpected_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from eventwire_runtime.dispatcher import guards
    from eventwire_runtime.dispatcher.backends.flow import BacklogGate
    from eventwire_runtime.dispatcher.metrics import DispatcherMetrics

    table = RoutingTable()
    table.replace_all([route("orders", {"uid": "a", "subscriberUri": "http://a/"})])
    gate = BacklogGate(threshold=10)
    rounds: list[int] = []
    measured_again = asyncio.Event()

    async def measure(channel: ChannelRoute) -> None:
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("a bug in measuring")
        gate.update(channel.key, 3)
        measured_again.set()

    gate.active.add(("default", "orders"))
    gate.levels[("default", "orders")] = 50  # held until measured again
    before = guards.CAUGHT.get("backlog_monitor", 0)
    watcher = asyncio.create_task(gate.watch(table, measure, (TimeoutError,)))
    try:
        async with asyncio.timeout(5):
            await measured_again.wait()
    finally:
        watcher.cancel()
    assert gate.levels[("default", "orders")] == 3
    assert "a bug in measuring" in caplog.text
    assert "Traceback" in caplog.text
    scraped = DispatcherMetrics().registry.get_sample_value(
        "eventwire_dispatcher_internal_errors_total", {"where": "backlog_monitor"}
    )
    assert scraped == before + 1


async def test_the_backlog_monitor_measures_a_low_backlog_seldom_and_a_growing_one_every_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventwire_runtime.dispatcher.backends import flow

    monkeypatch.setattr(flow, "REFRESH_INTERVAL", 3600.0)  # a low backlog is not measured again here
    table = RoutingTable()
    table.replace_all(
        [
            route("quiet", {"uid": "q", "subscriberUri": "http://q/"}),
            route("busy", {"uid": "b", "subscriberUri": "http://b/"}),
        ]
    )
    quiet, busy = ("default", "quiet"), ("default", "busy")
    gate = flow.BacklogGate(threshold=100)
    counts = {quiet: 0, busy: 0}
    changed = asyncio.Event()

    async def measure(channel: ChannelRoute) -> None:
        counts[channel.key] += 1
        gate.update(channel.key, 500 if channel.key == busy else 0)  # busy: gated, measured each round
        changed.set()

    async def until(done: object) -> None:
        async with asyncio.timeout(10):
            while not done():  # type: ignore[operator]
                changed.clear()
                await changed.wait()

    gate.active |= {quiet, busy}
    watcher = asyncio.create_task(gate.watch(table, measure, (TimeoutError,)))
    try:
        await until(lambda: counts[quiet] == 1)
        gate.active.add(quiet)
        gate.admit(quiet, 25)  # at most a quarter of the threshold: cannot reach it from here
        rounds = counts[busy]
        await until(lambda: counts[busy] >= rounds + 3)
        assert counts[quiet] == 1
        gate.admit(quiet, 1)  # above a quarter: measured in the next round
        await until(lambda: counts[quiet] == 2)
        assert gate.levels[quiet] == 0
    finally:
        watcher.cancel()


async def test_a_channel_stays_covered_only_while_its_subscriptions_and_their_state_do() -> None:
    provisioned = Provisioned()
    first = route("orders", {"uid": "a", "subscriberUri": "http://a/"})
    provisioned.add("a")
    assert provisioned.covers(first)
    assert provisioned.covers(first)  # the remembered answer
    grown = route(
        "orders", {"uid": "a", "subscriberUri": "http://a/"}, {"uid": "b", "subscriberUri": "http://b/"}
    )
    first.take_entries(grown)  # a routing update adds a subscription without state yet
    assert not provisioned.covers(first)
    provisioned.add("b")
    assert provisioned.covers(first)
    provisioned.discard("a")  # its consumer was found gone: ingress must wait again
    assert not provisioned.covers(first)
