"""kopf glue for Brokers.

The Broker's reconciler is the only writer of its routing table: `status.triggers` is computed
from the cache's index of the Broker's Triggers (their resolved `status.subscriberUri`), with the
Channel's rules (channel/handlers.py): a Trigger that is not ready keeps its entry (paused), one
that is gone from the complete index gets a tombstone in `status.deletedTriggers`. The reconcile
runs, through the kind's work queue, on every watch event of the Broker, of its Triggers, of its
provisioner (or of any provisioner, for Brokers served by the default) and of its dead-letter sink.
"""

from __future__ import annotations

from typing import Any

import kopf

from eventwire_runtime.api import EVENTING_GROUP, MESSAGING_GROUP
from eventwire_runtime.controller.broker.status import make_status
from eventwire_runtime.controller.channel.handlers import provisioner_of
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented
from eventwire_runtime.controller.destinations import resolve
from eventwire_runtime.controller.reconciler import Reconciler
from eventwire_runtime.controller.tracking import track_targets
from eventwire_runtime.controller.workqueue import WorkQueue

BROKERS = (EVENTING_GROUP, "brokers")
TRIGGERS = (EVENTING_GROUP, "triggers")
PROVISIONERS = (MESSAGING_GROUP, "clusterchannelprovisioners")
KIND = "Broker"
Key = tuple[str, str]  # (namespace, name)
# As for a Channel's Subscriptions: a burst of Trigger changes rewrites the table once.
TRIGGER_BATCH_SECONDS = 0.1


@instrumented
async def reconcile(ctx: Context, broker: Body) -> Body:
    """Compute and write the broker's status; returns the broker with its new status."""
    meta = broker["metadata"]
    name, provisioner, problem = provisioner_of(ctx.cache, broker)
    dls = ((broker.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
    dead_letter = (
        await resolve(dls, meta["namespace"], ctx.cache, ctx.settings.cluster_domain) if dls else None
    )
    triggers = ctx.cache.triggers_of(meta["namespace"], meta["name"])
    status = make_status(broker, name, provisioner, problem, dead_letter, triggers)
    await ctx.write_status(broker, status)
    ctx.warn_on_failure(broker, status)
    return {**broker, "status": status}


RECONCILER: Reconciler[Key] = Reconciler(KIND, lambda cache, key: cache.broker(*key), reconcile)


def queue_of(memo: Any) -> WorkQueue[Key]:
    return RECONCILER.queue(memo)


async def broker_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    meta = body["metadata"]
    RECONCILER.own_event(memo, (meta["namespace"], meta["name"]), type, body)


async def trigger_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A Trigger appeared, changed (its resolved address, filters) or went: its Broker's table follows."""
    broker = (body.get("spec") or {}).get("broker")
    if broker:
        queue_of(memo).add((body["metadata"]["namespace"], str(broker)), delay=TRIGGER_BATCH_SECONDS)


async def provisioner_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A provisioner's address or readiness moved: the Brokers it serves (or may, as the default)."""
    cache, queue = ctx_of(memo).cache, queue_of(memo)
    for key in {*cache.brokers_served_by(body["metadata"]["name"]), *cache.brokers_served_by("")}:
        queue.add(key)


def enqueue(memo: Any, kind: str, namespace: str, name: str) -> None:
    queue_of(memo).add((namespace, name))


def register() -> None:
    """The Broker reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    kopf.on.event(*BROKERS, id="broker")(broker_event)
    kopf.on.event(*TRIGGERS, id="broker_trigger")(trigger_event)
    kopf.on.event(*PROVISIONERS, id="broker_provisioner")(provisioner_event)
    track_targets("broker_target", {KIND}, enqueue)
