"""Flow control for the persistent backends: ingress must not outrun delivery.

The backends poll each busy channel's worst subscription backlog (events stored but not yet
acknowledged) every 0.1 s, and count events admitted since then on top, so a burst between two
polls is held back too. While it is above `threshold`, ingress holds the request for up to
`hold` seconds waiting for the backlog to drain; the sender is slowed down smoothly, and only a
backlog that does not drain in that time gets 429 + Retry-After.

A channel whose backlog is far below the threshold (its last measurement plus what this replica
admitted since at most a quarter of it) is measured once a second instead: its backlog cannot
reach the threshold before then from this replica's traffic, and a Broker of ten Triggers
with any traffic at all otherwise costs a hundred consumer-info requests a second (a tenth of
the CPU per event at a few hundred events/s). Other replicas' traffic is seen within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from eventwire_runtime.dispatcher import guards

if TYPE_CHECKING:
    from eventwire_runtime.dispatcher.deferred import Deferred
    from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable

log = logging.getLogger(__name__)

MONITOR_INTERVAL = 0.1  # seconds between two backlog measurements of a busy channel
REFRESH_INTERVAL = 1.0  # seconds between two measurements of a channel with a low backlog


class BacklogGate:
    """Per-channel backlog levels and the waiters held back by them.

    Args:
        threshold: backlog above which ingress is held (EVENTWIRE_MAX_BACKLOG).
        hold: seconds a request may wait for the backlog to drain before 429 (default 2).
    """

    def __init__(self, threshold: int, hold: float = 2.0) -> None:
        self.threshold = threshold
        self.hold = hold
        self.levels: dict[tuple[str, str], int] = {}
        self.active: set[tuple[str, str]] = set()  # channels with ingress since the last measurement
        self._open: dict[tuple[str, str], asyncio.Event] = {}
        self._measured_at: dict[tuple[str, str], float] = {}  # loop time of the last measurement

    def due(self, key: tuple[str, str], now: float) -> bool:
        """Whether `key` must be measured in this round (see the module docstring)."""
        if self.levels.get(key, 0) * 4 > self.threshold:
            return True
        last = self._measured_at.get(key)
        return last is None or now - last >= REFRESH_INTERVAL

    def blocked(self, key: tuple[str, str]) -> bool:
        return self.levels.get(key, 0) > self.threshold

    def update(self, key: tuple[str, str], level: int) -> None:
        self.levels[key] = level
        self._measured_at[key] = time.monotonic()
        if level <= self.threshold:
            event = self._open.pop(key, None)
            if event is not None:
                event.set()

    def admit(self, key: tuple[str, str], count: int) -> None:
        """Count `count` events just admitted, until the next measurement replaces the level."""
        self.levels[key] = self.levels.get(key, 0) + count

    def forget(self, key: tuple[str, str]) -> None:
        self.update(key, 0)
        self.levels.pop(key, None)
        self._measured_at.pop(key, None)

    async def admit_when_open(self, key: tuple[str, str], count: int) -> bool:
        """Admit `count` events once `key` is at or below the threshold; False after `hold` s.

        Woken waiters re-check the level, so a drained backlog lets in only what fits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hold
        while self.blocked(key):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._open.setdefault(key, asyncio.Event())
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                return False
        self.admit(key, count)
        return True

    async def publish_when_open(
        self, key: tuple[str, str], count: int, publish: Callable[[], Deferred[int]]
    ) -> int:
        """`publish()`'s status once `count` events for `key` are admitted; 429 if not within `hold`."""
        if not await self.admit_when_open(key, count):
            return 429
        return await publish().wait()

    def depths(self) -> Iterator[tuple[str, str, int]]:
        """(namespace, channel, last measured backlog) of every channel measured so far."""
        for (namespace, channel), depth in list(self.levels.items()):
            yield namespace, channel, depth

    async def watch(
        self,
        table: RoutingTable,
        measure: Callable[[ChannelRoute], Awaitable[None]],
        transient: tuple[type[BaseException], ...],
    ) -> None:
        """Every 0.1 s, `measure` each active or gated channel that is `due` (it calls `update`);
        until cancelled.

        Channels no longer in `table.channels` (read each round: routing updates replace it) are
        forgotten. A `transient` error (broker briefly unreachable) skips the channel until the
        next round; any other error is logged and skipped too: the monitor never dies, since a
        stale level would hold ingress.
        """
        while True:
            await asyncio.sleep(MONITOR_INTERVAL)
            now = time.monotonic()
            due = {
                key for key in self.active | {k for k, v in self.levels.items() if v} if self.due(key, now)
            }
            self.active -= due  # the others stay active: measured in a later round
            for key in due:
                route = table.channels.get(key)
                if route is None:
                    self.forget(key)
                    continue
                try:
                    await measure(route)
                except transient:
                    pass  # measure again next round
                except Exception:  # task boundary: a dead monitor would leave a stale level holding ingress
                    guards.caught(
                        "backlog_monitor",
                        log,
                        "measuring the backlog of %s/%s failed",
                        route.namespace,
                        route.name,
                    )


class InFlight:
    """Counts deliveries that have not finished, so `stop` can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()

    def started(self) -> None:
        self.count += 1
        self._idle.clear()

    def finished(self) -> None:
        self.count -= 1
        if not self.count:
            self._idle.set()

    async def drain(self, grace: float, tasks: set[asyncio.Task[None]]) -> None:
        """Wait up to `grace` seconds for running deliveries, then cancel `tasks` (left un-acked)."""
        if self.count:
            try:
                async with asyncio.timeout(grace):
                    await self._idle.wait()
            except TimeoutError:
                for task in list(tasks):
                    task.cancel()  # never acked: the broker delivers them again
                await asyncio.sleep(0)
