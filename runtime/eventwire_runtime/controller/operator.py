"""Operator-wide hooks: settings and the API client at startup, kopf's settings, and cleanup."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from eventwire_runtime.controller.context import Context, ctx_of, load_settings
from eventwire_runtime.controller.kube import KubeClient

FINALIZER = "eventwire.dev/finalizer"


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, logger: Any, **_: Any) -> None:
    """Parse the settings once, log in like kopf does, and keep both in `memo.ctx`."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="eventwire.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="eventwire.dev", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    controller_settings = load_settings()
    info = kopf.login_via_client(logger=logger, settings=settings)
    if info is None:
        raise kopf.PermanentError(
            "cannot log in to the Kubernetes API (no in-cluster account, no kubeconfig)"
        )
    memo.ctx = Context(controller_settings, KubeClient.from_connection_info(info))
    logger.info(f"eventwire controller settings: {controller_settings}")


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if hasattr(memo, "ctx"):
        await ctx_of(memo).client.close()
