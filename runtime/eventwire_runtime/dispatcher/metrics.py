"""Prometheus metrics for the dispatcher, in their own registry (served at /metrics).

Counters are labelled by channel (`namespace`, `channel`) and, for deliveries, by subscription
uid; label children are cached so the hot path pays one dict lookup and one locked add.
Queue depth is computed at scrape time from the backends, not maintained per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

DepthSource = Callable[[], Iterable[tuple[str, str, int]]]


class _DepthCollector(Collector):
    def __init__(self, source: DepthSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "eventwire_dispatcher_queue_depth",
            "Accepted events not yet delivered (in-memory: per channel; persistent: per subscription backlog)",
            labels=["namespace", "channel"],
        )
        for namespace, channel, depth in self.source():
            family.add_metric([namespace, channel], depth)
        yield family


class DispatcherMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "eventwire_dispatcher_events_received",
            "Ingress requests by channel and response code (a batch counts once)",
            ["namespace", "channel", "code"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "eventwire_dispatcher_deliveries",
            "Finished deliveries by subscriber and outcome (delivered, dead_lettered, failed)",
            ["namespace", "channel", "subscriber", "outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "eventwire_dispatcher_retries",
            "Delivery attempts that were retries",
            ["namespace", "channel", "subscriber"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "eventwire_dispatcher_dead_lettered",
            "Events sent to a dead-letter sink",
            ["namespace", "channel", "subscriber"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "eventwire_dispatcher_dispatch_latency_seconds",
            "Seconds from ingress acceptance to the end of one subscriber's delivery",
            ["outcome"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self._received: dict[tuple[str, str, int], Counter] = {}

    def count_received(self, namespace: str, channel: str, code: int) -> None:
        key = (namespace, channel, code)
        child = self._received.get(key)
        if child is None:
            child = self._received[key] = self.received.labels(namespace, channel, str(code))
        child.inc()

    def watch_depth(self, source: DepthSource) -> None:
        self.registry.register(_DepthCollector(source))
