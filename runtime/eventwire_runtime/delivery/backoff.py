"""The one backoff formula used everywhere (dispatcher and adapters).

The wait before retry k (k = 1..spec.retry) is

    exponential: backoff_delay * 2 ** (k - 1)
    linear:      backoff_delay * k

then capped at `backoff_max` (default 60 s), then raised to at least the receiver's
`Retry-After` capped at `retry_after_max` (an unset `retry_after_max` ignores Retry-After, as
the CRD says). With the defaults (PT0.2S, exponential) the waits are 0.2, 0.4, 0.8, 1.6 ...
seconds, never more than a minute. The whole sequence is bounded too (`retry_window`, enforced
by the Sender, which knows when the first attempt began).

`jitter=0.1` multiplies the capped wait by a uniform factor in [0.9, 1.1] (never below the
honoured Retry-After), spreading retries from many senders; the Sender uses JITTER by default,
this function 0 (the exact formula) unless asked.
"""

from __future__ import annotations

import random

from eventwire_runtime.delivery.spec import DeliverySpec

# 2**k overflows float beyond ~1024; any k this large is capped anyway.
_MAX_EXPONENT = 60
JITTER = 0.1  # the Sender's default spread


def retry_delay(
    spec: DeliverySpec, attempt: int, retry_after: float | None = None, jitter: float = 0.0
) -> float:
    """Seconds to wait before retry number `attempt` (1-based), per the module's formula.

    Args:
        spec: the delivery spec (policy, base delay, caps).
        attempt: which retry this wait precedes, 1 for the first retry.
        retry_after: seconds the receiver asked for in `Retry-After`, if any.
        jitter: relative spread in [0, 1); 0 (default) gives the exact formula.

    Raises:
        ValueError: when `attempt` < 1 or `jitter` is outside [0, 1).
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    if spec.backoff_policy == "linear":
        delay = spec.backoff_delay * attempt
    else:
        delay = spec.backoff_delay * 2.0 ** min(attempt - 1, _MAX_EXPONENT)
    delay = min(delay, spec.backoff_max)
    if jitter:
        delay *= random.uniform(1.0 - jitter, 1.0 + jitter)  # spreading retries, not cryptography
    if retry_after is not None and retry_after > 0 and spec.retry_after_max is not None:
        delay = max(delay, min(retry_after, spec.retry_after_max))
    return delay
