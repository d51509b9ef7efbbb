"""Brokers in the dispatcher: their routes, Trigger filters, and hop counting for replies.

A Broker is routed like a Channel whose subscribers are its Triggers (so every backend keeps one
durable consumer or group per Trigger, with the same pause/tombstone rules, routing.py). The
routing contract the controller writes on the Broker (controller/broker/resources.py builds it):

    metadata: {namespace, name}
    spec: {delivery: {...}}                   # the Triggers' default delivery parameters
    status:
      address: {url: http://<dispatcher svc>.<system ns>.svc.<domain>/brokers/<ns>/<broker>}
      triggers:                               # one per live Trigger, ready or not
      - {uid, name, generation, subscriberUri, deadLetterSinkUri, delivery,
         filter: {attributes: {...}}, filters: [...], ready, message}
      deletedTriggers: [{uid, name, deletedAt}]   # tombstones: delete that Trigger's state

The routes file's short form is `brokers: [{namespace, name, delivery, triggers, deletedTriggers}]`.

Each Trigger's filter is compiled once per routing update (eventwire_spec.filters) and applied
before any delivery attempt (fanout.py). A Trigger whose filter does not compile (the controller
refuses those, so only a hand-written routes file gets here) is paused: its durable state is kept
and nothing is delivered until it is fixed.

Hop counting is Knative's (eventing pkg/broker/ttl.go and the broker ingress and filter
handlers): ingress sets the `knativebrokerttl` extension to 255 when absent, else counts one hop
(one less), and refuses with 400 an event left at 0 or less (`admit`). A Trigger's subscriber
never sees the extension (`for_subscriber`); its reply gets the answered event's count back
(`reply_event`, whatever count the reply carried) and is admitted like any event, so the reply
that would reach 0 is refused and the delivery that produced it fails without retry. Unlike
Knative, which replaces a count it cannot read by 255, such a count is refused naming it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from eventwire_runtime.cloudevents.http import Event, add_extensions, percent_decode
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher.backends import codec
from eventwire_runtime.dispatcher.routing import (
    BROKER,
    BROKER_PREFIX,
    ChannelRoute,
    Subscriber,
    object_parts,
    subscriber_entry,
    tombstone_uids,
)
from eventwire_spec import cesql
from eventwire_spec.filters import TriggerFilterError, compile_trigger_filter, required_type

log = logging.getLogger(__name__)

TTL_ATTRIBUTE = "knativebrokerttl"
TTL_HEADER = "ce-" + TTL_ATTRIBUTE
DEFAULT_TTL = 255
DEFAULT_TTL_TEXT = str(DEFAULT_TTL)
_INTEGER = re.compile(r"-?[0-9]{1,11}")


class TriggerStats:
    """One Trigger's counts: plain attributes, bumped on the hot path without locks or tuples."""

    __slots__ = ("filter_errors", "filtered_out", "matched", "outcomes")

    def __init__(self) -> None:
        self.matched = 0
        self.filtered_out = 0
        self.filter_errors = 0
        self.outcomes: dict[str, int] = {}  # delivered, dead_lettered, failed, hop_limit


# Counts by (namespace, broker, trigger). Process-wide so that they survive routing updates (each
# builds new Subscribers); filters are compiled while routes are parsed, before any metrics
# object exists. TriggerCollector exposes them.
STATS: dict[tuple[str, str, str], TriggerStats] = {}


class TriggerCollector(Collector):
    """`eventwire_dispatcher_trigger_events_total` and `..._trigger_filter_errors_total`."""

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "eventwire_dispatcher_trigger_events",
            "Events per Broker Trigger by outcome: matched, filtered_out (no request made), then"
            " delivered, dead_lettered, failed, hop_limit (a reply dropped by the hop limit)",
            labels=["namespace", "broker", "trigger", "outcome"],
        )
        errors = CounterMetricFamily(
            "eventwire_dispatcher_trigger_filter_errors",
            "CESQL evaluation errors in Trigger filters (each counts as no match)",
            labels=["namespace", "broker", "trigger"],
        )
        for key, stats in list(STATS.items()):
            events.add_metric([*key, "matched"], stats.matched)
            events.add_metric([*key, "filtered_out"], stats.filtered_out)
            for outcome, count in list(stats.outcomes.items()):
                events.add_metric([*key, outcome], count)
            errors.add_metric(list(key), stats.filter_errors)
        yield events
        yield errors


def attributes(event: Event) -> dict[str, object]:
    """The event's context attributes and extensions by name (values as strings)."""
    return header_attributes(event.headers)


def header_attributes(headers: list[tuple[str, str]]) -> dict[str, object]:
    """Context attributes and extensions by name from binary-mode headers (values as strings)."""
    out: dict[str, object] = {}
    for name, value in headers:
        if name.startswith("ce-"):
            out[name[3:]] = percent_decode(value) if "%" in value else value
        elif name == "content-type":
            out["datacontenttype"] = value
    return out


def admit(events: list[Event]) -> str | None:
    """Count one hop on each event arriving at a Broker (255 when it has no count yet); the
    problem when one is refused: its count is not a 32-bit integer, or the hop leaves it at 0."""
    for event in events:
        headers = event.headers
        at = next((i for i, pair in enumerate(headers) if pair[0] == TTL_HEADER), None)
        if at is None:
            headers.append((TTL_HEADER, DEFAULT_TTL_TEXT))
            continue
        value = headers[at][1]
        ttl = _count(value)
        if ttl is None:
            return f"extension {TTL_ATTRIBUTE} must be a 32-bit integer, got {value[:40]!r}"
        if ttl <= 1:
            return (
                f"hop limit reached: {TTL_ATTRIBUTE} is {ttl} before this hop"
                " (the event went round a loop of Triggers)"
            )
        headers[at] = (TTL_HEADER, str(ttl - 1))
    return None


def _count(text: str) -> int | None:
    """The hop count in `text`, None unless it is a CloudEvents Integer (32-bit, decimal)."""
    if not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**31) <= value < 2**31 else None


def select(
    triggers: Sequence[Subscriber], event: Event, type_keys: Mapping[str, str | None] | None = None
) -> list[Subscriber]:
    """The Triggers whose filters `event` passes (the in-memory backend's one pass per event).

    `type_keys`: the type each Trigger's filter requires (ChannelRoute.type_keys); a Trigger
    requiring another type is passed over without evaluating its filter.
    """
    attrs = attributes(event)
    event_type = attrs.get("type")
    selected = []
    for trigger in triggers:
        stats = trigger.stats
        wanted = type_keys.get(trigger.uid) if type_keys else None
        if wanted is not None and wanted != event_type:
            if stats is not None:
                stats.filtered_out += 1
        elif trigger.filter is None or trigger.filter(attrs):
            selected.append(trigger)
            if stats is not None:
                stats.matched += 1
        elif stats is not None:
            stats.filtered_out += 1
    return selected


def prefilter(trigger: Subscriber, type_key: str | None, data: bytes) -> bool | None:
    """Whether the stored event `data` (codec.py's form) passes `trigger`'s filter, told from its
    header block alone: the persistent backends ask before decoding, so an event a Trigger does
    not want costs neither a body copy nor an Event. Counted as `select` counts.

    `type_key`: the type the filter requires (ChannelRoute.type_keys). With one, only the type
    is read (a byte search): False when it differs, else None: decode the event and let
    `Fanout.start` apply the rest of the filter. Without one, the whole filter runs on the
    headers: True or False.

    Raises:
        ValueError: for data codec.py did not write.
    """
    stats = trigger.stats
    if type_key is not None:
        seen = codec.stored_type(data)
        if seen is not None and seen != type_key:
            if stats is not None:
                stats.filtered_out += 1
            return False
        return None
    assert trigger.filter is not None
    matched = trigger.filter(header_attributes(codec.stored_headers(data)))
    if stats is not None:
        if matched:
            stats.matched += 1
        else:
            stats.filtered_out += 1
    return matched


def reply_event(answered: Event, reply: Event) -> Event:
    """`reply` carrying `answered`'s hop count, ready to be admitted into the Broker (as Knative's
    filter does, so a subscriber cannot reset the count by setting it in its reply)."""
    ttl = answered.attribute(TTL_ATTRIBUTE)
    # Every event on a Broker's route was admitted, so it has a count; 255 only guards the rest.
    return add_extensions(reply, {TTL_ATTRIBUTE: ttl if ttl is not None else DEFAULT_TTL_TEXT})


def subscriber_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An event's headers as a Trigger's subscriber gets them: without the hop count."""
    return [pair for pair in headers if pair[0] != TTL_HEADER]


def for_subscriber(event: Event) -> Event:
    """`event` as a Trigger's subscriber (and dead-letter sink) gets it: without the hop count."""
    headers = subscriber_headers(event.headers)
    types = event.types
    if TTL_ATTRIBUTE in types:
        types = {k: v for k, v in types.items() if k != TTL_ATTRIBUTE}
    return Event(headers, event.body, types)


def _trigger(entry: Any, where: str, namespace: str, broker: str, delivery: Any) -> Subscriber | str:
    """The Trigger's entry with its compiled filter, or its uid when paused."""
    sub = subscriber_entry(entry, where, delivery)
    if isinstance(sub, str):
        return sub
    stats = STATS.setdefault((namespace, broker, sub.name or sub.uid), TriggerStats())

    def count_error(_error: cesql.CesqlEvaluationError) -> None:
        stats.filter_errors += 1

    spec = {"filter": entry.get("filter"), "filters": entry.get("filters")}
    try:
        predicate = compile_trigger_filter(spec, count_error)
    except TriggerFilterError as exc:
        log.error("%s: invalid filter, Trigger paused until fixed: %s", where, exc)
        return sub.uid
    return Subscriber(sub.uid, sub.subscriber_uri, None, sub.spec, sub.name, predicate, stats)


def broker_from_object(obj: Mapping[str, Any], where: str = "broker") -> ChannelRoute:
    """A Broker's route from a Broker object or a routes-file entry (see the module docstring).

    Raises:
        ConfigError: naming the bad field.
    """
    name, namespace, delivery, holder = object_parts(obj, where)
    entries = holder.get("triggers") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{where}({namespace}/{name}).triggers must be a list")
    triggers: list[Subscriber] = []
    paused: list[str] = []
    type_keys: dict[str, str | None] = {}
    for i, entry in enumerate(entries):
        trigger = _trigger(entry, f"{where}({namespace}/{name}).triggers[{i}]", namespace, name, delivery)
        if isinstance(trigger, str):
            paused.append(trigger)
        else:
            triggers.append(trigger)
        type_keys[trigger if isinstance(trigger, str) else trigger.uid] = required_type(entry)
    live = {t.uid for t in triggers} | set(paused)
    deleted = tombstone_uids(holder.get("deletedTriggers"), f"{where}({namespace}/{name}).deletedTriggers")
    return ChannelRoute(
        namespace,
        BROKER_PREFIX + name,
        tuple(triggers),
        tuple(paused),
        tuple(u for u in deleted if u not in live),
        kind=BROKER,
        type_keys=type_keys,
    )
