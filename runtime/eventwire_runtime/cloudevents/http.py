"""Parse and emit CloudEvents in the HTTP binding's binary, structured and batch modes.

An `Event` is held in binary-mode wire form: the `ce-*` headers with their values still
percent-encoded exactly as received, `content-type`, W3C `traceparent`/`tracestate`, and the
body bytes. Forwarding in binary mode therefore sends the attributes unchanged, byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eventwire_runtime.delivery.errors import EventFormatError

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
REQUIRED = ("id", "source", "specversion", "type")
SPEC_VERSION = "1.0"
# Headers besides ce-* that travel with the event.
PASSED_HEADERS = frozenset({"content-type", "traceparent", "tracestate"})
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,64}$")
_JSON_TYPE = re.compile(r"^(application|text)/([a-z0-9.+-]*\+)?json(\s*;.*)?$", re.IGNORECASE)
# Characters the HTTP binding says must be percent-encoded in header values: space, '"', '%',
# and everything outside printable ASCII.
_SAFE = frozenset(range(0x21, 0x7F)) - {0x22, 0x25}


@dataclass(slots=True)
class Event:
    """One CloudEvent in binary-mode wire form.

    Attributes:
        headers: (lower-case name, wire value) pairs: `ce-*`, `content-type`, `traceparent`,
            `tracestate`.
        body: the data, exactly as received.
    """

    headers: list[tuple[str, str]]
    body: bytes

    def attribute(self, name: str) -> str | None:
        """The decoded value of attribute `name` (e.g. "id"), or None."""
        key = "content-type" if name == "datacontenttype" else "ce-" + name
        for header, value in self.headers:
            if header == key:
                return value if name == "datacontenttype" else percent_decode(value)
        return None


def percent_encode(value: str) -> str:
    """Percent-encode a header value per the CloudEvents HTTP binding (UTF-8 bytes)."""
    if all(0x21 <= ord(c) < 0x7F and c not in '"%' for c in value):
        return value
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in value.encode("utf-8"))


def percent_decode(value: str) -> str:
    """Decode a percent-encoded header value.

    Raises:
        EventFormatError: for a '%' not followed by two hex digits, or bytes that are not UTF-8.
    """
    if "%" not in value:
        return value
    out = bytearray()
    raw = value.encode("latin-1", "replace")
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25:
            pair = raw[i + 1 : i + 3]
            try:
                if len(pair) != 2 or not all(chr(c) in "0123456789abcdefABCDEF" for c in pair):
                    raise ValueError
                out.append(int(pair, 16))
            except ValueError:
                raise EventFormatError(f"broken percent-encoding in {value[:80]!r}") from None
            i += 3
        else:
            out.append(b)
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise EventFormatError(f"percent-encoded value is not UTF-8: {value[:80]!r}") from None


# Attribute names already validated: the same few names come with every event, and the regex
# match per header was a visible part of ingress's cost. Bounded so odd input cannot grow it.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 4096


def _valid_attribute(attr: str) -> bool:
    if attr in _VALID_NAMES:
        return True
    if not _ATTRIBUTE_NAME.match(attr):
        return False
    if len(_VALID_NAMES) < _VALID_NAMES_MAX:
        _VALID_NAMES.add(attr)
    return True


def _check_binary(headers: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    values: dict[str, str] = {}
    for name, value in headers:
        if not name.startswith("ce-"):
            continue
        attr = name[3:]
        if not _valid_attribute(attr):
            raise EventFormatError(f"invalid CloudEvents attribute name in header {name!r}")
        if attr in seen:
            raise EventFormatError(f"header {name!r} appears more than once")
        seen.add(attr)
        if "%" in value:
            value = percent_decode(value)  # validates the encoding of every attribute
        if attr in REQUIRED:
            values[attr] = value
    _check_required(values)


def _check_required(values: Mapping[str, Any]) -> None:
    missing = [a for a in REQUIRED if a not in values]
    if missing:
        raise EventFormatError(f"missing required attribute(s): {', '.join(missing)}")
    if values["specversion"] != SPEC_VERSION:
        raise EventFormatError(f"unsupported specversion {values['specversion']!r} (expected '1.0')")
    for attr in ("id", "source", "type"):
        if not isinstance(values[attr], str) or not values[attr]:
            raise EventFormatError(f"attribute {attr!r} must be a non-empty string")


def _from_structured(obj: Any) -> Event:
    if not isinstance(obj, dict):
        raise EventFormatError("a structured-mode event must be a JSON object")
    _check_required(obj)
    headers: list[tuple[str, str]] = []
    body = b""
    content_type = obj.get("datacontenttype")
    if content_type is not None and not isinstance(content_type, str):
        raise EventFormatError("attribute 'datacontenttype' must be a string")
    for attr, value in obj.items():
        if attr in ("data", "data_base64", "datacontenttype"):
            continue
        if not isinstance(attr, str) or not _ATTRIBUTE_NAME.match(attr):
            raise EventFormatError(f"invalid CloudEvents attribute name {attr!r}")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int)):
            text = str(value)
        elif value is None:
            continue
        else:
            raise EventFormatError(f"attribute {attr!r} must be a string, integer or boolean")
        headers.append(("ce-" + attr, percent_encode(text)))
    if "data_base64" in obj and "data" in obj:
        raise EventFormatError("an event cannot have both 'data' and 'data_base64'")
    if "data_base64" in obj:
        encoded = obj["data_base64"]
        if not isinstance(encoded, str):
            raise EventFormatError("'data_base64' must be a base64 string")
        try:
            body = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise EventFormatError("'data_base64' is not valid base64") from None
    elif "data" in obj:
        data = obj["data"]
        if isinstance(data, str) and content_type is not None and not _JSON_TYPE.match(content_type):
            body = data.encode("utf-8")
        else:
            body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            if content_type is None:
                content_type = "application/json"
    if content_type is not None:
        headers.append(("content-type", content_type))
    return Event(headers, body)


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EventFormatError(f"body is not valid JSON: {exc}") from None


def events_from_request(headers: Iterable[tuple[str, str]], body: bytes) -> list[Event]:
    """The events in one ingress request, in binary wire form.

    Args:
        headers: (lower-case name, value) pairs as received.
        body: the request body.

    Raises:
        EventFormatError: naming the missing attribute, bad specversion, broken percent-encoding,
            malformed JSON or invalid attribute.
    """
    kept = []
    content_type = ""
    for header in headers:
        name = header[0]
        if name.startswith("ce-"):
            kept.append(header)
        elif name in PASSED_HEADERS:
            kept.append(header)
            if name == "content-type" and not content_type:
                content_type = header[1]
    media = content_type.split(";", 1)[0].strip().lower()
    if media == STRUCTURED_CONTENT_TYPE:
        event = _from_structured(_load_json(body))
        _add_trace(event, kept)
        return [event]
    if media == BATCH_CONTENT_TYPE:
        items = _load_json(body)
        if not isinstance(items, list):
            raise EventFormatError("a batch must be a JSON array of events")
        events = []
        for index, item in enumerate(items):
            try:
                event = _from_structured(item)
            except EventFormatError as exc:
                raise EventFormatError(f"batch event {index}: {exc}") from None
            _add_trace(event, kept)
            events.append(event)
        return events
    _check_binary(kept)
    return [Event(kept, body)]


def _add_trace(event: Event, headers: list[tuple[str, str]]) -> None:
    present = {n for n, _ in event.headers}
    for name, value in headers:
        if name in ("traceparent", "tracestate") and name not in present:
            event.headers.append((name, value))


def event_from_response(headers: Mapping[str, str], body: bytes) -> Event | None:
    """The reply event in a subscriber's response, or None when the response carries none.

    Raises:
        EventFormatError: when the response claims to be a CloudEvent but is invalid.
    """
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == STRUCTURED_CONTENT_TYPE:
        return _from_structured(_load_json(body))
    if "ce-specversion" not in headers and "ce-id" not in headers:
        return None
    pairs = [(n, v) for n, v in headers.items() if n.startswith("ce-") or n in PASSED_HEADERS]
    _check_binary(pairs)
    return Event(pairs, body)


def add_extensions(event: Event, extensions: Mapping[str, str]) -> Event:
    """A copy of `event` with extension attributes set (replacing any with the same name)."""
    names = {"ce-" + k for k in extensions}
    headers = [(n, v) for n, v in event.headers if n not in names]
    headers.extend(("ce-" + k, percent_encode(v)) for k, v in extensions.items())
    return Event(headers, event.body)


def to_structured(event: Event) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body for sending `event` in structured mode.

    `traceparent`/`tracestate` stay HTTP headers; the data goes in `data` when the content type
    is JSON and the body parses, as a string for other text, and in `data_base64` otherwise.
    """
    obj: dict[str, Any] = {}
    extra: list[tuple[str, str]] = []
    content_type: str | None = None
    for name, value in event.headers:
        if name.startswith("ce-"):
            obj[name[3:]] = percent_decode(value)
        elif name == "content-type":
            content_type = value
        else:
            extra.append((name, value))
    if content_type is not None:
        obj["datacontenttype"] = content_type
    if event.body:
        if content_type is None or _JSON_TYPE.match(content_type):
            try:
                obj["data"] = json.loads(event.body)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                obj["data_base64"] = base64.b64encode(event.body).decode("ascii")
        elif content_type.lower().startswith("text/"):
            try:
                obj["data"] = event.body.decode("utf-8")
            except UnicodeDecodeError:
                obj["data_base64"] = base64.b64encode(event.body).decode("ascii")
        else:
            obj["data_base64"] = base64.b64encode(event.body).decode("ascii")
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return [("content-type", STRUCTURED_CONTENT_TYPE + "; charset=utf-8"), *extra], body
