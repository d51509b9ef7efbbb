"""Channel backends (the ClusterChannelProvisioner types): where accepted events wait for delivery.

- `in-memory` (memory.py): bounded per-channel queue in the process; no durability.
- `jetstream` (jetstream.py): NATS JetStream stream + one durable pull consumer per subscription.
- `redis` (redis.py): one Redis stream per channel + one consumer group per subscription.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.routing import ChannelRoute
from eventwire_runtime.errors import EventTooLarge as EventTooLarge  # importable from here too

log = logging.getLogger(__name__)


class Backend(Protocol):
    """What ingress hands events to."""

    async def start(self) -> None:
        """Connect and start consuming; raise if the backend cannot be reached."""

    def accept(self, channel: ChannelRoute, events: list[Event]) -> int | Deferred[int] | Awaitable[int]:
        """Take `events` for `channel`; return 202 once they are safe, 429 when full, 503 if down.

        The status is an int when known at once, else a Deferred (resolved by broker callbacks)
        or an awaitable (slow paths such as waiting for flow control).

        Raises (or fails the awaitable with) EventTooLarge when the broker cannot store one.
        """

    def ready(self) -> bool:
        """True while the backend can accept events."""

    def settled(self) -> bool:
        """True when every subscription in the table has its durable state (consumer, group)."""

    def depths(self) -> Iterable[tuple[str, str, int]]:
        """(namespace, channel, undelivered events) for the queue-depth gauge."""

    async def stop(self, grace: float) -> None:
        """Stop consuming and finish (or leave persisted) in-flight deliveries within `grace` seconds."""


def stored_status(writes: int, broker: str) -> tuple[Deferred[int], Callable[[BaseException | None], None]]:
    """A status resolved by callbacks: 202 once `writes` writes succeeded, 503 at the first failure.

    Returns the Deferred status and the callback each write reports to (None = stored).
    """
    status: Deferred[int] = Deferred()
    left = writes

    def one_done(error: BaseException | None) -> None:
        nonlocal left
        left -= 1
        if status.done:
            return
        if error is not None:
            log.warning("%s write failed: %s", broker, error or type(error).__name__)
            status.resolve(503)
        elif not left:
            status.resolve(202)

    return status, one_done
