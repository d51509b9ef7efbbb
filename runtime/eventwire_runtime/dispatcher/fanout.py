"""Deliver one event to a channel's subscribers: concurrently, each with its own spec and limit.

Each subscriber gets its own header list (binary mode by default, structured when its delivery
spec says so) with `Prefer: reply`. A 200 response carrying a CloudEvent is a reply: it is
forwarded once to the subscription's reply URI (failure fails the attempt, so the whole delivery
is retried) or discarded when there is none. Each subscriber has its own concurrency limit, so a
slow or failing subscriber never holds up the others; a delivery waiting for its next retry
releases its slot meanwhile (`_Limiter.pause`), so it does not hold up that subscriber's other events.

Two paths deliver the same way: `deliver` (a coroutine: retries, dead letters, replies) and
`start`, which makes the first attempt with `HttpClient.post_nowait` and finishes in callbacks
when that attempt simply succeeds, the common case. Only an attempt that fails, times out or
carries a reply continues in a task through `deliver`'s code (the attempt counts as the first).
A task plus its coroutine chain per event was the largest cost left in profiles.

On a Broker's route the subscribers are Triggers (broker.py): each one's filter runs before any
attempt (an event that does not match costs no request and counts as finished, so persistent
backends ack it for that Trigger), and a reply re-enters the Broker through `reenter` (the
backend's accept) rather than going to a reply URI.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from eventwire_runtime.cloudevents.http import Event, event_from_response, to_structured
from eventwire_runtime.delivery.errors import EventFormatError, TransportError
from eventwire_runtime.delivery.http_client import Response, header_block
from eventwire_runtime.delivery.retry import is_success
from eventwire_runtime.delivery.sender import DeliveryResult, Refusal, Sender
from eventwire_runtime.dispatcher import broker, guards
from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.metrics import DispatcherMetrics
from eventwire_runtime.dispatcher.routing import BROKER, ChannelRoute, Subscriber
from eventwire_runtime.errors import EventTooLarge

log = logging.getLogger(__name__)

PREFER_REPLY = ("prefer", "reply")
PREFER_REPLY_LINE = b"prefer: reply\r\n"

# Called once when one subscriber's delivery is over: True when it finished (delivered, dead
# lettered or failed for good: ack it), False after an internal error (leave it for redelivery).
Done = Callable[[bool], None]
# Hands events to the backend as ingress does (Backend.accept): how replies re-enter a Broker.
Reenter = Callable[[ChannelRoute, list[Event]], "int | Deferred[int] | Awaitable[int]"]


class DeliveryObserver(Protocol):
    """Hears about each delivery (`eventwire dev`'s event viewer); None on the production path.

    Called on the event loop, so implementations must be quick and must not raise.
    """

    def delivery_started(self, channel: ChannelRoute, sub: Subscriber, event: Event) -> None: ...

    def delivery_retrying(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, failed: DeliveryResult
    ) -> None:
        """`failed`: the attempt that failed (its number, error) and will be retried."""

    def delivery_finished(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, result: DeliveryResult | None
    ) -> None:
        """`result` is None after an internal error; a first attempt that simply succeeded is
        reported as delivered in one attempt."""

    def reply_forwarded(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, reply: Event, error: str | None
    ) -> None: ...


class _Limiter:
    """A counting limit whose uncontended path is two attribute operations, no coroutine.

    asyncio.Semaphore costs an awaited context manager per delivery even when free; at tens of
    thousands of deliveries per second that shows in profiles. Waiters are futures (coroutine
    deliveries) or plain callables (callback deliveries queued by `Fanout.start`), served in
    order; a freed slot passes straight to the next waiter.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiters: collections.deque[asyncio.Future[None] | Callable[[], None]] = collections.deque()

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

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds` without holding the caller's slot (a retry's wait); hold one again after.

        Whatever happens (cancellation at shutdown included), the caller holds one counted slot
        on return, which its own `give()` hands back.
        """
        self.give()
        try:
            await asyncio.sleep(seconds)
            if not self.try_take():
                await self.take()
        except asyncio.CancelledError:
            self.free -= 1  # not re-acquired: count it as held, the caller's give() balances it
            raise

    def queue(self, start: Callable[[], None]) -> None:
        """Run `start()` holding a slot as soon as one is free (it must not raise)."""
        self.waiters.append(start)

    def give(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(None)
                    return
            else:
                waiter()
                return
        self.free += 1


class Fanout:
    """Delivers events to subscribers through one shared Sender.

    Args:
        sender: the Sender (its client is shared by every subscriber).
        metrics: where outcomes are counted.
        concurrency: deliveries in flight per subscriber (default 64).

    Attributes:
        observer: told about every delivery when set (`eventwire dev`'s viewer); None by default.
    """

    def __init__(self, sender: Sender, metrics: DispatcherMetrics, concurrency: int = 64) -> None:
        self.sender = sender
        self.metrics = metrics
        self.concurrency = concurrency
        self._limits: dict[str, _Limiter] = {}
        self.tasks: set[asyncio.Task[None]] = set()  # deliveries that left the callback path
        self.reenter: Reenter | None = None  # set once the backend exists
        # The attributes of the event last filtered: a Broker's Triggers see the same event in a
        # row on the in-memory backend, so they are read once.
        self._filtered: tuple[Event | None, dict[str, object]] = (None, {})
        self.observer: DeliveryObserver | None = None

    def _limit(self, uid: str) -> _Limiter:
        limit = self._limits.get(uid)
        if limit is None:
            limit = self._limits[uid] = _Limiter(self.concurrency)
        return limit

    def start(
        self,
        channel: ChannelRoute,
        sub: Subscriber,
        event: Event,
        accepted_at: float,
        done: Done,
        block: bytes | None = None,
        selected: bool = False,
    ) -> None:
        """Deliver to one subscriber like `deliver`, reporting the end to `done` (see `Done`).

        `block` is the header lines the subscriber gets, when the caller fans one event out to
        several subscribers (encoded once: `header_block(delivered_headers(channel, event))`); `selected` when the caller already applied Trigger filters
        (broker.select). Never raises; `done` runs in a later loop iteration, except for a Trigger
        whose filter the event does not match: then at once, with True.
        """
        if sub.filter is not None and not selected and not self._matches(sub, event):
            done(True)
            return
        limit = self._limit(sub.uid)
        if self.observer is not None:
            self.observer.delivery_started(channel, sub, event)
        if sub.spec.format == "structured":
            self._spawn(self._deliver_reporting(channel, sub, event, accepted_at, None, done))
            return
        if block is None:
            block = header_block(delivered_headers(channel, event))
        lines = block + PREFER_REPLY_LINE
        if limit.try_take():
            self._attempt(channel, sub, event, accepted_at, done, lines, limit)
        else:  # the subscriber's limit is reached: wait in line, still without a task
            limit.queue(lambda: self._attempt(channel, sub, event, accepted_at, done, lines, limit))

    def _matches(self, sub: Subscriber, event: Event) -> bool:
        assert sub.filter is not None
        last, attrs = self._filtered
        if last is not event:
            attrs = broker.attributes(event)
            self._filtered = (event, attrs)
        matched = sub.filter(attrs)
        if sub.stats is not None:
            if matched:
                sub.stats.matched += 1
            else:
                sub.stats.filtered_out += 1
        return matched

    def _attempt(
        self,
        channel: ChannelRoute,
        sub: Subscriber,
        event: Event,
        accepted_at: float,
        done: Done,
        lines: bytes,
        limit: _Limiter,
    ) -> None:
        """The first attempt of `start`, holding a slot of `limit`."""

        def finished(outcome: Response | TransportError) -> None:
            if type(outcome) is Response and 200 <= outcome.status < 300 and not _may_reply(outcome):
                limit.give()
                self._record(channel, sub, "delivered", 1, accepted_at)
                if self.observer is not None:
                    self.observer.delivery_finished(
                        channel, sub, event, DeliveryResult(outcome.status, attempts=1)
                    )
                done(True)
            else:  # retries, dead letter or a reply: the full path, this attempt counting as the first
                self._spawn(self._deliver_reporting(channel, sub, event, accepted_at, outcome, done, limit))

        timeout = sub.spec.timeout or self.sender.default_timeout
        try:
            self.sender.client.post_nowait(sub.subscriber_uri, lines, event.body, timeout, finished)
        except ValueError:  # not an http(s) URL: `deliver` (in a task, keeping the slot) reports it
            self._spawn(self._deliver_reporting(channel, sub, event, accepted_at, None, done, limit))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver_reporting(
        self,
        channel: ChannelRoute,
        sub: Subscriber,
        event: Event,
        accepted_at: float,
        first: Response | TransportError | None,
        done: Done,
        held: _Limiter | None = None,
    ) -> None:
        result = None
        try:
            result = await self.deliver(channel, sub, event, accepted_at, first=first, held=held)
        finally:
            if self.observer is not None:
                self.observer.delivery_finished(channel, sub, event, result)
            done(result is not None)

    async def deliver(
        self,
        channel: ChannelRoute,
        sub: Subscriber,
        event: Event,
        accepted_at: float,
        *,
        first: Response | TransportError | None = None,
        held: _Limiter | None = None,
    ) -> DeliveryResult | None:
        """Deliver to one subscriber with its spec; returns the result, None on an internal error.

        `first`: outcome of a first attempt already made (binary mode) while holding `held`, the
        subscriber's limiter slot, which is then released here.
        """
        sent = broker.for_subscriber(event) if channel.kind == BROKER else event
        if sub.spec.format == "structured":
            headers, body = to_structured(sent)
            headers.append(PREFER_REPLY)
        else:
            headers = [*sent.headers, PREFER_REPLY]
            body = sent.body

        async def on_success(response: Response) -> str | Refusal | None:
            return await self._handle_reply(sub, response, channel, event)

        observer = self.observer
        on_retry = None
        if observer is not None:

            def on_retry(failed: DeliveryResult) -> None:
                observer.delivery_retrying(channel, sub, event, failed)

        limit = held or self._limit(sub.uid)
        if held is None and not limit.try_take():
            await limit.take()
        try:
            result = await self.sender.send(
                sub.subscriber_uri,
                headers,
                body,
                sub.spec,
                on_success=on_success,
                first=first,
                pause=limit.pause,
                on_retry=on_retry,
            )
        except Exception:  # task boundary: a bug; the event stays unacknowledged, to be redelivered
            guards.caught("delivery", log, "delivery to %s failed unexpectedly", sub.subscriber_uri)
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
        self._record(channel, sub, outcome, result.attempts, accepted_at)
        if result.dead_lettered:
            self.metrics.dead_lettered.labels(channel.namespace, channel.name, sub.uid).inc()
        return result

    def _record(
        self, channel: ChannelRoute, sub: Subscriber, outcome: str, attempts: int, accepted_at: float
    ) -> None:
        self.metrics.deliveries.add((channel.namespace, channel.name, sub.uid, outcome))
        if sub.stats is not None:
            _count(sub.stats, outcome)
        if attempts > 1:
            self.metrics.retries.labels(channel.namespace, channel.name, sub.uid).inc(attempts - 1)
        self.metrics.latency.observe(outcome, time.monotonic() - accepted_at)

    async def _handle_reply(
        self, sub: Subscriber, response: Response, channel: ChannelRoute, event: Event
    ) -> str | Refusal | None:
        if not _may_reply(response):
            return None
        try:
            reply = event_from_response(response.headers, response.body)
        except EventFormatError as exc:
            log.warning("discarding invalid reply from %s: %s", sub.subscriber_uri, exc)
            return None
        if reply is None:
            return None
        if channel.kind == BROKER:
            problem = await self._reenter(channel, sub, event, reply)
        elif sub.reply_uri is not None:
            problem = await self._forward_reply(sub.reply_uri, reply, sub.spec.timeout)
        else:
            return None
        if self.observer is not None:
            message = problem.error if isinstance(problem, Refusal) else problem
            self.observer.reply_forwarded(channel, sub, event, reply, message)
        return problem

    async def _forward_reply(self, reply_uri: str, reply: Event, seconds: float | None) -> Refusal | None:
        """Send a Channel subscriber's reply to its reply destination; the failed hop or None."""
        try:
            answer = await self.sender.attempt(reply_uri, reply.headers, reply.body, seconds)
        except (TransportError, ValueError) as exc:
            return Refusal(f"reply delivery to {reply_uri} failed: {exc}", None, reply_uri)
        if is_success(answer.status):
            return None
        return Refusal(
            f"reply delivery to {reply_uri} answered {answer.status}", answer.status, reply_uri, answer.body
        )

    async def _reenter(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, reply: Event
    ) -> str | Refusal | None:
        """Send a Trigger's reply back into its Broker; the problem (the attempt fails) or None."""
        where = f"broker {channel.namespace}/{channel.title}"
        again = broker.reply_event(event, reply)
        refused = broker.admit([again])  # the hop count, as at ingress
        if refused is not None:
            log.warning(
                "a reply was refused: hop limit reached",
                extra={"broker": f"{channel.namespace}/{channel.title}", "trigger": sub.name or sub.uid},
            )
            if sub.stats is not None:
                _count(sub.stats, "hop_limit")
            return Refusal(f"reply refused by {where}: {refused}", 400)
        if self.reenter is None:
            return "the broker cannot take replies yet"
        try:
            pending = self.reenter(channel, [again])
            if isinstance(pending, Deferred):
                status = await pending.wait()
            elif isinstance(pending, int):
                status = pending
            else:
                status = await pending
        except EventTooLarge as exc:  # as ingress answers it: 413, which retrying cannot change
            return Refusal(f"reply re-entry into {where} failed: {exc}", 413)
        except Exception as exc:  # task boundary: backends answer failures as statuses, so a bug
            guards.caught("reply_reentry", log, "reply re-entry into %s failed", where)
            return f"reply re-entry into {where} failed: {exc}"
        if status != 202:
            return Refusal(f"reply re-entry into {where} answered {status}", status)
        return None


def _count(stats: broker.TriggerStats, outcome: str) -> None:
    stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1


def delivered_headers(channel: ChannelRoute, event: Event) -> list[tuple[str, str]]:
    """The headers a subscriber of `channel` gets for `event` (Triggers': no hop count)."""
    return broker.subscriber_headers(event.headers) if channel.kind == BROKER else event.headers


def _may_reply(response: Response) -> bool:
    """True when a 2xx response may carry a reply event (the full path then looks at it)."""
    return response.status == 200 and bool(response.body or "ce-id" in response.headers)
