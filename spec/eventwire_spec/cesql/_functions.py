"""The built-in CESQL functions (spec section 3.5) with their signatures.

An implementation receives arguments already cast to its parameter types. When it fails it
raises CesqlEvaluationError carrying the value the spec says it returns (e.g. LEFT('abc', -2)
returns 'abc' with a FunctionEvaluationError).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from eventwire_spec.cesql._errors import CesqlEvaluationError, ErrorKind
from eventwire_spec.cesql._parser import INT32_MAX, INT32_MIN
from eventwire_spec.cesql._values import ValueType, explicit_bool, to_int, to_string

# Unicode White_Space (not str.isspace, which also strips the control characters U+001C-U+001F).
_WHITESPACE: Final = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class Function:
    """One overload: `parameters` fixed parameter types, then `variadic` for any further ones."""

    name: str
    parameters: tuple[ValueType | None, ...]  # None: any type, passed through uncast (casts)
    returns: ValueType
    implementation: Callable[..., Any]
    variadic: ValueType | None = None

    def accepts(self, arity: int) -> bool:
        fixed = len(self.parameters)
        return arity >= fixed if self.variadic is not None else arity == fixed

    def parameter_type(self, index: int) -> ValueType | None:
        return self.parameters[index] if index < len(self.parameters) else self.variadic


def _fail(kind: ErrorKind, message: str, value: object) -> CesqlEvaluationError:
    return CesqlEvaluationError(kind, message, value)


def _int_cast(value: Any) -> int:
    result = to_int(value)
    if result is None:
        raise _fail(ErrorKind.CAST, f"cannot cast {value!r} to Integer", 0)
    return result


def _bool_cast(value: Any) -> bool:
    result = explicit_bool(value)
    if result is None:
        raise _fail(ErrorKind.CAST, f"cannot cast {value!r} to Boolean", False)
    return result


def _left(text: str, count: int) -> str:
    if count < 0:
        raise _fail(ErrorKind.FUNCTION_EVALUATION, f"LEFT: negative length {count}", text)
    return text[:count]


def _right(text: str, count: int) -> str:
    if count < 0:
        raise _fail(ErrorKind.FUNCTION_EVALUATION, f"RIGHT: negative length {count}", text)
    return text[len(text) - count :] if count < len(text) else text


def _substring(text: str, position: int, length: int | None = None) -> str:
    if position > len(text) or position < -len(text):
        raise _fail(
            ErrorKind.FUNCTION_EVALUATION,
            f"SUBSTRING: position {position} is outside a string of length {len(text)}",
            "",
        )
    if length is not None and length < 0:
        raise _fail(ErrorKind.FUNCTION_EVALUATION, f"SUBSTRING: negative length {length}", "")
    if position == 0:
        return ""
    start = position - 1 if position > 0 else len(text) + position
    return text[start:] if length is None else text[start : start + length]


def _abs(number: int) -> int:
    if number == INT32_MIN:
        raise _fail(ErrorKind.MATH, "ABS(-2147483648) overflows the 32-bit range", INT32_MAX)
    return abs(number)


BUILTINS: Final[tuple[Function, ...]] = (
    Function("LENGTH", (str,), int, len),
    Function("CONCAT", (), str, lambda *parts: "".join(parts), variadic=str),
    Function("CONCAT_WS", (str,), str, lambda sep, *parts: sep.join(parts), variadic=str),
    Function("LOWER", (str,), str, str.lower),
    Function("UPPER", (str,), str, str.upper),
    Function("TRIM", (str,), str, lambda text: text.strip(_WHITESPACE)),
    Function("LEFT", (str, int), str, _left),
    Function("RIGHT", (str, int), str, _right),
    Function("SUBSTRING", (str, int), str, _substring),
    Function("SUBSTRING", (str, int, int), str, _substring),
    Function("ABS", (int,), int, _abs),
    Function("INT", (None,), int, _int_cast),
    Function("BOOL", (None,), bool, _bool_cast),
    Function("STRING", (None,), str, to_string),
)

_BY_NAME: Final[dict[str, tuple[Function, ...]]] = {}
for _function in BUILTINS:
    _BY_NAME[_function.name] = (*_BY_NAME.get(_function.name, ()), _function)


def resolve(name: str, arity: int) -> Function | None:
    """The overload of `name` (upper case) taking `arity` arguments, or None."""
    for function in _BY_NAME.get(name, ()):
        if function.accepts(arity):
            return function
    return None
