"""How an event is stored in a broker: an HTTP-like header block, a blank line, the body.

    <accepted-at unix seconds>\r\n
    name: value\r\n ...
    :types: name=integer,name=boolean\r\n   (only when extensions arrived typed in structured mode)
    \r\n
    body

Header values come from validated HTTP headers, so they hold no CR or LF; this costs a join on
write and a split on read, far less than JSON or the CloudEvents SDK.
"""

from __future__ import annotations

from eventwire_runtime.cloudevents.http import Event

# Not a valid HTTP header name, so it cannot collide with one.
TYPES_LINE = ":types"


def encode(event: Event, accepted_at: float) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in event.headers)
    if event.types:
        head += f"{TYPES_LINE}: {','.join(f'{k}={v}' for k, v in event.types.items())}\r\n"
    return f"{accepted_at:.6f}\r\n{head}\r\n".encode("latin-1", "replace") + event.body


TYPE_LINE = b"\r\nce-type: "


def _head(data: bytes) -> tuple[int, str, list[tuple[str, str]], dict[str, str]]:
    """(where the body starts, the accepted-at line, headers, typed extensions) of stored data."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError("stored event has no header terminator")
    lines = data[:end].decode("latin-1").split("\r\n")
    headers = []
    types: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(": ")
        if not sep:
            raise ValueError(f"stored event has a malformed header line {line[:60]!r}")
        if name == TYPES_LINE:
            types = dict(item.split("=", 1) for item in value.split(","))
        else:
            headers.append((name, value))
    return end + 4, lines[0], headers, types


def stored_headers(data: bytes) -> list[tuple[str, str]]:
    """The headers of a stored event, without copying its body or building an Event (the
    persistent backends filter Trigger events on them before decoding). Raises ValueError for
    data `encode` did not write."""
    return _head(data)[2]


def stored_type(data: bytes) -> str | None:
    """The event's `type` from its stored form, found with two byte searches; None when it is
    percent-encoded (decode the headers to know it) or absent."""
    start = data.find(TYPE_LINE)
    if start < 0:
        return None
    start += len(TYPE_LINE)
    raw = data[start : data.find(b"\r\n", start)]
    return None if b"%" in raw else raw.decode("latin-1")


def decode(data: bytes) -> tuple[Event, float]:
    """Inverse of `encode`. Raises ValueError for data it did not write."""
    body, accepted_at, headers, types = _head(data)
    return Event(headers, data[body:], types), float(accepted_at)
