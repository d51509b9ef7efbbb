"""End to end: the real operator's Prometheus endpoint, scraped after reconciles against the
Kubernetes API fake — reconciles by kind and outcome, durations, resources by Ready status and
failed API requests."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.controller.conftest import running_operator
from tests.controller.factories import (
    MESSAGING,
    SOURCES,
    apply,
    condition,
    make_channel,
    make_service,
    make_source,
    make_subscription,
    service_ref,
)
from tests.support.kube import KubeApiFake
from tests.support.processes import ManagedProcess, free_port
from tests.support.waiting import eventually

TIMEOUT = 10.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def operator(
    kube: KubeApiFake, tmp_path_factory: pytest.TempPathFactory, metrics_port: int
) -> Iterator[ManagedProcess]:
    env = {"EVENTWIRE_METRICS_PORT": str(metrics_port)}
    with running_operator(kube, tmp_path_factory.mktemp("kube"), env) as proc:
        yield proc


Scrape = Callable[[], tuple[str, Samples]]


@pytest.fixture
def scrape(metrics_port: int) -> Scrape:
    """GET the operator's /metrics: (content type, {(sample name, sorted labels): value})."""

    def get() -> tuple[str, Samples]:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as rsp:
            content_type, text = rsp.headers["Content-Type"], rsp.read().decode()
        samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return content_type, samples

    return get


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_after_reconciles(cluster: KubeApiFake, namespace: str, scrape: Scrape) -> None:
    """Counts against a scrape taken first, so that the other test's objects do not matter."""
    kube = cluster
    _, before = scrape()

    def grew(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    apply(kube, make_channel("orders", namespace))
    apply(kube, make_service("billing", namespace))
    apply(kube, make_subscription("to-billing", namespace, "orders", subscriber=service_ref("billing")))
    # A subscriber that does not exist: reconciled, but not Ready.
    apply(kube, make_subscription("to-nowhere", namespace, "orders", subscriber=service_ref("absent")))
    # One failed API request: the adapter Deployment's creation answers 500 once.
    kube.fail("POST", f"/namespaces/{namespace}/deployments", status=500, times=1)
    apply(kube, make_source("PingSource", "tick", namespace, sink={"uri": "http://sink.example/"}))

    def reconciled() -> bool:
        sub = kube.get(MESSAGING, "Subscription", "to-nowhere", namespace)
        ping = kube.get("apps/v1", "Deployment", "tick-pingsource", namespace)
        billing = kube.get(MESSAGING, "Subscription", "to-billing", namespace)
        return (
            condition(sub).get("status") == "False"
            and condition(billing).get("status") == "True"
            and ping is not None
        )

    eventually(reconciled, TIMEOUT, "the reconciles")

    def scraped() -> Samples | None:
        _, samples = scrape()
        done = (
            grew(samples, "eventwire_controller_resources", kind="Subscription", ready="True") == 1
            and grew(samples, "eventwire_controller_resources", kind="Subscription", ready="False") == 1
            and grew(samples, "eventwire_controller_resources", kind="Channel", ready="True") == 1
            and grew(samples, "eventwire_controller_resources", kind="PingSource", ready="Unknown") == 1
        )
        return samples if done else None

    samples = eventually(scraped, TIMEOUT, "the resources gauge to follow the watch")
    content_type, _ = scrape()
    assert content_type.startswith("text/plain")

    reconciles = "eventwire_controller_reconciles_total"
    assert grew(samples, reconciles, kind="Subscription", outcome="ready") >= 1
    assert grew(samples, reconciles, kind="Subscription", outcome="not_ready") >= 1
    assert grew(samples, reconciles, kind="Channel", outcome="ready") >= 1
    assert grew(samples, reconciles, kind="PingSource", outcome="not_ready") >= 1
    assert value(samples, reconciles, kind="ClusterChannelProvisioner", outcome="ready") >= 1

    total = sum(
        v for (name, labels), v in samples.items() if name == reconciles and ("kind", "Channel") in labels
    )
    count = value(samples, "eventwire_controller_reconcile_duration_seconds_count", kind="Channel")
    assert count == total
    assert value(samples, "eventwire_controller_reconcile_duration_seconds_sum", kind="Channel") > 0
    assert (
        value(samples, "eventwire_controller_reconcile_duration_seconds_bucket", kind="Channel", le="+Inf")
        == count
    )

    assert (
        value(samples, "eventwire_controller_resources", kind="ClusterChannelProvisioner", ready="True") == 1
    )
    assert value(samples, "eventwire_controller_resources", kind="GitHubSource", ready="True") == 0
    assert grew(samples, "eventwire_controller_kube_api_errors_total", method="POST", code="500") == 1

    # Deleted objects drop out of the gauge.
    kube.delete(MESSAGING, "Subscription", "to-nowhere", namespace)
    eventually(
        lambda: grew(scrape()[1], "eventwire_controller_resources", kind="Subscription", ready="False") == 0,
        TIMEOUT,
        "the deleted Subscription to leave the gauge",
    )


def test_a_failed_status_write_counts_as_an_error_and_is_retried(
    cluster: KubeApiFake, namespace: str, scrape: Scrape
) -> None:
    kube = cluster
    errors_before = value(
        scrape()[1], "eventwire_controller_reconciles_total", kind="PingSource", outcome="error"
    )
    kube.fail("PATCH", f"/namespaces/{namespace}/pingsources/again/status", status=500, times=1)
    apply(kube, make_source("PingSource", "again", namespace, sink={"uri": "http://sink.example/"}))
    eventually(
        lambda: (kube.get(SOURCES, "PingSource", "again", namespace) or {}).get("status"),
        TIMEOUT,
        "the status written on a retry",
    )
    samples = scrape()[1]
    assert value(samples, "eventwire_controller_reconciles_total", kind="PingSource", outcome="error") == (
        errors_before + 1
    )
    assert value(samples, "eventwire_controller_kube_api_errors_total", method="PATCH", code="500") >= 1
