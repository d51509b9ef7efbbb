"""kopf glue for Triggers: resolve the subscriber and dead-letter sink and report, from the cache.

A reconcile writes only the Trigger's status: its resolved addresses (`status.subscriberUri`,
`status.deadLetterSinkUri`, which the Broker's reconciler copies into its routing table) and its
conditions, SubscriptionReady following what the Broker's `status.triggers` lists. It runs,
through the kind's work queue, on every watch event of the Trigger itself, of its Broker, of
a destination it references (a subscriber that appears makes the Trigger ready: no polling) and
of the object its `knative.dev/dependency` annotation names (from the cache for sources, Channels,
Brokers and Services; other kinds are read from the API and polled while not Ready).
"""

from __future__ import annotations

from eventwire_runtime.api import EVENTING_GROUP, SOURCES_GROUP
from eventwire_runtime.controller.cache import SOURCE_PLURALS, Cache
from eventwire_runtime.controller.context import Body, Context, instrumented
from eventwire_runtime.controller.dependency import dependency_of, judge
from eventwire_runtime.controller.reconciler import ObjectKey, Reconciler, object_key
from eventwire_runtime.controller.tracking import target_of
from eventwire_runtime.controller.trigger.resources import (
    listed_entries,
    make_status,
    reflects_broker,
)

TRIGGERS = (EVENTING_GROUP, "triggers")
BROKERS = (EVENTING_GROUP, "brokers")
KIND = "Trigger"


@instrumented
async def reconcile(ctx: Context, trigger: Body) -> Body:
    """Compute and write the trigger's status; returns the trigger with it."""
    meta, spec = trigger["metadata"], trigger.get("spec") or {}
    broker = ctx.cache.broker(meta["namespace"], str(spec.get("broker") or ""))
    subscriber = await ctx.resolve(spec.get("subscriber"), meta["namespace"])
    dead_letter = await ctx.resolve_dead_letter(trigger)
    dependency = dependency_of(trigger)
    target = await ctx.cache.dependency(dependency) if dependency is not None else None
    status = make_status(trigger, broker, subscriber, dead_letter, dependency=judge(dependency, target))
    return await ctx.report(trigger, status)


RECONCILER: Reconciler[ObjectKey] = Reconciler(
    KIND, TRIGGERS, object_key, lambda cache, key: cache.trigger(*key), reconcile
)


def dependent_triggers(ctx: Context, obj: Body, type: str | None) -> list[ObjectKey]:
    """A source changed or went: the Triggers whose dependency annotation names it follow."""
    referrers = ctx.cache.referrers(target_of(obj))
    return [(namespace, name) for kind, namespace, name in referrers if kind == KIND]


def register() -> None:
    """The Trigger reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    RECONCILER.watch_self()
    # A Broker changed (its routing table, readiness, dead-letter sink) or went.
    RECONCILER.watch_parent("trigger_broker", BROKERS, Cache.triggers_of, listed_entries, reflects_broker)
    RECONCILER.watch_targets()  # with the dependencies of those kinds (the referrer index has them)
    for plural in SOURCE_PLURALS:
        RECONCILER.watch(f"trigger_dependency_{plural}", (SOURCES_GROUP, plural), dependent_triggers)
