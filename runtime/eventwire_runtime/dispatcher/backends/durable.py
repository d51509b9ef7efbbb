"""Which durable state (consumers, groups) the persistent backends run, keep, create or delete.

The rules are routing.py's: a ready subscription is consumed; a paused one keeps (and gets) its
durable state without being consumed; one that is merely absent from the table is left alone;
only a tombstone or the explicit deletion of its channel deletes its state. `Provisioned` tracks
whose durable state exists, so no event is accepted for a channel before every subscription's
consumer or group is there to keep it ("ready means ready").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable, Subscriber


@dataclass(slots=True)
class Plan:
    """What one routing update asks of a backend, by subscription uid."""

    consume: dict[str, tuple[ChannelRoute, Subscriber]] = field(default_factory=dict)
    keep: dict[str, ChannelRoute] = field(default_factory=dict)  # paused: state only
    delete: dict[str, tuple[str, str]] = field(default_factory=dict)  # uid -> channel key


def plan(
    table: RoutingTable,
    deleted_channels: Iterable[ChannelRoute] = (),
    known: dict[str, tuple[str, str]] | None = None,
) -> Plan:
    """The plan for `table` after an update that deleted `deleted_channels` explicitly.

    `known`: uid -> channel key of the durable state the backend holds, so a deleted channel's
    subscriptions are found even when the channel was no longer routed here.
    """
    out = Plan()
    for route in table.channels.values():
        for sub in route.subscribers:
            out.consume[sub.uid] = (route, sub)
    for route in table.channels.values():
        for uid in route.paused:
            if uid not in out.consume:
                out.keep[uid] = route
    live = out.consume.keys() | out.keep.keys()
    for route in table.channels.values():
        for uid in route.deleted:
            if uid not in live:
                out.delete[uid] = route.key
    for route in deleted_channels:
        uids = set(route.uids) | {u for u, key in (known or {}).items() if key == route.key}
        for uid in uids - live:
            out.delete[uid] = route.key
    return out


class SubscriberLookup:
    """A route's ready subscriber by uid, for each message a consumer takes.

    Scanning the route's subscribers per message cost a tenth of a Broker's delivery time on
    redis (every Trigger's group reads every entry); the answer is kept per uid until a routing
    update replaces the route's subscriber tuple (kept here, so its identity stays unique).
    """

    def __init__(self) -> None:
        self._found: dict[str, tuple[tuple[Subscriber, ...], Subscriber | None]] = {}

    def __call__(self, route: ChannelRoute, uid: str) -> Subscriber | None:
        subscribers = route.subscribers
        found = self._found.get(uid)
        if found is not None and found[0] is subscribers:
            return found[1]
        sub = next((s for s in subscribers if s.uid == uid), None)
        self._found[uid] = (subscribers, sub)
        return sub


class Provisioned:
    """Subscriptions whose durable state exists, and waiting for a channel's to exist."""

    def __init__(self) -> None:
        self.uids: set[str] = set()
        self._changed = asyncio.Event()
        # channel key -> (subscribers, paused) found covered: ingress asks per request, and a
        # routing update replaces those tuples (held here, so their identity stays unique).
        self._covered: dict[tuple[str, str], tuple[tuple[Subscriber, ...], tuple[str, ...]]] = {}

    def add(self, uid: str) -> None:
        self.uids.add(uid)
        self._changed.set()
        self._changed = asyncio.Event()

    def discard(self, uid: str) -> None:
        self.uids.discard(uid)
        self._covered.clear()

    def covers(self, route: ChannelRoute) -> bool:
        """True when every subscription of `route` (ready or paused) has its durable state."""
        known = self._covered.get(route.key)
        if known is not None and known[0] is route.subscribers and known[1] is route.paused:
            return True
        if not all(uid in self.uids for uid in route.uids):
            return False
        self._covered[route.key] = (route.subscribers, route.paused)
        return True

    def covers_all(self, table: RoutingTable) -> bool:
        return all(self.covers(route) for route in table.channels.values())

    async def wait(self, route: ChannelRoute, within: float) -> bool:
        """Wait up to `within` seconds until `covers(route)`; False if it does not happen."""
        try:
            async with asyncio.timeout(within):
                while not self.covers(route):
                    await self._changed.wait()
        except TimeoutError:
            return False
        return True


async def accept_once_provisioned(
    provisioned: Provisioned,
    channel: ChannelRoute,
    hold: float,
    accept: Callable[[], int | Deferred[int] | Awaitable[int]],
) -> int:
    """`accept()`'s status once the channel's durable state exists; 503 if not within `hold` s.

    Ingress answers 503 with Retry-After: the sender tries again, nothing is accepted and lost.
    """
    if not await provisioned.wait(channel, hold):
        return 503
    status = accept()
    if isinstance(status, int):
        return status
    if isinstance(status, Deferred):
        return await status.wait()
    return await status


def track(tasks: dict[str, asyncio.Task[None]], uid: str, coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` as `tasks[uid]` until it finishes."""
    task = asyncio.create_task(coro, name=f"ensure-{uid}")
    tasks[uid] = task
    # Only this task: a cancelled one's callback runs after its successor took the slot.
    task.add_done_callback(lambda done: tasks.pop(uid) if tasks.get(uid) is done else None)


class Lifecycle:
    """The durable-state bookkeeping both persistent backends share.

    `provisioned`: uids whose consumer or group exists; `known`: uid -> channel key of that
    state; `ensuring`: creations under way for paused subscriptions; `deleted`: uids whose state
    this process deleted (a tombstone stays in the table for a day: delete once).
    """

    def __init__(self) -> None:
        self.provisioned = Provisioned()
        self.known: dict[str, tuple[str, str]] = {}
        self.ensuring: dict[str, asyncio.Task[None]] = {}
        self.deleted: set[str] = set()

    def plan(self, table: RoutingTable, deleted_channels: Iterable[ChannelRoute]) -> Plan:
        todo = plan(table, deleted_channels, self.known)
        self.deleted -= todo.consume.keys() | todo.keep.keys()
        return todo

    def ensure_soon(self, uid: str, create: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `create()` for a paused subscription unless its state exists or is being created."""
        if uid not in self.provisioned.uids and uid not in self.ensuring:
            track(self.ensuring, uid, create())

    def created(self, uid: str, key: tuple[str, str]) -> None:
        self.known[uid] = key
        self.provisioned.add(uid)

    def to_delete(
        self, todo: Plan, consumers: dict[str, tuple[str, asyncio.Task[None]]]
    ) -> Iterator[tuple[str, tuple[str, str]]]:
        """(uid, channel key) of each state to delete now, its consumer and creation cancelled."""
        for uid, key in todo.delete.items():
            if uid in self.deleted:
                continue
            self.deleted.add(uid)
            self.provisioned.discard(uid)
            self.known.pop(uid, None)
            running = consumers.pop(uid, None)
            if running is not None:
                running[1].cancel()
            creating = self.ensuring.pop(uid, None)
            if creating is not None:
                creating.cancel()
            yield uid, key
