"""The jetstream backend: NATS JetStream via nats-py.

- One stream (`EVENTWIRE_STREAM`, file storage, interest retention) with subject
  `<stream>.<namespace>.<channel>` per channel: a message is kept until every subscription's
  consumer has acknowledged it.
- Ingress answers 202 only after JetStream acknowledged the publish (a durable write).
  Concurrent requests publish concurrently, so writes are pipelined on the one connection
  (nats_io.py: one write batch per loop iteration, no task per request).
- An event larger than the server's `max_payload` gets 413 naming the limit. NATS's default is
  1 MB: for GitHub-sized events (25 MB) run nats-server with `max_payload` raised (the install
  sets 40 MiB; NATS allows up to 64 MB, with `max_pending` at least as large).
- One durable pull consumer per subscription (`sub-<uid>`, deliver policy "new"): every replica
  pulls from it, so replicas share the work. It lives as long as the Subscription, not its
  readiness (durable.py): a paused subscription's consumer keeps its backlog and is simply not
  pulled from; it is deleted only on a tombstone or the explicit deletion of its channel. A
  channel takes events only once every subscription's consumer exists (until then ingress waits
  up to 2 s, then answers 503 + Retry-After), so nothing is accepted that no consumer keeps.
- Each message's delivery starts from the subscription callback (`Fanout.start`, no task on the
  happy path). A message is acked (acks batched per loop iteration) only after delivery
  succeeded, was dead-lettered, or failed terminally; an un-acked message (crash, kill -9) is
  redelivered after `EVENTWIRE_ACK_WAIT`: at-least-once. While a delivery is in progress (slow subscriber,
  retries waiting) its message is marked in progress (`+WPI`) every third of the ack wait, so a
  long retry sequence is not redelivered as a duplicate.
- A Broker's events go to `<stream>.<namespace>.broker:<name>.<type>` (the type as one subject
  token, percent-encoded). A Trigger whose filter requires one `type` gets a consumer filtered
  on that subject: events of other types never reach it (no pull, decode or ack per Trigger);
  other Triggers' consumers take `...broker:<name>.*` and filter in the dispatcher. A CESQL
  filter whose top-level AND chain holds `type = '<value>'` requires that type as well
  (eventwire_spec.filters.required_type). When a Trigger's required type changes (ready or
  paused), ingress for its Broker is held until its consumer's filter subject is edited in place
  (the consumer keeps its position), so no event of the new type is taken before the consumer
  keeps it. Stored events of the old type that only this consumer wanted are dropped by
  nats-server 2.10.15 and later (nats-server PR 5385); older servers keep them in the stream.
- Flow control (flow.py): while any subscription of the channel has more than
  `EVENTWIRE_MAX_BACKLOG` undelivered events (consumer info polled every 0.1 s for channels with
  traffic and a backlog above a quarter of it, every second below), ingress holds requests until
  it drains, then answers 429 if it does not within 2 s. Acks are gathered for 5 ms per write
  (nats_io.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.dispatcher import broker
from eventwire_runtime.dispatcher.backends import EventTooLarge, stored_status
from eventwire_runtime.dispatcher.backends.codec import decode, encode
from eventwire_runtime.dispatcher.backends.durable import (
    Lifecycle,
    Plan,
    SubscriberLookup,
    accept_once_provisioned,
)
from eventwire_runtime.dispatcher.backends.flow import BacklogGate, InFlight
from eventwire_runtime.dispatcher.backends.nats_io import (
    ACK,
    IN_PROGRESS,
    NAK,
    NAK_LATER,
    TERM,
    Publisher,
    Replies,
)
from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.fanout import Fanout
from eventwire_runtime.dispatcher.routing import BROKER, ChannelRoute, RoutingTable, Subscriber
from eventwire_runtime.dispatcher.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
PULL_EXPIRES_NS = 1_000_000_000  # a pull request lingers up to 1 s waiting for messages


def consumer_name(uid: str) -> str:
    return "sub-" + _UNSAFE.sub("_", uid)


@functools.lru_cache(maxsize=4096)
def subject_token(value: str) -> str:
    """`value` as one NATS subject token: '.', '*', '>', '%', spaces, controls and non-ASCII
    percent-encoded (UTF-8), so any event type fits in one token."""
    return "".join(
        c if 33 <= ord(c) < 127 and c not in ".*>%" else "".join(f"%{b:02X}" for b in c.encode())
        for c in value
    )


class _SubjectFiltered:
    """Counts an event as filtered out for each Trigger whose consumer's subject excludes it.

    Which Triggers those are is kept per event type until a routing update replaces the route's
    subscriber tuple (held here, so its identity stays unique): a Broker's ingress asks per event.
    """

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], tuple[tuple[Subscriber, ...], dict[str, list[Any]]]] = {}

    def count(self, route: ChannelRoute, event_type: str) -> None:
        found = self._found.get(route.key)
        if found is None or found[0] is not route.subscribers:
            found = self._found[route.key] = (route.subscribers, {})
        by_type = found[1]
        stats = by_type.get(event_type)
        if stats is None:
            if len(by_type) >= 256:  # many distinct types: bounded
                by_type.clear()
            stats = by_type[event_type] = [
                sub.stats
                for sub in route.subscribers
                if sub.stats is not None and route.type_keys.get(sub.uid) not in (None, event_type)
            ]
        for counts in stats:
            counts.filtered_out += 1


class JetStreamBackend:
    """See the module docstring."""

    def __init__(self, settings: Settings, fanout: Fanout, table: RoutingTable) -> None:
        self.settings = settings
        self.fanout = fanout
        self.table = table
        self.stream = settings.stream
        self.prefix = _UNSAFE.sub("_", settings.stream)
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._consumers: dict[str, tuple[str, asyncio.Task[None]]] = {}  # uid -> (subject, task)
        self.gate = BacklogGate(settings.max_backlog)
        self._monitor: asyncio.Task[None] | None = None
        self._stopping = False
        self._delivering = InFlight()  # messages whose delivery has not finished
        self._background: set[asyncio.Future[None]] = set()
        self.durable = Lifecycle()  # whose consumers exist, are being created, were deleted
        self._in_progress: dict[int, Msg] = {}  # id(msg) -> message being delivered
        self._heartbeat: asyncio.Task[None] | None = None
        self._subscriber = SubscriberLookup()
        self._filters: dict[str, str] = {}  # uid -> filter subject its consumer was ensured with
        self._subject_filtered = _SubjectFiltered()

    def subject(self, namespace: str, channel: str) -> str:
        return f"{self.prefix}.{namespace}.{channel}"

    def consumer_subject(self, route: ChannelRoute, uid: str) -> str:
        """The filter subject of a subscription's consumer (a Trigger's: by its required type)."""
        base = self.subject(route.namespace, route.name)
        if route.kind != BROKER:
            return base
        wanted = route.type_keys.get(uid)
        return f"{base}.{subject_token(wanted)}" if wanted else f"{base}.*"

    async def start(self) -> None:
        self.nc = await nats.connect(
            self.settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=5
        )
        self.js = self.nc.jetstream()
        self.publisher = Publisher(self.nc)
        await self.publisher.start()
        self.replies = Replies(self.nc)
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            with contextlib.suppress(nats.js.errors.BadRequestError):  # another replica won the race
                await self.js.add_stream(
                    StreamConfig(
                        name=self.stream,
                        subjects=[f"{self.prefix}.>"],
                        retention=RetentionPolicy.INTEREST,
                        storage=StorageType.FILE,
                    )
                )
        self.table.listeners.append(self._routes_changed)
        self._routes_changed(self.table, ())
        monitor = self.gate.watch(self.table, self._measure, (nats.errors.Error, TimeoutError))
        self._monitor = asyncio.create_task(monitor, name="jetstream-backlog")
        self._heartbeat = asyncio.create_task(self._mark_in_progress(), name="jetstream-in-progress")

    def ready(self) -> bool:
        return self.nc is not None and self.nc.is_connected and not self._stopping

    def settled(self) -> bool:
        return self.durable.provisioned.covers_all(self.table)

    # ingress
    def accept(self, channel: ChannelRoute, events: list[Event]) -> int | Deferred[int] | asyncio.Future[int]:
        if not self.ready():
            return 503
        if not self.durable.provisioned.covers(channel):
            return asyncio.ensure_future(
                accept_once_provisioned(
                    self.durable.provisioned, channel, self.gate.hold, lambda: self.accept(channel, events)
                )
            )
        self.gate.active.add(channel.key)
        now = time.time()
        payloads = [encode(e, now) for e in events]
        self._check_size(payloads)
        if self.gate.blocked(channel.key):
            publish = self.gate.publish_when_open(
                channel.key, len(payloads), lambda: self._publish(channel, payloads, events)
            )
            return asyncio.ensure_future(publish)
        self.gate.admit(channel.key, len(payloads))
        return self._publish(channel, payloads, events)

    def _check_size(self, payloads: list[bytes]) -> None:
        assert self.nc is not None
        limit = self.nc.max_payload
        size = max(len(p) for p in payloads)
        if size > limit:
            raise EventTooLarge(
                f"event of {size} bytes (stored form) is larger than the jetstream broker accepts: "
                f"the NATS server's max_payload is {limit} bytes (raise max_payload in its configuration)"
            )

    def _publish(self, channel: ChannelRoute, payloads: list[bytes], events: list[Event]) -> Deferred[int]:
        subject = self.subject(channel.namespace, channel.name)
        status, one_done = stored_status(len(payloads), "jetstream publish")
        broker_route = channel.kind == BROKER
        for payload, event in zip(payloads, events, strict=True):
            if broker_route:  # ingress validated the event: it has a type
                event_type = event.attribute("type") or ""
                self._subject_filtered.count(channel, event_type)
                self.publisher.publish(f"{subject}.{subject_token(event_type)}", payload, one_done)
            else:
                self.publisher.publish(subject, payload, one_done)
        return status

    # consumers
    def _routes_changed(self, table: RoutingTable, deleted: tuple[ChannelRoute, ...]) -> None:
        """Consume ready subscriptions, keep paused ones, delete only what the plan says (durable.py)."""
        todo = self.durable.plan(table, deleted)
        self._refilter(todo)
        for uid in list(self._consumers):
            subject = self._consumers[uid][0]
            entry = todo.consume.get(uid)
            if entry is None or self.consumer_subject(entry[0], uid) != subject:
                self._consumers.pop(uid)[1].cancel()  # paused or gone: its consumer stays
        for uid, (route, _) in todo.consume.items():
            if uid not in self._consumers:
                subject = self.consumer_subject(route, uid)
                task = asyncio.create_task(self._consume(route, uid, subject), name=f"consume-{uid}")
                self._consumers[uid] = (subject, task)
        for uid, route in todo.keep.items():
            subject = self.consumer_subject(route, uid)
            self.durable.ensure_soon(uid, functools.partial(self._ensure, uid, route.key, subject))
        for uid, _ in self.durable.to_delete(todo, self._consumers):
            self._filters.pop(uid, None)
            cleanup = asyncio.ensure_future(self._delete_consumer(uid))
            self._background.add(cleanup)
            cleanup.add_done_callback(self._background.discard)

    def _refilter(self, todo: Plan) -> None:
        """Hold ingress for each Trigger whose consumer has another subject than its filter needs
        now (its required type changed), until `_ensure` has switched the subject: an event of
        the new type taken before would not be kept for it (paused Triggers included)."""
        routes = {uid: route for uid, (route, _) in todo.consume.items()} | todo.keep
        for uid, route in routes.items():
            ensured = self._filters.get(uid)
            if ensured is not None and ensured != self.consumer_subject(route, uid):
                del self._filters[uid]
                self.durable.provisioned.discard(uid)  # accept() waits for it (503 after 2 s)
                creating = self.durable.ensuring.pop(uid, None)
                if creating is not None:
                    creating.cancel()

    async def _delete_consumer(self, uid: str) -> None:
        assert self.js is not None
        log.info("deleting the consumer of deleted subscription %s", uid)
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self.js.delete_consumer(self.stream, consumer_name(uid))

    async def _ensure(self, uid: str, key: tuple[str, str], subject: str) -> None:
        """Create the subscription's durable consumer unless it exists (retrying until it does)."""
        assert self.js is not None
        name = consumer_name(uid)
        while True:
            try:
                config = ConsumerConfig(
                    durable_name=name,
                    filter_subject=subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.NEW,
                    ack_wait=self.settings.ack_wait,
                    max_ack_pending=self.settings.subscriber_concurrency * 4,
                    max_deliver=-1,
                )
                try:
                    # Creates it, or updates it in place keeping its position (nats-server 2.9.10
                    # and later edit filter_subject this way: a Trigger whose type changed).
                    await self.js.add_consumer(self.stream, config)
                except nats.js.errors.BadRequestError:  # exists, and the server refused the edit
                    info = await self.js.consumer_info(self.stream, name)
                    if info.config.filter_subject != subject:  # an older server: recreate it
                        log.warning(
                            "recreating consumer %s on %s (its Trigger's type changed and the server"
                            " cannot edit filter subjects): its backlog of the old type is dropped",
                            name,
                            subject,
                        )
                        await self.js.delete_consumer(self.stream, name)
                        await self.js.add_consumer(self.stream, config)
                break
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("cannot create consumer %s: %s; retrying", name, exc)
                await asyncio.sleep(1)
        self._filters[uid] = subject
        self.durable.created(uid, key)

    async def _mark_in_progress(self) -> None:
        """Tell JetStream, every third of the ack wait, which deliveries are still in progress."""
        while True:
            await asyncio.sleep(self.settings.ack_wait / 3)
            for msg in list(self._in_progress.values()):
                self.replies.send(msg, IN_PROGRESS)

    async def _consume(self, route: ChannelRoute, uid: str, subject: str) -> None:
        """Pull from the subscription's durable consumer and deliver each message as it arrives.

        nats-py's `fetch` hands messages over only once a whole batch is in (or the request
        expired), which stalls delivery; this loop keeps one lingering pull request open for as
        many messages as there are free delivery slots and starts each delivery on arrival.
        """
        assert self.js is not None
        assert self.nc is not None
        name = consumer_name(uid)
        if self._filters.get(uid) != subject:
            await self._ensure(uid, route.key, subject)
        # Messages held at once: more than the deliveries in flight (Fanout's per-subscriber
        # limit), so events keep flowing while some deliveries wait for a retry.
        capacity = self.settings.subscriber_concurrency * 4
        next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{name}"
        # Deliveries start from the subscription callback; this loop only keeps a lingering pull
        # request open for as many messages as there are free delivery slots.
        in_flight = 0
        requested = 0  # messages the open pull request may still bring
        wake = asyncio.Event()
        low_water = max(1, capacity // 4)

        def finished() -> None:
            nonlocal in_flight
            in_flight -= 1
            if capacity - in_flight - requested >= low_water:
                wake.set()

        async def on_message(msg: Msg) -> None:
            nonlocal in_flight, requested
            if JetStreamContext.is_status_msg(msg):
                requested = 0  # 404/408/409: this pull request is over
                wake.set()
                return
            requested = max(0, requested - 1)
            in_flight += 1
            self._start_delivery(route, uid, msg, finished)
            if not requested:
                wake.set()

        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox, cb=on_message)
        try:
            while not self._stopping:
                free = capacity - in_flight
                if requested or free < low_water:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PULL_EXPIRES_NS / 1e9 + 0.5):
                            await wake.wait()
                    if requested and not wake.is_set():
                        requested = 0  # the request expired without a status message
                    continue
                request = json.dumps({"batch": free, "expires": PULL_EXPIRES_NS}).encode()
                requested = free
                try:
                    await self.nc.publish(next_subject, request, reply=inbox)
                except nats.errors.Error as exc:
                    requested = 0
                    log.warning("pull request for %s failed: %s", name, exc)
                    await asyncio.sleep(0.5)
        finally:
            with contextlib.suppress(nats.errors.Error):  # closed connection: nothing to undo
                await sub.unsubscribe()

    def _start_delivery(self, route: ChannelRoute, uid: str, msg: Msg, finished: Callable[[], None]) -> None:
        """Deliver one message; ack it when the delivery is over, nak it after an internal error."""
        sub = self._subscriber(route, uid)
        if sub is None:  # subscription removed: leave it for redelivery elsewhere, or drop with it
            self.replies.send(msg, NAK)
            finished()
            return
        try:
            # A Trigger whose consumer takes every type (its filter requires none; the subject
            # selected the type for the others): the filter runs on the headers first, so an
            # event it does not want is acked without decoding it.
            verdict = None
            if sub.filter is not None and route.type_keys.get(uid) is None:
                verdict = broker.prefilter(sub, None, msg.data)
                if not verdict:
                    self.replies.send(msg, ACK)
                    finished()
                    return
            event, accepted_at = decode(msg.data)
        except ValueError as exc:
            log.error("dropping undecodable stored event: %s", exc)
            self.replies.send(msg, TERM)
            finished()
            return
        self._delivering.started()
        self._in_progress[id(msg)] = msg

        def done(ok: bool) -> None:
            del self._in_progress[id(msg)]
            self.replies.send(msg, ACK if ok else NAK_LATER)
            finished()
            self._delivering.finished()

        lag = max(time.time() - accepted_at, 0.0)
        self.fanout.start(route, sub, event, time.monotonic() - lag, done, selected=verdict is True)

    async def _measure(self, route: ChannelRoute) -> None:
        """Set the gate to the worst backlog among the route's consumers (unreadable ones skipped)."""
        assert self.nc is not None
        worst = 0
        for sub in route.subscribers:
            # The raw API answer, two fields read: nats-py's consumer_info builds nested
            # dataclasses, ten times per 0.1 s for a Broker of ten Triggers.
            subject = f"$JS.API.CONSUMER.INFO.{self.stream}.{consumer_name(sub.uid)}"
            try:
                reply = await self.nc.request(subject, b"", timeout=2)
                info = json.loads(reply.data)
                backlog = int(info.get("num_pending") or 0) + int(info.get("num_ack_pending") or 0)
            except (nats.errors.Error, TimeoutError):
                continue
            except (ValueError, TypeError, AttributeError) as exc:  # not a consumer info: skip it
                log.warning("unreadable consumer info of %s: %s", sub.uid, exc)
                continue
            worst = max(worst, backlog)  # an error answer (no such consumer) has neither: 0
        self.gate.update(route.key, worst)

    def depths(self) -> Iterable[tuple[str, str, int]]:
        return self.gate.depths()

    async def stop(self, grace: float) -> None:
        """Stop fetching; let in-flight deliveries finish (and ack) for up to `grace` seconds.

        Deliveries still running after that are cancelled un-acked, so JetStream redelivers them.
        """
        self._stopping = True
        for task in (self._monitor, self._heartbeat, *self.durable.ensuring.values()):
            if task is not None:
                task.cancel()
        for _, task in self._consumers.values():
            task.cancel()
        await self._delivering.drain(grace, self.fanout.tasks)  # cut-off messages are redelivered
        if self.nc is not None:
            await self.replies.flush()
            try:
                async with asyncio.timeout(5):
                    await self.nc.drain()
            except (nats.errors.Error, TimeoutError, OSError):  # best effort: un-acked ones are redelivered
                with contextlib.suppress(nats.errors.Error, OSError):
                    await self.nc.close()
