"""Channel backends (the ClusterChannelProvisioner types): where accepted events wait for delivery.

- `in-memory` (memory.py): bounded per-channel queue in the process; no durability.
- `jetstream` (jetstream.py): NATS JetStream stream + one durable pull consumer per subscription.
- `redis` (redis.py): one Redis stream per channel + one consumer group per subscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Protocol

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.dispatcher.routing import ChannelRoute

log = logging.getLogger(__name__)


class EventTooLarge(Exception):
    """An event is larger than the backend's broker accepts; the message names the limit (413)."""


class Backend(Protocol):
    """What ingress hands events to."""

    async def start(self) -> None:
        """Connect and start consuming; raise if the backend cannot be reached."""

    def accept(self, channel: ChannelRoute, events: list[Event]) -> int | Awaitable[int]:
        """Take `events` for `channel`; return 202 once they are safe, 429 when full, 503 if down.

        Raises (or fails the awaitable with) EventTooLarge when the broker cannot store one.
        """

    def ready(self) -> bool:
        """True while the backend can accept events."""

    def depths(self) -> Iterable[tuple[str, str, int]]:
        """(namespace, channel, undelivered events) for the queue-depth gauge."""

    async def stop(self, grace: float) -> None:
        """Stop consuming and finish (or leave persisted) in-flight deliveries within `grace` seconds."""


def accepted_when_stored(writes: Sequence[asyncio.Future[Any]], broker: str) -> asyncio.Future[int]:
    """A future of 202 once every write succeeded, 503 as soon as one failed.

    Callbacks instead of a coroutine gathering the writes: no task per ingress request.
    """
    result: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    left = len(writes)

    def one_done(write: asyncio.Future[Any]) -> None:
        nonlocal left
        left -= 1
        if result.done():
            return
        if write.cancelled() or write.exception() is not None:
            log.warning(
                "%s write failed: %s", broker, "cancelled" if write.cancelled() else write.exception()
            )
            result.set_result(503)
        elif not left:
            result.set_result(202)

    for write in writes:
        write.add_done_callback(one_done)
    return result
