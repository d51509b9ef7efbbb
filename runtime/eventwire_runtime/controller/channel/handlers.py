"""kopf glue for Channels.

The Channel's reconciler is the only writer of its routing table: `status.subscribers` is
computed from the cache's index of the Channel's Subscriptions (their resolved
`status.physicalSubscription`) and written when it differs. A Subscription that is not ready
keeps its entry (ready "False" or "Unknown"); one that no longer exists (gone from the complete
index) has none. The reconcile runs, through the kind's work queue, on every watch event of the
Channel, of its Subscriptions, of its provisioner (or of any provisioner, for Channels served by
the default) and of its dead-letter sink.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventwire_runtime.api import MESSAGING_GROUP
from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.channel.resources import make_status
from eventwire_runtime.controller.context import Body, Context, instrumented
from eventwire_runtime.controller.provisioner.resources import default_provisioner
from eventwire_runtime.controller.reconciler import ObjectKey, Reconciler, object_key

CHANNELS = (MESSAGING_GROUP, "channels")
SUBSCRIPTIONS = (MESSAGING_GROUP, "subscriptions")
PROVISIONERS = (MESSAGING_GROUP, "clusterchannelprovisioners")
KIND = "Channel"
# Subscription events are collected this long before the Channel's reconcile runs: when many
# Subscriptions change at once, the routing table is rewritten once per batch, not per change.
SUBSCRIPTION_BATCH_SECONDS = 0.1


def provisioner_of(cache: Cache, channel: Mapping[str, Any]) -> tuple[str | None, Body | None, str]:
    """(name, object, problem) of the provisioner serving `channel`."""
    name = (channel.get("spec") or {}).get("provisioner")
    if not name:
        name, problem = default_provisioner(cache.provisioners())
        if name is None:
            return None, None, problem
    return name, cache.provisioner(name), ""


@instrumented
async def reconcile(ctx: Context, channel: Body) -> Body:
    """Compute and write the channel's status; returns the channel with its new status."""
    meta = channel["metadata"]
    name, provisioner, problem = provisioner_of(ctx.cache, channel)
    dead_letter = await ctx.resolve_dead_letter(channel)
    subscriptions = ctx.cache.subscriptions_of(meta["namespace"], meta["name"])
    status = make_status(channel, name, provisioner, problem, dead_letter, subscriptions)
    return await ctx.report(channel, status)


RECONCILER: Reconciler[ObjectKey] = Reconciler(
    KIND, CHANNELS, object_key, lambda cache, key: cache.channel(*key), reconcile
)


def subscription_channel(ctx: Context, subscription: Body, type: str | None) -> list[ObjectKey]:
    """A Subscription appeared, changed (its resolved addresses) or went: its Channel's table follows."""
    channel = ((subscription.get("spec") or {}).get("channel") or {}).get("name")
    return [(subscription["metadata"]["namespace"], str(channel))] if channel else []


def provisioner_channels(ctx: Context, provisioner: Body, type: str | None) -> set[ObjectKey]:
    """A provisioner's address, readiness or default flag moved: the Channels it serves (or may
    serve, as the default) follow."""
    cache = ctx.cache
    return {*cache.channels_served_by(provisioner["metadata"]["name"]), *cache.channels_served_by("")}


def register() -> None:
    """The Channel reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    RECONCILER.watch_self()
    RECONCILER.watch(
        "channel_subscription", SUBSCRIPTIONS, subscription_channel, delay=SUBSCRIPTION_BATCH_SECONDS
    )
    RECONCILER.watch("channel_provisioner", PROVISIONERS, provisioner_channels)
    RECONCILER.watch_targets()
