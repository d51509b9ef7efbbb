"""kopf glue for Subscriptions: resolve, add to the channel's routing table, report.

A reconcile resolves the subscriber, reply and dead-letter sink, has the Channel rewrite its
routing table with the fresh result, then writes the Subscription's status once. Deleting a
Subscription re-runs its Channel's reconcile, which drops the entry.
"""

from __future__ import annotations

from typing import Any

import kopf

from eventwire_runtime.api import MESSAGING_API_VERSION, MESSAGING_GROUP
from eventwire_runtime.controller.conditions import is_ready
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented
from eventwire_runtime.controller.destinations import Resolution, resolve
from eventwire_runtime.controller.subscription.resources import destinations, make_status

SUBSCRIPTIONS = (MESSAGING_GROUP, "subscriptions")
KIND = "Subscription"


@instrumented
async def reconcile(ctx: Context, subscription: Body, sync_channel: bool = True) -> Body:
    """Compute and write the subscription's status; returns the subscription with it."""
    from eventwire_runtime.controller.channel.handlers import reconcile as reconcile_channel

    meta = subscription["metadata"]
    namespace = meta["namespace"]
    async with ctx.lock(KIND, namespace, meta["name"]):
        current = await ctx.client.get(MESSAGING_API_VERSION, KIND, meta["name"], namespace)
        if current is None or current["metadata"].get("deletionTimestamp"):
            return subscription
        spec = current.get("spec") or {}
        channel_name = (spec.get("channel") or {}).get("name", "")
        channel = await ctx.client.get(MESSAGING_API_VERSION, "Channel", channel_name, namespace)
        resolved: dict[str, Resolution] = {
            key: await resolve(dest, namespace, ctx.client, ctx.settings.cluster_domain)
            for key, dest in destinations(spec).items()
        }
        status = make_status(current, channel, resolved)
        uid = current["metadata"]["uid"]
        try:
            if channel is not None and sync_channel:
                # Until our status is written, every channel reconcile uses it instead of the
                # API server's older copy, so the routing table never steps back.
                ctx.pending_subscriptions[uid] = {**current, "status": status}
                channel = await reconcile_channel(ctx, channel)
                status = make_status({**current, "status": status}, channel, resolved)
            await ctx.write_status(current, status)
        finally:
            ctx.pending_subscriptions.pop(uid, None)
        ctx.warn_on_failure(current, status)
        return {**current, "status": status}


@kopf.on.create(*SUBSCRIPTIONS)
@kopf.on.update(*SUBSCRIPTIONS)
@kopf.on.resume(*SUBSCRIPTIONS)
async def subscription_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile(ctx_of(memo), dict(body))


@kopf.on.event(*SUBSCRIPTIONS)
async def subscription_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A Subscription went away or its status moved: its Channel rewrites the routing table."""
    from eventwire_runtime.controller.channel.handlers import reconcile as reconcile_channel

    if type is None:
        return  # the initial listing; resume handlers cover it
    ctx = ctx_of(memo)
    meta = body["metadata"]
    name = (body.get("spec") or {}).get("channel", {}).get("name")
    if not name:
        return
    channel = await ctx.client.get(MESSAGING_API_VERSION, "Channel", name, meta["namespace"])
    if channel is not None:
        await reconcile_channel(ctx, channel)


async def subscription_resync(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile(ctx_of(memo), dict(body))


def _not_ready(body: kopf.Body, **_: Any) -> bool:
    return not is_ready(dict(body))


def register(resync_seconds: float) -> None:
    """The resync timer of Subscriptions that are not Ready (targets the controller cannot watch)."""
    kopf.timer(*SUBSCRIPTIONS, id="subscription_resync", interval=resync_seconds, when=_not_ready)(
        subscription_resync
    )
