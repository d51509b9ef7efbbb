"""Pure functions: a Subscription's resolved addresses and status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventwire_runtime.controller.conditions import (
    TRUE,
    UNKNOWN,
    inherited_dead_letter,
    is_ready,
    now_rfc3339,
    status_says,
)
from eventwire_runtime.controller.destinations import Resolution
from eventwire_runtime.controller.subscription import conditions as cond


def destinations(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The set destinations of a Subscription spec: subscriber, reply, deadLetterSink."""
    found = {
        "subscriber": spec.get("subscriber"),
        "reply": spec.get("reply"),
        "deadLetterSink": (spec.get("delivery") or {}).get("deadLetterSink"),
    }
    return {key: dest for key, dest in found.items() if dest}


_URI_KEYS = {"subscriber": "subscriberUri", "reply": "replyUri", "deadLetterSink": "deadLetterSinkUri"}
_FAILED_REASONS = {
    "subscriber": "SubscriberResolveFailed",
    "reply": "ReplyResolveFailed",
    "deadLetterSink": "DeadLetterSinkResolveFailed",
}


def listed_entries(channel: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The channel's routing table by Subscription uid."""
    entries = ((channel or {}).get("status") or {}).get("subscribers") or []
    return {str(entry.get("uid")): entry for entry in entries}


def in_channel(
    channel: Mapping[str, Any] | None,
    subscription: Mapping[str, Any],
    physical: Mapping[str, Any],
    listed: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """Whether the channel's routing table lists this generation of the subscription with the
    addresses just resolved (`physical`), so AddedToChannel never claims a stale entry.

    Args:
        listed: `listed_entries(channel)`, when the caller checks many subscriptions.
    """
    meta = subscription["metadata"]
    entry = (listed if listed is not None else listed_entries(channel)).get(str(meta["uid"]))
    if entry is None or entry.get("generation") != meta.get("generation", 1):
        return False
    return all(entry.get(key) == physical.get(key) for key in ("subscriberUri", "replyUri"))


def reflects_channel(
    subscription: Mapping[str, Any],
    channel: Mapping[str, Any] | None,
    listed: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """Whether the subscription's status already says what `channel` implies (ChannelReady,
    AddedToChannel, the channel's dead-letter sink standing in): a channel event that changes
    none of it need not reconcile the subscription. `listed` as for `in_channel`."""
    if channel is None:
        return False
    physical = (subscription.get("status") or {}).get("physicalSubscription") or {}
    own_dead_letter = "deadLetterSink" in destinations(subscription.get("spec") or {})
    if not own_dead_letter and physical.get("deadLetterSinkUri") != inherited_dead_letter(channel):
        return False
    in_table = in_channel(channel, subscription, physical, listed)
    return status_says(
        subscription,
        {
            cond.CHANNEL_READY: TRUE if is_ready(channel) else UNKNOWN,
            cond.ADDED_TO_CHANNEL: TRUE if in_table else UNKNOWN,
        },
    )


def make_status(
    subscription: Mapping[str, Any],
    channel: Mapping[str, Any] | None,
    resolved: Mapping[str, Resolution],
    now: str | None = None,
) -> dict[str, Any]:
    """The desired status, given the channel (None when missing) and each destination's resolution.

    The channel's dead-letter sink stands in when the subscription sets none.
    """
    meta = subscription["metadata"]
    generation = int(meta.get("generation", 1))
    old = subscription.get("status") or {}
    conds = cond.CONDITIONS.manage(old.get("conditions"), generation, now or now_rfc3339())
    physical: dict[str, Any] = dict.fromkeys(_URI_KEYS.values())  # None: removed by the merge patch
    failures = []
    for key, resolution in resolved.items():
        if resolution.ok:
            physical[_URI_KEYS[key]] = resolution.uri
        else:
            failures.append((key, resolution))
    if "deadLetterSink" not in resolved:
        physical["deadLetterSinkUri"] = inherited_dead_letter(channel or {})
    if failures:
        key, first = failures[0]
        conds.mark_false(cond.REFERENCES_RESOLVED, _FAILED_REASONS[key], f"{key}: {first.message}")
    else:
        conds.mark_true(cond.REFERENCES_RESOLVED)

    channel_name = ((subscription.get("spec") or {}).get("channel") or {}).get("name", "")
    if channel is None:
        conds.mark_false(
            cond.CHANNEL_READY,
            "ChannelNotFound",
            f"Channel {meta['namespace']}/{channel_name} does not exist",
        )
        conds.mark_false(
            cond.ADDED_TO_CHANNEL,
            "ChannelNotFound",
            f"Channel {meta['namespace']}/{channel_name} does not exist",
        )
    else:
        if is_ready(channel):
            conds.mark_true(cond.CHANNEL_READY)
        else:
            conds.mark_unknown(cond.CHANNEL_READY, "ChannelNotReady", f"Channel {channel_name} is not ready")
        if in_channel(channel, subscription, physical):
            conds.mark_true(cond.ADDED_TO_CHANNEL)
        else:
            conds.mark_unknown(
                cond.ADDED_TO_CHANNEL,
                "NotAddedYet",
                f"Channel {channel_name} does not list this subscription yet",
            )
    return {
        "observedGeneration": generation,
        "physicalSubscription": physical,
        "conditions": conds.result(),
    }
