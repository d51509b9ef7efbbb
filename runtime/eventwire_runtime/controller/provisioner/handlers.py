"""kopf glue for ClusterChannelProvisioners: reconcile on change, on resume, when the dispatcher
Service appears or goes, and re-reconcile the Channels served by a provisioner whose status moved."""

from __future__ import annotations

from typing import Any

import kopf

from eventwire_runtime.api import MESSAGING_API_VERSION, MESSAGING_GROUP
from eventwire_runtime.controller.conditions import is_ready
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented, load_settings
from eventwire_runtime.controller.provisioner.names import dispatcher_service
from eventwire_runtime.controller.provisioner.resources import make_status

PROVISIONERS = (MESSAGING_GROUP, "clusterchannelprovisioners")
KIND = "ClusterChannelProvisioner"


@instrumented
async def reconcile(ctx: Context, body: Body) -> Body:
    """Compute and write the provisioner's status; returns the provisioner with it."""
    name = body["metadata"]["name"]
    async with ctx.lock(KIND, None, name):
        service = await ctx.client.get(
            "v1", "Service", dispatcher_service(ctx.settings, name), ctx.settings.system_namespace
        )
        status = make_status(body, service is not None, ctx.settings)
        await ctx.write_status(body, status)
        ctx.warn_on_failure(body, status)
        return {**body, "status": status}


@kopf.on.create(*PROVISIONERS)
@kopf.on.update(*PROVISIONERS)
@kopf.on.resume(*PROVISIONERS)
async def provisioner_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile(ctx_of(memo), dict(body))


@kopf.on.event(*PROVISIONERS)
async def provisioner_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A provisioner's status or default flag moved: its Channels follow."""
    from eventwire_runtime.controller.channel.handlers import reconcile_channels_of

    await reconcile_channels_of(ctx_of(memo), body["metadata"]["name"])


def _in_system_namespace(namespace: str | None, **_: Any) -> bool:
    return namespace == load_settings().system_namespace


@kopf.on.event("", "v1", "services", when=_in_system_namespace)
async def dispatcher_service_event(name: str, memo: kopf.Memo, **_: Any) -> None:
    """A Service in the system namespace changed: reconcile the provisioner it dispatches for."""
    ctx = ctx_of(memo)
    for provisioner in await ctx.client.list(MESSAGING_API_VERSION, KIND):
        if dispatcher_service(ctx.settings, provisioner["metadata"]["name"]) == name:
            await reconcile(ctx, provisioner)


async def provisioner_resync(body: kopf.Body, memo: Any, **_: Any) -> None:
    await reconcile(ctx_of(memo), dict(body))


def _not_ready(body: kopf.Body, **_: Any) -> bool:
    return not is_ready(dict(body))


def register(resync_seconds: float) -> None:
    """The resync timer of provisioners that are not Ready (e.g. after a failed API request)."""
    kopf.timer(*PROVISIONERS, id="provisioner_resync", interval=resync_seconds, when=_not_ready)(
        provisioner_resync
    )
