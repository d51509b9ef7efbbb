"""What every kind's reconciler does around its reconcile function: take the object from the
cache, reconcile the freshest copy, ask for a resync while it is not Ready (see `workqueue`), and
the kopf glue that feeds its work queue: its own watch events, the events of other kinds that
concern it (the keys they affect), and its destinations' targets (`tracking`).

A kind's handlers module keeps only what is its own: the reconcile, and which events of which
other kinds affect which of its objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import kopf

from eventwire_runtime.controller import tracking
from eventwire_runtime.controller.cache import Body, Cache
from eventwire_runtime.controller.conditions import is_ready
from eventwire_runtime.controller.context import Context, ctx_of
from eventwire_runtime.controller.workqueue import WorkQueue

K = TypeVar("K", bound=Hashable)
Resource = tuple[str, ...]  # kopf's resource spec: (group, plural) or (group, version, plural)
# Which of a kind's objects an event of another kind affects: (ctx, the event's object, its type).
Affected = Callable[[Context, Body, "str | None"], Iterable[K]]
ObjectKey = tuple[str, str]  # (namespace, name)
Table = Mapping[str, Mapping[str, Any]]  # a Channel's or Broker's routing table by child uid


def object_key(meta: Mapping[str, Any]) -> ObjectKey:
    """The work-queue key of a namespaced object, from its metadata."""
    return str(meta["namespace"]), str(meta["name"])


@dataclass(frozen=True)
class Reconciler(Generic[K]):
    """One kind's reconcile, run from its work queue by object key.

    Attributes:
        kind: the kind (names the queue).
        resource: the kind's kopf resource, (group, plural).
        key_of: the work-queue key of an object, from its metadata.
        lookup: the cached object of a key, None when it does not exist.
        reconcile: writes the object's status (and children); returns the object with it.
    """

    kind: str
    resource: Resource
    key_of: Callable[[Mapping[str, Any]], K]
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

    def own_event(self, memo: Any, type: str | None, body: Mapping[str, Any]) -> None:
        """The object itself appeared, changed or went; the echo of our own status write is
        skipped (it holds what that reconcile computed)."""
        key = self.key_of(body["metadata"])
        if type == "DELETED":
            self.queue(memo).forget(key)
        elif not ctx_of(memo).is_own_write(body):
            self.queue(memo).add(key)

    def enqueue(self, memo: Any, kind: str, namespace: str, name: str) -> None:
        """`tracking.Enqueue`: one of our objects references a target that changed."""
        self.queue(memo).add(self.key_of({"namespace": namespace, "name": name}))

    def watch_self(self, handler_id: str = "") -> None:
        """Reconcile on every watch event of the kind's own objects (handler id: the kind's)."""

        async def own(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
            self.own_event(memo, type, body)

        kopf.on.event(*self.resource, id=handler_id or self.kind.lower())(own)

    def watch(
        self,
        handler_id: str,
        resource: Resource,
        affected: Affected[K],
        delay: float = 0.0,
        when: Callable[..., bool] | None = None,
    ) -> None:
        """On every watch event of `resource` (that passes `when`), enqueue the keys `affected`
        gives, after `delay` seconds (a burst of events then coalesces into one reconcile)."""

        async def other(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
            ctx, queue = ctx_of(memo), self.queue(memo)
            for key in affected(ctx, dict(body), type):
                queue.add(key, delay=delay)

        kopf.on.event(*resource, id=handler_id, when=when)(other)

    def watch_parent(
        self,
        handler_id: str,
        resource: Resource,
        children_of: Callable[[Cache, str, str], Iterable[Body]],
        listed: Callable[[Body | None], Table],
        reflects: Callable[[Body, Body | None, Table], bool],
    ) -> None:
        """On every watch event of a parent (a Channel, a Broker), enqueue its children whose
        status does not yet say what the parent (None: gone) implies.

        Args:
            children_of: the cached children of (namespace, name).
            listed: the parent's routing table (computed once for all its children).
            reflects: whether a child's status already reflects the parent, given that table.
        """

        def stale_children(ctx: Context, parent: Body, type: str | None) -> list[K]:
            meta = parent["metadata"]
            current = None if type == "DELETED" else parent
            table = listed(current)
            return [
                self.key_of(child["metadata"])
                for child in children_of(ctx.cache, meta["namespace"], meta["name"])
                if not reflects(ctx.fresher(child), current, table)
            ]

        self.watch(handler_id, resource, stale_children)

    def watch_targets(self) -> None:
        """Reconcile the objects whose destinations name a target that changed (`tracking`)."""
        tracking.track_targets(f"{self.kind.lower()}_target", {self.kind}, self.enqueue)
