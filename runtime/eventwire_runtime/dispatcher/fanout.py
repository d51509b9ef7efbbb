"""Deliver one event to a channel's subscribers: concurrently, each with its own spec and limit.

Each subscriber gets its own header list (binary mode by default, structured when its delivery
spec says so) with `Prefer: reply`. A 200 response carrying a CloudEvent is a reply: it is
forwarded once to the subscription's reply URI (failure fails the attempt, so the whole delivery
is retried) or discarded when there is none. Each subscriber has its own concurrency limit, so a
slow or failing subscriber never holds up the others.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from eventwire_runtime.cloudevents.http import Event, event_from_response, to_structured
from eventwire_runtime.delivery.errors import EventFormatError, TransportError
from eventwire_runtime.delivery.http_client import Response
from eventwire_runtime.delivery.retry import is_success
from eventwire_runtime.delivery.sender import DeliveryResult, Sender
from eventwire_runtime.dispatcher.metrics import DispatcherMetrics
from eventwire_runtime.dispatcher.routing import ChannelRoute, Subscriber

log = logging.getLogger(__name__)

PREFER_REPLY = ("prefer", "reply")


class _Limiter:
    """A counting limit whose uncontended path is two attribute operations, no coroutine.

    asyncio.Semaphore costs an awaited context manager per delivery even when free; at tens of
    thousands of deliveries per second that shows in profiles.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_take(self) -> bool:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give()  # granted just as we were cancelled: pass the slot on
            raise

    def give(self) -> None:
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.free += 1


class Fanout:
    """Delivers events to subscribers through one shared Sender.

    Args:
        sender: the Sender (its client is shared by every subscriber).
        metrics: where outcomes are counted.
        concurrency: deliveries in flight per subscriber (default 64).
    """

    def __init__(self, sender: Sender, metrics: DispatcherMetrics, concurrency: int = 64) -> None:
        self.sender = sender
        self.metrics = metrics
        self.concurrency = concurrency
        self._limits: dict[str, _Limiter] = {}
        self._outcomes: dict[tuple[str, str, str, str], Any] = {}
        self._latency: dict[str, Any] = {}

    def _limit(self, uid: str) -> _Limiter:
        limit = self._limits.get(uid)
        if limit is None:
            limit = self._limits[uid] = _Limiter(self.concurrency)
        return limit

    def _count(self, channel: ChannelRoute, uid: str, outcome: str) -> None:
        key = (channel.namespace, channel.name, uid, outcome)
        child = self._outcomes.get(key)
        if child is None:
            child = self._outcomes[key] = self.metrics.deliveries.labels(*key)
        child.inc()

    async def fan_out(self, channel: ChannelRoute, event: Event, accepted_at: float) -> None:
        """Deliver `event` to every current subscriber of `channel`; never raises."""
        subscribers = channel.subscribers  # snapshot: a routing update replaces the tuple
        if len(subscribers) == 1:
            await self.deliver(channel, subscribers[0], event, accepted_at)
        elif subscribers:
            await asyncio.gather(*(self.deliver(channel, s, event, accepted_at) for s in subscribers))

    async def deliver(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, accepted_at: float
    ) -> DeliveryResult | None:
        """Deliver to one subscriber with its spec; returns the result, None on an internal error."""
        if sub.spec.format == "structured":
            headers, body = to_structured(event)
            headers.append(PREFER_REPLY)
        else:
            headers = [*event.headers, PREFER_REPLY]
            body = event.body

        async def on_success(response: Response) -> str | None:
            return await self._handle_reply(sub, response)

        limit = self._limit(sub.uid)
        if not limit.try_take():
            await limit.take()
        try:
            result = await self.sender.send(
                sub.subscriber_uri, headers, body, sub.spec, on_success=on_success
            )
        except Exception:
            log.exception("delivery to %s failed unexpectedly", sub.subscriber_uri)
            return None
        finally:
            limit.give()
        if result.delivered:
            outcome = "delivered"
        elif result.dead_lettered:
            outcome = "dead_lettered"
        else:
            outcome = "failed"
            log.warning(
                "delivery failed",
                extra={
                    "channel": f"{channel.namespace}/{channel.name}",
                    "subscriber": sub.uid,
                    "error": result.error,
                },
            )
        labels = (channel.namespace, channel.name, sub.uid)
        self._count(channel, sub.uid, outcome)
        if result.attempts > 1:
            self.metrics.retries.labels(*labels).inc(result.attempts - 1)
        if result.dead_lettered:
            self.metrics.dead_lettered.labels(*labels).inc()
        latency = self._latency.get(outcome)
        if latency is None:
            latency = self._latency[outcome] = self.metrics.latency.labels(outcome)
        latency.observe(time.monotonic() - accepted_at)
        return result

    async def _handle_reply(self, sub: Subscriber, response: Response) -> str | None:
        if response.status != 200 or not (response.body or "ce-id" in response.headers):
            return None
        try:
            reply = event_from_response(response.headers, response.body)
        except EventFormatError as exc:
            log.warning("discarding invalid reply from %s: %s", sub.subscriber_uri, exc)
            return None
        if reply is None or sub.reply_uri is None:
            return None
        try:
            answer = await self.sender.attempt(sub.reply_uri, reply.headers, reply.body, sub.spec.timeout)
        except (TransportError, ValueError) as exc:
            return f"reply delivery to {sub.reply_uri} failed: {exc}"
        if not is_success(answer.status):
            return f"reply delivery to {sub.reply_uri} answered {answer.status}"
        return None
