"""Prometheus metrics of one adapter process, in a registry of their own.

A registry per `AdapterMetrics` (not the global one) lets tests run several adapters in one
process. Every series carries the labels `kind`, `name` and `namespace` of the source.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LABELS = ("kind", "name", "namespace")
# Delivery latency buckets in seconds: loopback sinks answer in ~1 ms, retried ones take seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class AdapterMetrics:
    """Counters and histograms for events produced, delivered, failed, retried, dead-lettered.

    Args:
        kind: adapter kind label value.
        name: source name label value.
        namespace: source namespace label value.
    """

    def __init__(self, kind: str, name: str, namespace: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = (kind, name, namespace)

        def counter(metric: str, doc: str) -> Counter:
            return Counter(metric, doc, _LABELS, registry=self.registry)

        self.produced = counter("eventwire_adapter_events_produced", "Events the adapter built").labels(
            *labels
        )
        self.delivered = counter("eventwire_adapter_events_delivered", "Events the sink accepted").labels(
            *labels
        )
        self.failed = counter(
            "eventwire_adapter_events_failed", "Events the sink did not accept after all retries"
        ).labels(*labels)
        self.retried = counter(
            "eventwire_adapter_delivery_retries", "Delivery attempts that were retries"
        ).labels(*labels)
        self.dead_lettered = counter(
            "eventwire_adapter_events_dead_lettered", "Events the dead-letter sink accepted"
        ).labels(*labels)
        self.latency = Histogram(
            "eventwire_adapter_delivery_seconds",
            "Time from first attempt to final outcome, retries included",
            _LABELS,
            buckets=_BUCKETS,
            registry=self.registry,
        ).labels(*labels)
        self.in_flight = Gauge(
            "eventwire_adapter_deliveries_in_flight",
            "Deliveries in progress",
            _LABELS,
            registry=self.registry,
        ).labels(*labels)
