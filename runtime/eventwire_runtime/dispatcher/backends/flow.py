"""Flow control for the persistent backends: ingress must not outrun delivery.

The backends poll each busy channel's worst subscription backlog (events stored but not yet
acknowledged) every 0.1 s, and count events admitted since then on top, so a burst between two
polls is held back too. While it is above `threshold`, ingress holds the request for up to
`hold` seconds waiting for the backlog to drain; the sender is slowed down smoothly, and only a
backlog that does not drain in that time gets 429 + Retry-After.
"""

from __future__ import annotations

import asyncio


class BacklogGate:
    """Per-channel backlog levels and the waiters held back by them.

    Args:
        threshold: backlog above which ingress is held (EVENTWIRE_MAX_BACKLOG).
        hold: seconds a request may wait for the backlog to drain before 429 (default 2).
    """

    def __init__(self, threshold: int, hold: float = 2.0) -> None:
        self.threshold = threshold
        self.hold = hold
        self.levels: dict[tuple[str, str], int] = {}
        self._open: dict[tuple[str, str], asyncio.Event] = {}

    def blocked(self, key: tuple[str, str]) -> bool:
        return self.levels.get(key, 0) > self.threshold

    def update(self, key: tuple[str, str], level: int) -> None:
        self.levels[key] = level
        if level <= self.threshold:
            event = self._open.pop(key, None)
            if event is not None:
                event.set()

    def admit(self, key: tuple[str, str], count: int) -> None:
        """Count `count` events just admitted, until the next measurement replaces the level."""
        self.levels[key] = self.levels.get(key, 0) + count

    def forget(self, key: tuple[str, str]) -> None:
        self.update(key, 0)
        self.levels.pop(key, None)

    async def admit_when_open(self, key: tuple[str, str], count: int) -> bool:
        """Admit `count` events once `key` is at or below the threshold; False after `hold` s.

        Woken waiters re-check the level, so a drained backlog lets in only what fits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hold
        while self.blocked(key):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._open.setdefault(key, asyncio.Event())
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                return False
        self.admit(key, count)
        return True
