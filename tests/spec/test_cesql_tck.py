"""The CloudEvents SQL v1.0.0 test-compatibility kit, every case, against eventwire_spec.cesql.

cesql_tck.json is the TCK (cloudevents/spec, cesql/tck, Apache-2.0) converted by
convert_cesql_tck.py; the tests read only that file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventwire_spec import cesql

CASES: list[dict[str, Any]] = json.loads(Path(__file__).with_name("cesql_tck.json").read_text("utf-8"))

# "When `event` is absent, any valid event can be passed": this one, changed by eventOverrides.
BASE_EVENT = {"specversion": "1.0", "id": "tck-event", "source": "/tck", "type": "dev.eventwire.tck"}


def test_the_whole_tck_is_here() -> None:
    assert len(CASES) == 275
    assert len({case["file"] for case in CASES}) == 18


def event_of(case: dict[str, Any]) -> dict[str, Any]:
    return {**(case.get("event") or BASE_EVENT), **case.get("eventOverrides", {})}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file'][:-5]}: {c['name']}" for c in CASES])
def test_tck_case(case: dict[str, Any]) -> None:
    if case.get("error") == "parse":
        with pytest.raises(cesql.CesqlParseError):
            cesql.parse(case["expression"])
        return
    evaluation = cesql.parse(case["expression"]).evaluate(event_of(case))
    expected_error = case.get("error")
    assert (evaluation.error.kind if evaluation.error else None) == expected_error, evaluation.error
    if "result" in case:
        assert evaluation.value == case["result"]
        assert type(evaluation.value) is type(case["result"])
