"""kopf glue for Brokers.

The Broker's reconciler is the only writer of its routing table: `status.triggers` is computed
from the cache's index of the Broker's Triggers (their resolved `status.subscriberUri`), with the
Channel's rules (channel/handlers.py): a Trigger that is not ready keeps its entry (paused), one
that is gone from the complete index gets a tombstone in `status.deletedTriggers`. The reconcile
runs, through the kind's work queue, on every watch event of the Broker, of its Triggers, of its
provisioner (or of any provisioner, for Brokers served by the default) and of its dead-letter sink.
"""

from __future__ import annotations

from eventwire_runtime.api import EVENTING_GROUP, MESSAGING_GROUP
from eventwire_runtime.controller.broker.status import make_status
from eventwire_runtime.controller.channel.handlers import provisioner_of
from eventwire_runtime.controller.context import Body, Context, instrumented
from eventwire_runtime.controller.reconciler import ObjectKey, Reconciler, object_key

BROKERS = (EVENTING_GROUP, "brokers")
TRIGGERS = (EVENTING_GROUP, "triggers")
PROVISIONERS = (MESSAGING_GROUP, "clusterchannelprovisioners")
KIND = "Broker"
# As for a Channel's Subscriptions: a burst of Trigger changes rewrites the table once.
TRIGGER_BATCH_SECONDS = 0.1


@instrumented
async def reconcile(ctx: Context, broker: Body) -> Body:
    """Compute and write the broker's status; returns the broker with its new status."""
    meta = broker["metadata"]
    name, provisioner, problem = provisioner_of(ctx.cache, broker)
    dead_letter = await ctx.resolve_dead_letter(broker)
    triggers = ctx.cache.triggers_of(meta["namespace"], meta["name"])
    status = make_status(broker, name, provisioner, problem, dead_letter, triggers)
    return await ctx.report(broker, status)


RECONCILER: Reconciler[ObjectKey] = Reconciler(
    KIND, BROKERS, object_key, lambda cache, key: cache.broker(*key), reconcile
)


def trigger_broker(ctx: Context, trigger: Body, type: str | None) -> list[ObjectKey]:
    """A Trigger appeared, changed (its resolved address, filters) or went: its Broker's table follows."""
    broker = (trigger.get("spec") or {}).get("broker")
    return [(trigger["metadata"]["namespace"], str(broker))] if broker else []


def provisioner_brokers(ctx: Context, provisioner: Body, type: str | None) -> set[ObjectKey]:
    """A provisioner's address or readiness moved: the Brokers it serves (or may, as the default)."""
    cache = ctx.cache
    return {*cache.brokers_served_by(provisioner["metadata"]["name"]), *cache.brokers_served_by("")}


def register() -> None:
    """The Broker reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    RECONCILER.watch_self()
    RECONCILER.watch("broker_trigger", TRIGGERS, trigger_broker, delay=TRIGGER_BATCH_SECONDS)
    RECONCILER.watch("broker_provisioner", PROVISIONERS, provisioner_brokers)
    RECONCILER.watch_targets()
