"""kopf glue for Channels.

The Channel is the only writer of its routing table: every reconcile lists the namespace's
Subscriptions afresh and rewrites `status.subscribers` when it differs. Subscriptions trigger it
(their handlers call `reconcile` with their pending status), and a Channel's own events re-run the
reconcile of its Subscriptions so that their ChannelReady/AddedToChannel follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from eventwire_runtime.api import MESSAGING_API_VERSION, MESSAGING_GROUP
from eventwire_runtime.controller.channel.resources import make_status, subscribes_to
from eventwire_runtime.controller.conditions import is_ready
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented
from eventwire_runtime.controller.destinations import resolve
from eventwire_runtime.controller.provisioner.resources import default_provisioner

CHANNELS = (MESSAGING_GROUP, "channels")
KIND = "Channel"


async def provisioner_of(ctx: Context, channel: Mapping[str, Any]) -> tuple[str | None, Body | None, str]:
    """(name, object, problem) of the provisioner serving `channel`."""
    name = (channel.get("spec") or {}).get("provisioner")
    if not name:
        provisioners = await ctx.client.list(MESSAGING_API_VERSION, "ClusterChannelProvisioner")
        name, problem = default_provisioner(provisioners)
        if name is None:
            return None, None, problem
        return name, next(p for p in provisioners if p["metadata"]["name"] == name), ""
    return name, await ctx.client.get(MESSAGING_API_VERSION, "ClusterChannelProvisioner", name), ""


@instrumented
async def reconcile(ctx: Context, channel: Body) -> Body:
    """Compute and write the channel's status; returns the channel with its new status.

    Subscriptions whose reconcile has computed but not yet written a status
    (`ctx.pending_subscriptions`) are taken with that status.
    """
    meta = channel["metadata"]
    async with ctx.lock(KIND, meta["namespace"], meta["name"]):
        current = await ctx.client.get(MESSAGING_API_VERSION, KIND, meta["name"], meta["namespace"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return channel  # deleted meanwhile
        name, provisioner, problem = await provisioner_of(ctx, current)
        dls = ((current.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
        dead_letter = (
            await resolve(dls, meta["namespace"], ctx.client, ctx.settings.cluster_domain) if dls else None
        )
        subscriptions = [
            ctx.pending_subscriptions.get(s["metadata"]["uid"], s)
            for s in await ctx.client.list(MESSAGING_API_VERSION, "Subscription", meta["namespace"])
        ]
        status = make_status(current, name, provisioner, problem, dead_letter, subscriptions)
        await ctx.write_status(current, status)
        ctx.warn_on_failure(current, status)
        return {**current, "status": status}


async def reconcile_channels_of(ctx: Context, provisioner: str) -> None:
    """Reconcile every Channel the provisioner serves or may serve (as the default)."""
    for channel in await ctx.client.list(MESSAGING_API_VERSION, KIND):
        spec, status = channel.get("spec") or {}, channel.get("status") or {}
        if spec.get("provisioner") in (None, provisioner) or status.get("provisioner") == provisioner:
            await reconcile(ctx, channel)


@kopf.on.create(*CHANNELS)
@kopf.on.update(*CHANNELS)
@kopf.on.resume(*CHANNELS)
async def channel_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile(ctx_of(memo), dict(body))


@kopf.on.event(*CHANNELS)
async def channel_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Any change of a Channel (status included) re-runs its Subscriptions' reconciles."""
    from eventwire_runtime.controller.subscription.handlers import reconcile as reconcile_subscription

    ctx = ctx_of(memo)
    channel = dict(body)
    for subscription in await ctx.client.list(
        MESSAGING_API_VERSION, "Subscription", body["metadata"]["namespace"]
    ):
        names_it = (subscription.get("spec") or {}).get("channel", {}).get("name") == body["metadata"]["name"]
        if names_it and (type == "DELETED" or subscribes_to(subscription, channel)):
            await reconcile_subscription(ctx, subscription, sync_channel=False)


async def channel_resync(body: kopf.Body, memo: Any, **_: Any) -> None:
    await reconcile(ctx_of(memo), dict(body))


def _not_ready(body: kopf.Body, **_: Any) -> bool:
    return not is_ready(dict(body))


def register(resync_seconds: float) -> None:
    """The resync timer of Channels that are not Ready (e.g. after a failed API request)."""
    kopf.timer(*CHANNELS, id="channel_resync", interval=resync_seconds, when=_not_ready)(channel_resync)
