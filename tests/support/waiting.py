"""`eventually`: the tests' one way to wait for something to become true.

Tests never sleep and then assert that something did (or did not) happen: they wait on the
condition itself, bounded by a timeout that is generous on a loaded machine and only spent when
the condition never holds. The result of a truthy predicate is returned, so a wait can also fetch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL = 0.02


def eventually(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "", interval: float = INTERVAL
) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy; return that.

    Raises:
        TimeoutError: after `timeout` seconds, naming `what` (or the predicate).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
