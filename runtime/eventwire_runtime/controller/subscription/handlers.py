"""kopf glue for Subscriptions: resolve the destinations and report, from the cache.

A reconcile writes only the Subscription's status: its resolved addresses
(`status.physicalSubscription`, which the Channel's reconciler copies into the routing table)
and its conditions, AddedToChannel following what the Channel's `status.subscribers` lists.
It runs, through the kind's work queue, on every watch event of the Subscription itself, of its
Channel, and of a destination it references.
"""

from __future__ import annotations

from eventwire_runtime.api import MESSAGING_GROUP
from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.context import Body, Context, instrumented
from eventwire_runtime.controller.destinations import Resolution
from eventwire_runtime.controller.reconciler import ObjectKey, Reconciler, object_key
from eventwire_runtime.controller.subscription.resources import (
    destinations,
    listed_entries,
    make_status,
    reflects_channel,
)

SUBSCRIPTIONS = (MESSAGING_GROUP, "subscriptions")
CHANNELS = (MESSAGING_GROUP, "channels")
KIND = "Subscription"


@instrumented
async def reconcile(ctx: Context, subscription: Body) -> Body:
    """Compute and write the subscription's status; returns the subscription with it."""
    meta = subscription["metadata"]
    namespace = meta["namespace"]
    spec = subscription.get("spec") or {}
    channel = ctx.cache.channel(namespace, (spec.get("channel") or {}).get("name", ""))
    resolved: dict[str, Resolution] = {
        key: await ctx.resolve(dest, namespace) for key, dest in destinations(spec).items()
    }
    status = make_status(subscription, channel, resolved)
    return await ctx.report(subscription, status)


RECONCILER: Reconciler[ObjectKey] = Reconciler(
    KIND, SUBSCRIPTIONS, object_key, lambda cache, key: cache.subscription(*key), reconcile
)


def register() -> None:
    """The Subscription reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    RECONCILER.watch_self()
    # A Channel changed (its routing table, readiness, dead-letter sink) or went.
    RECONCILER.watch_parent(
        "subscription_channel", CHANNELS, Cache.subscriptions_of, listed_entries, reflects_channel
    )
    RECONCILER.watch_targets()
