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

import kopf

from eventwire_runtime.api import MESSAGING_GROUP
from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.channel.resources import make_status
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented
from eventwire_runtime.controller.destinations import resolve
from eventwire_runtime.controller.provisioner.resources import default_provisioner
from eventwire_runtime.controller.reconciler import Reconciler
from eventwire_runtime.controller.tracking import track_targets
from eventwire_runtime.controller.workqueue import WorkQueue

CHANNELS = (MESSAGING_GROUP, "channels")
SUBSCRIPTIONS = (MESSAGING_GROUP, "subscriptions")
PROVISIONERS = (MESSAGING_GROUP, "clusterchannelprovisioners")
KIND = "Channel"
Key = tuple[str, str]  # (namespace, name)
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
    dls = ((channel.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
    dead_letter = (
        await resolve(dls, meta["namespace"], ctx.cache, ctx.settings.cluster_domain) if dls else None
    )
    subscriptions = ctx.cache.subscriptions_of(meta["namespace"], meta["name"])
    status = make_status(channel, name, provisioner, problem, dead_letter, subscriptions)
    await ctx.write_status(channel, status)
    ctx.warn_on_failure(channel, status)
    return {**channel, "status": status}


RECONCILER: Reconciler[Key] = Reconciler(KIND, lambda cache, key: cache.channel(*key), reconcile)


def queue_of(memo: Any) -> WorkQueue[Key]:
    return RECONCILER.queue(memo)


async def channel_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    meta = body["metadata"]
    RECONCILER.own_event(memo, (meta["namespace"], meta["name"]), type, body)


async def subscription_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A Subscription appeared, changed (its resolved addresses) or went: its Channel's table follows."""
    channel = ((body.get("spec") or {}).get("channel") or {}).get("name")
    if channel:
        queue_of(memo).add((body["metadata"]["namespace"], str(channel)), delay=SUBSCRIPTION_BATCH_SECONDS)


async def provisioner_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A provisioner's address, readiness or default flag moved: the Channels it serves (or may
    serve, as the default) follow."""
    cache, queue = ctx_of(memo).cache, queue_of(memo)
    for key in {*cache.channels_served_by(body["metadata"]["name"]), *cache.channels_served_by("")}:
        queue.add(key)


def enqueue(memo: Any, kind: str, namespace: str, name: str) -> None:
    queue_of(memo).add((namespace, name))


def register() -> None:
    """The Channel reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    kopf.on.event(*CHANNELS, id="channel")(channel_event)
    kopf.on.event(*SUBSCRIPTIONS, id="channel_subscription")(subscription_event)
    kopf.on.event(*PROVISIONERS, id="channel_provisioner")(provisioner_event)
    track_targets("channel_target", {KIND}, enqueue)
