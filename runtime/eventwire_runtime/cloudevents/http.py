"""Parse and emit CloudEvents (0.3 and 1.0) in the HTTP binding's binary, structured and batch modes.

An `Event` is held in binary-mode wire form: the `ce-*` headers with their values in the
binding's canonical percent-encoding, `content-type`, W3C `traceparent`/`tracestate`, and the
body bytes. Values that arrive already canonical (nearly all) are kept as they are, so forwarding
in binary mode sends those attributes byte for byte; others (RFC 7230 quoted-strings, unencoded
spaces or quotes) are decoded, validated and re-encoded once on ingress.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.cloudevents.encoding import percent_encode as percent_encode  # part of this API
from eventwire_runtime.cloudevents.types import (
    ATTRIBUTE_NAME,
    CHECKS,
    REQUIRED,
    STRING_ATTRIBUTES,
    check_integer,
    check_specversion,
    check_string,
)
from eventwire_runtime.delivery.errors import EventFormatError

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
# Headers besides ce-* that travel with the event.
PASSED_HEADERS = frozenset({"content-type", "traceparent", "tracestate"})
_JSON_TYPE = re.compile(r"^(application|text)/([a-z0-9.+-]*\+)?json(\s*;.*)?$", re.IGNORECASE)
# Non-JSON media types whose data is text, sent as a JSON string (not data_base64) when UTF-8.
_TEXT_TYPE = re.compile(r"^(text/|[a-z0-9.+-]+/([a-z0-9.+-]*\+)?xml\b|[^;]*;.*\bcharset=)", re.IGNORECASE)
REQUIRED_SET = frozenset(REQUIRED)
_INTEGER = "integer"
_BOOLEAN = "boolean"


@dataclass(slots=True)
class Event:
    """One CloudEvent in binary-mode wire form.

    Attributes:
        headers: (lower-case name, wire value) pairs: `ce-*`, `content-type`, `traceparent`,
            `tracestate`.
        body: the data, exactly as received.
        types: extension attributes that arrived as JSON Integer or Boolean in structured mode
            (name -> "integer" | "boolean"), so structured delivery gives them back typed.
    """

    headers: list[tuple[str, str]]
    body: bytes
    types: dict[str, str] = field(default_factory=dict)

    def attribute(self, name: str) -> str | None:
        """The decoded value of attribute `name` (e.g. "id"), or None."""
        key = "content-type" if name == "datacontenttype" else "ce-" + name
        for header, value in self.headers:
            if header == key:
                return value if name == "datacontenttype" else percent_decode(value)
        return None


def percent_decode(value: str) -> str:
    """Decode a percent-encoded header value.

    Raises:
        EventFormatError: for a '%' not followed by two hex digits, or bytes that are not UTF-8
            (overlong forms included).
    """
    if "%" not in value:
        return _utf8(value.encode("latin-1", "replace"), value)
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
    return _utf8(bytes(out), value)


def _utf8(raw: bytes, value: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EventFormatError(f"header value is not UTF-8 once decoded: {value[:80]!r}") from None


def unquote_header(value: str) -> str:
    """Undo an RFC 7230 quoted-string (`"..."` with backslash escapes); other values unchanged.

    The HTTP binding (3.1.3.2) has receivers do this before percent-decoding.
    """
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    inner = value[1:-1]
    if "\\" not in inner:
        return inner
    out = []
    escaped = False
    for char in inner:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def decode_header_value(value: str) -> str:
    """The attribute value a `ce-*` header carries: quoted-string undone, then percent-decoded."""
    return percent_decode(unquote_header(value))


# Attribute names already validated: the same few names come with every event, and the regex
# match per header was a visible part of ingress's cost. Bounded so odd input cannot grow it.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 4096


def _valid_attribute(attr: str) -> bool:
    if attr in _VALID_NAMES:
        return True
    if not ATTRIBUTE_NAME.fullmatch(attr):
        return False
    if len(_VALID_NAMES) < _VALID_NAMES_MAX:
        _VALID_NAMES.add(attr)
    return True


def _check_binary(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Validate binary-mode headers; returns them with every `ce-*` value in canonical form."""
    decoded: dict[str, str] = {}
    out = headers
    for index, (name, value) in enumerate(headers):
        if not name.startswith("ce-"):
            if name == "content-type" and not value.isprintable():
                check_string("datacontenttype", value)
            continue
        attr = name[3:]
        if attr in decoded:
            raise EventFormatError(f"header {name!r} appears more than once")
        if attr not in _VALID_NAMES and not _valid_attribute(attr):
            raise EventFormatError(f"invalid CloudEvents attribute name in header {name!r}")
        # encoding.canonical(value), inlined: this loop runs for every header of every event
        if (
            value.isascii()
            and value.isprintable()
            and " " not in value
            and '"' not in value
            and "%" not in value
        ):
            decoded[attr] = value  # nothing to decode or re-encode
            continue
        text = decoded[attr] = decode_header_value(value)
        check_string(attr, text)
        canonical = percent_encode(text)
        if canonical != value:
            if out is headers:
                out = list(headers)
            out[index] = (name, canonical)
    if "datacontenttype" in decoded:
        raise EventFormatError(
            "header 'ce-datacontenttype' is not allowed in binary mode: the data content type is Content-Type"
        )
    _check_attributes(decoded)
    return out


def _check_attributes(values: Mapping[str, str]) -> None:
    """The required attributes are present, and typed ones hold values of their type."""
    if not values.keys() >= REQUIRED_SET:
        missing = [a for a in REQUIRED if a not in values]
        raise EventFormatError(f"missing required attribute(s): {', '.join(missing)}")
    checks = CHECKS.get(values["specversion"])
    if checks is None:
        check_specversion(values["specversion"])  # raises, naming the versions we take
        return
    for attr, value in values.items():
        check = checks.get(attr)
        if check is not None:
            check(attr, value)


def _from_structured(obj: Any) -> Event:
    if not isinstance(obj, dict):
        raise EventFormatError("a structured-mode event must be a JSON object")
    headers: list[tuple[str, str]] = []
    types: dict[str, str] = {}
    strings: dict[str, str] = {}
    for attr, value in obj.items():
        if attr in ("data", "data_base64"):
            continue
        if not ATTRIBUTE_NAME.fullmatch(attr):
            raise EventFormatError(f"invalid CloudEvents attribute name {attr[:80]!r}")
        if value is None:
            continue
        if isinstance(value, str):
            check_string(attr, value)
            strings[attr] = text = value
        elif attr in STRING_ATTRIBUTES:
            raise EventFormatError(f"attribute {attr!r} must be a string")
        elif isinstance(value, bool):
            text = "true" if value else "false"
            types[attr] = _BOOLEAN
        elif isinstance(value, int):
            check_integer(attr, value)
            text = str(value)
            types[attr] = _INTEGER
        else:
            raise EventFormatError(f"attribute {attr!r} must be a string, integer or boolean")
        if attr not in ("datacontenttype", "datacontentencoding"):
            headers.append(("ce-" + attr, percent_encode(text)))
    _check_attributes(strings)
    content_type = strings.get("datacontenttype")
    body = _structured_data(obj, strings, content_type)
    if content_type is not None:
        headers.append(("content-type", content_type))
    return Event(headers, body, types)


def _structured_data(obj: dict[str, Any], strings: Mapping[str, str], content_type: str | None) -> bytes:
    """The data of a structured event as the body bytes binary mode carries."""
    if "data_base64" in obj and "data" in obj:
        raise EventFormatError("an event cannot have both 'data' and 'data_base64'")
    encoding = strings.get("datacontentencoding")
    if "data_base64" in obj or encoding is not None:
        if encoding is not None and encoding.lower() != "base64":
            raise EventFormatError(f"unsupported datacontentencoding {encoding[:20]!r} (only 'base64')")
        encoded = obj.get("data_base64" if encoding is None else "data")
        if encoded is None:
            return b""
        if not isinstance(encoded, str):
            raise EventFormatError("base64 data must be a string")
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise EventFormatError("base64 data is not valid base64") from None
    if "data" not in obj or obj["data"] is None:
        return b""
    data = obj["data"]
    try:
        if isinstance(data, str) and content_type is not None and not _JSON_TYPE.match(content_type):
            return data.encode("utf-8")
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise EventFormatError(
            "'data' holds a lone surrogate (\\uD800-\\uDFFF), which is not Unicode"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


# Standard JSON only: no NaN/Infinity, no numbers that overflow to infinity. Integers over
# Python's 4300-digit limit raise ValueError in the decoder, turned into a 400 below.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)


def _load_json(body: bytes) -> Any:
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EventFormatError(f"body is not valid JSON: {str(exc)[:200]}") from None


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
    return [Event(_check_binary(kept), body)]


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
    return Event(_check_binary(pairs), body)


def add_extensions(event: Event, extensions: Mapping[str, str]) -> Event:
    """A copy of `event` with extension attributes set (replacing any with the same name)."""
    names = {"ce-" + k for k in extensions}
    headers = [(n, v) for n, v in event.headers if n not in names]
    headers.extend(("ce-" + k, percent_encode(v)) for k, v in extensions.items())
    types = {k: t for k, t in event.types.items() if k not in extensions}
    return Event(headers, event.body, types)


def _typed(event: Event, attr: str, text: str) -> Any:
    kind = event.types.get(attr)
    if kind == _INTEGER:
        return int(text)
    if kind == _BOOLEAN:
        return text == "true"
    return text


def to_structured(event: Event) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body for sending `event` in structured mode, in the version it arrived in.

    `traceparent`/`tracestate` stay HTTP headers; extensions that arrived typed get their JSON
    type back; the data goes in `data` when the content type is JSON and the body parses, as a
    string for text, and otherwise base64 (`data_base64` in 1.0, `datacontentencoding` in 0.3).
    """
    obj: dict[str, Any] = {}
    extra: list[tuple[str, str]] = []
    content_type: str | None = None
    for name, value in event.headers:
        if name.startswith("ce-"):
            attr = name[3:]
            obj[attr] = _typed(event, attr, percent_decode(value)) if event.types else percent_decode(value)
        elif name == "content-type":
            content_type = value
        else:
            extra.append((name, value))
    if content_type is not None:
        obj["datacontenttype"] = content_type
    if event.body:
        if content_type is None or _JSON_TYPE.match(content_type):
            try:
                obj["data"] = _DECODER.decode(event.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                _put_base64(obj, event.body)
        elif _TEXT_TYPE.match(content_type):
            try:
                obj["data"] = event.body.decode("utf-8")
            except UnicodeDecodeError:
                _put_base64(obj, event.body)
        else:
            _put_base64(obj, event.body)
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return [("content-type", STRUCTURED_CONTENT_TYPE + "; charset=utf-8"), *extra], body


def _put_base64(obj: dict[str, Any], body: bytes) -> None:
    encoded = base64.b64encode(body).decode("ascii")
    if obj.get("specversion") == "0.3":
        obj["datacontentencoding"] = "base64"
        obj["data"] = encoded
    else:
        obj["data_base64"] = encoded
