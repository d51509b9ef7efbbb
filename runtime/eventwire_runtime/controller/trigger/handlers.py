"""kopf glue for Triggers: resolve the subscriber and dead-letter sink and report, from the cache.

A reconcile writes only the Trigger's status: its resolved addresses (`status.subscriberUri`,
`status.deadLetterSinkUri`, which the Broker's reconciler copies into its routing table) and its
conditions, SubscriptionReady following what the Broker's `status.triggers` lists. It runs,
through the kind's work queue, on every watch event of the Trigger itself, of its Broker, and of
a destination it references (a subscriber that appears makes the Trigger ready: no polling).
"""

from __future__ import annotations

from typing import Any

import kopf

from eventwire_runtime.api import EVENTING_GROUP
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented
from eventwire_runtime.controller.destinations import resolve
from eventwire_runtime.controller.reconciler import Reconciler
from eventwire_runtime.controller.tracking import track_targets
from eventwire_runtime.controller.trigger.resources import (
    dead_letter_sink,
    listed_entries,
    make_status,
    reflects_broker,
)
from eventwire_runtime.controller.workqueue import WorkQueue

TRIGGERS = (EVENTING_GROUP, "triggers")
BROKERS = (EVENTING_GROUP, "brokers")
KIND = "Trigger"
Key = tuple[str, str]  # (namespace, name)


@instrumented
async def reconcile(ctx: Context, trigger: Body) -> Body:
    """Compute and write the trigger's status; returns the trigger with it."""
    meta = trigger["metadata"]
    namespace, spec = meta["namespace"], trigger.get("spec") or {}
    domain = ctx.settings.cluster_domain
    broker = ctx.cache.broker(namespace, str(spec.get("broker") or ""))
    subscriber = await resolve(spec.get("subscriber"), namespace, ctx.cache, domain)
    dls = dead_letter_sink(spec)
    dead_letter = await resolve(dls, namespace, ctx.cache, domain) if dls else None
    status = make_status(trigger, broker, subscriber, dead_letter)
    await ctx.write_status(trigger, status)
    ctx.warn_on_failure(trigger, status)
    return {**trigger, "status": status}


RECONCILER: Reconciler[Key] = Reconciler(KIND, lambda cache, key: cache.trigger(*key), reconcile)


def queue_of(memo: Any) -> WorkQueue[Key]:
    return RECONCILER.queue(memo)


async def trigger_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    meta = body["metadata"]
    RECONCILER.own_event(memo, (meta["namespace"], meta["name"]), type, body)


async def broker_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A Broker changed (its routing table, readiness, dead-letter sink) or went: its Triggers
    whose status does not say so yet follow."""
    meta = body["metadata"]
    ctx, queue = ctx_of(memo), queue_of(memo)
    broker = None if type == "DELETED" else dict(body)
    listed = listed_entries(broker)
    for trigger in ctx.cache.triggers_of(meta["namespace"], meta["name"]):
        if not reflects_broker(ctx.fresher(trigger), broker, listed):
            queue.add((trigger["metadata"]["namespace"], trigger["metadata"]["name"]))


def enqueue(memo: Any, kind: str, namespace: str, name: str) -> None:
    queue_of(memo).add((namespace, name))


def register() -> None:
    """The Trigger reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    kopf.on.event(*TRIGGERS, id="trigger")(trigger_event)
    kopf.on.event(*BROKERS, id="trigger_broker")(broker_event)
    track_targets("trigger_target", {KIND}, enqueue)
