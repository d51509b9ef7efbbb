"""Late binding, as Knative's trackers do it: when a destination's target changes, the objects
that reference it are enqueued for their own reconcile.

`Cache.referrers` maps a target (a Kubernetes Service, a Channel, a Broker, a Knative Service)
to the Subscriptions, Channels, Brokers, Triggers and sources whose Destinations name it. Each kind registers its own
handlers here with the function that enqueues one of its objects; no kind calls another's
reconcile. Targets of other kinds (anything with status.address.url) are not watched: objects
that are not Ready are reconciled again after the resync interval.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import kopf

from eventwire_runtime.api import EVENTING_GROUP, MESSAGING_GROUP
from eventwire_runtime.controller.context import ctx_of
from eventwire_runtime.controller.destinations import TargetKey

TARGET_RESOURCES = (
    ("", "v1", "services"),
    (MESSAGING_GROUP, "v1", "channels"),
    (EVENTING_GROUP, "v1", "brokers"),
    ("serving.knative.dev", "v1", "services"),
)

Enqueue = Callable[[Any, str, str, str], None]  # (memo, kind, namespace, name)


def target_of(body: Mapping[str, Any]) -> TargetKey:
    meta = body["metadata"]
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    return TargetKey(group, str(body.get("kind", "")), str(meta.get("namespace") or ""), str(meta["name"]))


def track_targets(handler_id: str, kinds: Collection[str], enqueue: Enqueue) -> None:
    """On any event of a target, `enqueue` every object of `kinds` that references it."""

    async def target_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        for kind, namespace, name in ctx_of(memo).cache.referrers(target_of(body)):
            if kind in kinds:
                enqueue(memo, kind, namespace, name)

    for group, version, plural in TARGET_RESOURCES:
        kopf.on.event(group, version, plural, id=f"{handler_id}_{group or 'core'}_{plural}")(target_event)
