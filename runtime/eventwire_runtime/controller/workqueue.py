"""A work queue per kind, as Knative's controllers have: watch events enqueue object keys, and
one reconcile at a time runs per key.

kopf runs a handler per watch event, but a change of one object must often reconcile another
(a Subscription's status moves its Channel's routing table). Those handlers only `add` the key
here. A key added while its reconcile runs is reconciled once more afterwards, however many
times it was added (bursts coalesce into one pass over the latest cache); a failed reconcile is
retried after a growing delay, and a reconcile may ask to run again later (objects that are not
Ready, for targets the controller cannot watch). kopf has no such queue: its handlers run per
event of their own object only, hence this small one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    """Runs `process(key)` for added keys, one at a time per key.

    Args:
        name: for logs (the kind).
        process: reconciles one key; returns seconds after which to reconcile it again, or None.
            An exception is logged and the key retried after the next of `backoff` delays.
        backoff: the retry delays after consecutive failures (the last one repeats).
        on_error: called once per failed reconcile (a metric counts them).
    """

    def __init__(
        self,
        name: str,
        process: Callable[[K], Awaitable[float | None]],
        backoff: Sequence[float] = BACKOFF_SECONDS,
        on_error: Callable[[], None] | None = None,
    ):
        self.name = name
        self._process = process
        self._backoff = tuple(backoff)
        self._on_error = on_error
        self._running: set[K] = set()
        self._again: set[K] = set()
        self._later: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, key: K, delay: float = 0.0) -> None:
        """Reconcile `key` now (or after `delay` seconds; an earlier pending time wins)."""
        loop = asyncio.get_running_loop()
        if delay > 0:
            pending = self._later.get(key)
            if pending is not None and pending.when() <= loop.time() + delay:
                return
            if pending is not None:
                pending.cancel()
            self._later[key] = loop.call_later(delay, self._fire, key)
            return
        pending = self._later.pop(key, None)
        if pending is not None:
            pending.cancel()
        if key in self._running:
            self._again.add(key)
            return
        self._running.add(key)
        task = loop.create_task(self._run(key), name=f"reconcile {self.name} {key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, key: K) -> None:
        """Drop a pending delayed reconcile and the failure count (the object is gone)."""
        pending = self._later.pop(key, None)
        if pending is not None:
            pending.cancel()
        self._failures.pop(key, None)

    def _fire(self, key: K) -> None:
        self._later.pop(key, None)
        self.add(key)

    async def _run(self, key: K) -> None:
        try:
            while True:
                self._again.discard(key)
                later = await self._attempt(key)
                if key not in self._again:
                    if later:
                        self.add(key, later)
                    return
        finally:
            self._running.discard(key)

    async def _attempt(self, key: K) -> float | None:
        try:
            later = await self._process(key)
        except asyncio.CancelledError:
            raise
        # The task boundary of a reconcile: whatever it raises (an API error, a bug) must not end
        # the queue's task; logged with its traceback, counted, retried as kopf retries a handler.
        except Exception:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = self._backoff[min(failures, len(self._backoff)) - 1]
            log.exception(f"reconciling {self.name} {key} failed (attempt {failures}); retrying in {delay}s")
            if self._on_error is not None:
                self._on_error()
            return delay
        self._failures.pop(key, None)
        return later

    @property
    def idle(self) -> bool:
        """No reconcile is running or due now (delayed ones may be pending)."""
        return not self._running

    async def close(self) -> None:
        """Cancel pending and running reconciles."""
        for pending in self._later.values():
            pending.cancel()
        self._later.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
