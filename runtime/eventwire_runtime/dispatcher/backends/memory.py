"""The in-memory backend: events live only in this process.

NOT DURABLE: events accepted with 202 but not yet delivered are lost if the process dies. Each
channel holds at most `capacity` accepted-but-undelivered events; beyond that ingress answers
429 with Retry-After so senders back off instead of growing memory without bound. Every accepted
event is fanned out at once (`Fanout.start`: callbacks, a task only for retries and replies);
per-subscriber limits in `Fanout` pace delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.delivery.http_client import header_block
from eventwire_runtime.dispatcher import broker
from eventwire_runtime.dispatcher.fanout import Fanout, delivered_headers
from eventwire_runtime.dispatcher.routing import BROKER, ChannelRoute, RoutingTable, Subscriber

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
        self._accepting = False
        self._pending = 0  # accepted events not yet delivered to every subscriber
        self._idle = asyncio.Event()

    async def start(self) -> None:
        self._accepting = True

    def ready(self) -> bool:
        return self._accepting

    def settled(self) -> bool:
        return True  # nothing durable to create

    def accept(self, channel: ChannelRoute, events: list[Event]) -> int:
        if not self._accepting:
            return 503
        if channel.in_flight + len(events) > self.capacity:
            return 429
        subscribers: Sequence[Subscriber] = (
            channel.subscribers
        )  # snapshot: a routing update replaces the tuple
        if not subscribers:
            return 202
        now = time.monotonic()
        broker_route = channel.kind == BROKER
        for event in events:
            if broker_route:  # only the Triggers whose filters pass, decided in one pass
                subscribers = broker.select(channel.subscribers, event, channel.type_keys)
                if not subscribers:
                    continue
            channel.in_flight += 1
            self._pending += 1
            self._idle.clear()
            done = _Countdown(len(subscribers), channel, self)
            block = header_block(delivered_headers(channel, event)) if len(subscribers) > 1 else None
            for sub in subscribers:
                self.fanout.start(channel, sub, event, now, done, block, broker_route)
        return 202

    def _event_done(self, channel: ChannelRoute) -> None:
        channel.in_flight -= 1
        self._pending -= 1
        if not self._pending:
            self._idle.set()

    def depths(self) -> Iterable[tuple[str, str, int]]:
        for route in list(self.table.channels.values()):
            if route.in_flight:
                yield route.namespace, route.name, route.in_flight

    async def stop(self, grace: float) -> None:
        """Stop accepting; wait up to `grace` seconds for in-flight deliveries, then cancel."""
        self._accepting = False
        if self._pending:
            log.info("waiting for %d in-flight events", self._pending)
            try:
                async with asyncio.timeout(grace):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("%d in-memory events not fully delivered at shutdown (lost)", self._pending)
                tasks = set(self.fanout.tasks)
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.wait(tasks, timeout=1)


class _Countdown:
    """The `done` callback of one event's deliveries: the event is over when all have reported."""

    __slots__ = ("backend", "channel", "left")

    def __init__(self, left: int, channel: ChannelRoute, backend: MemoryBackend) -> None:
        self.left = left
        self.channel = channel
        self.backend = backend

    def __call__(self, finished: bool) -> None:
        self.left -= 1
        if not self.left:
            self.backend._event_done(self.channel)
