"""Which delivery outcomes are worth retrying, and what the receiver asked us to wait.

Follows Knative's data-plane response-code table: retry on transport errors and timeouts
(status None), 404, 408, 409, 429 and every 5xx; do not retry other 4xx, 1xx or 3xx (those are
failures that go to the dead-letter sink straight away); 2xx is success.
"""

from __future__ import annotations

import email.utils
import math
import time

RETRYABLE_4XX = frozenset({404, 408, 409, 429})


def is_success(status: int | None) -> bool:
    """True for any 2xx: delivery completed."""
    return status is not None and 200 <= status < 300


def is_retryable(status: int | None) -> bool:
    """True when a failed attempt with this outcome should be retried.

    Args:
        status: the HTTP status code, or None for a transport error or timeout.
    """
    if status is None:
        return True
    return status in RETRYABLE_4XX or 500 <= status < 600


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP-date.

    Returns None for a missing or unparsable value; a date in the past gives 0.

    Args:
        value: the header value.
        now: the current Unix time (defaults to `time.time()`), for HTTP-dates.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
