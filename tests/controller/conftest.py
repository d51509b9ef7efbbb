"""Fixtures: the Kubernetes API fake with our CRDs, and the real operator
(`eventwire-runtime controller`) running against it in a subprocess."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from eventwire.api import render_crds
from tests.support.kube import ISTIO_VIRTUAL_SERVICE, KNATIVE_SERVICE, KubeApiFake, running_kube
from tests.support.processes import ManagedProcess, free_port
from tests.support.waiting import eventually

SYSTEM_NAMESPACE = "eventwire-system"
WATCHED = (
    "clusterchannelprovisioners",
    "channels",
    "subscriptions",
    "brokers",
    "triggers",
    "pingsources",
    "githubsources",
    "services",
)


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApiFake]:
    """A Kubernetes API fake serving our CRDs, Knative Services and Istio VirtualServices."""
    fake = KubeApiFake()
    fake.add_type(KNATIVE_SERVICE)
    fake.add_type(ISTIO_VIRTUAL_SERVICE)
    with running_kube(fake) as running:
        running.install_crds(render_crds())
        yield running


def operator_env(kubeconfig: Path) -> dict[str, str]:
    """The controller's env in tests: metrics on a free loopback port (never the default 0.0.0.0:9090)."""
    return {
        "KUBECONFIG": str(kubeconfig),
        "EVENTWIRE_SYSTEM_NAMESPACE": SYSTEM_NAMESPACE,
        "EVENTWIRE_RUNTIME_IMAGE": "registry.example/eventwire/runtime:test",
        "EVENTWIRE_RESYNC_SECONDS": "5",
        "EVENTWIRE_METRICS_ADDRESS": "127.0.0.1",
        "EVENTWIRE_METRICS_PORT": str(free_port()),
    }


@contextlib.contextmanager
def running_operator(
    kube: KubeApiFake,
    workdir: Path,
    extra_env: Mapping[str, str] | None = None,
    ready: Callable[[], bool] | None = None,
) -> Iterator[ManagedProcess]:
    """The real controller against `kube` (with `extra_env` over `operator_env`), until the block
    ends; ready when it watches our kinds, or when `ready` says so (a standby replica watches
    nothing)."""
    kubeconfig = kube.write_kubeconfig(workdir / f"config-{uuid.uuid4().hex[:6]}")
    port = free_port()
    executable = str(Path(sys.executable).with_name("eventwire-runtime"))
    proc = ManagedProcess(
        [executable, "controller", "--verbose", "--liveness", f"http://127.0.0.1:{port}/healthz"],
        env={**operator_env(kubeconfig), **(extra_env or {})},
    )
    try:
        proc.wait_port(port, timeout=30)

        def watching() -> bool:
            paths = [p for _, p in list(kube.requests) if "watch=true" in p]
            return all(any(f"/{plural}?" in p for p in paths) for plural in WATCHED)

        try:
            eventually(ready or watching, timeout=30, what="the operator to be ready")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- operator output ---\n{proc.output()[-5000:]}") from None
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def operator(kube: KubeApiFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """The real controller, started once per module; ready when it watches our kinds."""
    with running_operator(kube, tmp_path_factory.mktemp("kube")) as proc:
        yield proc


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
        eventually(ready, timeout=15, what="the default provisioner to be Ready")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n--- operator output ---\n{operator.output()[-5000:]}") from None
    return kube
