"""CESQL behaviour beyond the TCK: parse error messages, precedence, limits, the filter verdict."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire_spec import cesql
from eventwire_spec.cesql import ErrorKind

EVENT = {"specversion": "1.0", "id": "1", "source": "/orders", "type": "order.created"}


def value_of(expression: str, **attributes: Any) -> Any:
    evaluation = cesql.parse(expression).evaluate({**EVENT, **attributes})
    assert evaluation.error is None, evaluation.error
    return evaluation.value


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        ("", "the expression is empty", 1),
        ("type =", "expected an expression, found the end of the expression", 7),
        ("(type = 'a'", "expected ')' to close the parenthesis", 12),
        ("type = 'a", "unterminated string literal", 8),
        ("x LIKE 123", "the pattern of LIKE must be a string literal, found '123'", 8),
        ("type IN ()", "an IN set needs at least one element", 10),
        ("2147483648", "integer literal 2147483648 is outside the 32-bit signed range", 1),
        ("-2147483649", "integer literal -2147483649 is outside the 32-bit signed range", 1),
        ("type = 'a' 'b'", "unexpected \"'b'\" after a complete expression", 12),
        ("EXISTS 'type'", "EXISTS needs an attribute name", 8),
        ("my_ext = 'a'", "'my_ext' is not an attribute name", 1),
        ("type == 'a'", "expected an expression, found '='", 7),
        ("type = 'a' AND", "expected an expression, found the end of the expression", 15),
        ("a ; b", "unexpected character ';'", 3),
        ("+ type", "'+' must be followed by an integer literal", 1),
        ("AND", "expected an expression, found the keyword AND", 1),
    ],
)
def test_parse_errors_name_the_problem_and_column(expression: str, message: str, column: int) -> None:
    with pytest.raises(cesql.CesqlParseError) as raised:
        cesql.parse(expression)
    assert message in str(raised.value)
    assert raised.value.position + 1 == column
    assert raised.value.kind is ErrorKind.PARSE


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("2 - 3 - 4", -5),  # left to right
        ("20 / 2 / 5", 2),
        ("4 -1", 3),  # a sign after an operand is the binary minus
        ("-7 / 2", -3),  # truncated towards zero
        ("-7 % 3", -1),  # the sign of the dividend
        ("7 % -3", 1),
        ("+5 + +5", 10),
        ("ABS(-2147483647)", 2147483647),
        # AND, OR and XOR share one level, evaluated left to right (spec 3.6).
        ("TRUE OR FALSE AND FALSE", False),
        ("FALSE AND FALSE OR TRUE", True),
        ("TRUE XOR TRUE OR TRUE", True),
        # Unary operators bind tighter than LIKE, LIKE and IN tighter than arithmetic (spec 3.6).
        ("NOT TRUE LIKE '%'", True),  # (NOT TRUE) LIKE '%'
        ("1 + 1 IN (2)", 1),  # 1 + (1 IN (2)), the Boolean cast to 0
        ("2 * 3 LIKE '3'", 2),
        ("-1 IN (-1)", True),
        ("'a' IN ('a') LIKE 'true'", True),  # a LIKE may follow an IN, as in the reference grammar
        ("'a' NOT IN ('b') NOT LIKE 'false'", True),
    ],
)
def test_precedence_and_arithmetic(expression: str, expected: Any) -> None:
    assert value_of(expression) == expected


@pytest.mark.parametrize(
    ("expression", "kind", "value"),
    [
        ("2147483647 + 1", ErrorKind.MATH, -2147483648),
        ("-2147483648 - 1", ErrorKind.MATH, 2147483647),
        ("65536 * 65536", ErrorKind.MATH, 0),
        ("-2147483648 / -1", ErrorKind.MATH, -2147483648),
        ("'a' < 'b'", ErrorKind.CAST, False),
        ("'x' + 1", ErrorKind.CAST, 1),
        ("INT('2147483648')", ErrorKind.CAST, 0),
        ("INT(' 1')", ErrorKind.CAST, 0),
        ("INT('1_000')", ErrorKind.CAST, 0),
        ("INT('\u0661')", ErrorKind.CAST, 0),  # ARABIC-INDIC DIGIT ONE: int() takes it, CESQL does not
        ("INT('+')", ErrorKind.CAST, 0),
        ("INT('')", ErrorKind.CAST, 0),
        ("LEFT('abc', 'x')", ErrorKind.CAST, ""),
        ("ABS('x')", ErrorKind.CAST, 0),
        ("ABS('-2147483648')", ErrorKind.MATH, 2147483647),
        ("NOPE(1)", ErrorKind.MISSING_FUNCTION, False),
        ("LENGTH('a', 'b')", ErrorKind.MISSING_FUNCTION, False),
        ("1 IN (1, 'x')", ErrorKind.CAST, True),
        ("1 IN (2, type)", ErrorKind.CAST, False),
    ],
)
def test_evaluation_errors_return_the_specified_value(expression: str, kind: ErrorKind, value: Any) -> None:
    evaluation = cesql.parse(expression).evaluate(EVENT)
    assert evaluation.error is not None
    assert evaluation.error.kind is kind
    assert evaluation.value == value


def test_an_error_below_the_root_gives_the_root_zero_value() -> None:
    evaluation = cesql.parse("LENGTH(missing) + 1").evaluate(EVENT)
    assert evaluation.error is not None
    assert evaluation.error.kind is ErrorKind.MISSING_ATTRIBUTE
    assert evaluation.value == 0


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("order.%", ["order.", "order.created"], ["orders", "x.order.created"]),
        ("%.created", [".created", "order.created"], ["order.created.x"]),
        ("%created%", ["created", "order.created.v1"], ["order.deleted"]),
        ("order._reated", ["order.created"], ["order.reated"]),
        ("100\\%", ["100%"], ["1000"]),
        ("a\\_%", ["a_b", "a_"], ["ab"]),
        ("line%end", ["line\nend"], ["line\nen"]),
        ("", [""], ["a"]),
    ],
)
def test_like_patterns(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    escaped = pattern.replace("'", "\\'")
    expression = cesql.parse(f"subject LIKE '{escaped}'")
    for subject in matching:
        assert expression.matches({**EVENT, "subject": subject}), subject
    for subject in not_matching:
        assert not expression.matches({**EVENT, "subject": subject}), subject


def test_string_literals_with_doubled_quotes_and_kept_backslashes() -> None:
    assert value_of("'it''s'") == "it's"
    assert value_of('"say ""hi"""') == 'say "hi"'
    assert value_of("'a\\b'") == "a\\b"


def test_trim_removes_unicode_whitespace_but_not_control_characters() -> None:
    assert value_of("TRIM(subject)", subject="\u3000\u00a0 a \t\n") == "a"
    assert value_of("TRIM(subject)", subject="\x1fa\x1c") == "\x1fa\x1c"


def test_names_are_case_insensitive_and_attributes_lower_case() -> None:
    assert value_of("Type = 'order.created' and length(SOURCE) = 7") is True


def test_attribute_values_that_are_not_primitives_are_strings() -> None:
    assert value_of("big", big=2**40) == str(2**40)
    assert value_of("data", data=b"\x00\x01") == "AAE="
    assert value_of("flag AND count > 2", flag=True, count=3) is True


def test_filter_verdict_is_true_only_for_boolean_true_without_error() -> None:
    assert cesql.parse("type = 'order.created'").matches(EVENT)
    assert not cesql.parse("'true'").matches(EVENT)  # a String, not a Boolean
    assert not cesql.parse("1").matches(EVENT)
    assert not cesql.parse("NOT missing").matches(EVENT)
    assert not cesql.parse("ABS(-2147483648) > 0").matches(EVENT)


def test_predicate_reports_each_evaluation_error() -> None:
    seen: list[ErrorKind] = []
    matches = cesql.parse("INT(priority) > 3").predicate(on_error=lambda error: seen.append(error.kind))
    assert matches({**EVENT, "priority": "5"})
    assert not matches({**EVENT, "priority": "high"})
    assert not matches(EVENT)
    assert seen == [ErrorKind.CAST, ErrorKind.MISSING_ATTRIBUTE]


def test_unknown_functions_are_listed_at_compile_time() -> None:
    assert cesql.parse("NOPE(type) OR CONCAT_WS() = '' OR LENGTH(type) > 1").missing_functions == (
        "NOPE/1",
        "CONCAT_WS/0",
    )
    assert cesql.parse("LENGTH(type) > 1").missing_functions == ()


def test_in_with_attributes_casts_elements_to_the_left_type() -> None:
    assert value_of("count IN (limit, '4')", count=3, limit="3") is True
    assert value_of("type IN (source, 'x')") is False
    assert value_of("type NOT IN (source, 'x')") is True


def test_evaluation_does_not_change_the_event() -> None:
    event = {**EVENT, "count": 3}
    before = dict(event)
    cesql.parse("count + 1 = 4 AND UPPER(type) LIKE 'ORDER%'").evaluate(event)
    assert event == before


@pytest.mark.parametrize(
    "expression",
    ["(" * 300 + "TRUE" + ")" * 300, " AND ".join(["TRUE"] * 100), "NOT " * 100 + "TRUE"],
    ids=["parentheses", "long chain", "prefixes"],
)
def test_too_deep_expressions_are_parse_errors_not_crashes(expression: str) -> None:
    with pytest.raises(cesql.CesqlParseError, match="nests deeper than 64 levels"):
        cesql.parse(expression)


def test_a_long_in_set_is_not_deep() -> None:
    values = ", ".join(f"'t{i}'" for i in range(1000))
    assert cesql.parse(f"type IN ({values}, 'order.created')").matches(EVENT)


@pytest.mark.parametrize(
    ("expression", "ambiguities"),
    [
        ("a AND b OR c", ("AND and OR are mixed without parentheses (at column 9)",)),
        ("a OR b XOR c AND d", ("OR and XOR are mixed without parentheses (at column 8)",)),
        ("(a AND b) OR c", ()),
        ("a AND (b OR c)", ()),
        ("a AND b AND c", ()),
        ("a OR b OR c", ()),
        ("NOT (a OR b) AND c", ()),
        ("x IN (a AND b OR c)", ("AND and OR are mixed without parentheses (at column 15)",)),
    ],
)
def test_mixed_logic_operators_are_flagged_as_ambiguous(
    expression: str, ambiguities: tuple[str, ...]
) -> None:
    assert cesql.parse(expression).ambiguities == ambiguities
