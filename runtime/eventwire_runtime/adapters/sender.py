"""How adapters hand events to the sink: the `EventSender` protocol and its implementations.

`SinkSender` delivers one binary-mode event to K_SINK through the shared delivery layer
(`eventwire_runtime.delivery.Sender`: the delivery spec's retries with the one backoff formula,
then the dead-letter sink). `MeteredSender` wraps any sender with an in-flight limit and the
adapter's metrics.

An adapter acknowledges upstream (deletes the SQS message, acks the Pub/Sub message, answers
GitHub 202) only when `DeliveryOutcome.accepted` is true: the sink or the dead-letter sink
answered 2xx.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eventwire_runtime.adapters.metrics import AdapterMetrics
from eventwire_runtime.delivery.sender import Sender
from eventwire_runtime.delivery.spec import DeliverySpec

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What became of one event.

    Attributes:
        delivered: the sink answered 2xx.
        dead_lettered: the sink failed and the dead-letter sink answered 2xx.
        status: the sink's last status code, None after a transport error.
        attempts: attempts made to the sink.
        error: the last failure, for logs ("" on success).
    """

    delivered: bool
    dead_lettered: bool = False
    status: int | None = None
    attempts: int = 1
    error: str = ""

    @property
    def accepted(self) -> bool:
        """True when someone took the event, so the upstream may be acknowledged."""
        return self.delivered or self.dead_lettered


class EventSender(Protocol):
    """Delivers one CloudEvent given as binary-mode (headers, body)."""

    async def send(self, headers: Headers, body: bytes) -> DeliveryOutcome: ...


class SinkSender:
    """Deliver events to one sink URL with one delivery spec.

    Args:
        sink: the K_SINK URL.
        spec: retries, backoff, per-attempt timeout and dead-letter URI.
        sender: the shared delivery sender (owned by the caller, who closes it).
    """

    def __init__(self, sink: str, spec: DeliverySpec, sender: Sender) -> None:
        self.sink = sink
        self.spec = spec
        self._sender = sender

    async def send(self, headers: Headers, body: bytes) -> DeliveryOutcome:
        result = await self._sender.send(self.sink, headers, body, self.spec)
        return DeliveryOutcome(
            delivered=result.delivered,
            dead_lettered=result.dead_lettered,
            status=result.status,
            attempts=result.attempts,
            error=result.error or "",
        )


class MeteredSender:
    """Bound concurrent deliveries and record metrics around another sender.

    Args:
        inner: the sender that does the work.
        metrics: where counts and latencies go.
        max_in_flight: deliveries allowed at once; callers beyond it wait.
    """

    def __init__(self, inner: EventSender, metrics: AdapterMetrics, max_in_flight: int) -> None:
        self._inner = inner
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max_in_flight)

    async def send(self, headers: Headers, body: bytes) -> DeliveryOutcome:
        self._metrics.produced.inc()
        async with self._slots:
            self._metrics.in_flight.inc()
            started = time.monotonic()
            try:
                outcome = await self._inner.send(headers, body)
            finally:
                self._metrics.in_flight.dec()
                self._metrics.latency.observe(time.monotonic() - started)
        if outcome.attempts > 1:
            self._metrics.retried.inc(outcome.attempts - 1)
        if outcome.delivered:
            self._metrics.delivered.inc()
        else:
            self._metrics.failed.inc()
            if outcome.dead_lettered:
                self._metrics.dead_lettered.inc()
        return outcome
