"""Fixtures: the Kubernetes API fake with our CRDs, and the real operator
(`eventwire-runtime controller`) running against it in a subprocess."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventwire.api import render_crds
from tests.support.kube import KNATIVE_SERVICE, KubeApiFake, running_kube
from tests.support.processes import ManagedProcess, free_port, wait_until

SYSTEM_NAMESPACE = "eventwire-system"
WATCHED = (
    "clusterchannelprovisioners",
    "channels",
    "subscriptions",
    "pingsources",
    "githubsources",
    "services",
)


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApiFake]:
    """A Kubernetes API fake serving our CRDs and Knative Services."""
    fake = KubeApiFake()
    fake.add_type(KNATIVE_SERVICE)
    with running_kube(fake) as running:
        running.install_crds(render_crds())
        yield running


def operator_env(kubeconfig: Path) -> dict[str, str]:
    return {
        "KUBECONFIG": str(kubeconfig),
        "EVENTWIRE_SYSTEM_NAMESPACE": SYSTEM_NAMESPACE,
        "EVENTWIRE_RUNTIME_IMAGE": "registry.example/eventwire/runtime:test",
        "EVENTWIRE_RESYNC_SECONDS": "5",
    }


@pytest.fixture(scope="module")
def operator(kube: KubeApiFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """The real controller, started once per module; ready when it watches our kinds."""
    kubeconfig = kube.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    port = free_port()
    executable = str(Path(sys.executable).with_name("eventwire-runtime"))
    proc = ManagedProcess(
        [executable, "controller", "--verbose", "--liveness", f"http://127.0.0.1:{port}/healthz"],
        env=operator_env(kubeconfig),
    )
    try:
        proc.wait_port(port, timeout=30)

        def watching() -> bool:
            paths = [p for _, p in list(kube.requests) if "watch=true" in p]
            return all(any(f"/{plural}?" in p for p in paths) for plural in WATCHED)

        try:
            wait_until(watching, timeout=30, what="the operator's watches")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- operator output ---\n{proc.output()[-5000:]}") from None
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def namespace() -> str:
    """A fresh namespace name per test, so that tests sharing the operator do not interact."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def cluster(kube: KubeApiFake, operator: ManagedProcess) -> KubeApiFake:
    """The operator plus what the install provides: the default provisioner and its dispatcher Service."""
    from tests.controller.factories import make_provisioner, make_service

    kube.create(make_service("eventwire-dispatcher-default", SYSTEM_NAMESPACE))
    kube.create(make_provisioner("default", default=True))

    def ready() -> bool:
        ccp = kube.get("messaging.eventwire.dev/v1", "ClusterChannelProvisioner", "default")
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in ((ccp or {}).get("status") or {}).get("conditions", [])
        )

    try:
        wait_until(ready, timeout=15, what="the default provisioner to be Ready")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n--- operator output ---\n{operator.output()[-5000:]}") from None
    return kube
