"""Properties of the CESQL engine over generated input: no crash, and fast paths agree with regexes."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventwire_spec import cesql
from eventwire_spec.cesql._compiler import like_matcher

# Characters that matter to the grammar, plus some that do not.
GRAMMAR_ALPHABET = st.sampled_from(
    [*"abcXYZ019 '\"\\%_()=<>!+-*/,.", "AND", "OR", "NOT", "IN", "LIKE", "EXISTS", "TRUE", "INT"]
)
EVENTS = st.dictionaries(
    st.sampled_from(["id", "source", "type", "specversion", "a", "b", "c", "abc"]),
    st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.binary(max_size=4)),
)


def reference_like(pattern: str, value: str) -> bool:
    """LIKE by the spec's definition, as one regular expression."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += {"%": ".*", "_": "."}.get(pattern[i], re.escape(pattern[i]))
        i += 1
    return re.fullmatch(regex, value, re.DOTALL) is not None


@settings(max_examples=400, deadline=None)
@given(pattern=st.text(alphabet="ab%_\\.\n", max_size=8), value=st.text(alphabet="ab%_\\.\n", max_size=8))
def test_like_fast_paths_agree_with_the_definition(pattern: str, value: str) -> None:
    assert bool(like_matcher(pattern)(value)) is reference_like(pattern, value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(GRAMMAR_ALPHABET, max_size=25), event=EVENTS)
def test_any_text_parses_or_fails_cleanly_and_evaluation_never_raises(
    parts: list[str], event: dict[str, object]
) -> None:
    text = " ".join(parts) if len(parts) % 2 else "".join(parts)
    try:
        expression = cesql.parse(text)
    except cesql.CesqlParseError as error:
        position = error.position
        expression = None
    if expression is None:
        assert 0 <= position <= len(text)
        return
    evaluation = expression.evaluate(event)
    assert type(evaluation.value) in (bool, int, str)
    assert expression.matches(event) is (evaluation.value is True and evaluation.error is None)
