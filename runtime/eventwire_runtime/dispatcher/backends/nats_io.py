"""The NATS writes on the jetstream backend's hot paths, batched per event-loop iteration.

nats-py's `js.publish` runs `asyncio.wait_for` (a task per call on Python 3.11) and parses every
PubAck into a dataclass, and `msg.ack()` is one awaited coroutine per message; at tens of
thousands of events per second that overhead dominated. Here every write made during one loop
iteration goes out from one task, publish acks arrive on one wildcard inbox and are reported by
plain callbacks (no future hop), and one sweeper enforces the publish timeout instead of a timer
per publish.

Both classes are built inside the running event loop and keep it: on Python 3.11
`asyncio.get_running_loop()` makes a getpid system call each time, a tenth of the CPU per event
under load when called per publish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

log = logging.getLogger(__name__)

ACK = b"+ACK"
TERM = b"+TERM"
NAK = b"-NAK"
NAK_LATER = b'-NAK {"delay": 1000000000}'  # redeliver after 1 s
IN_PROGRESS = b"+WPI"  # still working on it: restart the ack wait

# Told the outcome of one publish: None once the stream stored it, else the error.
OnStored = Callable[[BaseException | None], None]


class Publisher:
    """JetStream publishes that report the stream's ack (or the failure) to a callback.

    Args:
        nc: the connected client.
        timeout: seconds to wait for an ack before failing with TimeoutError (default 5).
    """

    def __init__(self, nc: NATS, timeout: float = 5.0) -> None:
        self.nc = nc
        self._loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.prefix = nc.new_inbox()
        self.pending: dict[str, tuple[OnStored, float]] = {}
        self.counter = 0
        self.sub: Any = None
        self._queue: list[tuple[str, bytes, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.prefix + ".*", cb=self._on_ack)

    async def _on_ack(self, msg: Msg) -> None:
        entry = self.pending.pop(msg.subject.rsplit(".", 1)[-1], None)
        if entry is None:
            return
        status = msg.headers.get("Status") if msg.headers else None
        if status:  # e.g. 503 no responders: no stream for the subject
            entry[0](nats.errors.Error(f"JetStream publish failed with status {status}"))
        elif b'"error"' in msg.data:
            entry[0](nats.errors.Error(f"JetStream rejected the publish: {msg.data[:200]!r}"))
        else:
            entry[0](None)

    def publish(self, subject: str, payload: bytes, on_stored: OnStored) -> None:
        """Queue a publish; `on_stored` gets None, nats.errors.Error or TimeoutError, once."""
        loop = self._loop
        self.counter += 1
        token = str(self.counter)
        self.pending[token] = (on_stored, loop.time() + self.timeout)
        if not self._queue:
            # The task's first step runs in the next loop iteration, after every publish of
            # this one is queued: one batch, one hop.
            task = loop.create_task(self._write())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._queue.append((subject, payload, f"{self.prefix}.{token}"))
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep())

    async def _write(self) -> None:
        items, self._queue = self._queue, []
        for subject, payload, reply in items:
            try:
                await self.nc.publish(subject, payload, reply=reply)
            except nats.errors.Error as exc:
                entry = self.pending.pop(reply.rsplit(".", 1)[-1], None)
                if entry is not None:
                    entry[0](exc)

    async def _sweep(self) -> None:
        """Fail publishes not acked within `timeout` (checked every 0.25 s, while any is pending)."""
        loop = self._loop
        while self.pending:
            await asyncio.sleep(0.25)
            now = loop.time()
            for token, (on_stored, deadline) in list(self.pending.items()):
                if deadline <= now:
                    del self.pending[token]
                    on_stored(TimeoutError(f"no JetStream ack within {self.timeout}s"))


class Replies:
    """Acks, naks and terms of consumed messages, written in one batch every `delay` seconds.

    Each socket write that wakes nats-server costs more CPU than the acks it carries (a wakeup
    on another CPU); acks are not awaited by anyone, so gathering them for a few milliseconds
    cuts the writes. A crash in between only means redelivery after the ack wait.

    Args:
        nc: the connected client.
        delay: seconds a verdict may wait for others to share its write (default 5 ms).
    """

    def __init__(self, nc: NATS, delay: float = 0.005) -> None:
        self.nc = nc
        self.delay = delay
        self._loop = asyncio.get_running_loop()
        self._queue: list[tuple[str, bytes]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, msg: Msg, verdict: bytes) -> None:
        """Queue `verdict` (ACK, NAK, NAK_LATER, TERM) for `msg`."""
        if not msg.reply:
            return
        if not self._queue:
            self._loop.call_later(self.delay, self._flush_soon)
        self._queue.append((msg.reply, verdict))

    def _flush_soon(self) -> None:
        task = self._loop.create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Write everything queued now (also called at shutdown, before draining)."""
        items, self._queue = self._queue, []
        for reply, verdict in items:
            try:
                await self.nc.publish(reply, verdict)
            except nats.errors.Error as exc:  # unacked messages are redelivered after ack_wait
                log.warning("cannot send %s to JetStream: %s", verdict.decode(), exc)
                return
