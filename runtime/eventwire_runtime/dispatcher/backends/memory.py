"""The in-memory backend: events live only in this process.

NOT DURABLE: events accepted with 202 but not yet delivered are lost if the process dies. Each
channel holds at most `capacity` accepted-but-undelivered events; beyond that ingress answers
429 with Retry-After so senders back off instead of growing memory without bound. Every accepted
event is fanned out at once on its own task; per-subscriber limits in `Fanout` pace delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.dispatcher.fanout import Fanout
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable

log = logging.getLogger(__name__)


class MemoryBackend:
    """Bounded, non-durable, per-channel queue; see the module docstring.

    Args:
        fanout: delivers each event.
        table: the routing table (for the depth gauge).
        capacity: undelivered events per channel before 429 (default 10000).
    """

    def __init__(self, fanout: Fanout, table: RoutingTable, capacity: int = 10000) -> None:
        self.fanout = fanout
        self.table = table
        self.capacity = capacity
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = False

    async def start(self) -> None:
        self._accepting = True

    def ready(self) -> bool:
        return self._accepting

    def accept(self, channel: ChannelRoute, events: list[Event]) -> int:
        if not self._accepting:
            return 503
        if channel.in_flight + len(events) > self.capacity:
            return 429
        now = time.monotonic()
        for event in events:
            channel.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(channel, event, now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 202

    async def _run(self, channel: ChannelRoute, event: Event, accepted_at: float) -> None:
        try:
            await self.fanout.fan_out(channel, event, accepted_at)
        finally:
            channel.in_flight -= 1

    def depths(self) -> Iterable[tuple[str, str, int]]:
        for route in list(self.table.channels.values()):
            if route.in_flight:
                yield route.namespace, route.name, route.in_flight

    async def stop(self, grace: float) -> None:
        """Stop accepting; wait up to `grace` seconds for in-flight deliveries, then cancel."""
        self._accepting = False
        if self._tasks:
            log.info("waiting for %d in-flight deliveries", len(self._tasks))
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d in-memory deliveries cancelled at shutdown (lost)", len(pending))
                await asyncio.wait(pending, timeout=1)
