"""One ISO-8601 duration grammar: the CRD schema (through the validator) and the runtime accept
exactly the same durations."""

from __future__ import annotations

import pytest

from eventwire.api import resource_errors
from eventwire_runtime.delivery import parse_duration
from tests.api.factories import make

CASES = [
    ("PT0.2S", 0.2),
    ("PT1S", 1.0),
    ("PT1M30.5S", 90.5),
    ("PT0,5S", 0.5),
    ("P1D", 86400.0),
    ("P1DT2H", 86400.0 + 7200.0),
    ("P1W", 7 * 86400.0),
    ("P1Y2M", 365 * 86400.0 + 60 * 86400.0),
    ("PT0S", 0.0),
    ("P1.5D", None),  # fractions only in seconds (the runtime once took this, the CRD never did)
    ("PT1.5M", None),
    ("pt2s", None),
    ("P", None),
    ("PT", None),
    ("P1DT", None),
    ("-PT1S", None),
    ("PT1", None),
    ("P1H", None),
    ("PT1S1M", None),
    ("PT1.S", None),
    ("soon", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "seconds"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_the_crd_and_the_runtime_accept_the_same_durations(text: str, seconds: float | None) -> None:
    channel = make("Channel", "orders", "ns", spec={"delivery": {"backoffDelay": text}})
    crd_accepts = not resource_errors(channel)
    if seconds is None:
        assert not crd_accepts
        with pytest.raises(ValueError, match="duration"):
            parse_duration(text)
    else:
        assert crd_accepts
        assert parse_duration(text) == pytest.approx(seconds)
