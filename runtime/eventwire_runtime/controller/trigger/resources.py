"""Pure functions: a Trigger's resolved addresses and status.

The Broker's reconciler copies `status.subscriberUri` and `status.deadLetterSinkUri` into the
Broker's `status.triggers` (broker/resources.py); SubscriptionReady reads that table back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventwire_runtime.controller.conditions import (
    TRUE,
    UNKNOWN,
    Conditions,
    condition,
    inherited_dead_letter,
    is_ready,
    now_rfc3339,
    status_says,
)
from eventwire_runtime.controller.destinations import Resolution
from eventwire_runtime.controller.trigger import conditions as cond
from eventwire_spec.filters import filter_problems


def dead_letter_sink(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Trigger's own dead-letter sink (spec.delivery.deadLetterSink), None when unset."""
    return (spec.get("delivery") or {}).get("deadLetterSink") or None


def listed_entries(broker: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The Broker's routing table by Trigger uid."""
    entries = ((broker or {}).get("status") or {}).get("triggers") or []
    return {str(entry.get("uid")): entry for entry in entries if isinstance(entry, Mapping)}


def served_entry(
    broker: Mapping[str, Any] | None,
    trigger: Mapping[str, Any],
    subscriber_uri: str | None,
    listed: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[bool, str]:
    """(whether the Broker's table serves this generation of the Trigger with `subscriber_uri`,
    why not). `listed` is `listed_entries(broker)` when the caller checks many Triggers."""
    meta = trigger["metadata"]
    entry = (listed if listed is not None else listed_entries(broker)).get(str(meta["uid"]))
    name = (trigger.get("spec") or {}).get("broker", "")
    if entry is None or entry.get("generation") != meta.get("generation", 1):
        return False, f"Broker {name} does not list this generation of the Trigger yet"
    if entry.get("subscriberUri") != subscriber_uri or entry.get("ready") != TRUE:
        return False, str(entry.get("message") or f"Broker {name} does not route to the subscriber yet")
    return True, ""


def _mark_subscription(
    conds: Conditions,
    trigger: Mapping[str, Any],
    broker: Mapping[str, Any] | None,
    subscriber_uri: str | None,
    listed: Mapping[str, Mapping[str, Any]] | None,
) -> None:
    problems = filter_problems(trigger.get("spec") or {})
    if problems:
        conds.mark_false(
            cond.SUBSCRIPTION_READY, "InvalidFilters", "; ".join(str(problem) for problem in problems)
        )
        return
    if broker is None:
        conds.mark_false(cond.SUBSCRIPTION_READY, "BrokerDoesNotExist", "the Broker does not exist")
        return
    served, why = served_entry(broker, trigger, subscriber_uri, listed)
    if served:
        conds.mark_true(cond.SUBSCRIPTION_READY)
    else:
        conds.mark_unknown(cond.SUBSCRIPTION_READY, "NotRoutedYet", why)


def make_status(
    trigger: Mapping[str, Any],
    broker: Mapping[str, Any] | None,
    subscriber: Resolution,
    dead_letter: Resolution | None,
    now: str | None = None,
    listed: Mapping[str, Mapping[str, Any]] | None = None,
    dependency: tuple[str, str, str] = (TRUE, "", ""),
) -> dict[str, Any]:
    """The desired Trigger status.

    Args:
        broker: the Trigger's Broker, None when it does not exist.
        subscriber: the resolved spec.subscriber.
        dead_letter: the resolved spec.delivery.deadLetterSink, None when unset (the Broker's
            resolved one stands in).
        listed: `listed_entries(broker)`, when the caller checks many Triggers.
        dependency: DependencyReady's (status, reason, message) (`dependency.judge`).
    """
    meta, spec = trigger["metadata"], trigger.get("spec") or {}
    namespace, broker_name = meta["namespace"], spec.get("broker", "")
    generation = int(meta.get("generation", 1))
    old = trigger.get("status") or {}
    conds = cond.CONDITIONS.manage(old.get("conditions"), generation, now or now_rfc3339())

    if broker is None:
        conds.mark_false(
            cond.BROKER_READY, "BrokerDoesNotExist", f"Broker {namespace}/{broker_name} does not exist"
        )
    elif is_ready(broker):
        conds.mark_true(cond.BROKER_READY)
    else:
        theirs = condition(broker.get("status"), "Ready") or {}
        conds.mark_unknown(
            cond.BROKER_READY,
            "BrokerNotReady",
            f"Broker {broker_name} is not ready: {theirs.get('message') or theirs.get('reason') or 'no status yet'}",
        )

    subscriber_uri = subscriber.uri or None
    if subscriber.ok:
        conds.mark_true(cond.SUBSCRIBER_RESOLVED)
    else:
        conds.mark_false(
            cond.SUBSCRIBER_RESOLVED, "SubscriberResolveFailed", f"subscriber: {subscriber.message}"
        )

    if dead_letter is None:
        dead_letter_uri = inherited_dead_letter(broker or {})
        conds.mark_true(
            cond.DEAD_LETTER_SINK_RESOLVED, "BrokerDeadLetterSink" if dead_letter_uri else "NoDeadLetterSink"
        )
    elif dead_letter.ok:
        dead_letter_uri = dead_letter.uri
        conds.mark_true(cond.DEAD_LETTER_SINK_RESOLVED)
    else:
        dead_letter_uri = None
        conds.mark_false(
            cond.DEAD_LETTER_SINK_RESOLVED,
            "DeadLetterSinkResolveFailed",
            f"deadLetterSink: {dead_letter.message}",
        )

    conds.mark(cond.DEPENDENCY_READY, *dependency)

    _mark_subscription(conds, trigger, broker, subscriber_uri, listed)
    return {
        "observedGeneration": generation,
        "subscriberUri": subscriber_uri,  # None: the merge patch removes a stale address
        "deadLetterSinkUri": dead_letter_uri,
        "conditions": conds.result(),
    }


def reflects_broker(
    trigger: Mapping[str, Any],
    broker: Mapping[str, Any] | None,
    listed: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """Whether the Trigger's status already says what `broker` implies (BrokerReady,
    SubscriptionReady, the Broker's dead-letter sink standing in): a Broker event that changes
    none of it need not reconcile the Trigger. `listed` as for `make_status`."""
    if broker is None:
        return False
    spec, status = trigger.get("spec") or {}, trigger.get("status") or {}
    if dead_letter_sink(spec) is None and status.get("deadLetterSinkUri") != inherited_dead_letter(broker):
        return False
    served, _ = served_entry(broker, trigger, status.get("subscriberUri"), listed)
    wanted = {cond.BROKER_READY: TRUE if is_ready(broker) else UNKNOWN}
    if not filter_problems(spec):
        wanted[cond.SUBSCRIPTION_READY] = TRUE if served else UNKNOWN
    return status_says(trigger, wanted)
