"""The periodic check that the informer cache holds no object the API server no longer has.

kopf keeps its indexes current from watch events. When a watch stream ends, kopf lists the kind
again and indexes what the list holds, but an object deleted while no stream was open (a
disconnect, a 410 Gone re-list) is simply absent from that list: kopf sends no DELETED for it, so
its index entries stay until the operator restarts. A Subscription deleted in such a gap would keep
its entry in its Channel's routing table and get no tombstone.

So, every EVENTWIRE_CACHE_RESYNC_SECONDS (a few minutes; it is a safety net, not the normal path),
each index that holds whole objects is compared with one LIST of its kind (per namespace seen in the
index, so a namespace-scoped controller's RBAC suffices). An object indexed before the LIST began,
and absent from it, is gone: it is removed from every index and the operator's event handlers of its
kind run with a DELETED event, exactly as a watch would have made them (queues forget it, the
objects that depend on it are reconciled).

kopf has no public hook for either step: the indexes are purged through the `OperatorIndexers`
handed to `kopf.run`, and the handlers are found in kopf's registry.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import kopf

from eventwire_runtime.controller.cache import OBJECT_INDEXES, Body
from eventwire_runtime.errors import KubeError
from eventwire_runtime.kube import KubeClient

log = logging.getLogger(__name__)

Index = Mapping[Any, Iterable[Any]]
Discard = Callable[[Body], None]  # removes an object (by metadata) from every index
Deleted = Callable[[str, Body], Awaitable[None]]  # (plural, last known object): run DELETED handlers


def indexed_objects(index: Index) -> dict[str, Body]:
    """The objects an index holds (values with metadata.uid), by uid."""
    found: dict[str, Body] = {}
    for values in list(index.values()):
        for value in list(values):
            if isinstance(value, Mapping):
                uid = (value.get("metadata") or {}).get("uid")
                if uid:
                    found[str(uid)] = dict(value)
    return found


async def vanished_objects(client: KubeClient, indexes: Mapping[str, Index]) -> list[tuple[str, Body]]:
    """(plural, object) of each indexed object that a LIST taken afterwards no longer holds."""
    vanished: list[tuple[str, Body]] = []
    for index_id, (api_version, kind, plural) in OBJECT_INDEXES.items():
        index = indexes.get(index_id)
        if not index:
            continue
        cached = indexed_objects(index)  # taken before the LIST: anything newer is not judged
        namespaces = {(obj["metadata"].get("namespace") or None) for obj in cached.values()}
        live: set[str] = set()
        try:
            for namespace in namespaces:
                live.update(
                    str(item["metadata"].get("uid"))
                    for item in await client.list(api_version, kind, namespace)
                )
        except KubeError as exc:
            log.warning("cache resync: cannot list %s %s: %s", api_version, kind, exc)
            continue
        for uid, obj in cached.items():
            if uid not in live:
                vanished.append((plural, {"apiVersion": api_version, "kind": kind, **obj}))
    return vanished


async def resync_once(
    client: KubeClient, indexes: Mapping[str, Index], discard: Discard, deleted: Deleted
) -> int:
    """Purge every vanished object from the indexes and report it DELETED; returns how many."""
    vanished = await vanished_objects(client, indexes)
    for plural, obj in vanished:
        meta = obj["metadata"]
        log.warning(
            "cache resync: %s %s/%s was deleted without a watch event; forgetting it",
            obj["kind"],
            meta.get("namespace") or "",
            meta["name"],
        )
        discard(obj)
        await deleted(plural, obj)
    return len(vanished)


def kopf_deleted_handlers(memo: Any, indices: Mapping[str, Any]) -> Deleted:
    """Runs the registered `kopf.on.event` handlers of a kind with a DELETED event, with the
    keyword arguments kopf gives them (those our handlers use)."""

    async def deleted(plural: str, obj: Body) -> None:
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        resource = kopf.Resource(group, version, plural, kind=str(obj["kind"]))
        meta = obj["metadata"]
        event = {"type": "DELETED", "object": obj}
        kwargs: dict[str, Any] = {
            **indices,
            "body": obj,
            "event": event,
            "type": "DELETED",
            "memo": memo,
            "logger": log,
            "meta": meta,
            "spec": obj.get("spec") or {},
            "status": obj.get("status") or {},
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "labels": meta.get("labels") or {},
            "annotations": meta.get("annotations") or {},
        }
        # kopf's registry is not public API; a kopf upgrade that changes it fails the resync test.
        for handler in kopf.get_default_registry()._watching.get_all_handlers():
            if handler.selector is None or not handler.selector.check(resource):
                continue
            if handler.when is not None and not handler.when(**kwargs):
                continue
            result = handler.fn(**kwargs)
            if inspect.isawaitable(result):
                await result

    return deleted


async def run_periodically(
    interval: float,
    client: KubeClient,
    indexes: Mapping[str, Index],
    discard: Discard,
    deleted: Deleted,
    standby: Callable[[], Awaitable[bool]] | None = None,
    on_error: Callable[[], None] | None = None,
) -> None:
    """`resync_once` every `interval` seconds, until cancelled; a round is skipped while
    `standby` says this replica stands by (kopf peering: another replica is active). `on_error`
    is called for each failed round (a metric counts them)."""
    while True:
        await asyncio.sleep(interval)
        try:
            if standby is not None and await standby():
                log.info("cache resync: skipped, this replica stands by (kopf peering)")
                continue
            await resync_once(client, indexes, discard, deleted)
        # The task boundary: a failed round (an API outage, a bug) must not end the resync for the
        # operator's lifetime; logged with its traceback, counted, and the next round tries again.
        except Exception:
            log.exception("cache resync failed")
            if on_error is not None:
                on_error()
