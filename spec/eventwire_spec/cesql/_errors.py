"""The CESQL error kinds (spec section 3.3) and the two exceptions that carry them.

CesqlError
├── CesqlParseError        the expression text is not CESQL; raised by parse()
└── CesqlEvaluationError   evaluating against one event failed; carries the spec's return value
"""

from __future__ import annotations

import enum


class ErrorKind(enum.StrEnum):
    """The error types every CESQL engine reports, spelled as the TCK names them."""

    PARSE = "parse"
    MATH = "math"
    CAST = "cast"
    MISSING_ATTRIBUTE = "missingAttribute"
    MISSING_FUNCTION = "missingFunction"
    FUNCTION_EVALUATION = "functionEvaluation"
    GENERIC = "generic"


class CesqlError(Exception):
    """Any CESQL error; `kind` says which of the spec's error types it is."""

    kind: ErrorKind = ErrorKind.GENERIC


class CesqlParseError(CesqlError, ValueError):
    """The expression does not parse; `position` is the 0-based offset of the offending text."""

    kind = ErrorKind.PARSE

    def __init__(self, message: str, expression: str, position: int) -> None:
        self.message = message
        self.expression = expression
        self.position = position
        super().__init__(f"{message} (at column {position + 1})")


class CesqlEvaluationError(CesqlError):
    """An operator or function failed while evaluating against one event.

    Every CESQL operator is total: even on error it has a return value (`value`), which is the
    result of the whole expression when the failing node is the root. `origin` is the syntax node
    that failed; evaluation uses it to tell the root's own value from a zero value.
    """

    def __init__(self, kind: ErrorKind, message: str, value: object, origin: object = None) -> None:
        self.kind = kind
        self.message = message
        self.value = value
        self.origin = origin
        super().__init__(f"{kind}: {message}")
