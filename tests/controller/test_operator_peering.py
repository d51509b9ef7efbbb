"""End to end: several controller replicas with kopf's peering (EVENTWIRE_PEERING), against the
Kubernetes API fake serving the install's ClusterKopfPeering CRD and object. Only the oldest
replica reconciles; when it is killed, a standby takes over within the keep-alive lifetime, and
when the active one stops cleanly the next takes over at once. Which replica reconciled is read
from each process's own metrics."""

from __future__ import annotations

import contextlib
import datetime
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from eventwire.install.peering import kopf_peering, kopf_peering_crd
from eventwire.rbac import CONTROLLER_RULES, peering_rules
from tests.controller.conftest import running_operator
from tests.controller.factories import (
    MESSAGING,
    SOURCES,
    apply,
    make_channel,
    make_source,
    make_subscription,
    requests_outside_rbac,
)
from tests.support.kube import KubeApiFake
from tests.support.processes import ManagedProcess, free_port
from tests.support.waiting import eventually

PEERING = "eventwire-controller"
LIFETIME = 6  # seconds; a crashed replica's keep-alive expires after this
# A standby resumes when the dead peer's keep-alive expires (at most LIFETIME after its last
# one, sent every second here), then lists and watches: allow a few seconds for that.
TAKEOVER_BOUND = LIFETIME + 5.0
# The replica that later stops cleanly keeps its keep-alives valid far longer than any wait here:
# a takeover within TAKEOVER_BOUND proves the leaver removed its keep-alive (no clock involved).
LEAVER_LIFETIME = 600


@pytest.fixture(scope="module")
def peered(kube: KubeApiFake) -> KubeApiFake:
    """The fake with what the install creates for peering: the CRD, then the peering object."""
    kube.create(kopf_peering_crd())
    kube.create(kopf_peering(PEERING))
    return kube


def peers(kube: KubeApiFake) -> dict[str, Any]:
    return dict((kube.get("kopf.dev/v1", "ClusterKopfPeering", PEERING) or {}).get("status") or {})


@contextlib.contextmanager
def replica(
    kube: KubeApiFake,
    workdir: Path,
    identity: str,
    lifetime: int = LIFETIME,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[ManagedProcess, int]]:
    """One controller replica named `identity` (kopf's POD_ID), ready once its keep-alive is in
    the peering object; yields (process, metrics port)."""
    port = free_port()
    env = {
        "EVENTWIRE_PEERING": PEERING,
        "EVENTWIRE_PEERING_LIFETIME": str(lifetime),
        "POD_ID": identity,
        "EVENTWIRE_METRICS_PORT": str(port),
        **(extra_env or {}),
    }
    with running_operator(kube, workdir, env, ready=lambda: identity in peers(kube)) as proc:
        yield proc, port


def reconciles(port: int) -> float:
    """All reconciles a replica ran, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as rsp:
        text = rsp.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "eventwire_controller_reconciles_total"
    )


def adapter_of(kube: KubeApiFake, name: str, namespace: str) -> dict[str, Any] | None:
    return kube.get("apps/v1", "Deployment", f"{name}-pingsource", namespace)


def ping(kube: KubeApiFake, name: str, namespace: str) -> None:
    apply(kube, make_source("PingSource", name, namespace, sink={"uri": "http://sink.example/"}))


def test_one_replica_is_active_and_a_standby_takes_over(
    peered: KubeApiFake, namespace: str, tmp_path: Path
) -> None:
    kube = peered
    with (
        replica(kube, tmp_path, "controller-a") as (first, first_port),
        replica(kube, tmp_path, "controller-b", LEAVER_LIFETIME) as (second, second_port),
    ):
        status = peers(kube)
        assert status["controller-a"]["priority"] > status["controller-b"]["priority"]  # the oldest wins
        assert status["controller-a"]["lifetime"] == LIFETIME

        ping(kube, "before", namespace)
        eventually(lambda: adapter_of(kube, "before", namespace), 15, "the active replica's reconcile")
        eventually(
            lambda: (kube.get(SOURCES, "PingSource", "before", namespace) or {}).get("status"),
            15,
            "the status",
        )
        assert reconciles(first_port) > 0
        assert reconciles(second_port) == 0  # standing by: not a single reconcile

        # The active replica crashes; the standby takes over once its keep-alive expires.
        first.kill()
        ping(kube, "after-crash", namespace)
        eventually(lambda: adapter_of(kube, "after-crash", namespace), TAKEOVER_BOUND, "the takeover")
        assert reconciles(second_port) > 0
        eventually(lambda: "controller-a" not in peers(kube), 5, "the dead peer cleaned up")

        # A third replica stands by; the active one stops cleanly and hands over at once.
        with replica(kube, tmp_path, "controller-c") as (_, third_port):
            assert reconciles(third_port) == 0
            second.stop()
            assert "controller-b" not in peers(kube)  # its keep-alive went with it
            ping(kube, "after-stop", namespace)
            eventually(lambda: adapter_of(kube, "after-stop", namespace), TAKEOVER_BOUND, "the handover")
            assert reconciles(third_port) > 0
    # Three replicas peered and reconciled with no right beyond CONTROLLER_RULES + peering_rules.
    requests = list(kube.requests)
    assert ("PATCH", f"/apis/kopf.dev/v1/clusterkopfpeerings/{PEERING}") in [
        (m, p.split("?")[0]) for m, p in requests
    ]
    assert requests_outside_rbac(requests, (*CONTROLLER_RULES, *peering_rules(PEERING))) == []


def hold(kube: KubeApiFake, identity: str | None) -> None:
    """Write (or, with None, remove) the keep-alive of a peer outranking every replica: kopf pauses
    them all while it is alive (its lifetime is far longer than the test)."""
    now = datetime.datetime.now(datetime.UTC).isoformat()
    keepalive = {"priority": 1, "lifetime": 3600, "lastseen": now}
    status = {"holder": keepalive if identity else None}
    kube.patch("kopf.dev/v1", "ClusterKopfPeering", PEERING, {"status": status}, subresource="status")


def table(kube: KubeApiFake, namespace: str) -> list[tuple[str, str]]:
    channel = kube.get(MESSAGING, "Channel", "orders", namespace) or {}
    return [(e["name"], e.get("ready", "")) for e in (channel.get("status") or {}).get("subscribers") or []]


def test_a_paused_replica_runs_no_cache_resync_and_writes_nothing(
    peered: KubeApiFake, namespace: str, tmp_path: Path
) -> None:
    kube = peered
    env = {"EVENTWIRE_CACHE_RESYNC_SECONDS": "1"}
    with replica(kube, tmp_path, "controller-r", extra_env=env) as (proc, _):
        apply(kube, make_channel("orders", namespace))
        apply(kube, make_subscription("gone", namespace, "orders", subscriber={"uri": "http://a.example/"}))
        # Converged: nothing of this namespace is left for the replica to do before it pauses.
        eventually(lambda: table(kube, namespace) == [("gone", "True")], 15, "the routing table")

        hold(kube, "holder")
        try:
            eventually(lambda: "Pausing operations" in proc.output(), 15, "kopf pausing the replica")
            mark = len(kube.requests)
            # Deleted while the replica watches nothing: its cache still holds the Subscription,
            # so a resync round would find it gone and rewrite the Channel's table.
            kube.delete(MESSAGING, "Subscription", "gone", namespace)
            skipped = proc.output().count("cache resync: skipped")
            eventually(
                lambda: proc.output().count("cache resync: skipped") >= skipped + 2, 15, "two skipped rounds"
            )
            # (Work the replica had in flight elsewhere when it paused may still finish.)
            here = [(m, p) for m, p in list(kube.requests)[mark:] if f"/namespaces/{namespace}/" in p]
            assert here == []  # no LIST of the resync, no write of what it would find gone
            assert table(kube, namespace) == [("gone", "True")]
        finally:
            hold(kube, None)
        # Active again: the next resync round finds the Subscription gone (no watch event said so).
        eventually(lambda: table(kube, namespace) == [], 15, "the resync after resuming")
