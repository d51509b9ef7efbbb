"""The jetstream backend: NATS JetStream via nats-py.

- One stream (`EVENTWIRE_STREAM`, file storage, interest retention) with subject
  `<stream>.<namespace>.<channel>` per channel: a message is kept until every subscription's
  consumer has acknowledged it.
- Ingress answers 202 only after JetStream acknowledged the publish (a durable write).
  Concurrent requests publish concurrently, so writes are pipelined on the one connection.
- One durable pull consumer per subscription (`sub-<uid>`, deliver policy "new"): every replica
  pulls from it, so replicas share the work. A message is acked only after delivery succeeded,
  was dead-lettered, or failed terminally; an un-acked message (crash, kill -9) is redelivered
  after `EVENTWIRE_ACK_WAIT`: at-least-once.
- Flow control (flow.py): while any subscription of the channel has more than
  `EVENTWIRE_MAX_BACKLOG` undelivered events (consumer info polled every 0.1 s for channels with
  traffic), ingress holds requests until it drains, then answers 429 if it does not within 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.dispatcher.backends.codec import decode, encode
from eventwire_runtime.dispatcher.backends.flow import BacklogGate
from eventwire_runtime.dispatcher.fanout import Fanout
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable, Subscriber
from eventwire_runtime.dispatcher.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
PULL_EXPIRES_NS = 1_000_000_000  # a pull request lingers up to 1 s waiting for messages


class _Publisher:
    """JetStream publishes with acks collected on one wildcard inbox subscription.

    nats-py's `js.publish` runs `asyncio.wait_for` (a task per call on Python 3.11) and parses
    every PubAck into a dataclass; at tens of thousands of events per second that overhead
    dominates the ingress path. Here each publish is a plain PUB with a reply subject and one
    future; the ack only needs to be checked for an error.
    """

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self.pending: dict[str, asyncio.Future[None]] = {}
        self.counter = 0
        self.sub: Any = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.prefix + ".*", cb=self._on_ack)

    async def _on_ack(self, msg: Msg) -> None:
        future = self.pending.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return
        status = msg.headers.get("Status") if msg.headers else None
        if status:  # e.g. 503 no responders: no stream for the subject
            future.set_exception(nats.errors.Error(f"JetStream publish failed with status {status}"))
        elif b'"error"' in msg.data:
            future.set_exception(nats.errors.Error(f"JetStream rejected the publish: {msg.data[:200]!r}"))
        else:
            future.set_result(None)

    async def publish(self, subject: str, payload: bytes, seconds: float = 5.0) -> None:
        """Publish and wait for the stream's ack. Raises nats.errors.Error or TimeoutError."""
        self.counter += 1
        token = str(self.counter)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending[token] = future
        try:
            await self.nc.publish(subject, payload, reply=f"{self.prefix}.{token}")
            async with asyncio.timeout(seconds):
                await future
        finally:
            self.pending.pop(token, None)


def consumer_name(uid: str) -> str:
    return "sub-" + _UNSAFE.sub("_", uid)


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
        self._active: set[tuple[str, str]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Future[None]] = set()

    def subject(self, namespace: str, channel: str) -> str:
        return f"{self.prefix}.{namespace}.{channel}"

    async def start(self) -> None:
        self.nc = await nats.connect(
            self.settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=5
        )
        self.js = self.nc.jetstream()
        self.publisher = _Publisher(self.nc)
        await self.publisher.start()
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
        self._routes_changed(self.table)
        self._monitor = asyncio.create_task(self._watch_backlog(), name="jetstream-backlog")

    def ready(self) -> bool:
        return self.nc is not None and self.nc.is_connected and not self._stopping

    # ingress
    def accept(self, channel: ChannelRoute, events: list[Event]) -> int | asyncio.Future[int]:
        if not self.ready():
            return 503
        self._active.add(channel.key)
        return asyncio.ensure_future(self._publish(channel, events))

    async def _publish(self, channel: ChannelRoute, events: list[Event]) -> int:
        assert self.js is not None
        subject = self.subject(channel.namespace, channel.name)
        if not self.gate.blocked(channel.key):
            self.gate.admit(channel.key, len(events))
        elif not await self.gate.admit_when_open(channel.key, len(events)):
            return 429
        now = time.time()
        try:
            if len(events) == 1:
                await self.publisher.publish(subject, encode(events[0], now))
            else:
                await asyncio.gather(*(self.publisher.publish(subject, encode(e, now)) for e in events))
        except nats.errors.MaxPayloadError:
            log.warning("event larger than the NATS server's max_payload (raise it in nats-server config)")
            return 413
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("jetstream publish failed: %s", exc)
            return 503
        return 202

    # consumers
    def _routes_changed(self, table: RoutingTable) -> None:
        wanted: dict[str, tuple[ChannelRoute, Subscriber]] = {}
        for route in table.channels.values():
            for sub in route.subscribers:
                wanted[sub.uid] = (route, sub)
        for uid in list(self._consumers):
            subject = self._consumers[uid][0]
            entry = wanted.get(uid)
            if entry is None or self.subject(entry[0].namespace, entry[0].name) != subject:
                self._consumers.pop(uid)[1].cancel()
                if entry is None:
                    cleanup = asyncio.ensure_future(self._delete_consumer(uid))
                    self._background.add(cleanup)
                    cleanup.add_done_callback(self._background.discard)
        for uid, (route, _) in wanted.items():
            if uid not in self._consumers:
                subject = self.subject(route.namespace, route.name)
                task = asyncio.create_task(self._consume(route, uid, subject), name=f"consume-{uid}")
                self._consumers[uid] = (subject, task)

    async def _delete_consumer(self, uid: str) -> None:
        assert self.js is not None
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self.js.delete_consumer(self.stream, consumer_name(uid))

    def _current(self, route: ChannelRoute, uid: str) -> Subscriber | None:
        return next((s for s in route.subscribers if s.uid == uid), None)

    async def _consume(self, route: ChannelRoute, uid: str, subject: str) -> None:
        """Pull from the subscription's durable consumer and deliver each message as it arrives.

        nats-py's `fetch` hands messages over only once a whole batch is in (or the request
        expired), which stalls delivery; this loop keeps one lingering pull request open for as
        many messages as there are free delivery slots and starts each delivery on arrival.
        """
        assert self.js is not None
        assert self.nc is not None
        name = consumer_name(uid)
        capacity = self.settings.subscriber_concurrency
        while True:
            try:
                config = ConsumerConfig(
                    durable_name=name,
                    filter_subject=subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.NEW,
                    ack_wait=self.settings.ack_wait,
                    max_ack_pending=capacity * 4,
                    max_deliver=-1,
                )
                with contextlib.suppress(nats.js.errors.BadRequestError):
                    await self.js.add_consumer(self.stream, config)
                break
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("cannot create consumer %s: %s; retrying", name, exc)
                await asyncio.sleep(1)
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{name}"
        in_flight = 0
        freed = asyncio.Event()

        def finished(task: asyncio.Task[None]) -> None:
            nonlocal in_flight
            in_flight -= 1
            self._inflight.discard(task)
            freed.set()

        try:
            while not self._stopping:
                free = capacity - in_flight
                if free < max(1, capacity // 4):
                    freed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1):
                            await freed.wait()
                    continue
                request = json.dumps({"batch": free, "expires": PULL_EXPIRES_NS}).encode()
                try:
                    await self.nc.publish(next_subject, request, reply=inbox)
                except nats.errors.Error as exc:
                    log.warning("pull request for %s failed: %s", name, exc)
                    await asyncio.sleep(0.5)
                    continue
                deadline = time.monotonic() + PULL_EXPIRES_NS / 1e9 + 0.5
                while free > 0:
                    try:
                        msg = await sub.next_msg(timeout=max(0.01, deadline - time.monotonic()))
                    except (TimeoutError, nats.errors.TimeoutError):
                        break
                    if JetStreamContext.is_status_msg(msg):
                        break  # 404/408/409: this pull request is over
                    free -= 1
                    in_flight += 1
                    task = asyncio.create_task(self._deliver(route, uid, msg))
                    self._inflight.add(task)
                    task.add_done_callback(finished)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _deliver(self, route: ChannelRoute, uid: str, msg: Msg) -> None:
        sub = self._current(route, uid)
        if sub is None:  # subscription removed: leave it for redelivery elsewhere, or drop with it
            await msg.nak()
            return
        try:
            event, accepted_at = decode(msg.data)
        except ValueError as exc:
            log.error("dropping undecodable stored event: %s", exc)
            await msg.term()
            return
        lag = time.time() - accepted_at
        result = await self.fanout.deliver(route, sub, event, time.monotonic() - max(lag, 0.0))
        if result is None:
            await msg.nak(delay=1)
            return
        await msg.ack()

    async def _watch_backlog(self) -> None:
        assert self.js is not None
        while True:
            await asyncio.sleep(0.1)
            active, self._active = self._active, set()
            for key in active | {k for k, v in self.gate.levels.items() if v}:
                route = self.table.channels.get(key)
                if route is None:
                    self.gate.forget(key)
                    continue
                worst = 0
                for sub in route.subscribers:
                    try:
                        info = await self.js.consumer_info(self.stream, consumer_name(sub.uid))
                    except (nats.errors.Error, TimeoutError):
                        continue
                    worst = max(worst, (info.num_pending or 0) + (info.num_ack_pending or 0))
                self.gate.update(key, worst)

    def depths(self) -> Iterable[tuple[str, str, int]]:
        for (namespace, channel), depth in list(self.gate.levels.items()):
            yield namespace, channel, depth

    async def stop(self, grace: float) -> None:
        """Stop fetching; let in-flight deliveries finish (and ack) for up to `grace` seconds.

        Deliveries still running after that are cancelled un-acked, so JetStream redelivers them.
        """
        self._stopping = True
        if self._monitor is not None:
            self._monitor.cancel()
        for _, task in self._consumers.values():
            task.cancel()
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
        if self.nc is not None:
            try:
                async with asyncio.timeout(5):
                    await self.nc.drain()
            except Exception:  # drain is best effort: un-acked messages are redelivered anyway
                with contextlib.suppress(Exception):
                    await self.nc.close()
