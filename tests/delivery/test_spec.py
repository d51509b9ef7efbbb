"""DeliverySpec and ISO-8601 duration parsing, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire_runtime.delivery import DeliverySpec, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT0.2S", 0.2),
        ("PT1S", 1.0),
        ("PT1M", 60.0),
        ("PT1H", 3600.0),
        ("P1D", 86400.0),
        ("P1DT2H", 86400.0 + 7200.0),
        ("PT1M30.5S", 90.5),
        ("P1W", 7 * 86400.0),
        ("PT0,5S", 0.5),
        ("PT0S", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "1S", "PT-1S", "-PT1S", "PT1", "P1H", "PT1S1M", "soon", "PT1.S", "pt2s", "P1.5D"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_parse_duration_rejects_non_string() -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("crd", "expected"),
    [
        ({}, DeliverySpec()),
        (None, DeliverySpec()),
        (
            {
                "retry": 3,
                "backoffPolicy": "linear",
                "backoffDelay": "PT0.5S",
                "backoffMax": "PT2S",
                "timeout": "PT10S",
                "retryAfterMax": "PT30S",
                "format": "json",
                "deadLetterSinkUri": "http://dls.default.svc/",
            },
            DeliverySpec(3, "linear", 0.5, 2.0, 10.0, 30.0, "http://dls.default.svc/", "structured"),
        ),
        ({"format": "binary"}, DeliverySpec(format="binary")),
        ({"format": "structured"}, DeliverySpec(format="structured")),
        ({"backoffPolicy": "Exponential"}, DeliverySpec()),
        ({"deadLetterSink": {"uri": "https://x/"}}, DeliverySpec(dead_letter_uri="https://x/")),
        ({"unknownField": 1}, DeliverySpec()),
    ],
)
def test_from_dict(crd: dict[str, Any] | None, expected: DeliverySpec) -> None:
    assert DeliverySpec.from_dict(crd) == expected


def test_from_dict_takes_dead_letter_argument() -> None:
    assert DeliverySpec.from_dict({}, dead_letter_uri="http://d/").dead_letter_uri == "http://d/"


@pytest.mark.parametrize(
    ("crd", "field"),
    [
        ({"retry": -1}, "delivery.retry"),
        ({"retry": "3"}, "delivery.retry"),
        ({"retry": True}, "delivery.retry"),
        ({"backoffPolicy": "fibonacci"}, "delivery.backoffPolicy"),
        ({"backoffDelay": "0.2"}, "delivery.backoffDelay"),
        ({"backoffMax": "PTxS"}, "delivery.backoffMax"),
        ({"timeout": "PT0S"}, "delivery.timeout"),
        ({"timeout": 5}, "delivery.timeout"),
        ({"retryAfterMax": "later"}, "delivery.retryAfterMax"),
        ({"format": "xml"}, "delivery.format"),
        ({"deadLetterSinkUri": "ftp://x"}, "delivery.deadLetterSinkUri"),
    ],
)
def test_from_dict_errors_name_the_field(crd: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        DeliverySpec.from_dict(crd)


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        DeliverySpec.from_dict(["retry"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"retry": -1}, {"backoff_delay": -0.1}, {"timeout": 0.0}, {"backoff_policy": "x"}, {"format": "x"}],
)
def test_constructor_validates(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"retry|backoff|timeout|format"):
        DeliverySpec(**kwargs)
