"""kopf glue for Subscriptions: resolve the destinations and report, from the cache.

A reconcile writes only the Subscription's status: its resolved addresses
(`status.physicalSubscription`, which the Channel's reconciler copies into the routing table)
and its conditions, AddedToChannel following what the Channel's `status.subscribers` lists.
It runs, through the kind's work queue, on every watch event of the Subscription itself, of its
Channel, and of a destination it references.
"""

from __future__ import annotations

from typing import Any

import kopf

from eventwire_runtime.api import MESSAGING_GROUP
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented
from eventwire_runtime.controller.destinations import Resolution, resolve
from eventwire_runtime.controller.reconciler import Reconciler
from eventwire_runtime.controller.subscription.resources import (
    destinations,
    listed_entries,
    make_status,
    reflects_channel,
)
from eventwire_runtime.controller.tracking import track_targets
from eventwire_runtime.controller.workqueue import WorkQueue

SUBSCRIPTIONS = (MESSAGING_GROUP, "subscriptions")
CHANNELS = (MESSAGING_GROUP, "channels")
KIND = "Subscription"
Key = tuple[str, str]  # (namespace, name)


@instrumented
async def reconcile(ctx: Context, subscription: Body) -> Body:
    """Compute and write the subscription's status; returns the subscription with it."""
    meta = subscription["metadata"]
    namespace = meta["namespace"]
    spec = subscription.get("spec") or {}
    channel = ctx.cache.channel(namespace, (spec.get("channel") or {}).get("name", ""))
    resolved: dict[str, Resolution] = {
        key: await resolve(dest, namespace, ctx.cache, ctx.settings.cluster_domain)
        for key, dest in destinations(spec).items()
    }
    status = make_status(subscription, channel, resolved)
    await ctx.write_status(subscription, status)
    ctx.warn_on_failure(subscription, status)
    return {**subscription, "status": status}


RECONCILER: Reconciler[Key] = Reconciler(KIND, lambda cache, key: cache.subscription(*key), reconcile)


def queue_of(memo: Any) -> WorkQueue[Key]:
    return RECONCILER.queue(memo)


async def subscription_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    meta = body["metadata"]
    RECONCILER.own_event(memo, (meta["namespace"], meta["name"]), type, body)


async def channel_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A Channel changed (its routing table, readiness) or went: its Subscriptions whose status
    does not say so yet follow."""
    meta = body["metadata"]
    ctx, queue = ctx_of(memo), queue_of(memo)
    channel = None if type == "DELETED" else dict(body)
    listed = listed_entries(channel)
    for subscription in ctx.cache.subscriptions_of(meta["namespace"], meta["name"]):
        if not reflects_channel(ctx.fresher(subscription), channel, listed):
            queue.add((subscription["metadata"]["namespace"], subscription["metadata"]["name"]))


def enqueue(memo: Any, kind: str, namespace: str, name: str) -> None:
    queue_of(memo).add((namespace, name))


def register() -> None:
    """The Subscription reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    kopf.on.event(*SUBSCRIPTIONS, id="subscription")(subscription_event)
    kopf.on.event(*CHANNELS, id="subscription_channel")(channel_event)
    track_targets("subscription_target", {KIND}, enqueue)
