"""A result handed over by direct callbacks, for the ingress path of the persistent backends.

Why not asyncio futures: every `set_result` runs the future's callbacks in a later event-loop
iteration, and the broker ack -> backend status -> HTTP answer chain had three such hops. Under
load each iteration also runs a batch of deliveries, so the hops added milliseconds to ingress
latency. A `Deferred` runs its callbacks at once, in the resolver's call stack; callbacks must be
short and must not raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Deferred(Generic[T]):
    """A value that arrives later; `then(callback)` runs callback(value) once it does."""

    __slots__ = ("_callbacks", "_done", "_value")

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []
        self._done = False
        self._value: T | None = None

    @property
    def done(self) -> bool:
        return self._done

    def resolve(self, value: T) -> None:
        """Set the value (later calls are ignored) and run the callbacks now."""
        if self._done:
            return
        self._done = True
        self._value = value
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(value)

    def then(self, callback: Callable[[T], None]) -> None:
        if self._done:
            callback(self._value)  # type: ignore[arg-type]  # set by resolve
        else:
            self._callbacks.append(callback)

    def map(self, function: Callable[[T], U]) -> Deferred[U]:
        out: Deferred[U] = Deferred()
        self.then(lambda value: out.resolve(function(value)))
        return out

    async def wait(self) -> T:
        """Await the value (for slow paths that are coroutines anyway)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def settle(value: T) -> None:
            if not future.done():
                future.set_result(value)

        self.then(settle)
        return await future
