"""A compiled CESQL expression: parse once, evaluate against many events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eventwire_spec.cesql._compiler import compile_node
from eventwire_spec.cesql._errors import CesqlEvaluationError, CesqlParseError
from eventwire_spec.cesql._parser import parse_syntax
from eventwire_spec.cesql._syntax import Binary, Identifier, Literal, Node
from eventwire_spec.cesql._values import ZERO, Value


@dataclass(frozen=True)
class Evaluation:
    """The result of evaluating against one event: the value, and the error if one occurred."""

    value: Value
    error: CesqlEvaluationError | None = None


class Expression:
    """A parsed and compiled CESQL expression.

    Build one with `parse(text)`; evaluation neither mutates the event nor keeps state, so one
    Expression may serve any number of events and threads.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._root, ambiguities = parse_syntax(text)
        self.ambiguities: tuple[str, ...] = tuple(ambiguities)
        """Valid CESQL that other engines evaluate differently (AND and OR mixed without parentheses)."""
        missing: list[str] = []
        self._evaluate, self._type = compile_node(self._root, missing)
        self.missing_functions: tuple[str, ...] = tuple(dict.fromkeys(missing))
        """Functions (NAME/arity) called but not built in: each call evaluates to a MissingFunctionError."""

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, event: Mapping[str, object]) -> Evaluation:
        """Evaluate against `event` (context attributes and extensions by name), fail-fast.

        On error the value is the one the spec defines: the failing operator's own value when it
        is the whole expression (ABS(-2147483648) is 2147483647), otherwise the zero value of the
        expression's type (false, 0 or "").
        """
        try:
            return Evaluation(self._evaluate(event))
        except CesqlEvaluationError as error:
            value = error.value if error.origin is self._root else ZERO[self._type]
            return Evaluation(value, error)  # type: ignore[arg-type]

    def matches(self, event: Mapping[str, object]) -> bool:
        """The filter verdict: true only for a Boolean true without error (spec 1.2)."""
        try:
            return self._evaluate(event) is True
        except CesqlEvaluationError:
            return False

    def required_string(self, attribute: str) -> str | None:
        """The string `attribute` must equal for the expression to be true, when a conjunct of
        its top-level AND chain is `attribute = 'literal'` (either way round); else None.

        An event whose attribute has another value is then false (not an error, when that
        conjunct comes first): the jetstream backend uses it to give a Trigger's consumer a
        subject of that event type only.
        """
        return _required_string(self._root, attribute)

    def predicate(
        self, on_error: Callable[[CesqlEvaluationError], None] | None = None
    ) -> Callable[[Mapping[str, object]], bool]:
        """`matches` as a plain function; `on_error` sees each evaluation error (e.g. a metric)."""
        evaluate = self._evaluate

        def matches(event: Mapping[str, object]) -> bool:
            try:
                return evaluate(event) is True
            except CesqlEvaluationError as error:
                if on_error is not None:
                    on_error(error)
                return False

        return matches


def _required_string(node: Node, attribute: str) -> str | None:
    if not isinstance(node, Binary):
        return None
    if node.operator == "AND":
        return _required_string(node.left, attribute) or _required_string(node.right, attribute)
    if node.operator != "=":
        return None
    for name, value in ((node.left, node.right), (node.right, node.left)):
        if (
            isinstance(name, Identifier)
            and name.name == attribute
            and isinstance(value, Literal)
            and type(value.value) is str
            and value.value
        ):
            return value.value
    return None


def parse(text: str) -> Expression:
    """Parse and compile `text`; raises CesqlParseError naming the problem and its column."""
    return Expression(text)


__all__ = ["CesqlParseError", "Evaluation", "Expression", "parse"]
