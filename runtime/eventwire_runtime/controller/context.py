"""What every reconciler shares: settings, the API client, per-object locks, status writing.

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

from eventwire_runtime.controller.conditions import condition, status_changed
from eventwire_runtime.controller.kube import KubeClient, Obj
from eventwire_runtime.controller.metrics import ControllerMetrics
from eventwire_runtime.controller.settings import ControllerSettings

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
        warn: posts a Warning Event about an object (reason, message); tests record them.
        pending_subscriptions: Subscriptions by uid whose reconcile computed a status that is not
            written yet; channel reconciles use it instead of the API server's older copy.
        metrics: the operator's Prometheus metrics (a fresh set unless given).
    """

    settings: ControllerSettings
    client: KubeClient
    warn: Callable[[Mapping[str, Any], str, str], None] = post_warning
    metrics: ControllerMetrics = field(default_factory=ControllerMetrics)
    pending_subscriptions: dict[str, Body] = field(default_factory=dict)
    _locks: dict[tuple[str, str, str], asyncio.Lock] = field(default_factory=dict)

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

    async def write_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        """Merge-patch `status` into the object's status subresource when it changes anything.

        Keys set to None are removed. Returns whether a write happened.
        """
        current = obj.get("status") or {}
        if not status_changed(current, status):
            return False
        meta = obj["metadata"]
        await self.client.patch(
            obj["apiVersion"],
            obj["kind"],
            meta["name"],
            {"status": dict(status)},
            meta.get("namespace"),
            sub="status",
        )
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
