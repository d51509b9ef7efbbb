"""What every reconciler shares: settings, the API client, the informer cache, the work queues,
per-object locks, status writing.

One `Context` is built in the startup handler and kept in kopf's `memo` (`memo.ctx`).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, cast

import kopf

from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.conditions import condition, status_changed
from eventwire_runtime.controller.destinations import Resolution, resolve
from eventwire_runtime.controller.metrics import ControllerMetrics
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.workqueue import WorkQueue
from eventwire_runtime.kube import KubeClient, Obj

Body = Obj
P = ParamSpec("P")


@functools.cache
def load_settings() -> ControllerSettings:
    """The settings, parsed from the environment once per process."""
    return ControllerSettings.from_env(os.environ)


def post_warning(obj: Mapping[str, Any], reason: str, message: str) -> None:
    """A Warning Event on `obj`, posted by kopf's event poster."""
    kopf.warn(cast(kopf.Body, obj), reason=reason, message=message)


@dataclass
class Context:
    """The reconcilers' shared state.

    Attributes:
        settings: the controller settings.
        client: the API client.
        cache: the informer cache (kopf's indexes), read instead of the API.
        warn: posts a Warning Event about an object (reason, message); tests record them.
        metrics: the operator's Prometheus metrics (a fresh set unless given).
    """

    settings: ControllerSettings
    client: KubeClient
    cache: Cache = field(default_factory=lambda: Cache({}))
    warn: Callable[[Mapping[str, Any], str, str], None] = post_warning
    metrics: ControllerMetrics = field(default_factory=ControllerMetrics)
    _locks: dict[tuple[str, str, str], asyncio.Lock] = field(default_factory=dict)
    _queues: dict[str, WorkQueue[Any]] = field(default_factory=dict)
    # uid -> the object as our last status write returned it (see `fresher`).
    _written: dict[str, Body] = field(default_factory=dict)

    def queue(self, kind: str, process: Callable[[Any], Awaitable[float | None]]) -> WorkQueue[Any]:
        """The work queue of `kind`'s reconciler, created on first use."""
        if kind not in self._queues:
            self._queues[kind] = WorkQueue(
                kind, process, on_error=lambda: self.metrics.task_error(f"workqueue:{kind}")
            )
        return self._queues[kind]

    async def close(self) -> None:
        for queue in self._queues.values():
            await queue.close()
        await self.client.close()

    def fresher(self, obj: Body) -> Body:
        """`obj` as the cache holds it, or the copy our last status write of it returned when that
        is newer: the cache lags behind our own writes until their watch events arrive, and
        comparing against the older copy would write the same status again."""
        meta = obj["metadata"]
        written = self._written.get(str(meta.get("uid")))
        if written is None:
            return obj
        try:
            newer = int(written["metadata"]["resourceVersion"]) > int(meta.get("resourceVersion") or 0)
        except (KeyError, TypeError, ValueError):  # resourceVersions are opaque outside etcd
            newer = False
        if newer:
            return written
        self._written.pop(str(meta.get("uid")), None)  # the cache caught up
        return obj

    def is_own_write(self, obj: Mapping[str, Any]) -> bool:
        """Whether `obj` (a watch event's object) is exactly what our last status write of it
        returned: the echo of that write, which tells its reconciler nothing new."""
        meta = obj.get("metadata") or {}
        written = self._written.get(str(meta.get("uid")))
        return written is not None and written["metadata"].get("resourceVersion") == meta.get(
            "resourceVersion"
        )

    def forget(self, uid: str) -> None:
        """The object is gone: drop what `fresher` kept of it."""
        self._written.pop(uid, None)

    def warn_on_failure(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """A Warning Event when `status` turns Ready False, or changes why it is False.

        `obj` carries the status before this reconcile; repeating the same failure posts nothing.
        """
        new = condition(status, "Ready") or {}
        if new.get("status") != "False":
            return
        old = condition(obj.get("status"), "Ready") or {}
        if [old.get(k) for k in ("status", "reason", "message")] != [
            new.get(k) for k in ("status", "reason", "message")
        ]:
            self.warn(obj, str(new.get("reason") or "NotReady"), str(new.get("message") or ""))

    def lock(self, kind: str, namespace: str | None, name: str) -> asyncio.Lock:
        """Serialises reconciles of one object (its own handler and those triggered by targets)."""
        return self._locks.setdefault((kind, namespace or "", name), asyncio.Lock())

    async def resolve(self, destination: Mapping[str, Any] | None, namespace: str) -> Resolution:
        """A destination of an object in `namespace`, resolved from the cache."""
        return await resolve(destination, namespace, self.cache, self.settings.cluster_domain)

    async def resolve_dead_letter(self, obj: Mapping[str, Any]) -> Resolution | None:
        """The object's own spec.delivery.deadLetterSink resolved, None when it sets none."""
        sink = ((obj.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
        return await self.resolve(sink, obj["metadata"]["namespace"]) if sink else None

    async def report(self, obj: Body, status: Mapping[str, Any]) -> Body:
        """Write `status` (when it changes anything), warn when it turns or stays newly Ready
        False (`warn_on_failure`); returns the object with it: a reconcile's last step."""
        await self.write_status(obj, status)
        self.warn_on_failure(obj, status)
        return {**obj, "status": dict(status)}

    async def write_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        """Merge-patch `status` into the object's status subresource when it changes anything.

        Keys set to None are removed. Returns whether a write happened.
        """
        current = obj.get("status") or {}
        if not status_changed(current, status):
            return False
        meta = obj["metadata"]
        written = await self.client.patch(
            obj["apiVersion"],
            obj["kind"],
            meta["name"],
            {"status": dict(status)},
            meta.get("namespace"),
            sub="status",
        )
        if isinstance(written, dict) and written.get("metadata", {}).get("uid") == meta.get("uid"):
            self._written[str(meta["uid"])] = written
        return True


def instrumented(
    reconcile: Callable[Concatenate[Context, Body, P], Awaitable[Body]],
) -> Callable[Concatenate[Context, Body, P], Awaitable[Body]]:
    """Count and time every call of a kind's reconcile (`ctx.metrics`), by the object's kind;
    the outcome follows the Ready condition of the object it returns."""

    @functools.wraps(reconcile)
    async def observed(ctx: Context, obj: Body, /, *args: P.args, **kwargs: P.kwargs) -> Body:
        async with ctx.metrics.reconciling(str(obj.get("kind") or "Unknown")) as record:
            record.result = await reconcile(ctx, obj, *args, **kwargs)
            return record.result

    return observed


def ctx_of(memo: Any) -> Context:
    ctx: Context = memo.ctx
    return ctx
