"""Pure: a Broker's whole status, the routing part from `resources.routing_status` (the contract
with the dispatcher) plus the dead-letter sink and the conditions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eventwire_runtime.controller.broker import conditions as cond
from eventwire_runtime.controller.broker.resources import routing_status
from eventwire_runtime.controller.conditions import TRUE, Conditions, condition, now_rfc3339
from eventwire_runtime.controller.destinations import Resolution

PROVISIONER = "ClusterChannelProvisioner"


def _mark_provisioner(
    conds: Conditions, name: str | None, provisioner: Mapping[str, Any] | None, problem: str
) -> None:
    """TriggerChannelReady from the provisioner's settings, IngressReady and FilterReady from its
    dispatcher (see conditions.py)."""
    dependents = (cond.TRIGGER_CHANNEL_READY, cond.INGRESS_READY, cond.FILTER_READY)
    if name is None or provisioner is None:
        reason = "NoDefaultProvisioner" if name is None else "ProvisionerNotFound"
        message = problem if name is None else f"{PROVISIONER} {name} does not exist"
        for type_ in dependents:
            conds.mark_false(type_, reason, message)
        return
    status = provisioner.get("status") or {}
    for type_, source in (
        (cond.TRIGGER_CHANNEL_READY, "SettingsValid"),
        (cond.INGRESS_READY, "DispatcherReady"),
        (cond.FILTER_READY, "DispatcherReady"),
    ):
        theirs = condition(status, source) or {}
        if theirs.get("status") == TRUE:
            conds.mark_true(type_)
        elif not theirs:
            conds.mark_unknown(type_, "ProvisionerNotReady", f"{PROVISIONER} {name} has no status yet")
        else:
            why = f": {theirs['message']}" if theirs.get("message") else ""
            message = f"{PROVISIONER} {name}: {source} is {theirs.get('status')}{why}"
            conds.mark_false(type_, "ProvisionerNotReady", message)


def make_status(
    broker: Mapping[str, Any],
    provisioner_name: str | None,
    provisioner: Mapping[str, Any] | None,
    provisioner_problem: str,
    dead_letter: Resolution | None,
    triggers: Iterable[Mapping[str, Any]],
    now: str | None = None,
) -> dict[str, Any]:
    """The desired Broker status.

    Args:
        provisioner_name: the provisioner serving the Broker (spec.provisioner or the default).
        provisioner: that provisioner object, None when missing.
        provisioner_problem: why there is no provisioner name (no or several defaults).
        dead_letter: the resolved spec.delivery.deadLetterSink, None when unset.
        triggers: Triggers of the namespace (those of other Brokers are ignored).
    """
    meta = broker["metadata"]
    generation = int(meta.get("generation", 1))
    old = broker.get("status") or {}
    now = now or now_rfc3339()
    conds = cond.CONDITIONS.manage(old.get("conditions"), generation, now)
    _mark_provisioner(conds, provisioner_name, provisioner, provisioner_problem)

    if dead_letter is None:
        dead_letter_uri = None
        conds.mark_true(cond.DEAD_LETTER_SINK_RESOLVED, "NoDeadLetterSink")
    elif dead_letter.ok:
        dead_letter_uri = dead_letter.uri
        conds.mark_true(cond.DEAD_LETTER_SINK_RESOLVED)
    else:
        dead_letter_uri = None
        conds.mark_false(cond.DEAD_LETTER_SINK_RESOLVED, dead_letter.reason, dead_letter.message)

    # Trigger entries see the Broker's freshly resolved dead-letter sink.
    resolved = {**broker, "status": {**old, "deadLetterSinkUri": dead_letter_uri}}
    status: dict[str, Any] = {"observedGeneration": generation, "deadLetterSinkUri": dead_letter_uri}
    status.update(routing_status(resolved, provisioner_name, provisioner, triggers, now))
    if status["address"]:
        conds.mark_true(cond.ADDRESSABLE)
    else:
        conds.mark_unknown(
            cond.ADDRESSABLE,
            "NoDispatcherAddress",
            "the provisioner has not published its dispatcher address yet",
        )
    status["conditions"] = conds.result()
    return status
