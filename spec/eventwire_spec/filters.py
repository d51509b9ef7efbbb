"""Trigger filters, compiled once into a predicate over a CloudEvent's attributes.

A Trigger selects events with Knative's two filter forms (eventing.knative.dev/v1):

- `filter.attributes`: exact match on context attributes and extensions. Each named attribute
  must be present; a non-empty value must equal it (case-sensitive), "" matches any value.
- `filters`: a list of CloudEvents Subscriptions API filter expressions, all of which must
  match. Each entry uses the dialects `exact`, `prefix`, `suffix` (maps of attribute name to a
  non-empty string, every pair must hold), `all`, `any` (lists of entries), `not` (one entry)
  and `cesql` (a CloudEvents SQL expression that must evaluate to Boolean true without error).

When `filters` is non-empty, `filter` is ignored (Knative's rule, so that users can try the new
form on an existing Trigger). With neither, every event matches.

As in Knative, an empty expression is "no filter" rather than true or false: it passes at the
top level, is skipped inside `all` and `any`, and `not` of it is still no filter.

Where Knative's webhook is stricter, this accepts more and means what Knative's documentation
says: an entry that names several dialects (the docs show `exact` with `suffix`; Knative's
webhook refuses it and its data plane would apply only the first) needs all of them, and an
`exact`/`prefix`/`suffix` map may name several attributes (Knative: exactly one). Where Knative
silently ignores a filter, this refuses it instead: an empty `exact`/`prefix`/`suffix` value
(Knative skips the filter, so it matches everything) and a CESQL expression calling an unknown
function (it could never match).

Attribute values are compared as strings: a Boolean as "true"/"false", an Integer in base 10.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eventwire_spec import cesql
from eventwire_spec.cesql._values import attribute_value, to_string

Attributes = Mapping[str, object]
Predicate = Callable[[Attributes], bool]
ErrorHandler = Callable[[cesql.CesqlEvaluationError], None]

DIALECTS: Final = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
MAX_NESTING: Final = 16
"""The deepest nesting of all/any/not accepted."""

# CloudEvents attribute naming: lower-case ASCII letters and digits.
_ATTRIBUTE_NAME: Final = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class FilterProblem:
    """One reason a Trigger's filters cannot be compiled; `path` is relative to the spec."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class TriggerFilterError(ValueError):
    """The Trigger's filters are invalid; `problems` lists every reason with its field path."""

    def __init__(self, problems: Sequence[FilterProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in problems))


def _as_string(value: object) -> str:
    return value if type(value) is str else to_string(attribute_value(value))


# -- the attribute dialects --


def _attribute_test(dialect: str, name: str, wanted: str) -> Predicate:
    if dialect == "exact":

        def exact(attributes: Attributes) -> bool:
            value = attributes.get(name)
            if type(value) is str:
                return value == wanted
            return value is not None and _as_string(value) == wanted

        return exact
    if dialect == "prefix":

        def prefix(attributes: Attributes) -> bool:
            value = attributes.get(name)
            return value is not None and _as_string(value).startswith(wanted)

        return prefix

    def suffix(attributes: Attributes) -> bool:
        value = attributes.get(name)
        return value is not None and _as_string(value).endswith(wanted)

    return suffix


def _any_value(name: str) -> Predicate:
    return lambda attributes: attributes.get(name) is not None


def _combined(predicates: Sequence[Predicate], decisive: bool) -> Predicate | None:
    """Short-circuit over `predicates`: the first to return `decisive` decides (all: False, any: True)."""
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    frozen = tuple(predicates)

    def combined(attributes: Attributes) -> bool:
        for predicate in frozen:  # a plain loop: all()/any() over a generator is slower per event
            if predicate(attributes) == decisive:
                return decisive
        return not decisive

    return combined


def _all_of(predicates: Sequence[Predicate]) -> Predicate | None:
    return _combined(predicates, decisive=False)


def _any_of(predicates: Sequence[Predicate]) -> Predicate | None:
    return _combined(predicates, decisive=True)


class _Compiler:
    """Walks a Trigger spec once, collecting every problem, building predicates as it goes."""

    def __init__(self, on_cesql_error: ErrorHandler | None) -> None:
        self.on_cesql_error = on_cesql_error
        self.problems: list[FilterProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(FilterProblem(path, message))

    def attribute_pairs(self, value: object, path: str, what: str) -> list[tuple[str, str]]:
        """The (attribute name, string) pairs of a map, each bad pair reported at its path."""
        if not isinstance(value, Mapping):
            self.problem(path, f"{what} must map attribute names to strings")
            return []
        pairs = []
        for name, wanted in value.items():
            where = f"{path}.{name}"
            if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
                self.problem(where, f"{name!r} is not a CloudEvents attribute name (a-z, 0-9)")
            elif not isinstance(wanted, str):
                self.problem(where, f"the value must be a string, not {type(wanted).__name__}")
            else:
                pairs.append((name, wanted))
        return pairs

    def attribute_map(self, dialect: str, value: object, path: str) -> Predicate | None:
        tests = []
        for name, wanted in self.attribute_pairs(value, path, dialect):
            if wanted:
                tests.append(_attribute_test(dialect, name, wanted))
            else:
                self.problem(
                    f"{path}.{name}", f"the value must not be empty (an empty {dialect} would match anything)"
                )
        return _all_of(tests)

    def cesql(self, value: object, path: str) -> Predicate | None:
        if not isinstance(value, str):
            self.problem(path, f"must be a CloudEvents SQL expression (a string), not {type(value).__name__}")
            return None
        try:
            expression = cesql.parse(value)
        except cesql.CesqlParseError as error:
            self.problem(path, f"CloudEvents SQL does not parse: {error}")
            return None
        if expression.missing_functions:
            unknown = ", ".join(expression.missing_functions)
            self.problem(path, f"CloudEvents SQL calls unknown functions (name/arity): {unknown}")
            return None
        for ambiguity in expression.ambiguities:
            self.problem(
                path,
                f"CloudEvents SQL is ambiguous: {ambiguity}; CESQL v1 reads them left to right, "
                "Knative's engine from the right: add parentheses",
            )
        return expression.predicate(self.on_cesql_error)

    def expressions(self, value: object, path: str, depth: int) -> list[Predicate] | None:
        if not isinstance(value, list):
            self.problem(path, "must be a list of filter expressions")
            return None
        compiled = [self.expression(item, f"{path}[{i}]", depth) for i, item in enumerate(value)]
        return [predicate for predicate in compiled if predicate is not None]

    def expression(self, value: object, path: str, depth: int = 1) -> Predicate | None:
        """One Subscriptions API filter expression; None when it constrains nothing."""
        if depth > MAX_NESTING:
            self.problem(path, f"filters nest deeper than {MAX_NESTING} levels")
            return None
        if not isinstance(value, Mapping):
            self.problem(path, "a filter expression must be a mapping with one of: " + ", ".join(DIALECTS))
            return None
        for key in value:
            if key not in DIALECTS:
                self.problem(f"{path}.{key}", "unknown filter dialect (known: " + ", ".join(DIALECTS) + ")")
        parts: list[Predicate | None] = []
        for dialect in ("exact", "prefix", "suffix"):
            if dialect in value:
                parts.append(self.attribute_map(dialect, value[dialect], f"{path}.{dialect}"))
        if "all" in value:
            children = self.expressions(value["all"], f"{path}.all", depth + 1)
            parts.append(_all_of(children or []))
        if "any" in value:
            children = self.expressions(value["any"], f"{path}.any", depth + 1)
            parts.append(_any_of(children or []))
        if "not" in value:
            inner = self.expression(value["not"], f"{path}.not", depth + 1)
            parts.append(None if inner is None else _negation(inner))
        if "cesql" in value:
            parts.append(self.cesql(value["cesql"], f"{path}.cesql"))
        return _all_of([part for part in parts if part is not None])

    def legacy(self, value: object, path: str) -> Predicate | None:
        """`filter.attributes`: presence of each attribute, equality unless the value is ""."""
        if not isinstance(value, Mapping):
            self.problem(path, "must be a mapping with `attributes`")
            return None
        for key in value:
            if key != "attributes":
                self.problem(f"{path}.{key}", "unknown field (known fields: attributes)")
        pairs = self.attribute_pairs(value.get("attributes") or {}, f"{path}.attributes", "attributes")
        return _all_of(
            [
                _any_value(name) if wanted == "" else _attribute_test("exact", name, wanted)
                for name, wanted in pairs
            ]
        )

    def trigger(self, spec: Mapping[str, Any]) -> Predicate | None:
        filters = spec.get("filters")
        if filters:  # a non-empty `filters` overrides `filter`
            return _all_of(self.expressions(filters, "filters", 1) or [])
        if filters is not None and not isinstance(filters, list):
            self.problem("filters", "must be a list of filter expressions")
        if spec.get("filter") is not None:
            return self.legacy(spec["filter"], "filter")
        return None


def _negation(predicate: Predicate) -> Predicate:
    return lambda attributes: not predicate(attributes)


def _match_all(_attributes: Attributes) -> bool:
    return True


def required_type(spec: Mapping[str, Any]) -> str | None:
    """The value `type` must have for a Trigger `spec`'s filters to pass, when they say so at the
    top level; else None. Found in `filter.attributes.type`, or in `filters`: an `exact` on
    `type`, an `all` holding one, or a CESQL expression whose top-level AND chain holds
    `type = '<value>'`. Every other event type is filtered out whatever the rest says.
    """
    filters = spec.get("filters")
    if filters:  # a non-empty `filters` overrides `filter` (Knative's rule)
        return _required_type_in(filters, 1)
    legacy = spec.get("filter")
    attributes = legacy.get("attributes") if isinstance(legacy, Mapping) else None
    wanted = attributes.get("type") if isinstance(attributes, Mapping) else None
    return wanted if isinstance(wanted, str) and wanted else None


def _required_type_in(entries: object, depth: int) -> str | None:
    """The type one of `entries` (all of which must pass) requires, or None."""
    if not isinstance(entries, list) or depth > MAX_NESTING:
        return None
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        exact = entry.get("exact")
        wanted = exact.get("type") if isinstance(exact, Mapping) else None
        if isinstance(wanted, str) and wanted:
            return wanted
        wanted = _required_type_in(entry.get("all"), depth + 1)
        if wanted is None and isinstance(entry.get("cesql"), str):
            try:
                wanted = cesql.parse(entry["cesql"]).required_string("type")
            except cesql.CesqlParseError:
                wanted = None
        if wanted is not None:
            return wanted
    return None


def filter_problems(spec: Mapping[str, Any]) -> list[FilterProblem]:
    """Every problem with the filters of a Trigger `spec` (empty when they compile).

    `filter` is not checked when a non-empty `filters` overrides it: it is ignored, not used.
    """
    compiler = _Compiler(None)
    compiler.trigger(spec)
    return compiler.problems


def compile_trigger_filter(spec: Mapping[str, Any], on_cesql_error: ErrorHandler | None = None) -> Predicate:
    """The predicate a Trigger `spec` (its `filter` and `filters`) applies to event attributes.

    Args:
        spec: the Trigger's spec; only `filter` and `filters` are read.
        on_cesql_error: called with each CESQL evaluation error (the event then does not match),
            e.g. to count them in a metric.

    Returns:
        A function of a mapping of context attributes and extensions, true when the event passes.

    Raises:
        TriggerFilterError: listing every problem with its field path (see filter_problems).
    """
    compiler = _Compiler(on_cesql_error)
    predicate = compiler.trigger(spec)
    if compiler.problems:
        raise TriggerFilterError(compiler.problems)
    return predicate or _match_all
