"""The delivery spec: how hard and how long to try delivering one event to one destination.

`DeliverySpec.from_dict` reads the CRD shape (`spec.delivery` of a Channel or Subscription, and
the resolved `status.subscribers[].delivery`); `parse_duration` reads its ISO-8601 durations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eventwire_spec.durations import parse_duration as parse_duration  # the one grammar (re-exported)

BackoffPolicy = Literal["linear", "exponential"]

# Bounds of a retry sequence when the spec sets none (CRD: `backoffMax`, `retryWindow`): no wait
# longer than a minute, no retry later than ten minutes after the first attempt.
DEFAULT_BACKOFF_MAX = 60.0
DEFAULT_RETRY_WINDOW = 600.0
EventFormat = Literal["binary", "structured"]


@dataclass(frozen=True, slots=True)
class DeliverySpec:
    """Delivery options for one destination.

    Args:
        retry: retries after the first attempt (0 = one attempt only).
        backoff_policy: "exponential" (default) or "linear"; see `backoff.retry_delay`.
        backoff_delay: base delay in seconds (default 0.2, Knative's PT0.2S).
        backoff_max: cap on any single wait in seconds (default 60).
        timeout: per-attempt timeout in seconds; None = the sender's default.
        retry_after_max: cap on a receiver's Retry-After in seconds; None = Retry-After ignored.
        dead_letter_uri: where the original event goes after the last failed attempt.
        format: "binary" (default) or "structured" CloudEvents HTTP content mode.
        retry_window: seconds after the first attempt within which retries may start (default
            600): the whole retry sequence is bounded whatever `retry` says.
    """

    retry: int = 0
    backoff_policy: BackoffPolicy = "exponential"
    backoff_delay: float = 0.2
    backoff_max: float = DEFAULT_BACKOFF_MAX
    timeout: float | None = None
    retry_after_max: float | None = None
    dead_letter_uri: str | None = None
    format: EventFormat = "binary"
    retry_window: float = DEFAULT_RETRY_WINDOW

    def __post_init__(self) -> None:
        if isinstance(self.retry, bool) or not isinstance(self.retry, int) or self.retry < 0:
            raise ValueError(f"retry must be a non-negative integer, got {self.retry!r}")
        if self.backoff_policy not in ("linear", "exponential"):
            raise ValueError(f"backoffPolicy must be 'linear' or 'exponential', got {self.backoff_policy!r}")
        if self.format not in ("binary", "structured"):
            raise ValueError(f"format must be 'binary' or 'structured', got {self.format!r}")
        for name in ("backoff_delay", "backoff_max", "retry_window", "timeout", "retry_after_max"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")
        if self.timeout is not None and self.timeout == 0:
            raise ValueError("timeout must be greater than zero")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, dead_letter_uri: str | None = None) -> DeliverySpec:
        """Build from the CRD shape.

        Reads `retry`, `backoffPolicy`, `backoffDelay`, `backoffMax`, `retryWindow`, `timeout`,
        `retryAfterMax` (ISO-8601 durations), `format` ("binary", "structured" or Knative's "json"), and the
        dead-letter URI from `deadLetterSinkUri`, `deadLetterSink.uri` or the `dead_letter_uri`
        argument, in that order. Unknown keys are ignored.

        Raises:
            ValueError: naming the offending field.
        """
        d = d or {}
        if not isinstance(d, Mapping):
            raise ValueError(f"delivery must be a mapping, got {type(d).__name__}")
        kwargs: dict[str, Any] = {}
        if d.get("retry") is not None:
            retry = d["retry"]
            if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
                raise ValueError(f"delivery.retry must be a non-negative integer, got {retry!r}")
            kwargs["retry"] = retry
        if d.get("backoffPolicy") is not None:
            policy = str(d["backoffPolicy"]).lower()
            if policy not in ("linear", "exponential"):
                raise ValueError(
                    f"delivery.backoffPolicy must be 'linear' or 'exponential', got {d['backoffPolicy']!r}"
                )
            kwargs["backoff_policy"] = policy
        for key, attr in (
            ("backoffDelay", "backoff_delay"),
            ("backoffMax", "backoff_max"),
            ("retryWindow", "retry_window"),
            ("timeout", "timeout"),
            ("retryAfterMax", "retry_after_max"),
        ):
            if d.get(key) is not None:
                try:
                    kwargs[attr] = parse_duration(d[key])
                except ValueError as exc:
                    raise ValueError(f"delivery.{key}: {exc}") from None
        if kwargs.get("timeout") == 0:
            raise ValueError("delivery.timeout must be greater than zero")
        if d.get("format") is not None:
            fmt = str(d["format"]).lower()
            if fmt == "json":
                fmt = "structured"
            if fmt not in ("binary", "structured"):
                raise ValueError(
                    f"delivery.format must be 'binary' or 'structured' (or 'json'), got {d['format']!r}"
                )
            kwargs["format"] = fmt
        dls = d.get("deadLetterSinkUri")
        if dls is None and isinstance(d.get("deadLetterSink"), Mapping):
            dls = d["deadLetterSink"].get("uri")
        if dls is None:
            dls = dead_letter_uri
        if dls is not None:
            if not isinstance(dls, str) or not dls.startswith(("http://", "https://")):
                raise ValueError(f"delivery.deadLetterSinkUri must be an http(s) URL, got {dls!r}")
            kwargs["dead_letter_uri"] = dls
        return cls(**kwargs)
