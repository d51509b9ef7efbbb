"""Pure pieces of the fast paths: Deferred, stored_status, metric tallies, the delivery limiter."""

from __future__ import annotations

import asyncio
import re

from prometheus_client import generate_latest

from eventwire_runtime.dispatcher.backends import stored_status
from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.fanout import _Limiter
from eventwire_runtime.dispatcher.metrics import DispatcherMetrics


def test_deferred_runs_callbacks_at_once_and_only_once() -> None:
    seen: list[str] = []
    value: Deferred[int] = Deferred()
    value.then(lambda v: seen.append(f"early {v}"))
    mapped = value.map(lambda v: v * 2)
    mapped.then(lambda v: seen.append(f"mapped {v}"))
    assert not value.done
    value.resolve(21)
    value.resolve(99)  # ignored
    value.then(lambda v: seen.append(f"late {v}"))
    assert seen == ["early 21", "mapped 42", "late 21"]


async def test_deferred_can_be_awaited() -> None:
    value: Deferred[str] = Deferred()
    value.resolve("ok")
    assert await value.wait() == "ok"


def test_stored_status_is_202_after_all_writes_and_503_at_the_first_failure() -> None:
    ok, report = stored_status(2, "test")
    report(None)
    assert not ok.done
    report(None)
    got: list[int] = []
    ok.then(got.append)
    failed, report_failure = stored_status(3, "test")
    report_failure(None)
    report_failure(OSError("disk full"))
    failed.then(got.append)
    report_failure(None)  # a late success changes nothing
    assert got == [202, 503]


def test_metric_tallies_are_exposed_like_prometheus_counters_and_histograms() -> None:
    metrics = DispatcherMetrics()
    for _ in range(3):
        metrics.count_received("default", "orders", 202)
    metrics.deliveries.add(("default", "orders", "s1", "delivered"))
    for seconds in (0.0005, 0.003, 100.0):  # on a bound, inside a bucket, above all bounds
        metrics.latency.observe("delivered", seconds)
    text = generate_latest(metrics.registry).decode()

    def sample(pattern: str) -> float:
        found = re.search(pattern + r" ([0-9.e+]+)\n", text)
        assert found, pattern
        return float(found.group(1))

    received = (
        r'eventwire_dispatcher_events_received_total\{channel="orders",code="202",namespace="default"\}'
    )
    assert sample(received) == 3
    assert sample(r'eventwire_dispatcher_deliveries_total\{[^}]*outcome="delivered"[^}]*\}') == 1
    bucket = 'eventwire_dispatcher_dispatch_latency_seconds_bucket\\{{le="{}",outcome="delivered"\\}}'
    assert sample(bucket.format(r"0\.0005")) == 1  # le is inclusive
    assert sample(bucket.format(r"0\.005")) == 2
    assert sample(bucket.format(r"60\.0|60")) == 2
    assert sample(bucket.format(r"\+Inf")) == 3
    assert sample(r'eventwire_dispatcher_dispatch_latency_seconds_count\{outcome="delivered"\}') == 3
    assert sample(r'eventwire_dispatcher_dispatch_latency_seconds_sum\{outcome="delivered"\}') == 100.0035


async def test_limiter_passes_freed_slots_to_waiters_in_order() -> None:
    limit = _Limiter(1)
    order: list[str] = []
    assert limit.try_take()
    assert not limit.try_take()
    limit.queue(lambda: order.append("callback 1"))
    waiter = asyncio.ensure_future(limit.take())
    await asyncio.sleep(0)  # one loop turn: the coroutine waiter is in line after callback 1
    limit.queue(lambda: order.append("callback 2"))
    limit.give()  # to callback 1, at once
    assert order == ["callback 1"]
    limit.give()  # to the coroutine waiter
    await waiter
    limit.give()  # to callback 2
    assert order == ["callback 1", "callback 2"]
    assert limit.free == 0
    limit.give()  # nobody waits: the slot is free again
    assert limit.try_take()
