"""The backoff formula, the retry predicate and Retry-After parsing, table-driven."""

from __future__ import annotations

import email.utils

import pytest

from eventwire_runtime.delivery import DeliverySpec, is_retryable, is_success, parse_retry_after, retry_delay

EXP = DeliverySpec(retry=10, backoff_policy="exponential", backoff_delay=0.2)
LIN = DeliverySpec(retry=10, backoff_policy="linear", backoff_delay=0.2)


@pytest.mark.parametrize(
    ("spec", "attempt", "retry_after", "expected"),
    [
        (EXP, 1, None, 0.2),
        (EXP, 2, None, 0.4),
        (EXP, 3, None, 0.8),
        (EXP, 5, None, 3.2),
        (LIN, 1, None, 0.2),
        (LIN, 2, None, 0.4),
        (LIN, 3, None, 0.6),
        (LIN, 5, None, 1.0),
        (DeliverySpec(backoff_delay=0.2, backoff_max=0.5), 3, None, 0.5),
        (DeliverySpec(backoff_policy="linear", backoff_delay=1, backoff_max=2.5), 4, None, 2.5),
        # Without retryAfterMax, Retry-After is ignored (the CRD's wording).
        (EXP, 1, 3.0, 0.2),
        (EXP, 1, 999999.0, 0.2),
        # With it, Retry-After wins when longer, not when shorter ...
        (DeliverySpec(backoff_delay=0.2, retry_after_max=10.0), 1, 3.0, 3.0),
        (DeliverySpec(backoff_delay=0.2, retry_after_max=10.0), 4, 0.5, 1.6),
        # ... even above backoffMax, but itself capped at retryAfterMax.
        (DeliverySpec(backoff_delay=0.1, backoff_max=0.2, retry_after_max=10.0), 1, 5.0, 5.0),
        (DeliverySpec(backoff_delay=0.1, retry_after_max=2.0), 1, 5.0, 2.0),
        (DeliverySpec(backoff_delay=0.1, retry_after_max=0.05), 1, 5.0, 0.1),
        # The default backoffMax (60 s) bounds every wait.
        (EXP, 2000, None, 60.0),
        (DeliverySpec(retry=100), 100, None, 60.0),
    ],
)
def test_retry_delay(spec: DeliverySpec, attempt: int, retry_after: float | None, expected: float) -> None:
    assert retry_delay(spec, attempt, retry_after) == pytest.approx(expected)


def test_retry_delay_jitter_stays_in_band() -> None:
    delays = [retry_delay(EXP, 3, jitter=0.1) for _ in range(200)]
    assert all(0.72 <= d <= 0.88 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(("attempt", "jitter"), [(0, 0.0), (1, 1.0), (1, -0.1)])
def test_retry_delay_rejects(attempt: int, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"attempt|jitter"):
        retry_delay(EXP, attempt, jitter=jitter)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (None, True),
        (404, True),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (599, True),
        (400, False),
        (401, False),
        (403, False),
        (405, False),
        (410, False),
        (413, False),
        (422, False),
        (301, False),
        (100, False),
    ],
)
def test_is_retryable(status: int | None, retryable: bool) -> None:
    assert is_retryable(status) is retryable


@pytest.mark.parametrize(
    ("status", "ok"), [(200, True), (202, True), (204, True), (299, True), (300, False), (None, False)]
)
def test_is_success(status: int | None, ok: bool) -> None:
    assert is_success(status) is ok


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (" 120 ", 120.0),
        ("0.5", 0.5),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    got = parse_retry_after(value, now=NOW)
    if seconds is None:
        assert got is None
    else:
        assert got == pytest.approx(seconds, abs=1.0)
