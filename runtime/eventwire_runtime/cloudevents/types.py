"""The CloudEvents type system (spec "Type System") for context attribute values, versions 0.3 and 1.0.

Why hand-written: the runtime's dependencies only parse ISO 8601 (dateutil, iso8601), which
accepts forms RFC 3339 forbids (no offset, basic format, week dates), and no maintained library
in the image checks RFC 3986 URI-references; each check here is one precompiled regex, cheap
enough for the ingress hot path.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from eventwire_runtime.delivery.errors import EventFormatError

SPEC_VERSIONS = ("1.0", "0.3")
REQUIRED = ("id", "source", "specversion", "type")
INT32 = (-(2**31), 2**31 - 1)
# Attribute names: lower-case ASCII letters and digits; 20 characters are recommended, 64 allowed.
ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,64}")

# String: no C0/C1 control characters, no surrogates, no noncharacters U+FDD0-U+FDEF/U+FFFE/U+FFFF.
# CR and LF are among them, so no attribute can carry a header line break.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
# RFC 3339 date-time with the field ranges in the pattern; only days 29-31 need the calendar.
_TIMESTAMP = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt](?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)"
    r"(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
# RFC 3986 characters; '%' must start a pct-encoded triplet, and '#' appear at most once.
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?@!$&'()*+,;=\[\]%#]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Last day of each month but February, as the digits a timestamp carries.
_LAST_DAY = {f"{m:02}": "30" if m in (4, 6, 9, 11) else "31" for m in range(1, 13)}


def check_string(attr: str, value: str) -> None:
    """Raise EventFormatError when `value` holds characters the String type forbids."""
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise EventFormatError(
            f"attribute {attr!r} contains the forbidden character U+{ord(bad.group()):04X} "
            "(control characters, e.g. CR or LF, are not allowed)"
        )


def _escape(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def escape_forbidden(value: str) -> str:
    """`value` with each character the String type forbids written as its percent-encoded UTF-8
    bytes (`a\nb` -> `a%0Ab`), for a producer that must send what it was given rather than refuse it."""
    if _FORBIDDEN.search(value) is None:
        return value
    return _FORBIDDEN.sub(_escape, value)


# Characters a URI-reference cannot hold as they are: outside RFC 3986's set, or a '%' that does
# not start a pct-encoded triplet.
_NOT_URI = re.compile(r"[^A-Za-z0-9\-._~:/?@!$&'()*+,;=\[\]%#]|%(?![0-9A-Fa-f]{2})")


def escape_uri_reference(value: str) -> str:
    """`value` with what a URI-reference cannot hold percent-encoded (a '#' after the first too)."""
    fragment = value.find("#")
    if fragment >= 0 and value.count("#") > 1:
        value = value[: fragment + 1] + value[fragment + 1 :].replace("#", "%23")
    return _NOT_URI.sub(_escape, value)


def check_timestamp(attr: str, value: str) -> None:
    ok = _TIMESTAMP.fullmatch(value) is not None
    if ok and value[8:10] > "28":
        if value[5:7] == "02":
            year = int(value[:4])
            ok = value[8:10] == "29" and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        else:
            ok = value[8:10] <= _LAST_DAY[value[5:7]]
    if not ok:
        raise EventFormatError(
            f"attribute {attr!r} must be an RFC 3339 timestamp (e.g. 2024-01-31T12:00:00Z), got {value[:80]!r}"
        )


def _uri_characters_ok(value: str) -> bool:
    if _URI_CHARACTERS.fullmatch(value) is None:
        return False
    if "%" in value and _BAD_PERCENT.search(value) is not None:
        return False
    return value.count("#") <= 1


# Sources already checked: a channel sees the same few producers' sources again and again.
# Bounded so odd input cannot grow it.
_VALID_REFERENCES: set[str] = set()
_VALID_REFERENCES_MAX = 4096


def check_uri_reference(attr: str, value: str) -> None:
    if value in _VALID_REFERENCES:
        return
    if not value or not _uri_characters_ok(value) or not _scheme_ok(value):
        raise EventFormatError(f"attribute {attr!r} must be a non-empty URI-reference, got {value[:80]!r}")
    if len(_VALID_REFERENCES) < _VALID_REFERENCES_MAX:
        _VALID_REFERENCES.add(value)


def check_uri(attr: str, value: str) -> None:
    if _SCHEME.match(value) is None or not _uri_characters_ok(value):
        raise EventFormatError(f"attribute {attr!r} must be an absolute URI, got {value[:80]!r}")


def check_non_empty(attr: str, value: str) -> None:
    if not value:
        raise EventFormatError(f"attribute {attr!r} must be a non-empty string")


def _scheme_ok(value: str) -> bool:
    """A ':' before the first '/', '?' or '#' makes the prefix a scheme, which must be valid."""
    colon = value.find(":")
    if colon < 0:
        return True
    for stop in "/?#":
        at = value.find(stop)
        if 0 <= at < colon:
            return True
    return _SCHEME.match(value) is not None


def check_integer(attr: str, value: int) -> None:
    if not INT32[0] <= value <= INT32[1]:
        raise EventFormatError(
            f"attribute {attr!r} is outside the Integer range (32-bit signed), got {value}"
        )


Check = Callable[[str, str], None]

# Context attributes with a type stricter than String (after the String check), per version.
_V1: dict[str, Check] = {
    "id": check_non_empty,
    "type": check_non_empty,
    "source": check_uri_reference,
    "subject": check_non_empty,
    "time": check_timestamp,
    "dataschema": check_uri,
}
_V03: dict[str, Check] = {
    "id": check_non_empty,
    "type": check_non_empty,
    "source": check_uri_reference,
    "subject": check_non_empty,
    "time": check_timestamp,
    "schemaurl": check_uri_reference,
    "datacontentencoding": check_non_empty,
}
CHECKS = {"1.0": _V1, "0.3": _V03}
# Context attributes that are Strings in JSON (extensions may also be Integer or Boolean).
STRING_ATTRIBUTES = frozenset({*_V1, *_V03, "specversion", "datacontenttype"})


def check_specversion(value: object) -> str:
    if value not in SPEC_VERSIONS:
        raise EventFormatError(f"unsupported specversion {str(value)[:20]!r} (expected '1.0' or '0.3')")
    return str(value)
