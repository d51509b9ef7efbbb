"""CloudEvents SQL (CESQL) v1: parse an expression once, evaluate it against many events.

    >>> from eventwire_spec import cesql
    >>> expression = cesql.parse("type LIKE 'com.example.%' AND INT(priority) > 3")
    >>> expression.matches({"type": "com.example.order", "priority": "5"})
    True

Events are mappings of context attributes and extensions by name. `matches` is the filter
verdict (true only for a Boolean true without error); `evaluate` gives the value and the error
as the spec and its TCK define them. Evaluation is fail-fast (spec section 4.1).
"""

from eventwire_spec.cesql._errors import CesqlError, CesqlEvaluationError, CesqlParseError, ErrorKind
from eventwire_spec.cesql._expression import Evaluation, Expression, parse

__all__ = [
    "CesqlError",
    "CesqlEvaluationError",
    "CesqlParseError",
    "ErrorKind",
    "Evaluation",
    "Expression",
    "parse",
]
