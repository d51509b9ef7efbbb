"""The viewer's record of events and deliveries, fed by the dispatcher's fan-out hooks.

`EventLog` is the dispatcher's `IngressObserver` and `DeliveryObserver`: each event a Channel or
Broker accepts becomes one record (keyed by channel, id and source; a Broker's records are under
`broker:<namespace>/<name>`) noting how many subscribers it had (none is shown as such), with
one row per subscriber, updated as the delivery starts and ends (delivered, retried,
dead-lettered, failed, reply forwarded). The built-in display service adds events that reach it
straight from a source. Events a source sends straight to a mapped service pass no hook here
and are not seen. Listeners (the viewer's
server-sent-event streams) get every change as a JSON-ready dict. The log keeps the newest
`capacity` records.
"""

from __future__ import annotations

import base64
import collections
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.delivery.sender import DeliveryResult
from eventwire_runtime.dispatcher import broker
from eventwire_runtime.dispatcher.routing import BROKER, ChannelRoute, Subscriber

Listener = Callable[[dict[str, Any]], None]
_JSON_TYPES = ("json",)


def _data(content_type: str, body: bytes) -> tuple[str, Any]:
    """(encoding, data): JSON parsed, text as text, anything else base64."""
    if not body:
        return "none", None
    if any(t in content_type for t in _JSON_TYPES):
        try:
            return "json", json.loads(body)
        except ValueError:
            pass
    try:
        return "text", body.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(body).decode("ascii")


def attributes_of(event: Event) -> dict[str, str]:
    """Every CloudEvent attribute of `event`, decoded (datacontenttype included)."""
    found = {}
    for header, _ in event.headers:
        if header.startswith("ce-"):
            value = event.attribute(header[3:])
            if value is not None:
                found[header[3:]] = value
    content_type = event.attribute("datacontenttype")
    if content_type:
        found["datacontenttype"] = content_type
    return found


def bus_name(channel: ChannelRoute) -> str:
    """How the viewer names a Channel (`namespace/name`) or a Broker (`broker:namespace/name`)."""
    where = f"{channel.namespace}/{channel.title}"
    return f"broker:{where}" if channel.kind == BROKER else where


def _outcome(result: DeliveryResult | None) -> str:
    if result is None:
        return "error"
    if result.delivered:
        return "delivered"
    return "dead-lettered" if result.dead_lettered else "failed"


class EventLog:
    """Recent events with their deliveries; see the module docstring."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self.records: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.listeners: set[Listener] = set()
        self._seq = 0

    # -- records -----------------------------------------------------------------------------

    def _record(self, channel: str, event: Event) -> dict[str, Any]:
        attributes = attributes_of(event)
        record_id = f"{channel}|{attributes.get('source', '')}|{attributes.get('id', '')}"
        record = self.records.get(record_id)
        if record is None:
            self._seq += 1
            encoding, data = _data(attributes.get("datacontenttype", ""), event.body)
            record = {
                "key": record_id,
                "seq": self._seq,
                "at": time.time(),
                "channel": channel,
                "attributes": attributes,
                "encoding": encoding,
                "data": data,
                "deliveries": {},
            }
            self.records[record_id] = record
            while len(self.records) > self.capacity:
                self.records.popitem(last=False)
        return record

    def _publish(self, record: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(record)

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.records.values())

    # -- IngressObserver -------------------------------------------------------------------------

    def event_accepted(self, channel: ChannelRoute, events: list[Event]) -> None:
        """Each event accepted (202) at a Channel or Broker, with its subscriber count then (a
        Broker's: its Triggers, and how many of their filters the event passes)."""
        for event in events:
            record = self._record(bus_name(channel), event)
            accepted: dict[str, Any] = {"subscribers": len(channel.subscribers)}
            if channel.kind == BROKER:
                attrs = broker.attributes(event)
                accepted["matching"] = sum(
                    1 for t in channel.subscribers if t.filter is None or t.filter(attrs)
                )
            record["accepted"] = accepted
            self._publish(record)

    # -- DeliveryObserver ----------------------------------------------------------------------

    def delivery_started(self, channel: ChannelRoute, sub: Subscriber, event: Event) -> None:
        record = self._record(bus_name(channel), event)
        record["deliveries"][sub.uid] = {
            "subscription": sub.name or sub.uid,
            "subscriber": sub.subscriber_uri,
            "outcome": "in flight",
            "attempts": 0,
        }
        self._publish(record)

    def delivery_retrying(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, failed: DeliveryResult
    ) -> None:
        record = self._record(bus_name(channel), event)
        row = record["deliveries"].setdefault(
            sub.uid, {"subscription": sub.name or sub.uid, "subscriber": sub.subscriber_uri}
        )
        row["outcome"] = "retrying"
        row["attempts"] = failed.attempts
        row["error"] = failed.error
        self._publish(record)

    def delivery_finished(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, result: DeliveryResult | None
    ) -> None:
        record = self._record(bus_name(channel), event)
        row = record["deliveries"].setdefault(
            sub.uid, {"subscription": sub.name or sub.uid, "subscriber": sub.subscriber_uri}
        )
        row["outcome"] = _outcome(result)
        row["attempts"] = result.attempts if result is not None else 0
        row.pop("error", None)
        if result is not None and result.error:
            row["error"] = result.error
        if result is not None and result.dead_lettered:
            row["deadLetterSink"] = sub.spec.dead_letter_uri
        self._publish(record)

    def reply_forwarded(
        self, channel: ChannelRoute, sub: Subscriber, event: Event, reply: Event, error: str | None
    ) -> None:
        record = self._record(bus_name(channel), event)
        row = record["deliveries"].setdefault(sub.uid, {"subscription": sub.name or sub.uid})
        row["reply"] = {"to": sub.reply_uri, "type": reply.attribute("type"), "id": reply.attribute("id")}
        if error:
            row["reply"]["error"] = error
        self._publish(record)

    # -- the display service -------------------------------------------------------------------

    def displayed(self, service: str, events: Iterable[Event]) -> list[dict[str, Any]]:
        """Record events the display service for `service` received; those that came through a
        channel are already recorded (their delivery row shows the outcome)."""
        shown = []
        for event in events:
            attributes = attributes_of(event)
            known = any(
                r["attributes"].get("id") == attributes.get("id")
                and r["attributes"].get("source") == attributes.get("source")
                for r in self.records.values()
            )
            if known:
                continue
            record = self._record("", event)
            record["deliveries"]["display:" + service] = {
                "subscription": "(direct from source)",
                "subscriber": service,
                "outcome": "delivered",
                "attempts": 1,
            }
            self._publish(record)
            shown.append(record)
        return shown
