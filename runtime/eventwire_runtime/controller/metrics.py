"""The controller's Prometheus metrics, served as text at `/metrics` (EVENTWIRE_METRICS_PORT).

    eventwire_controller_reconciles_total{kind, outcome}
        Reconciles run, by resource kind; outcome `ready` (the object is Ready afterwards),
        `not_ready` (Ready False or Unknown, e.g. a missing sink) or `error` (the reconcile raised,
        e.g. a failed status write; kopf retries it).
    eventwire_controller_reconcile_duration_seconds{kind}
        Histogram of reconcile durations in seconds, API requests included.
    eventwire_controller_resources{kind, ready}
        Objects of each of our kinds by their Ready status (True, False, Unknown), as last seen
        in the controller's watch (a status written by any replica counts; deleted objects drop out).
    eventwire_controller_kube_api_errors_total{method, code}
        Failed requests of the reconcilers' Kubernetes API client, by HTTP method and status
        code (0: no answer, e.g. a refused connection or a timeout). 404 answers are not counted:
        the reconcilers use them to learn that an object or kind does not exist. kopf's own
        watch and patch requests are not included.
    eventwire_controller_task_errors_total{task}
        Exceptions caught at the boundary of the operator's own background tasks, each logged
        with its traceback: `workqueue:<Kind>` (a reconcile run from a kind's work queue raised;
        it is retried with backoff) and `cache_resync` (a resync round failed; the next one
        tries again). Any increase is a bug or an API outage worth a look.

One `ControllerMetrics` per operator, with its own registry (no process-global state), kept in the
reconcilers' `Context`; `serve` exposes it over HTTP from the operator's event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from eventwire_runtime.controller.conditions import condition

KINDS = (
    "ClusterChannelProvisioner",
    "Channel",
    "Subscription",
    "Broker",
    "Trigger",
    "ApiServerSource",
    "AwsSqsSource",
    "ContainerSource",
    "GcpPubSubSource",
    "GitHubSource",
    "PingSource",
)
READY_STATES = ("True", "False", "Unknown")
# Reconciles take milliseconds against a nearby API server, seconds when it is slow or far.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def ready_status(obj: Mapping[str, Any] | None) -> str:
    """The object's Ready condition status: True, False or Unknown (also when absent)."""
    status = str((condition((obj or {}).get("status"), "Ready") or {}).get("status") or "Unknown")
    return status if status in READY_STATES else "Unknown"


class _ResourceCollector(Collector):
    """eventwire_controller_resources, computed from the tracked objects at scrape time."""

    def __init__(self, tracked: dict[tuple[str, str, str], str]):
        self._tracked = tracked

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "eventwire_controller_resources",
            "Objects of each eventwire kind by their Ready condition status, as last watched.",
            labels=["kind", "ready"],
        )
        counts = dict.fromkeys(((kind, state) for kind in KINDS for state in READY_STATES), 0)
        for (kind, _, _), state in list(self._tracked.items()):
            counts[(kind, state)] = counts.get((kind, state), 0) + 1
        for (kind, state), count in sorted(counts.items()):
            family.add_metric([kind, state], count)
        yield family


@dataclass
class ReconcileRecord:
    """Handed to the body of `ControllerMetrics.reconciling`: set `result` to the reconciled
    object (with its new status) to have the outcome follow its Ready condition."""

    result: Mapping[str, Any] | None = None


class ControllerMetrics:
    """The metrics of one operator (see the module docstring), in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "eventwire_controller_reconciles",
            "Reconciles run, by kind and outcome (ready, not_ready, error).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "eventwire_controller_reconcile_duration_seconds",
            "Reconcile durations in seconds, by kind.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.api_errors = Counter(
            "eventwire_controller_kube_api_errors",
            "Failed Kubernetes API requests of the reconcilers, by method and status code (0: no answer).",
            ["method", "code"],
            registry=self.registry,
        )
        self.task_errors = Counter(
            "eventwire_controller_task_errors",
            "Exceptions caught (and logged) at a background task's boundary, by task.",
            ["task"],
            registry=self.registry,
        )
        self._tracked: dict[tuple[str, str, str], str] = {}
        self.registry.register(_ResourceCollector(self._tracked))

    @asynccontextmanager
    async def reconciling(self, kind: str) -> AsyncIterator[ReconcileRecord]:
        """Time one reconcile of `kind` and count its outcome (`error` when the body raises)."""
        record = ReconcileRecord()
        started = time.perf_counter()
        outcome = "error"
        try:
            yield record
            outcome = "ready" if ready_status(record.result) == "True" else "not_ready"
        finally:
            self.duration.labels(kind).observe(time.perf_counter() - started)
            self.reconciles.labels(kind, outcome).inc()

    def track(self, kind: str, namespace: str | None, name: str, obj: Mapping[str, Any] | None) -> None:
        """Record an object's Ready status as watched; `obj` None forgets it (deleted)."""
        key = (kind, namespace or "", name)
        if obj is None:
            self._tracked.pop(key, None)
        else:
            self._tracked[key] = ready_status(obj)

    def api_error(self, method: str, code: int) -> None:
        """Count a failed API request (`code` 0 when there was no answer); 404 is not an error."""
        if code != 404:
            self.api_errors.labels(method, str(code)).inc()

    def task_error(self, task: str) -> None:
        """Count an exception caught at a background task's boundary (see the module docstring)."""
        self.task_errors.labels(task).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


async def serve(metrics: ControllerMetrics, host: str, port: int) -> web.AppRunner:
    """Serve `GET /metrics` on host:port until the returned runner is cleaned up."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
