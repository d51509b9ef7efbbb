"""The redis backend: Redis Streams via redis-py asyncio (with hiredis).

- One stream per channel, key `<stream>:<namespace>:<channel>`.
- Ingress answers 202 only after XADD returned (durable as far as the server's persistence
  settings make it: run Redis with `appendonly yes`). Concurrent XADDs issued in the same loop
  iteration go out in one pipeline, so writes are batched without delaying any request.
- One consumer group per subscription (`sub-<uid>`, created at `$`: new events only); every
  replica reads the group under its own consumer name, so replicas share the work. The group
  lives as long as the Subscription, not its readiness (durable.py): a paused subscription's
  group keeps its backlog and is not read; it is destroyed only on a tombstone, and the stream
  deleted only on the explicit deletion of its channel. A channel takes events only once every
  subscription's group exists (until then ingress waits up to 2 s, then answers 503 +
  Retry-After): an XADD before `XGROUP CREATE ... $` would be skipped by the group.
- XACK (batched) only after delivery succeeded, was dead-lettered or failed terminally. A
  consumer (re)starting reads its own pending entries first (XREADGROUP from 0), so a paused
  subscription resumes where it stopped. Entries left pending by a crashed replica are claimed
  with XAUTOCLAIM once idle for `EVENTWIRE_ACK_WAIT`: at-least-once; entries whose delivery is
  still in progress (slow subscriber, retries waiting) have their idle time reset (XCLAIM JUSTID)
  every third of the ack wait, so they are not claimed as duplicates. Fully acknowledged entries
  are trimmed (XTRIM MINID) by the backlog monitor.
- Flow control (flow.py): while a subscription of the channel lags by more than
  `EVENTWIRE_MAX_BACKLOG`, ingress holds requests until it drains, 429 if not within 2 s.
- Each subscription holds one blocking connection per replica while waiting for entries.
- A Broker's Triggers each have a group on the Broker's one stream, so each reads every entry:
  its filter runs on the stored headers first (broker.prefilter; a required type by a
  byte search), and an entry it does not want is acked without being decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.dispatcher import broker
from eventwire_runtime.dispatcher.backends import stored_status
from eventwire_runtime.dispatcher.backends.codec import decode, encode
from eventwire_runtime.dispatcher.backends.durable import Lifecycle, SubscriberLookup, accept_once_provisioned
from eventwire_runtime.dispatcher.backends.flow import BacklogGate, InFlight
from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.fanout import Fanout
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable
from eventwire_runtime.dispatcher.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
FIELD = b"e"

# Told the outcome of one XADD: None once Redis stored it, else the error.
OnStored = Callable[[BaseException | None], None]


def group_name(uid: str) -> str:
    return "sub-" + _UNSAFE.sub("_", uid)


class _XaddBatcher:
    """Collects XADDs made in one loop iteration and sends them as one pipeline."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.pending: list[tuple[str, bytes, OnStored]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def add(self, key: str, payload: bytes, on_stored: OnStored) -> None:
        """Queue an XADD; `on_stored` gets None once Redis stored it, else the error."""
        if not self.pending:
            # The task's first step runs in the next loop iteration, after every XADD of this
            # one is queued: one pipeline, one hop.
            task = asyncio.get_running_loop().create_task(self._write())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        self.pending.append((key, payload, on_stored))

    async def _write(self) -> None:
        items, self.pending = self.pending, []
        results: list[Any]
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, payload, _ in items:
                pipe.xadd(key, {FIELD: payload})
            results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            results = [exc] * len(items)
        except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
            for _, _, on_stored in items:
                on_stored(exc)
            raise
        for (_, _, on_stored), result in zip(items, results, strict=True):
            on_stored(result if isinstance(result, BaseException) else None)


class RedisBackend:
    """See the module docstring."""

    def __init__(self, settings: Settings, fanout: Fanout, table: RoutingTable) -> None:
        self.settings = settings
        self.fanout = fanout
        self.table = table
        self.prefix = settings.stream
        self.consumer = settings.consumer_name
        self.client: aioredis.Redis | None = None
        self._batcher: _XaddBatcher | None = None
        self._consumers: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self.gate = BacklogGate(settings.max_backlog)
        self._delivering = InFlight()  # entries whose delivery has not finished
        self._background: set[asyncio.Future[None]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._connected = False
        self._stopping = False
        self._acks: dict[tuple[str, str], list[bytes]] = {}
        self._ack_task: asyncio.Task[None] | None = None
        self.durable = Lifecycle()  # whose groups exist, are being created, were destroyed
        self._in_progress: dict[tuple[str, str], set[bytes]] = {}  # (key, group) -> entry ids
        self._heartbeat: asyncio.Task[None] | None = None
        self._subscriber = SubscriberLookup()

    def key(self, namespace: str, channel: str) -> str:
        return f"{self.prefix}:{namespace}:{channel}"

    async def start(self) -> None:
        self.client = aioredis.Redis.from_url(
            self.settings.redis_url, max_connections=None, socket_connect_timeout=5, health_check_interval=30
        )
        await self.client.ping()
        self._connected = True
        self._batcher = _XaddBatcher(self.client)
        self.table.listeners.append(self._routes_changed)
        self._routes_changed(self.table, ())
        monitor = self.gate.watch(self.table, self._measure, (RedisError, OSError))
        self._monitor = asyncio.create_task(monitor, name="redis-backlog")
        self._heartbeat = asyncio.create_task(self._mark_in_progress(), name="redis-in-progress")

    def ready(self) -> bool:
        return self._connected and not self._stopping

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
        if self.gate.blocked(channel.key):
            publish = self.gate.publish_when_open(
                channel.key, len(events), lambda: self._publish(channel, events)
            )
            return asyncio.ensure_future(publish)
        self.gate.admit(channel.key, len(events))
        return self._publish(channel, events)

    def _publish(self, channel: ChannelRoute, events: list[Event]) -> Deferred[int]:
        assert self._batcher is not None
        key = self.key(channel.namespace, channel.name)
        now = time.time()
        status, one_done = stored_status(len(events), "redis XADD")
        for event in events:
            self._batcher.add(key, encode(event, now), one_done)
        return status

    # consumers
    def _routes_changed(self, table: RoutingTable, deleted: tuple[ChannelRoute, ...]) -> None:
        """Consume ready subscriptions, keep paused ones, delete only what the plan says (durable.py)."""
        todo = self.durable.plan(table, deleted)
        for uid in list(self._consumers):
            entry = todo.consume.get(uid)
            if entry is None or self.key(entry[0].namespace, entry[0].name) != self._consumers[uid][0]:
                self._consumers.pop(uid)[1].cancel()  # paused or gone: its group stays
        for uid, (route, _) in todo.consume.items():
            if uid not in self._consumers:
                key = self.key(route.namespace, route.name)
                task = asyncio.create_task(self._consume(route, uid, key), name=f"consume-{uid}")
                self._consumers[uid] = (key, task)
        for uid, route in todo.keep.items():
            key = self.key(route.namespace, route.name)
            self.durable.ensure_soon(uid, functools.partial(self._ensure, uid, route.key, key))
        doomed_streams = {self.key(*route.key) for route in deleted}
        for uid, channel_key in self.durable.to_delete(todo, self._consumers):
            key = self.key(*channel_key)
            if key not in doomed_streams:
                self._spawn(self._destroy(key, group_name(uid)))
        for key in doomed_streams:
            self._spawn(self._destroy(key))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _destroy(self, key: str, group: str | None = None) -> None:
        """Destroy a deleted subscription's group, or (no `group`) a deleted channel's stream."""
        if self.client is not None:
            log.info("deleting %s", f"group {group} of {key}" if group else f"stream {key}")
            with contextlib.suppress(RedisError, OSError):
                if group is None:
                    await self.client.delete(key)
                else:
                    await self.client.xgroup_destroy(key, group)

    async def _ensure(self, uid: str, channel_key: tuple[str, str], key: str) -> None:
        """Create the subscription's group at `$` unless it exists (retrying until it does)."""
        assert self.client is not None
        group = group_name(uid)
        while True:
            try:
                await self.client.xgroup_create(key, group, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):  # BUSYGROUP: it exists, keep its position
                    raise
            except (RedisError, OSError) as exc:
                log.warning("cannot create group %s on %s: %s; retrying", group, key, exc)
                await asyncio.sleep(1)
                continue
            break
        self.durable.created(uid, channel_key)

    async def _mark_in_progress(self) -> None:
        """Every third of the ack wait, reset the idle time of entries still being delivered."""
        while True:
            await asyncio.sleep(self.settings.ack_wait / 3)
            if self.client is None:
                continue
            for (key, group), ids in list(self._in_progress.items()):
                if ids:
                    with contextlib.suppress(RedisError, OSError):
                        await self.client.xclaim(key, group, self.consumer, 0, list(ids), justid=True)

    async def _consume(self, route: ChannelRoute, uid: str, key: str) -> None:
        assert self.client is not None
        group = group_name(uid)
        if uid not in self.durable.provisioned.uids:
            await self._ensure(uid, route.key, key)
        # Entries held at once: more than the deliveries in flight (Fanout's per-subscriber
        # limit), so events keep flowing while some deliveries wait for a retry.
        limit = asyncio.Semaphore(self.settings.subscriber_concurrency * 4)
        # A dedicated connection: XREADGROUP BLOCK holds it while waiting.
        reader = aioredis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=5)
        in_progress = self._in_progress.setdefault((key, group), set())
        try:
            claim_every = max(0.5, self.settings.ack_wait / 2)
            next_claim = time.monotonic()
            own: bytes | None = b"0-0"  # this consumer's pending entries first (a resumed pause)
            while not self._stopping:
                entries: list[tuple[bytes, dict[bytes, bytes]]] = []
                try:
                    if own is not None:
                        reply: Any = await reader.xreadgroup(
                            group, self.consumer, {key: own}, count=self.settings.fetch_batch
                        )
                        if isinstance(reply, dict):  # RESP3 shape
                            reply = list(reply.items())
                        mine = list(reply[0][1]) if reply else []
                        own = mine[-1][0] if mine else None
                        entries = [e for e in mine if e[1] and e[0] not in in_progress]
                    elif time.monotonic() >= next_claim:
                        next_claim = time.monotonic() + claim_every
                        claimed = await reader.xautoclaim(
                            key,
                            group,
                            self.consumer,
                            int(self.settings.ack_wait * 1000),
                            "0-0",
                            count=self.settings.fetch_batch,
                        )
                        entries = [e for e in claimed[1] if e[1] and e[0] not in in_progress]
                    if not entries and own is None:
                        reply = await reader.xreadgroup(
                            group, self.consumer, {key: ">"}, count=self.settings.fetch_batch, block=1000
                        )
                        if isinstance(reply, dict):  # RESP3 shape
                            reply = list(reply.items())
                        entries = list(reply[0][1]) if reply else []
                except (RedisError, OSError) as exc:
                    log.warning("reading %s for %s failed: %s", key, group, exc)
                    await asyncio.sleep(0.5)
                    continue
                # Ours from now on: their idle time is reset while they wait for a slot too,
                # so XAUTOCLAIM does not hand them out a second time.
                in_progress.update(entry_id for entry_id, _ in entries)
                started = 0
                try:
                    # Let ingress answers that became ready with these entries (XADD replies)
                    # go out first: starting a batch of deliveries takes a millisecond or more.
                    await asyncio.sleep(0)
                    for entry_id, fields in entries:
                        await limit.acquire()
                        started += 1
                        self._start_delivery(route, uid, key, group, entry_id, fields, limit.release)
                except asyncio.CancelledError:  # paused: the rest is read again on resume
                    in_progress.difference_update(e for e, _ in entries[started:])
                    raise
        finally:
            await reader.aclose()

    def _start_delivery(
        self,
        route: ChannelRoute,
        uid: str,
        key: str,
        group: str,
        entry_id: bytes,
        fields: dict[bytes, bytes],
        release: Callable[[], None],
    ) -> None:
        """Deliver one entry (`Fanout.start`: no task on the happy path); XACK when it is over.

        The entry is in `_in_progress` (put there when it was read) until this is over.
        """
        in_progress = self._in_progress.setdefault((key, group), set())
        sub = self._subscriber(route, uid)
        if sub is None:  # paused or gone: left pending, read again when it resumes
            in_progress.discard(entry_id)
            release()
            return
        try:
            data = fields[FIELD]
            # Every group reads every entry: a Trigger's filter runs on the headers first, so
            # an entry it does not want is acked without decoding it or a delivery's bookkeeping.
            verdict = None if sub.filter is None else broker.prefilter(sub, route.type_keys.get(uid), data)
            if verdict is False:
                in_progress.discard(entry_id)
                self._ack(key, group, entry_id)
                release()
                return
            event, accepted_at = decode(data)
        except (KeyError, ValueError) as exc:
            log.error("dropping undecodable stored entry %s: %s", entry_id, exc)
            in_progress.discard(entry_id)
            self._ack(key, group, entry_id)
            release()
            return
        self._delivering.started()

        def done(finished: bool) -> None:
            in_progress.discard(entry_id)
            if finished:
                self._ack(key, group, entry_id)
            release()
            self._delivering.finished()

        lag = max(time.time() - accepted_at, 0.0)
        self.fanout.start(route, sub, event, time.monotonic() - lag, done, selected=verdict is True)

    def _ack(self, key: str, group: str, entry_id: bytes) -> None:
        self._acks.setdefault((key, group), []).append(entry_id)
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.get_running_loop().create_task(self._ack_soon(), name="redis-acks")

    async def _ack_soon(self) -> None:
        """XACK what is queued every 5 ms (one pipeline), while anything is: no wake-ups when idle."""
        while self._acks:
            await asyncio.sleep(0.005)
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        if not self._acks or self.client is None:
            return
        acks, self._acks = self._acks, {}
        try:
            pipe = self.client.pipeline(transaction=False)
            for (key, group), ids in acks.items():
                pipe.xack(key, group, *ids)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("XACK failed (entries will be redelivered): %s", exc)

    async def _measure(self, route: ChannelRoute) -> None:
        assert self.client is not None
        key = self.key(route.namespace, route.name)
        groups = await self.client.xinfo_groups(key)
        wanted = {group_name(s.uid) for s in route.subscribers}
        worst = 0
        oldest: list[bytes] = []
        for info in groups:
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name not in wanted:
                continue
            lag = info.get("lag") or 0
            worst = max(worst, int(lag) + int(info.get("pending") or 0))
            summary = await self.client.xpending(key, name) if int(info.get("pending") or 0) else None
            # Acks may empty the pending list between the two calls: XPENDING's min is then None.
            if summary and summary.get("min"):
                oldest.append(summary["min"])
            else:
                oldest.append(info["last-delivered-id"])
        self.gate.update(route.key, worst)
        if oldest and len(oldest) == len(groups):
            first = min(
                oldest,
                key=lambda i: tuple(int(p) for p in (i.decode() if isinstance(i, bytes) else i).split("-")),
            )
            await self.client.xtrim(key, minid=first, approximate=True)

    def depths(self) -> Iterable[tuple[str, str, int]]:
        return self.gate.depths()

    async def stop(self, grace: float) -> None:
        """Stop reading; let in-flight deliveries finish and ack for up to `grace` seconds.

        Deliveries cut off stay pending in their group and are claimed after `ack_wait`.
        """
        self._stopping = True
        for task in [
            self._monitor,
            self._heartbeat,
            *self.durable.ensuring.values(),
            *(t for _, t in self._consumers.values()),
        ]:
            if task is not None:
                task.cancel()
        await self._delivering.drain(grace, self.fanout.tasks)  # cut-off entries are claimed after ack_wait
        if self._ack_task is not None:
            self._ack_task.cancel()
        await self._flush_acks()
        if self.client is not None:
            await self.client.aclose()
