"""What every kind's reconciler does around its reconcile function: take the object from the
cache, reconcile the freshest copy, and ask for a resync while it is not Ready (see `workqueue`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from eventwire_runtime.controller.cache import Body, Cache
from eventwire_runtime.controller.conditions import is_ready
from eventwire_runtime.controller.context import Context, ctx_of
from eventwire_runtime.controller.workqueue import WorkQueue

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Reconciler(Generic[K]):
    """One kind's reconcile, run from its work queue by object key.

    Attributes:
        kind: the kind (names the queue).
        lookup: the cached object of a key, None when it does not exist.
        reconcile: writes the object's status (and children); returns the object with it.
    """

    kind: str
    lookup: Callable[[Cache, K], Body | None]
    reconcile: Callable[[Context, Body], Awaitable[Body]]

    async def process(self, ctx: Context, key: K) -> float | None:
        """Reconcile the cached object `key`; one that is not Ready again after the resync interval."""
        cached = self.lookup(ctx.cache, key)
        if cached is None or cached["metadata"].get("deletionTimestamp"):
            return None
        result = await self.reconcile(ctx, ctx.fresher(cached))
        return None if is_ready(result) else ctx.settings.resync_seconds

    def queue(self, memo: Any) -> WorkQueue[K]:
        ctx = ctx_of(memo)
        return ctx.queue(self.kind, lambda key: self.process(ctx, key))

    def own_event(self, memo: Any, key: K, type: str | None, body: Mapping[str, Any]) -> None:
        """The object itself appeared, changed or went; the echo of our own status write is
        skipped (it holds what that reconcile computed)."""
        if type == "DELETED":
            self.queue(memo).forget(key)
        elif not ctx_of(memo).is_own_write(body):
            self.queue(memo).add(key)
