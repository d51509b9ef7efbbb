"""Build the CloudEvents an adapter emits, in binary content mode.

An adapter describes an event with `SourceEvent` (its attributes and data bytes);
`binary_message` turns that into the (headers, body) pair the sender POSTs, with the
`K_CE_OVERRIDES` extensions applied last so they win over the adapter's own extensions.

Values often come from outside (a GitHub payload, a Kubernetes object, an SQS message), and an
adapter must never send an event the dispatcher's ingress refuses, so per attribute:

- `id`, `type`, `subject` and extension values: characters the String type forbids (control
  characters such as CR/LF, surrogates, noncharacters) are written as their percent-encoded
  UTF-8 bytes (`a\nb` becomes `a%0Ab`): the event still arrives, ids stay distinct. An empty
  `subject` is left out (the attribute is optional, and empty is invalid).
- `source` and `dataschema`: what a URI cannot hold is percent-encoded.
- `datacontenttype`: left out unless printable ASCII (media types are; other bytes do not survive
  HTTP headers), and when it is a CloudEvents envelope type (`application/cloudevents+json`):
  as binary mode's Content-Type that would make receivers read the data as a structured event.
- `K_CE_OVERRIDES` values with forbidden characters are a configuration error (`env`).

The result is then checked by the ingress's own parser (`events_from_request`), so the rules are
the same definition on both sides; what still fails (an empty `id` or `type`, a `source` that is
no URI-reference) raises EventFormatError.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventwire_runtime.cloudevents import (
    BATCH_CONTENT_TYPE,
    STRUCTURED_CONTENT_TYPE,
    events_from_request,
    percent_encode,
)
from eventwire_runtime.cloudevents.types import (
    ATTRIBUTE_NAME,
    escape_forbidden,
    escape_uri_reference,
)

SPEC_VERSION = "1.0"
_ENVELOPES = frozenset({STRUCTURED_CONTENT_TYPE, BATCH_CONTENT_TYPE})
_CORE = frozenset({"id", "source", "specversion", "type", "subject", "time", "dataschema", "datacontenttype"})

Headers = list[tuple[str, str]]


def valid_extension_name(name: str) -> bool:
    """True when `name` may be used as a CloudEvents extension attribute name."""
    return ATTRIBUTE_NAME.fullmatch(name) is not None and name not in _CORE and name != "data"


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
    """Headers and body for `event` in CloudEvents HTTP binary mode, made valid (module docstring).

    Args:
        event: the event to encode.
        overrides: `K_CE_OVERRIDES` extensions, applied after the event's own extensions.

    Raises:
        EventFormatError: when the event cannot be made valid (e.g. an empty `id`).
    """
    moment = event.time if event.time is not None else dt.datetime.now(dt.UTC)
    headers: Headers = [
        ("ce-specversion", SPEC_VERSION),
        ("ce-id", percent_encode(escape_forbidden(event.id))),
        ("ce-source", percent_encode(escape_uri_reference(event.source))),
        ("ce-type", percent_encode(escape_forbidden(event.type))),
        ("ce-time", rfc3339(moment)),
    ]
    if event.subject:
        headers.append(("ce-subject", percent_encode(escape_forbidden(event.subject))))
    if event.dataschema is not None:
        headers.append(("ce-dataschema", percent_encode(escape_uri_reference(event.dataschema))))
    extensions = dict(event.extensions)
    if overrides:
        extensions.update(overrides)
    for name, value in extensions.items():
        headers.append(("ce-" + name, percent_encode(escape_forbidden(value))))
    if event.datacontenttype is not None and _binary_content_type(event.datacontenttype):
        headers.append(("content-type", event.datacontenttype))
    events_from_request(headers, event.data)  # raises what the dispatcher would answer 400 for
    return headers, event.data


def _binary_content_type(value: str) -> bool:
    """True when `value` can be binary mode's Content-Type (see the module docstring)."""
    media = value.split(";", 1)[0].strip().lower()
    return value.isascii() and value.isprintable() and media not in _ENVELOPES
