"""Pure functions: a Broker's routing status (`status.address`, `status.triggers`,
`status.deletedTriggers`), the contract the dispatcher reads (dispatcher/broker.py).

- The address is path-routed on the provisioner's dispatcher Service:
  `<dispatcher url>/brokers/<namespace>/<broker>` (three path segments, so it never collides with
  a Channel's `/<namespace>/<channel>`).
- `status.triggers` has an entry for every live Trigger of the Broker, ready or not: uid, name,
  generation, subscriberUri, deadLetterSinkUri (the Trigger's, else the Broker's), delivery
  (provisioner, then Broker, then Trigger parameters), the Trigger's `filter`/`filters` as
  written (the dispatcher compiles them), ready and message. Not ready (`"Unknown"`/`"False"`:
  subscriber not resolved, or filters that do not compile) means *paused*: the dispatcher keeps
  the Trigger's durable position and delivers nothing.
- `status.deletedTriggers` holds tombstones `{uid, name, deletedAt}` with the Channel's rules
  (channel/resources.py): only a tombstone, or deleting the Broker, deletes a Trigger's state.

No handlers here: the controller's reconcilers call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eventwire_runtime.controller.channel.resources import delivery_params, tombstones
from eventwire_runtime.controller.conditions import FALSE, TRUE, UNKNOWN, condition, now_rfc3339
from eventwire_spec.filters import filter_problems

BROKERS_PATH = "brokers"  # the dispatcher's routing.BROKERS_PATH (tests/contracts check they agree)


def broker_address(name: str, namespace: str, provisioner: Mapping[str, Any] | None) -> str | None:
    """`<dispatcher url>/brokers/<namespace>/<broker>`; None while the provisioner has published
    no dispatcher address (`status.address.url`)."""
    dispatcher_url = (((provisioner or {}).get("status") or {}).get("address") or {}).get("url")
    if not dispatcher_url:
        return None
    return f"{str(dispatcher_url).rstrip('/')}/{BROKERS_PATH}/{namespace}/{name}"


def triggers_of(broker: Mapping[str, Any], triggers: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The live (not deleting) Triggers that name `broker`, in its namespace."""
    meta = broker["metadata"]
    return [
        t
        for t in triggers
        if (t.get("spec") or {}).get("broker") == meta["name"]
        and (t.get("metadata") or {}).get("namespace") == meta.get("namespace")
        and not (t.get("metadata") or {}).get("deletionTimestamp")
    ]


def trigger_entry(
    trigger: Mapping[str, Any], broker: Mapping[str, Any], provisioner: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One routing entry, from the Trigger's resolved status (`subscriberUri`, `deadLetterSinkUri`,
    the `SubscriberResolved` condition for its current generation)."""
    meta, spec = trigger["metadata"], trigger.get("spec") or {}
    status = trigger.get("status") or {}
    entry: dict[str, Any] = {
        "uid": meta["uid"],
        "name": meta["name"],
        "generation": int(meta.get("generation", 1)),
    }
    if status.get("subscriberUri"):
        entry["subscriberUri"] = status["subscriberUri"]
    dead_letter = status.get("deadLetterSinkUri") or (broker.get("status") or {}).get("deadLetterSinkUri")
    if dead_letter:
        entry["deadLetterSinkUri"] = dead_letter
    delivery = delivery_params(
        ((provisioner or {}).get("spec") or {}).get("delivery"),
        (broker.get("spec") or {}).get("delivery"),
        spec.get("delivery"),
    )
    if delivery:
        entry["delivery"] = delivery
    for key in ("filter", "filters"):
        if spec.get(key):
            entry[key] = spec[key]
    problems = filter_problems(spec)
    resolved = condition(status, "SubscriberResolved")
    if problems:
        entry["ready"] = FALSE
        entry["message"] = "invalid filters: " + "; ".join(str(p) for p in problems)
    elif resolved is None or status.get("observedGeneration") != entry["generation"]:
        entry["ready"], entry["message"] = UNKNOWN, "the Trigger's subscriber is not resolved yet"
    elif resolved.get("status") == TRUE and entry.get("subscriberUri"):
        entry["ready"] = TRUE
    else:
        entry["ready"] = str(resolved.get("status") or FALSE)
        entry["message"] = str(resolved.get("message") or resolved.get("reason") or "subscriber not resolved")
    return entry


def routing_status(
    broker: Mapping[str, Any],
    provisioner_name: str | None,
    provisioner: Mapping[str, Any] | None,
    triggers: Iterable[Mapping[str, Any]],
    now: str | None = None,
) -> dict[str, Any]:
    """The routing part of the Broker's status: provisioner, address, triggers, deletedTriggers.

    `provisioner_name` is the one serving the Broker (spec.provisioner or the cluster default):
    a dispatcher serves only the Brokers whose `status.provisioner` (else `spec.provisioner`)
    names its provisioner. Conditions are the reconciler's. `deletedTriggers` is None (the merge patch removes it) once
    the last tombstone expired, and absent when there never was one.
    """
    meta = broker["metadata"]
    old = broker.get("status") or {}
    now = now or now_rfc3339()
    url = broker_address(meta["name"], meta["namespace"], provisioner)
    status: dict[str, Any] = {
        "provisioner": provisioner_name,
        "address": {"name": "http", "url": url} if url else None,
    }
    entries = [trigger_entry(t, broker, provisioner) for t in triggers_of(broker, triggers)]
    status["triggers"] = sorted(entries, key=lambda e: (e["name"], e["uid"]))
    # The Channel's tombstone rules, on the Broker's field names.
    stones = tombstones(
        {"subscribers": old.get("triggers"), "deletedSubscribers": old.get("deletedTriggers")},
        status["triggers"],
        now,
    )
    if stones or old.get("deletedTriggers"):
        status["deletedTriggers"] = stones or None
    return status
