"""Helpers shared by the adapter tests: env building, a real delivery sender, running adapters."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest

from eventwire_runtime.adapters.base import Adapter
from eventwire_runtime.adapters.env import AdapterEnv
from eventwire_runtime.adapters.metrics import AdapterMetrics
from eventwire_runtime.adapters.sender import MeteredSender, SinkSender
from eventwire_runtime.delivery.sender import Sender
from tests.support.waiting import eventually_async

# Short backoff through settings (never by patching code): 4 attempts 10, 20, 40 ms apart.
FAST_DELIVERY = {"retry": 3, "backoffDelay": "PT0.01S", "backoffMax": "PT0.05S", "timeout": "PT5S"}


def make_env(
    kind: str,
    sink: str,
    delivery: Mapping[str, object] | None = None,
    extra: Mapping[str, str] | None = None,
    **settings: str,
) -> AdapterEnv:
    """An AdapterEnv as the controller would set it, with fast retries unless `delivery` is given."""
    environ = {
        **(extra or {}),
        "K_SINK": sink,
        "NAME": "src",
        "NAMESPACE": "ns1",
        "K_DELIVERY": json.dumps(dict(delivery if delivery is not None else FAST_DELIVERY)),
        "METRICS_PORT": "0",
        **settings,
    }
    return AdapterEnv.from_environ(kind, environ)


@contextlib.asynccontextmanager
async def metered_sender(env: AdapterEnv) -> AsyncIterator[tuple[MeteredSender, AdapterMetrics]]:
    """The sender main() would build for `env`, and its metrics."""
    delivery = Sender()
    metrics = AdapterMetrics(env.kind, env.name, env.namespace)
    try:
        yield MeteredSender(SinkSender(env.sink, env.delivery, delivery), metrics, env.max_in_flight), metrics
    finally:
        await delivery.close()


@contextlib.asynccontextmanager
async def running(adapter: Adapter, drain: float = 10.0) -> AsyncIterator[asyncio.Task[None]]:
    """Run `adapter.run()` for the block, then stop it and wait (bounded) for it to drain."""
    task = asyncio.create_task(adapter.run())
    try:
        yield task
    finally:
        adapter.stop()
        try:
            async with asyncio.timeout(drain):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            pytest.fail(f"adapter did not drain within {drain}s")


async def wait_for(predicate: Callable[[], object], within: float = 10.0, interval: float = 0.02) -> None:
    """Poll an argument-less callable until truthy (the shared `eventually_async`)."""
    await eventually_async(predicate, timeout=within, interval=interval)


def metric(metrics: AdapterMetrics, name: str) -> float:
    """Current value of a metric sample (e.g. `eventwire_adapter_events_delivered_total`)."""
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise KeyError(name)


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0, interval: float = 0.1) -> None:
    """Await an async predicate until it is true (the shared `eventually_async`)."""
    await eventually_async(check, timeout=within, interval=interval)
