"""What an adapter is: one object that produces events, built from the env and a sender.

`main()` constructs the adapter with `(AdapterEnv, EventSender)`, logs its `mode`, runs
`run()`, and on SIGTERM calls `stop()`; `run()` should then stop taking new work, finish what is
in flight and return. If it has not returned within K_SHUTDOWN_TIMEOUT it is cancelled; adapters
acknowledge upstream only after the sink accepted an event, so a cancellation loses nothing that
was acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from eventwire_runtime.adapters.env import AdapterEnv
from eventwire_runtime.adapters.sender import EventSender


class Adapter(Protocol):
    """The shape `main()` drives."""

    @property
    def mode(self) -> str:
        """The named operating mode, logged at start (e.g. "resource", "secured webhook")."""
        ...

    @property
    def ready(self) -> bool:
        """True once the adapter is connected and producing (`/readyz` answers 200)."""
        ...

    async def run(self) -> None:
        """Produce events until `stop()` is called or the task is cancelled."""
        ...

    def stop(self) -> None:
        """Ask `run()` to drain and return."""
        ...


AdapterFactory = Callable[[AdapterEnv, EventSender], Adapter]


class BaseAdapter:
    """Common state: the env, the sender, a stop flag and a ready flag.

    Args:
        env: the parsed common settings (and raw environment for the kind's own settings).
        sender: where events go.
    """

    mode = "default"

    def __init__(self, env: AdapterEnv, sender: EventSender) -> None:
        self.env = env
        self.sender = sender
        self.stopping = asyncio.Event()
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready and not self.stopping.is_set()

    def stop(self) -> None:
        self.stopping.set()

    async def sleep_or_stop(self, seconds: float) -> bool:
        """Wait `seconds` or until `stop()`; True when stopping."""
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await self.stopping.wait()
        except TimeoutError:
            return False
        return True

    async def wait_unless_stopped(self, future: asyncio.Future[Any]) -> bool:
        """Wait until `future` is done or `stop()` is called; True when `future` is done. The
        future is neither cancelled nor awaited here: a caller that gets False cancels it."""
        stopper = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({future, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        return future.done()
