"""Prometheus metrics for the dispatcher, in their own registry (served at /metrics).

The per-event metrics (events received, deliveries, dispatch latency) are plain Python counts
turned into metric families at scrape time: prometheus_client's `inc`/`observe` take a lock and
walk label children on every call, which profiles showed as several percent of the cost of an
event. The dispatcher is single-threaded (one event loop), so plain counts are safe. Rare events
(retries, dead letters) use ordinary Counters. Queue depth is computed at scrape time from the
backends, not maintained per event.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from eventwire_runtime.dispatcher import guards
from eventwire_runtime.dispatcher.routing import BROKER, RoutingTable

DepthSource = Callable[[], Iterable[tuple[str, str, int]]]
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


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


class _RoutesCollector(Collector):
    """The routing source's failed reads, and whether its last read succeeded."""

    def __init__(self, table: RoutingTable) -> None:
        self.table = table

    def collect(self) -> Iterator[Metric]:
        errors = CounterMetricFamily(
            "eventwire_dispatcher_routes_errors",
            "Failed reads of the routing source (the previous table was kept)",
            labels=["source"],
        )
        for source, count in list(self.table.errors.items()):
            errors.add_metric([source], count)
        yield errors
        yield GaugeMetricFamily(
            "eventwire_dispatcher_routes_healthy",
            "1 when the routing source's last read succeeded, else 0 (see /readyz for why)",
            value=0 if self.table.problem is not None else 1,
        )
        # What the table holds, so an operator (or a test) sees a change was taken in.
        sizes = dict.fromkeys(("channel", "subscriber", "broker", "trigger", "paused"), 0)
        for route in list(self.table.channels.values()):
            broker = route.kind == BROKER
            sizes["broker" if broker else "channel"] += 1
            sizes["trigger" if broker else "subscriber"] += len(route.subscribers)
            sizes["paused"] += len(route.paused)
        routes = GaugeMetricFamily(
            "eventwire_dispatcher_routes",
            "Routes in the table: channels, brokers, ready subscribers and triggers, paused ones",
            labels=["kind"],
        )
        for kind, count in sizes.items():
            routes.add_metric([kind], count)
        yield routes


class _GuardsCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "eventwire_dispatcher_internal_errors",
            "Unexpected errors caught at a task boundary (logged with a traceback): bugs to report",
            labels=["where"],
        )
        for where, count in list(guards.CAUGHT.items()):
            family.add_metric([where], count)
        yield family


class Tally(Collector):
    """A counter family kept as a dict of label values -> count; exposed as `<name>_total`."""

    def __init__(self, name: str, documentation: str, labels: list[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.counts: dict[tuple[str, ...], int] = {}

    def add(self, key: tuple[str, ...], amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, count in list(self.counts.items()):
            family.add_metric(list(key), count)
        yield family


class LatencyHistogram(Collector):
    """A histogram by one label (`outcome`) kept as plain bucket counts."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.buckets = buckets
        self.series: dict[str, tuple[list[int], list[float]]] = {}  # outcome -> (counts, [sum])

    def observe(self, outcome: str, seconds: float) -> None:
        entry = self.series.get(outcome)
        if entry is None:
            entry = self.series[outcome] = ([0] * (len(self.buckets) + 1), [0.0])
        entry[0][bisect.bisect_left(self.buckets, seconds)] += 1
        entry[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["outcome"])
        for outcome, (counts, total) in list(self.series.items()):
            cumulative, running = [], 0
            for bound, count in zip((*map(str, self.buckets), "+Inf"), counts, strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric([outcome], cumulative, total[0])
        yield family


class DispatcherMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Tally(
            "eventwire_dispatcher_events_received",
            "Ingress requests by channel and response code (a batch counts once)",
            ["namespace", "channel", "code"],
        )
        self.deliveries = Tally(
            "eventwire_dispatcher_deliveries",
            "Finished deliveries by subscriber and outcome (delivered, dead_lettered, failed)",
            ["namespace", "channel", "subscriber", "outcome"],
        )
        self.latency = LatencyHistogram(
            "eventwire_dispatcher_dispatch_latency_seconds",
            "Seconds from ingress acceptance to the end of one subscriber's delivery",
            LATENCY_BUCKETS,
        )
        for collector in (self.received, self.deliveries, self.latency, _GuardsCollector()):
            self.registry.register(collector)
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
        self._codes: dict[int, str] = {}

    def count_received(self, namespace: str, channel: str, code: int) -> None:
        text = self._codes.get(code)
        if text is None:
            text = self._codes[code] = str(code)
        self.received.add((namespace, channel, text))

    def watch_depth(self, source: DepthSource) -> None:
        self.registry.register(_DepthCollector(source))

    def watch_routes(self, table: RoutingTable) -> None:
        self.registry.register(_RoutesCollector(table))
