"""Helpers for the no-loss tests: which ids were answered 202, which the sinks received."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp

from tests.dispatcher.conftest import binary_headers
from tests.support.sink import Sink
from tests.support.waiting import eventually_async


class Ledger:
    """Ids answered 202 and ids the sinks received (with repeats), for one scenario."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks
        self.accepted: list[str] = []

    def delivered(self) -> collections.Counter[str]:
        return collections.Counter(r.headers["ce-id"] for s in self.sinks for r in s.received)

    def missing(self) -> set[str]:
        return set(self.accepted) - set(self.delivered())

    async def all_delivered(self, within: float = 60.0) -> None:
        """Wait until every accepted id was received at least once; assert with the figures."""
        with contextlib.suppress(TimeoutError):  # the assertion below names what is missing
            await eventually_async(lambda: not self.missing(), timeout=within, interval=0.1)
        self.report()
        missing = self.missing()
        assert not missing, f"{len(missing)} of {len(self.accepted)} accepted events never delivered"

    async def accepts_more(self, count: int, what: str = "more events accepted") -> None:
        """Wait until `count` more ids than now were accepted (by a `producing` block)."""
        before = len(self.accepted)
        await until(lambda: len(self.accepted) >= before + count, what=what)

    def report(self, label: str = "") -> None:
        got = self.delivered()
        dupes = sum(n - 1 for n in got.values())
        print(
            f"FIGURE {label}accepted={len(set(self.accepted))} "
            f"delivered={len(set(self.accepted) & set(got))} duplicates={dupes}"
        )


async def post(http: aiohttp.ClientSession, url: str, event_id: str) -> int:
    try:
        async with http.post(url, data=b"{}", headers=binary_headers(event_id)) as resp:
            return resp.status
    except aiohttp.ClientError:
        return 0


@contextlib.asynccontextmanager
async def producing(
    http: aiohttp.ClientSession, url: str, ledger: Ledger, prefix: str = "e", limit: int = 5000
) -> AsyncIterator[asyncio.Task[None]]:
    """Post `prefix-0`, `prefix-1` ... one at a time (at most `limit`) until the block ends."""

    async def run() -> None:
        for i in range(limit):
            event_id = f"{prefix}-{i}"
            if await post(http, url, event_id) == 202:
                ledger.accepted.append(event_id)
            await asyncio.sleep(0.002)  # a steady trickle (the load is the scenario), not a wait

    task = asyncio.create_task(run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], object], within: float = 20.0, what: str = "condition") -> None:
    """The shared `eventually_async`, with this module's longer default timeout."""
    await eventually_async(check, timeout=within, what=what, interval=0.05)
