"""The controller's work queue: one reconcile at a time per key, bursts coalesced, failures and
requested resyncs run again later. Waits are on events, never on elapsed time."""

from __future__ import annotations

import asyncio
from collections import Counter

from eventwire_runtime.controller.workqueue import WorkQueue


async def test_adds_during_a_reconcile_coalesce_into_one_more_pass() -> None:
    release = asyncio.Event()
    calls: Counter[str] = Counter()
    second = asyncio.Event()

    async def process(key: str) -> float | None:
        calls[key] += 1
        if calls[key] == 1:
            await release.wait()
        else:
            second.set()
        return None

    queue: WorkQueue[str] = WorkQueue("test", process)
    queue.add("a")
    await asyncio.sleep(0)  # the first pass starts and blocks
    for _ in range(5):
        queue.add("a")
    release.set()
    await asyncio.wait_for(second.wait(), 5)
    await queue.close()
    assert calls["a"] == 2


async def test_keys_run_concurrently_but_each_key_alone() -> None:
    started = {"a": asyncio.Event(), "b": asyncio.Event()}
    running: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    overlapped: list[str] = []
    finished, release = asyncio.Event(), asyncio.Event()

    async def process(key: str) -> float | None:
        running[key] += 1
        calls[key] += 1
        if running[key] > 1:
            overlapped.append(key)
        started[key].set()
        if calls[key] == 1:  # the first passes of "a" and "b" run at the same time
            await asyncio.wait_for(release.wait(), 5)
        running[key] -= 1
        if sum(calls.values()) == 3:
            finished.set()
        return None

    queue: WorkQueue[str] = WorkQueue("test", process)
    queue.add("a")
    queue.add("b")
    await asyncio.wait_for(asyncio.gather(started["a"].wait(), started["b"].wait()), 5)
    queue.add("a")  # while "a" runs: one more pass afterwards, never concurrent with itself
    release.set()
    await asyncio.wait_for(finished.wait(), 5)
    await queue.close()
    assert overlapped == []
    assert calls == {"a": 2, "b": 1}


async def test_a_failure_is_retried_after_its_backoff_and_a_resync_runs_again() -> None:
    calls: list[str] = []
    done = asyncio.Event()

    async def process(key: str) -> float | None:
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("the API server is away")
        if len(calls) == 2:
            return 0.01  # not Ready: again after a resync
        done.set()
        return None

    errors: list[str] = []
    queue: WorkQueue[str] = WorkQueue("test", process, backoff=(0.01,), on_error=lambda: errors.append("x"))
    queue.add("a")
    await asyncio.wait_for(done.wait(), 5)
    await queue.close()
    assert calls == ["a", "a", "a"]
    assert errors == ["x"]  # the failure was counted once (a metric in the operator)


async def test_forget_drops_a_delayed_reconcile() -> None:
    processed: list[str] = []
    later_ran = asyncio.Event()

    async def process(key: str) -> float | None:
        processed.append(key)
        if key == "later":
            later_ran.set()
        return None

    queue: WorkQueue[str] = WorkQueue("test", process)
    queue.add("gone", delay=0.01)
    queue.forget("gone")
    queue.add("later", delay=0.02)  # a barrier: due after the forgotten one would have been
    await asyncio.wait_for(later_ran.wait(), 5)
    await queue.close()
    assert processed == ["later"]
