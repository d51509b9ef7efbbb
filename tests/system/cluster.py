"""The whole product on loopback, as a cluster runs it: the Kubernetes API fake with our CRDs, the
real controller process, the default in-memory ClusterChannelProvisioner with the dispatcher
Service the controller expects, the real dispatcher process configured with the install's own env,
and source adapters started from the env of the Deployments the controller creates.

Cluster DNS does not exist here, so an in-cluster URL (a channel's dispatcher address, a resolved
Service) is reached by rewriting only its host:port to a loopback one and keeping its path
(`to_loopback`).
"""

from __future__ import annotations

import contextlib
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from eventwire.install import runtime_contract
from tests.contracts.test_adapter_env import pod_environment
from tests.controller.conftest import SYSTEM_NAMESPACE, running_operator
from tests.controller.factories import make_provisioner, make_service
from tests.support.kube import KubeApiFake
from tests.support.processes import ManagedProcess, free_port, wait_until
from tests.support.waiting import eventually_async

PROVISIONER = "default"
T = TypeVar("T")


def ready(obj: dict[str, Any] | None) -> bool:
    """Whether an object's Ready condition is True."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def to_loopback(url: str, port: int) -> str:
    """`url` with its host:port replaced by 127.0.0.1:`port`, scheme, path and query kept."""
    parts = urlsplit(url)
    return urlunsplit(("http", f"127.0.0.1:{port}", parts.path or "/", parts.query, ""))


async def eventually(
    probe: Callable[[], T | None] | Callable[[], Awaitable[T | None]], within: float, what: str
) -> T:
    """Poll `probe` until it returns something truthy (the shared `eventually_async`, which keeps
    the test's event loop, where the sinks live, running meanwhile)."""
    return await eventually_async(probe, timeout=within, what=what, interval=0.05)  # type: ignore[arg-type]


@contextlib.contextmanager
def running_controller(
    kube: KubeApiFake, workdir: Path, adapter_metrics_port: int
) -> Iterator[ManagedProcess]:
    """The controller plus what the install creates next to it: the dispatcher Service and the
    default in-memory provisioner, which the controller reports Ready."""
    extra = {"EVENTWIRE_ADAPTER_METRICS_PORT": str(adapter_metrics_port)}
    with running_operator(kube, workdir, extra) as proc:
        kube.create(make_service(runtime_contract.dispatcher_service(PROVISIONER), SYSTEM_NAMESPACE))
        kube.create(make_provisioner(PROVISIONER, default=True))

        def provisioner_ready() -> bool:
            return ready(kube.get("messaging.eventwire.dev/v1", "ClusterChannelProvisioner", PROVISIONER))

        try:
            wait_until(provisioner_ready, timeout=15, what="the default provisioner to be Ready")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- controller output ---\n{proc.output()[-5000:]}") from None
        yield proc


@contextlib.contextmanager
def running_dispatcher(kube: KubeApiFake) -> Iterator[tuple[ManagedProcess, int]]:
    """The dispatcher with the install's env for the default provisioner, its Kubernetes routing
    source pointed at the fake; only its listen address is changed, to a free loopback port."""
    provisioner = kube.get("messaging.eventwire.dev/v1", "ClusterChannelProvisioner", PROVISIONER)
    assert provisioner is not None
    port = free_port()
    env = {
        **runtime_contract.dispatcher_env(PROVISIONER, provisioner["spec"]),
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_HOST": "127.0.0.1",
        "EVENTWIRE_KUBE_API_URL": kube.url,
        "EVENTWIRE_KUBE_TOKEN_FILE": "/nonexistent",
    }
    proc = ManagedProcess([sys.executable, "-m", "eventwire_runtime", "dispatcher"], env=env)

    def answers_ready() -> bool:
        if not proc.alive():
            raise RuntimeError(f"dispatcher exited:\n{proc.output()}")
        url = f"http://127.0.0.1:{port}/readyz"
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1) as resp,
        ):
            return bool(resp.status == 200)
        return False

    try:
        wait_until(answers_ready, timeout=15, interval=0.05, what="the dispatcher to be ready")
        yield proc, port
    finally:
        proc.stop()


def adapter_deployment(kube: KubeApiFake, source: dict[str, Any]) -> dict[str, Any] | None:
    """The Deployment the controller made for `source` (owned by it), or None yet."""
    meta = source["metadata"]
    for deployment in kube.list("apps/v1", "Deployment", meta["namespace"]):
        owners = deployment["metadata"].get("ownerReferences") or []
        if any(o.get("uid") == meta["uid"] for o in owners):
            return deployment
    return None


def start_adapter(deployment: dict[str, Any], workdir: Path, sink_port: int) -> ManagedProcess:
    """Run the Deployment's adapter container as a local process: its args and env as the kubelet
    gives them, with only K_SINK's host:port rewritten to `sink_port` on loopback."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = pod_environment(deployment, workdir)
    env["K_SINK"] = to_loopback(env["K_SINK"], sink_port)
    executable = str(Path(sys.executable).with_name("eventwire-runtime"))
    return ManagedProcess([executable, *container["args"]], env=env)
