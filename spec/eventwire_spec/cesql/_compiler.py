"""Compile a CESQL syntax tree once into nested Python closures, evaluated per event.

Each node becomes `fn(event) -> value` plus its static result type (None when only known at run
time, i.e. for attributes). Evaluation is fail-fast (spec 4.1, recommended for filters): the first
error raises CesqlEvaluationError carrying the value its node returns; `Expression.evaluate`
turns that into the root's value. Work that does not depend on the event is done here, once:
LIKE patterns become regular expressions or prefix/suffix tests, IN sets of literals become
Python sets per target type, `=` against a literal picks its cast up front.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eventwire_spec.cesql._errors import CesqlEvaluationError, ErrorKind
from eventwire_spec.cesql._functions import Function, resolve
from eventwire_spec.cesql._syntax import Binary, Call, Exists, Identifier, In, Like, Literal, Node, Unary
from eventwire_spec.cesql._values import (
    REQUIRED_ATTRIBUTES,
    ZERO,
    Value,
    ValueType,
    attribute_value,
    cast_to,
    to_bool,
    to_int,
    to_string,
    type_name,
    wrap_int32,
)

Event = Mapping[str, object]
Evaluator = Callable[[Event], Any]
Compiled = tuple[Evaluator, "ValueType | None"]


def _cast_error(
    node: Node, value: object, target: ValueType | None, value_out: object
) -> CesqlEvaluationError:
    return CesqlEvaluationError(
        ErrorKind.CAST, f"cannot cast {value!r} to {type_name(target)}", value_out, node
    )


def compile_node(node: Node, missing_functions: list[str]) -> Compiled:
    """`node` as an evaluator and its static type; unknown functions are appended to the list."""
    if isinstance(node, Literal):
        constant = node.value
        return (lambda _event: constant), type(constant)
    if isinstance(node, Identifier):
        return _identifier(node), None
    if isinstance(node, Exists):
        return _exists(node), bool
    if isinstance(node, Unary):
        return _unary(node, missing_functions)
    if isinstance(node, Like):
        return _like(node, missing_functions), bool
    if isinstance(node, In):
        return _in(node, missing_functions), bool
    if isinstance(node, Call):
        return _call(node, missing_functions)
    return _binary(node, missing_functions)


def _identifier(node: Identifier) -> Evaluator:
    name = node.name

    def attribute(event: Event) -> Value:
        raw = event.get(name)
        if type(raw) is str:
            return raw
        if raw is None:
            raise CesqlEvaluationError(
                ErrorKind.MISSING_ATTRIBUTE, f"the event has no attribute {name!r}", False, node
            )
        return attribute_value(raw)

    return attribute


def _exists(node: Exists) -> Evaluator:
    name = node.name
    if name in REQUIRED_ATTRIBUTES:  # every valid event has them (spec 3.4.4)
        return lambda _event: True
    return lambda event: event.get(name) is not None


def _unary(node: Unary, missing: list[str]) -> Compiled:
    operand, _ = compile_node(node.operand, missing)
    if node.operator == "NOT":

        def negation(event: Event) -> bool:
            value = operand(event)
            if value is True or value is False:
                return not value
            cast = to_bool(value)
            if cast is None:  # the cast yields false, so NOT returns true (TCK: NOT 10)
                raise _cast_error(node, value, bool, True)
            return not cast

        return negation, bool

    def minus(event: Event) -> int:
        value = operand(event)
        number = value if type(value) is int else to_int(value)
        if number is None:
            raise _cast_error(node, value, int, 0)
        if number == -(2**31):
            raise CesqlEvaluationError(
                ErrorKind.MATH, f"-({number}) overflows the 32-bit range", number, node
            )
        return -number

    return minus, int


# -- binary operators --


def _arithmetic(operator: str, node: Node) -> Callable[[int, int], int]:
    def checked(result: int) -> int:
        if -(2**31) <= result <= 2**31 - 1:
            return result
        raise CesqlEvaluationError(
            ErrorKind.MATH, f"{operator} overflows the 32-bit range", wrap_int32(result), node
        )

    def divide(x: int, y: int) -> int:
        if y == 0:
            raise CesqlEvaluationError(ErrorKind.MATH, "division by zero", 0, node)
        quotient = abs(x) // abs(y)  # truncated towards zero
        return checked(quotient if (x < 0) == (y < 0) else -quotient)

    def modulo(x: int, y: int) -> int:
        if y == 0:
            raise CesqlEvaluationError(ErrorKind.MATH, "modulo by zero", 0, node)
        remainder = abs(x) % abs(y)  # the sign of the dividend
        return remainder if x >= 0 else -remainder

    operations: dict[str, Callable[[int, int], int]] = {
        "+": lambda x, y: checked(x + y),
        "-": lambda x, y: checked(x - y),
        "*": lambda x, y: checked(x * y),
        "/": divide,
        "%": modulo,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
    }
    return operations[operator]


def _integer_operator(node: Binary, left: Evaluator, right: Evaluator) -> Evaluator:
    """An operator over Integer x Integer: both operands are cast to Integer."""
    operation = _arithmetic(node.operator, node)

    def integer_operator(event: Event) -> Any:
        a = left(event)
        b = right(event)
        x = a if type(a) is int else to_int(a)
        y = b if type(b) is int else to_int(b)
        if x is None or y is None:  # computed with the failed cast's zero, reported as a CastError
            value: object
            try:
                value = operation(x or 0, y or 0)
            except CesqlEvaluationError as error:
                value = error.value
            failed = a if x is None else b
            raise _cast_error(node, failed, int, value)
        return operation(x, y)

    return integer_operator


def _equality(node: Binary, left: Evaluator, right: Evaluator, right_type: ValueType | None) -> Evaluator:
    """= != <>: overloaded for each type; the right operand's type picks the cast of the left."""
    equal = node.operator == "="

    if right_type is str:

        def string_equality(event: Event) -> bool:
            a = left(event)
            b = right(event)
            if type(a) is not str:
                a = to_string(a)
            return (a == b) is equal

        return string_equality

    def equality(event: Event) -> bool:
        a = left(event)
        b = right(event)
        target = type(b)
        if type(a) is not target:
            cast = cast_to(target, a)
            if cast is None:
                raise _cast_error(node, a, target, (ZERO[target] == b) is equal)
            a = cast
        return (a == b) is equal

    return equality


def _logic(node: Binary, left: Compiled, right: Compiled) -> Evaluator:
    """AND OR XOR over Booleans; AND and OR short-circuit. A failed cast yields false."""
    operator = node.operator
    (left_value, left_type), (right_value, right_type) = left, right
    if left_type is bool and right_type is bool:  # e.g. comparisons and LIKE: no cast needed
        if operator == "AND":
            return lambda event: left_value(event) and right_value(event)
        if operator == "OR":
            return lambda event: left_value(event) or right_value(event)
        return lambda event: left_value(event) is not right_value(event)

    def boolean(event: Event, operand: Evaluator) -> bool:
        value = operand(event)
        if value is True or value is False:
            return value
        cast = to_bool(value)
        if cast is None:
            raise _cast_error(node, value, bool, False)
        return cast

    if operator == "AND":
        return lambda event: boolean(event, left_value) and boolean(event, right_value)
    if operator == "OR":
        return lambda event: boolean(event, left_value) or boolean(event, right_value)
    return lambda event: boolean(event, left_value) is not boolean(event, right_value)


def _binary(node: Binary, missing: list[str]) -> Compiled:
    left_compiled = compile_node(node.left, missing)
    right_compiled = compile_node(node.right, missing)
    (left, _), (right, right_type) = left_compiled, right_compiled
    operator = node.operator
    if operator in ("AND", "OR", "XOR"):
        return _logic(node, left_compiled, right_compiled), bool
    if operator in ("=", "!=", "<>"):
        return _equality(node, left, right, right_type), bool
    result_type: ValueType = int if operator in "+-*/%" else bool
    if left_compiled[1] is int and right_type is int:  # both Integers already: no casts
        operation = _arithmetic(operator, node)
        return (lambda event: operation(left(event), right(event))), result_type
    return _integer_operator(node, left, right), result_type


# -- LIKE and IN --


def like_matcher(pattern: str) -> Callable[[str], bool]:
    """A test for the LIKE `pattern`: % any run, _ one character, \\% and \\_ literal."""
    parts: list[str] = []
    literal = True
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char in "%_":
            literal = False
            parts.append(".*" if char == "%" else ".")
        else:
            parts.append(re.escape(char))
        i += 1
    text = "".join(parts)
    if literal:
        plain = re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)
        return plain.__eq__
    # The common filters, prefix% and %suffix, without a regular expression.
    body = pattern[1:] if pattern.startswith("%") else pattern[:-1]
    if re.fullmatch(r"[^%_\\]*", body):
        if pattern.endswith("%") and not pattern.startswith("%"):
            return lambda value: value.startswith(body)
        if pattern.startswith("%") and not pattern.endswith("%"):
            return lambda value: value.endswith(body)
    inner = pattern[1:-1]
    if len(pattern) >= 2 and pattern[0] == pattern[-1] == "%" and re.fullmatch(r"[^%_\\]*", inner):
        return lambda value: inner in value
    return re.compile(text, re.DOTALL).fullmatch  # type: ignore[return-value]


def _like(node: Like, missing: list[str]) -> Evaluator:
    operand, _ = compile_node(node.operand, missing)
    matches = like_matcher(node.pattern)
    negated = node.negated

    def like(event: Event) -> bool:
        value = operand(event)
        if type(value) is not str:
            value = to_string(value)
        return bool(matches(value)) is not negated

    return like


def _literal_sets(items: Sequence[Node]) -> dict[type, tuple[frozenset[Value], str | None]] | None:
    """For a set of literals: per target type, the cast elements and the first failed cast."""
    if not all(isinstance(item, Literal) for item in items):
        return None
    tables: dict[type, tuple[frozenset[Value], str | None]] = {}
    for target in (bool, int, str):
        cast_values: set[Value] = set()
        failure: str | None = None
        for item in items:
            value = item.value  # type: ignore[union-attr]
            cast = value if type(value) is target else cast_to(target, value)
            if cast is None:
                failure = failure or f"cannot cast {value!r} to {type_name(target)}"
                cast = ZERO[target]
            cast_values.add(cast)
        tables[target] = (frozenset(cast_values), failure)
    return tables


def _in(node: In, missing: list[str]) -> Evaluator:
    """x IN (y1, ...): `=` against each element, each cast to the type of x (spec 3.4.5, 3.7)."""
    operand, _ = compile_node(node.operand, missing)
    items = [compile_node(item, missing)[0] for item in node.items]
    negated = node.negated
    tables = _literal_sets(node.items)

    if tables is not None:

        def in_literals(event: Event) -> bool:
            value = operand(event)
            elements, failure = tables[type(value)]
            found = (value in elements) is not negated
            if failure is not None:
                raise CesqlEvaluationError(ErrorKind.CAST, failure, found, node)
            return found

        return in_literals

    def in_values(event: Event) -> bool:
        value = operand(event)
        target = type(value)
        found = False
        failed: object = None
        for item in items:
            element = item(event)
            if type(element) is not target:
                cast = cast_to(target, element)
                if cast is None:
                    failed = element if failed is None else failed
                    cast = ZERO[target]
                element = cast
            found = found or element == value
        if failed is not None:
            raise _cast_error(node, failed, target, found is not negated)
        return found is not negated

    return in_values


# -- functions --


def _call(node: Call, missing: list[str]) -> Compiled:
    function = resolve(node.name, len(node.arguments))
    arguments = [compile_node(argument, missing)[0] for argument in node.arguments]
    if function is None:
        signature = f"{node.name}/{len(node.arguments)}"
        missing.append(signature)

        def missing_function(event: Event) -> bool:
            for argument in arguments:  # the arguments' own errors come first
                argument(event)
            raise CesqlEvaluationError(
                ErrorKind.MISSING_FUNCTION, f"no function {signature} (name/arity)", False, node
            )

        return missing_function, None
    return _invocation(node, function, arguments), function.returns


def _invocation(node: Call, function: Function, arguments: list[Evaluator]) -> Evaluator:
    implementation = function.implementation
    parameter_types = [function.parameter_type(i) for i in range(len(arguments))]
    cast_arguments = list(zip(arguments, parameter_types, strict=True))
    if len(cast_arguments) == 1:
        return _unary_invocation(node, implementation, *cast_arguments[0])

    def invoke(event: Event) -> Any:
        values: list[Any] = []
        failed: tuple[object, ValueType] | None = None
        for argument, target in cast_arguments:
            value = argument(event)
            if target is not None and type(value) is not target:
                cast = cast_to(target, value)
                if cast is None:
                    failed = failed or (value, target)
                    cast = ZERO[target]
                value = cast
            values.append(value)
        try:
            result = implementation(*values)
        except CesqlEvaluationError as error:
            if failed is not None:
                raise _cast_error(node, failed[0], failed[1], error.value) from None
            error.origin = node
            raise
        if failed is not None:
            raise _cast_error(node, failed[0], failed[1], result)
        return result

    return invoke


def _unary_invocation(
    node: Call, implementation: Callable[..., Any], argument: Evaluator, target: ValueType | None
) -> Evaluator:
    """The common one-argument call (LOWER, LENGTH, INT, ...) without building argument lists."""

    def invoke(event: Event) -> Any:
        value = argument(event)
        cast_failed = False
        if target is not None and type(value) is not target:
            cast = cast_to(target, value)
            cast_failed = cast is None
            original, value = value, ZERO[target] if cast is None else cast
        try:
            result = implementation(value)
        except CesqlEvaluationError as error:
            if cast_failed:
                raise _cast_error(node, original, target, error.value) from None
            error.origin = node
            raise
        if cast_failed:
            raise _cast_error(node, original, target, result)
        return result

    return invoke
