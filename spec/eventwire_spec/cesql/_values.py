"""CESQL values and the casts between them (spec sections 3.1, 3.2 and 3.7).

Values are Python bool, int (32-bit signed) and str. `bool` is a subclass of `int`, so every type
test here uses `type(v) is ...`, never isinstance.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Final

from eventwire_spec.cesql._parser import INT32_MAX, INT32_MIN

Value = bool | int | str
ValueType = type[bool] | type[int] | type[str]

ZERO: Final[Mapping[ValueType | None, Value]] = {bool: False, int: 0, str: "", None: False}
"""The zero value of each type; None stands for a type unknown before evaluation (Boolean)."""

# CloudEvents' required context attributes: EXISTS is always true for them (spec 3.4.4).
REQUIRED_ATTRIBUTES: Final = frozenset({"id", "source", "specversion", "type"})


def attribute_value(raw: object) -> Value:
    """An event attribute as a CESQL value: primitives as they are, anything else as a String."""
    kind = type(raw)
    if kind is str or kind is bool:
        return raw  # type: ignore[return-value]
    if kind is int:
        return raw if INT32_MIN <= raw <= INT32_MAX else str(raw)  # type: ignore[operator,return-value]
    if isinstance(raw, bytes | bytearray):  # CloudEvents Binary is base64 in every format
        return base64.b64encode(raw).decode("ascii")
    return str(raw)


def to_string(value: Value) -> str:
    """Boolean -> "true"/"false", Integer -> base 10; never fails."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


def to_int(value: Value) -> int | None:
    """The Integer value, or None when the cast fails (not a 32-bit base-10 integer)."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is bool:
        return 1 if value else 0
    text: str = value  # type: ignore[assignment]
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (
        digits.isascii() and digits.isdigit()
    ):  # int() would also take " 1", "1_0" and Arabic-Indic digits
        return None
    number = int(text)
    return number if INT32_MIN <= number <= INT32_MAX else None


def to_bool(value: Value) -> bool | None:
    """The Boolean value for an implicit cast, or None when it fails.

    Strings cast case-insensitively from "true"/"false". An Integer does not cast implicitly: the
    v1.0.0 TCK (not_operator.yaml, "Invalid int cast": NOT 10) expects a CastError, while the
    explicit BOOL() function converts integers (see explicit_bool).
    """
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[return-value]
    if kind is str:
        lowered = value.lower()  # type: ignore[union-attr]
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def explicit_bool(value: Value) -> bool | None:
    """BOOL(x): as to_bool, and Integer -> Boolean (0 is false, anything else true)."""
    if type(value) is int:
        return value != 0
    return to_bool(value)


def cast_to(target: ValueType, value: Value) -> Value | None:
    """An implicit cast of `value` to `target`; None when it fails."""
    if target is str:
        return to_string(value)
    if target is int:
        return to_int(value)
    return to_bool(value)


def wrap_int32(number: int) -> int:
    """`number` in two's-complement 32-bit arithmetic (the value returned with a MathError)."""
    return (number - INT32_MIN) % 2**32 + INT32_MIN


def fits_int32(number: int) -> bool:
    return INT32_MIN <= number <= INT32_MAX


def type_name(kind: ValueType | None) -> str:
    return {bool: "Boolean", int: "Integer", str: "String"}.get(kind, "Any")  # type: ignore[arg-type]
