"""Build the CloudEvents an adapter emits, in binary content mode.

An adapter describes an event with `SourceEvent` (its attributes and data bytes);
`binary_message` turns that into the (headers, body) pair the sender POSTs, with the
`K_CE_OVERRIDES` extensions applied last so they win over the adapter's own extensions.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventwire_runtime.cloudevents import percent_encode

SPEC_VERSION = "1.0"
# CloudEvents attribute names: lower-case letters and digits, at most 20 recommended, 64 allowed.
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,64}$")
_CORE = frozenset({"id", "source", "specversion", "type", "subject", "time", "dataschema", "datacontenttype"})

Headers = list[tuple[str, str]]


def valid_extension_name(name: str) -> bool:
    """True when `name` may be used as a CloudEvents extension attribute name."""
    return bool(_ATTRIBUTE_NAME.match(name)) and name not in _CORE and name != "data"


def rfc3339(moment: dt.datetime) -> str:
    """`moment` as an RFC 3339 timestamp in UTC with a trailing `Z` (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def new_id() -> str:
    """A random event id (UUID4), for sources with no natural id."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class SourceEvent:
    """One event an adapter wants to send.

    Attributes:
        type: the CloudEvents `type`, e.g. `dev.knative.sources.ping`.
        source: the CloudEvents `source` URI-reference.
        id: unique per source; defaults to a new UUID4.
        data: the body bytes (may be empty).
        datacontenttype: media type of `data`; omitted when None.
        subject: optional `subject`.
        time: optional `time`; defaults to now (UTC).
        dataschema: optional `dataschema`.
        extensions: extension attributes (names per `valid_extension_name`).
    """

    type: str
    source: str
    id: str = field(default_factory=new_id)
    data: bytes = b""
    datacontenttype: str | None = None
    subject: str | None = None
    time: dt.datetime | None = None
    dataschema: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)


def binary_message(event: SourceEvent, overrides: Mapping[str, str] | None = None) -> tuple[Headers, bytes]:
    """Headers and body for `event` in CloudEvents HTTP binary mode.

    Args:
        event: the event to encode.
        overrides: `K_CE_OVERRIDES` extensions, applied after the event's own extensions.
    """
    moment = event.time if event.time is not None else dt.datetime.now(dt.UTC)
    headers: Headers = [
        ("ce-specversion", SPEC_VERSION),
        ("ce-id", percent_encode(event.id)),
        ("ce-source", percent_encode(event.source)),
        ("ce-type", percent_encode(event.type)),
        ("ce-time", rfc3339(moment)),
    ]
    if event.subject is not None:
        headers.append(("ce-subject", percent_encode(event.subject)))
    if event.dataschema is not None:
        headers.append(("ce-dataschema", percent_encode(event.dataschema)))
    extensions = dict(event.extensions)
    if overrides:
        extensions.update(overrides)
    for name, value in extensions.items():
        headers.append(("ce-" + name, percent_encode(value)))
    if event.datacontenttype is not None:
        headers.append(("content-type", event.datacontenttype))
    return headers, event.data
