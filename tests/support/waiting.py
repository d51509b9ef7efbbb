"""`eventually`: the tests' one way to wait for something to become true.

Tests never sleep and then assert that something did (or did not) happen: they wait on the
condition itself, bounded by a timeout that is generous on a loaded machine and only spent when
the condition never holds. The result of a truthy predicate is returned, so a wait can also fetch.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

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


@overload
async def eventually_async(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = ...,  # noqa: ASYNC109
    what: str = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually_async(
    predicate: Callable[[], T],
    timeout: float = ...,  # noqa: ASYNC109
    what: str = ...,
    interval: float = ...,
) -> T: ...


async def eventually_async(
    predicate: Callable[[], Any],
    timeout: float = 10.0,  # noqa: ASYNC109 - the same signature as `eventually`
    what: str = "",
    interval: float = INTERVAL,
) -> Any:
    """`eventually` for tests whose servers and sinks live in the test's own event loop.

    Sleeping with `asyncio.sleep` keeps that loop running between polls; `predicate` may be a
    plain callable or return an awaitable (an async probe such as an HTTP GET).

    Raises:
        TimeoutError: after `timeout` seconds, naming `what` (or the predicate).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)
