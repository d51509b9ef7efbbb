"""Channel backends (the ClusterChannelProvisioner types): where accepted events wait for delivery.

- `in-memory` (memory.py): bounded per-channel queue in the process; no durability.
- `jetstream` (jetstream.py): NATS JetStream stream + one durable pull consumer per subscription.
- `redis` (redis.py): one Redis stream per channel + one consumer group per subscription.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Protocol

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.dispatcher.routing import ChannelRoute


class Backend(Protocol):
    """What ingress hands events to."""

    async def start(self) -> None:
        """Connect and start consuming; raise if the backend cannot be reached."""

    def accept(self, channel: ChannelRoute, events: list[Event]) -> int | Awaitable[int]:
        """Take `events` for `channel`; return 202 once they are safe, 429 when full, 503 if down."""

    def ready(self) -> bool:
        """True while the backend can accept events."""

    def depths(self) -> Iterable[tuple[str, str, int]]:
        """(namespace, channel, undelivered events) for the queue-depth gauge."""

    async def stop(self, grace: float) -> None:
        """Stop consuming and finish (or leave persisted) in-flight deliveries within `grace` seconds."""
