"""Trigger filter semantics: each dialect, combinations, extensions, missing attributes."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire_spec.cesql import CesqlEvaluationError, ErrorKind
from eventwire_spec.filters import TriggerFilterError, compile_trigger_filter, filter_problems

ORDER = {
    "specversion": "1.0",
    "id": "42",
    "source": "https://shop.example.com/orders",
    "type": "com.example.order.created",
    "subject": "order-42",
    "region": "eu-west",  # an extension
    "priority": 5,  # an Integer extension (structured mode)
    "express": True,  # a Boolean extension
}
PING = {"specversion": "1.0", "id": "7", "source": "/ping", "type": "dev.eventwire.ping"}
EMPTY_SUBJECT = {**PING, "subject": ""}

CASES: list[tuple[str, dict[str, Any], dict[str, bool]]] = [
    # (name, trigger spec, {event name: expected verdict})
    ("no filter matches everything", {}, {"order": True, "ping": True}),
    ("empty filters and no filter", {"filters": []}, {"order": True, "ping": True}),
    # filter.attributes (Knative v1)
    (
        "attributes exact type",
        {"filter": {"attributes": {"type": "dev.eventwire.ping"}}},
        {"order": False, "ping": True},
    ),
    (
        "attributes on an extension",
        {"filter": {"attributes": {"region": "eu-west"}}},
        {"order": True, "ping": False},
    ),
    (
        "attributes '' needs presence",
        {"filter": {"attributes": {"region": ""}}},
        {"order": True, "ping": False},
    ),
    (
        "attributes '' accepts an empty value",
        {"filter": {"attributes": {"subject": ""}}},
        {"empty_subject": True, "ping": False},
    ),
    ("attributes are case-sensitive", {"filter": {"attributes": {"region": "EU-WEST"}}}, {"order": False}),
    (
        "attributes all must hold",
        {"filter": {"attributes": {"type": "com.example.order.created", "region": "us"}}},
        {"order": False},
    ),
    ("attributes on an Integer extension", {"filter": {"attributes": {"priority": "5"}}}, {"order": True}),
    ("attributes on a Boolean extension", {"filter": {"attributes": {"express": "true"}}}, {"order": True}),
    ("empty attributes", {"filter": {"attributes": {}}}, {"order": True, "ping": True}),
    ("empty filter", {"filter": {}}, {"order": True, "ping": True}),
    # the filters dialects
    ("exact", {"filters": [{"exact": {"type": "dev.eventwire.ping"}}]}, {"order": False, "ping": True}),
    (
        "exact on a missing attribute",
        {"filters": [{"exact": {"region": "eu-west"}}]},
        {"order": True, "ping": False},
    ),
    (
        "exact with two attributes",
        {"filters": [{"exact": {"type": "com.example.order.created", "subject": "order-42"}}]},
        {"order": True},
    ),
    ("exact on an Integer", {"filters": [{"exact": {"priority": "5"}}]}, {"order": True, "ping": False}),
    ("prefix", {"filters": [{"prefix": {"type": "com.example."}}]}, {"order": True, "ping": False}),
    ("prefix is case-sensitive", {"filters": [{"prefix": {"type": "COM.example."}}]}, {"order": False}),
    (
        "prefix on a missing attribute",
        {"filters": [{"prefix": {"region": "eu"}}]},
        {"order": True, "ping": False},
    ),
    ("suffix", {"filters": [{"suffix": {"type": ".created"}}]}, {"order": True, "ping": False}),
    (
        "suffix on an extension",
        {"filters": [{"suffix": {"region": "-west"}}]},
        {"order": True, "ping": False},
    ),
    (
        "all",
        {"filters": [{"all": [{"prefix": {"type": "com."}}, {"exact": {"region": "eu-west"}}]}]},
        {"order": True, "ping": False},
    ),
    (
        "all with one failing",
        {"filters": [{"all": [{"prefix": {"type": "com."}}, {"exact": {"region": "us"}}]}]},
        {"order": False},
    ),
    (
        "any",
        {"filters": [{"any": [{"exact": {"type": "dev.eventwire.ping"}}, {"exact": {"region": "eu-west"}}]}]},
        {"order": True, "ping": True, "empty_subject": True},
    ),
    (
        "any with none holding",
        {"filters": [{"any": [{"exact": {"type": "x"}}, {"exact": {"region": "y"}}]}]},
        {"order": False, "ping": False},
    ),
    (
        "not",
        {"filters": [{"not": {"exact": {"type": "dev.eventwire.ping"}}}]},
        {"order": True, "ping": False},
    ),
    (
        "not of a missing attribute",
        {"filters": [{"not": {"exact": {"region": "eu-west"}}}]},
        {"order": False, "ping": True},
    ),
    (
        "cesql",
        {"filters": [{"cesql": "type LIKE 'com.example.%' AND priority > 3"}]},
        {"order": True, "ping": False},
    ),
    ("cesql on a Boolean extension", {"filters": [{"cesql": "express"}]}, {"order": True, "ping": False}),
    (
        "cesql error is no match",
        {"filters": [{"cesql": "INT(subject) > 0"}]},
        {"order": False, "ping": False},
    ),
    (
        "not of a failing cesql passes, as Knative negates a fail",
        {"filters": [{"not": {"cesql": "INT(subject) > 0"}}]},
        {"order": True, "ping": True},
    ),
    ("cesql EXISTS", {"filters": [{"cesql": "EXISTS region"}]}, {"order": True, "ping": False}),
    # combinations
    (
        "list entries are all required",
        {"filters": [{"prefix": {"type": "com."}}, {"suffix": {"type": ".deleted"}}]},
        {"order": False},
    ),
    (
        "several dialects in one entry are all required",
        {"filters": [{"exact": {"type": "com.example.order.created"}, "suffix": {"region": "-west"}}]},
        {"order": True, "ping": False},
    ),
    (
        "several dialects, one failing",
        {"filters": [{"exact": {"type": "com.example.order.created"}, "suffix": {"region": "-east"}}]},
        {"order": False},
    ),
    (
        "nested any of all and not",
        {
            "filters": [
                {
                    "any": [
                        {
                            "all": [
                                {"prefix": {"source": "https://"}},
                                {"not": {"exact": {"subject": "order-1"}}},
                            ]
                        },
                        {"cesql": "source = '/ping'"},
                    ]
                }
            ]
        },
        {"order": True, "ping": True},
    ),
    # filters override filter
    (
        "filters override filter",
        {
            "filters": [{"exact": {"type": "dev.eventwire.ping"}}],
            "filter": {"attributes": {"type": "com.example.order.created"}},
        },
        {"order": False, "ping": True},
    ),
    (
        "empty filters leave filter in force",
        {"filters": [], "filter": {"attributes": {"type": "com.example.order.created"}}},
        {"order": True, "ping": False},
    ),
    # empty expressions constrain nothing, as Knative's NoFilter
    ("an empty entry", {"filters": [{}]}, {"order": True, "ping": True}),
    ("empty all", {"filters": [{"all": []}]}, {"order": True, "ping": True}),
    ("empty any", {"filters": [{"any": []}]}, {"order": True, "ping": True}),
    ("not of nothing", {"filters": [{"not": {}}]}, {"order": True, "ping": True}),
    (
        "empty entries skipped in any",
        {"filters": [{"any": [{}, {"exact": {"type": "dev.eventwire.ping"}}]}]},
        {"order": False, "ping": True},
    ),
]
EVENTS = {"order": ORDER, "ping": PING, "empty_subject": EMPTY_SUBJECT}


@pytest.mark.parametrize(
    ("spec", "verdicts"), [(spec, verdicts) for _, spec, verdicts in CASES], ids=[c[0] for c in CASES]
)
def test_filter_semantics(spec: dict[str, Any], verdicts: dict[str, bool]) -> None:
    assert filter_problems(spec) == []
    matches = compile_trigger_filter(spec)
    assert {name: matches(EVENTS[name]) for name in verdicts} == verdicts


@pytest.mark.parametrize(
    ("spec", "problems"),
    [
        (
            {"filters": [{"cesql": "type = "}]},
            [
                "filters[0].cesql: CloudEvents SQL does not parse: expected an expression, found the end of the expression (at column 8)"
            ],
        ),
        (
            {"filters": [{"any": [{"not": {"cesql": "NOPE(type)"}}]}]},
            ["filters[0].any[0].not.cesql: CloudEvents SQL calls unknown functions (name/arity): NOPE/1"],
        ),
        (
            {"filters": [{"exact": {"type": ""}}]},
            ["filters[0].exact.type: the value must not be empty (an empty exact would match anything)"],
        ),
        (
            {"filters": [{"prefix": {"Type": "a"}}]},
            ["filters[0].prefix.Type: 'Type' is not a CloudEvents attribute name (a-z, 0-9)"],
        ),
        (
            {"filters": [{"suffix": {"type": 1}}]},
            ["filters[0].suffix.type: the value must be a string, not int"],
        ),
        (
            {"filters": [{"regex": {"type": "a"}}]},
            ["filters[0].regex: unknown filter dialect (known: exact, prefix, suffix, all, any, not, cesql)"],
        ),
        (
            {"filters": [{"all": {"exact": {"type": "a"}}}]},
            ["filters[0].all: must be a list of filter expressions"],
        ),
        (
            {"filters": ["type = 'a'"]},
            [
                "filters[0]: a filter expression must be a mapping with one of: exact, prefix, suffix, all, any, not, cesql"
            ],
        ),
        ({"filters": {"exact": {"type": "a"}}}, ["filters: must be a list of filter expressions"]),
        (
            {"filter": {"attributes": {"type": 5}}},
            ["filter.attributes.type: the value must be a string, not int"],
        ),
        (
            {"filter": {"attributes": {"my-ext": "a"}}},
            ["filter.attributes.my-ext: 'my-ext' is not a CloudEvents attribute name (a-z, 0-9)"],
        ),
        ({"filter": {"types": ["a"]}}, ["filter.types: unknown field (known fields: attributes)"]),
        (
            {"filters": [{"cesql": "type = 'a' AND source = 'b' OR type = 'c'"}]},
            [
                "filters[0].cesql: CloudEvents SQL is ambiguous: AND and OR are mixed without parentheses "
                "(at column 29); CESQL v1 reads them left to right, Knative's engine from the right: "
                "add parentheses"
            ],
        ),
        # an overridden `filter` is ignored, not checked
        ({"filters": [{"exact": {"type": "a"}}], "filter": {"attributes": {"type": 5}}}, []),
        # every problem at once
        (
            {"filters": [{"cesql": "("}, {"exact": {"type": ""}}]},
            [
                "filters[0].cesql: CloudEvents SQL does not parse: expected an expression, found the end of the expression (at column 2)",
                "filters[1].exact.type: the value must not be empty (an empty exact would match anything)",
            ],
        ),
    ],
)
def test_filter_problems_name_the_field(spec: dict[str, Any], problems: list[str]) -> None:
    assert [str(problem) for problem in filter_problems(spec)] == problems
    if problems:
        with pytest.raises(TriggerFilterError) as raised:
            compile_trigger_filter(spec)
        assert [str(p) for p in raised.value.problems] == problems


def test_nesting_is_bounded() -> None:
    expression: dict[str, Any] = {"exact": {"type": "a"}}
    for _ in range(20):
        expression = {"not": expression}
    problems = filter_problems({"filters": [expression]})
    assert len(problems) == 1
    assert problems[0].message == "filters nest deeper than 16 levels"


def test_cesql_evaluation_errors_are_reported_to_the_handler() -> None:
    errors: list[CesqlEvaluationError] = []
    matches = compile_trigger_filter(
        {"filters": [{"cesql": "region LIKE 'eu-%'"}]}, on_cesql_error=errors.append
    )
    assert matches(ORDER)
    assert not matches(PING)
    assert [error.kind for error in errors] == [ErrorKind.MISSING_ATTRIBUTE]


def test_compiled_filter_does_not_change_the_event() -> None:
    event = dict(ORDER)
    compile_trigger_filter(
        {"filters": [{"cesql": "UPPER(region) = 'EU-WEST'"}, {"not": {"prefix": {"id": "x"}}}]}
    )(event)
    assert event == ORDER
