"""Operator-wide hooks: settings, the API client and the metrics endpoint at startup, kopf's
settings, the Ready-status tracking behind the resources gauge, and cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from eventwire_runtime.controller import metrics as metrics_server
from eventwire_runtime.controller import peering, resync
from eventwire_runtime.controller.cache import Cache, is_cache_index
from eventwire_runtime.controller.context import Context, ctx_of, load_settings
from eventwire_runtime.controller.metrics import ControllerMetrics
from eventwire_runtime.kube import KubeClient, KubeConfigError

FINALIZER = "eventwire.dev/finalizer"
Standby = Callable[[], Awaitable[bool]]


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, logger: Any, **kwargs: Any) -> None:
    """Parse the settings once, connect the API client, and keep both in `memo.ctx` with the
    cache over kopf's indexes (live objects, passed as kwargs named by index id)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="eventwire.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="eventwire.dev", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    controller_settings = load_settings()
    # Used only with peering (EVENTWIRE_PEERING): keep-alives are not logged, pauses and resumes are.
    settings.peering.lifetime = controller_settings.peering_lifetime
    settings.peering.stealth = True
    metrics = ControllerMetrics()
    try:  # the credentials kopf logs in with: KUBECONFIG, else the pod's service account
        client = await KubeClient.connect(on_error=metrics.api_error)
    except KubeConfigError as exc:
        raise kopf.PermanentError(str(exc)) from None
    indexes = {name: index for name, index in kwargs.items() if is_cache_index(name)}
    memo.ctx = Context(controller_settings, client, cache=Cache(indexes, client), metrics=metrics)
    logger.info(f"eventwire controller settings: {controller_settings}")
    if controller_settings.metrics_port:
        address, port = controller_settings.metrics_address, controller_settings.metrics_port
        try:
            memo.metrics_runner = await metrics_server.serve(metrics, address, port)
        except OSError as exc:
            raise kopf.PermanentError(f"cannot serve metrics on {address}:{port}: {exc}") from exc
        logger.info(f"metrics at http://{address}:{port}/metrics")
    indexers = getattr(memo, "indexers", None)  # set by `main` (absent when embedded without it)
    if controller_settings.cache_resync_seconds and indexers is not None:
        memo.resync_task = asyncio.create_task(
            resync.run_periodically(
                controller_settings.cache_resync_seconds,
                client,
                indexes,
                indexers.discard,
                resync.kopf_deleted_handlers(memo, indexes),
                standby=standby_check(settings, memo, client),
                on_error=lambda: metrics.task_error("cache_resync"),
            )
        )


def standby_check(settings: kopf.OperatorSettings, memo: Any, client: KubeClient) -> Standby | None:
    """With kopf peering, whether this replica stands by now (see `peering`); None standalone.
    kopf does not tell its handlers, so the peering object is read as kopf reads it."""
    identity = getattr(memo, "identity", None)  # set by `main` when peering
    if settings.peering.standalone or not settings.peering.name or identity is None:
        return None
    name, priority = settings.peering.name, settings.peering.priority
    namespaces = () if settings.peering.clusterwide else tuple(getattr(memo, "namespaces", ()))

    async def standing_by() -> bool:
        return await peering.standby(client, name, identity, priority, namespaces)

    return standing_by


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if hasattr(memo, "resync_task"):
        memo.resync_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await memo.resync_task
    if hasattr(memo, "metrics_runner"):
        await memo.metrics_runner.cleanup()
    if hasattr(memo, "ctx"):
        await ctx_of(memo).close()


async def track_ready(body: kopf.Body, type: str | None, memo: Any, **_: Any) -> None:
    """Keep the resources gauge on the Ready status every watch event carries; forget the
    objects that went."""
    meta = body["metadata"]
    obj = None if type == "DELETED" else dict(body)
    ctx = ctx_of(memo)
    ctx.metrics.track(str(body.get("kind")), meta.get("namespace"), meta["name"], obj)
    if obj is None:
        ctx.forget(str(meta.get("uid")))  # what `Context.fresher` kept of it


def register_ready_tracking(resources: Mapping[str, tuple[str, str]]) -> None:
    """An event handler per kind (kind -> (group, plural)) for eventwire_controller_resources."""
    for kind, (group, plural) in resources.items():
        kopf.on.event(group, plural, id=f"{kind.lower()}_ready_metric")(track_ready)
