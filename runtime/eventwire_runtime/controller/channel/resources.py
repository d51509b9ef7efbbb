"""Pure functions: a Channel's routing table (`status.subscribers`) and status.

The routing table is what the dispatcher reads; its entry format is the design's:
uid, name, generation, subscriberUri, replyUri, deadLetterSinkUri, delivery, ready, message.

The contract with the dispatcher about durable state (its consumers and groups):
- `status.subscribers` has an entry for every Subscription of the channel that exists and is not
  being deleted, ready or not: `ready: "False"`/`"Unknown"` (or no subscriberUri yet) means
  *paused*: the dispatcher keeps its backlog and resumes where it stopped;
- `status.deletedSubscribers` lists tombstones `{uid, name, deletedAt}`: a Subscription that had an
  entry and is gone (or has a deletionTimestamp) gets one; only a tombstone makes the dispatcher
  delete a subscription's durable state. Tombstones are kept TOMBSTONE_RETENTION, then pruned;
- deleting the Channel itself (the watch's DELETED event) deletes all of its durable state.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from eventwire_runtime.controller.channel import conditions as cond
from eventwire_runtime.controller.channel.names import channel_address
from eventwire_runtime.controller.conditions import FALSE, TRUE, UNKNOWN, condition, is_ready, now_rfc3339
from eventwire_runtime.controller.destinations import Resolution

DELIVERY_PARAMS = (
    "retry",
    "backoffPolicy",
    "backoffDelay",
    "backoffMax",
    "timeout",
    "retryAfterMax",
    "retryWindow",
    "format",
)
# How long a tombstone stays in status.deletedSubscribers: longer than any dispatcher outage
# whose durable state should still be cleaned up when it comes back.
TOMBSTONE_RETENTION = datetime.timedelta(days=1)


def delivery_params(*specs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The delivery parameters (no dead-letter sink), later specs overriding earlier ones."""
    merged: dict[str, Any] = {}
    for spec in specs:
        for key in DELIVERY_PARAMS:
            if spec and spec.get(key) is not None:
                merged[key] = spec[key]
    return merged


def subscribes_to(subscription: Mapping[str, Any], channel: Mapping[str, Any]) -> bool:
    """Whether a live (not deleting) Subscription names this Channel."""
    ref = (subscription.get("spec") or {}).get("channel") or {}
    meta = subscription.get("metadata") or {}
    return (
        ref.get("name") == channel["metadata"]["name"]
        and meta.get("namespace") == channel["metadata"].get("namespace")
        and not meta.get("deletionTimestamp")
    )


def subscriber_entry(
    subscription: Mapping[str, Any],
    channel: Mapping[str, Any],
    provisioner: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One routing entry, from the Subscription's resolved `status.physicalSubscription`.

    Delivery parameters come from the provisioner, then the channel, then the subscription; the
    dead-letter sink is the subscription's, else the channel's.
    """
    meta, spec = subscription["metadata"], subscription.get("spec") or {}
    status = subscription.get("status") or {}
    physical = status.get("physicalSubscription") or {}
    resolved = condition(status, "ReferencesResolved")
    entry: dict[str, Any] = {
        "uid": meta["uid"],
        "name": meta["name"],
        "generation": int(meta.get("generation", 1)),
    }
    for key in ("subscriberUri", "replyUri"):
        if physical.get(key):
            entry[key] = physical[key]
    dead_letter = physical.get("deadLetterSinkUri") or (channel.get("status") or {}).get("deadLetterSinkUri")
    if dead_letter:
        entry["deadLetterSinkUri"] = dead_letter
    delivery = delivery_params(
        (provisioner or {}).get("spec", {}).get("delivery"),
        (channel.get("spec") or {}).get("delivery"),
        spec.get("delivery"),
    )
    if delivery:
        entry["delivery"] = delivery
    if resolved is None or status.get("observedGeneration") != entry["generation"]:
        entry["ready"], entry["message"] = UNKNOWN, "the subscription's references are not resolved yet"
    elif resolved.get("status") == TRUE:
        entry["ready"] = TRUE
    else:
        entry["ready"] = str(resolved.get("status", FALSE))
        entry["message"] = str(resolved.get("message") or resolved.get("reason") or "references not resolved")
    return entry


def routing_table(
    channel: Mapping[str, Any],
    subscriptions: Iterable[Mapping[str, Any]],
    provisioner: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The entries of every live Subscription of `channel`, sorted by name then uid."""
    entries = [subscriber_entry(s, channel, provisioner) for s in subscriptions if subscribes_to(s, channel)]
    return sorted(entries, key=lambda e: (e["name"], e["uid"]))


def _parse_time(text: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def tombstones(
    old_status: Mapping[str, Any], entries: list[dict[str, Any]], now: str
) -> list[dict[str, Any]]:
    """`status.deletedSubscribers`: the previous tombstones still within TOMBSTONE_RETENTION,
    plus one (deletedAt `now`) for every previous entry whose Subscription is gone from `entries`.
    """
    live = {e["uid"] for e in entries}
    current = _parse_time(now)
    kept: dict[str, dict[str, Any]] = {}
    for stone in old_status.get("deletedSubscribers") or []:
        when = _parse_time(stone.get("deletedAt")) if isinstance(stone, Mapping) else None
        if when is None or current is None or current - when > TOMBSTONE_RETENTION:
            continue
        if stone.get("uid") and stone["uid"] not in live:
            kept[stone["uid"]] = {
                "uid": stone["uid"],
                "name": str(stone.get("name") or ""),
                "deletedAt": stone["deletedAt"],
            }
    for entry in old_status.get("subscribers") or []:
        uid = entry.get("uid") if isinstance(entry, Mapping) else None
        if uid and uid not in live and uid not in kept:
            kept[uid] = {"uid": uid, "name": str(entry.get("name") or ""), "deletedAt": now}
    return sorted(kept.values(), key=lambda t: (t["deletedAt"], t["uid"]))


def make_status(
    channel: Mapping[str, Any],
    provisioner_name: str | None,
    provisioner: Mapping[str, Any] | None,
    provisioner_problem: str,
    dead_letter: Resolution | None,
    subscriptions: Iterable[Mapping[str, Any]],
    now: str | None = None,
) -> dict[str, Any]:
    """The desired Channel status.

    Args:
        provisioner_name: the provisioner serving the channel (spec.provisioner or the default).
        provisioner: that provisioner object, None when missing.
        provisioner_problem: why there is no provisioner name (no or several defaults).
        dead_letter: the resolved spec.delivery.deadLetterSink, None when unset.
        subscriptions: Subscriptions of the namespace (others are ignored).
    """
    meta = channel["metadata"]
    generation = int(meta.get("generation", 1))
    old = channel.get("status") or {}
    now = now or now_rfc3339()
    conds = cond.CONDITIONS.manage(old.get("conditions"), generation, now)
    status: dict[str, Any] = {"observedGeneration": generation, "provisioner": provisioner_name}

    if provisioner_name is None:
        conds.mark_false(cond.PROVISIONER_READY, "NoDefaultProvisioner", provisioner_problem)
    elif provisioner is None:
        conds.mark_false(
            cond.PROVISIONER_READY,
            "ProvisionerNotFound",
            f"ClusterChannelProvisioner {provisioner_name} does not exist",
        )
    elif not is_ready(provisioner):
        ready = condition(provisioner.get("status"), "Ready") or {}
        conds.mark_false(
            cond.PROVISIONER_READY,
            "ProvisionerNotReady",
            f"ClusterChannelProvisioner {provisioner_name} is not ready: {ready.get('message') or 'no status yet'}",
        )
    else:
        conds.mark_true(cond.PROVISIONER_READY)

    # Path-routed on the dispatcher Service unless the provisioner names a host suffix (names.py).
    url = channel_address(meta["name"], meta["namespace"], provisioner)
    if url:
        status["address"] = {"name": "http", "url": url}
        conds.mark_true(cond.ADDRESSABLE)
    else:
        status["address"] = None
        conds.mark_unknown(
            cond.ADDRESSABLE,
            "NoDispatcherAddress",
            "the provisioner has not published its dispatcher address yet",
        )

    if dead_letter is None:
        status["deadLetterSinkUri"] = None
        conds.mark_true(cond.DEAD_LETTER_SINK_RESOLVED, "NoDeadLetterSink")
    elif dead_letter.ok:
        status["deadLetterSinkUri"] = dead_letter.uri
        conds.mark_true(cond.DEAD_LETTER_SINK_RESOLVED)
    else:
        status["deadLetterSinkUri"] = None
        conds.mark_false(cond.DEAD_LETTER_SINK_RESOLVED, dead_letter.reason, dead_letter.message)

    # Entries see the channel's freshly resolved dead-letter sink.
    resolved_channel = {**channel, "status": {**old, "deadLetterSinkUri": status["deadLetterSinkUri"]}}
    status["subscribers"] = routing_table(resolved_channel, subscriptions, provisioner)
    stones = tombstones(old, status["subscribers"], now)
    if stones or old.get("deletedSubscribers"):
        status["deletedSubscribers"] = stones or None  # None: the merge patch removes the field
    status["conditions"] = conds.result()
    return status
