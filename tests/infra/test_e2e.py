"""The end-to-end run on kind (.github/workflows/e2e.yml, scripts/e2e-kind.sh) cannot run here:
the workflow is checked against GitHub's schema, the script with bash -n and shellcheck, and
what the script applies and runs in the cluster (the topology, the sink, the producer) is
checked here against the real schemas and run on loopback."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from eventwire.api import resource_errors
from eventwire.render.pod_security import pod_spec_of, restricted_violations
from eventwire.render.validate import KUBERNETES_VERSION
from tests.infra.conftest import ROOT
from tests.infra.workflows import check_common_shape, load
from tests.support.waiting import eventually

WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yml"
SCRIPT = ROOT / "scripts" / "e2e-kind.sh"
E2E = ROOT / "scripts" / "e2e"
CI_STACK = yaml.safe_load((ROOT / "stacks" / "Pulumi.ci.yaml").read_text())["config"]


def test_the_workflow_is_well_formed(tmp_path: Path) -> None:
    check_common_shape(WORKFLOW, tmp_path)


def test_the_workflow_runs_the_script_on_kind_and_always_deletes_the_cluster() -> None:
    data = load(WORKFLOW)
    assert data["permissions"] == {"contents": "read"}
    assert "${{ secrets." not in WORKFLOW.read_text()
    # kind 0.29 creates Kubernetes 1.33 clusters, the oldest the install supports.
    assert re.fullmatch(r"v0\.(29|[3-9]\d)\.\d+", data["env"]["KIND_VERSION"])
    steps = data["jobs"]["kind"]["steps"]
    runs = [step.get("run", "").strip() for step in steps]
    assert "scripts/e2e-kind.sh" in runs
    assert any(step.get("uses", "").startswith("pulumi/actions@") for step in steps)
    setup = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    cleanup = steps[-1]
    assert cleanup["if"] == "always()"
    assert cleanup["run"] == 'kind delete cluster --name "$CLUSTER"'


def test_the_script_parses_and_passes_shellcheck() -> None:
    for command in (["bash", "-n", str(SCRIPT)], ["shellcheck", str(SCRIPT)]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_script_installs_with_the_local_backend_and_destroys() -> None:
    text = SCRIPT.read_text()
    assert "pulumi login --local" in text
    assert "STACK=ci" in text
    assert 'docker build -f runtime/Dockerfile -t "$IMAGE" .' in text
    assert 'kind load docker-image "$IMAGE"' in text
    assert 'pulumi up --yes --skip-preview --stack "$STACK"' in text
    assert 'pulumi destroy --yes --skip-preview --stack "$STACK"' in text
    default = re.search(r"\|\| steps=\((.*?)\)", text)
    assert default is not None
    assert default.group(1).split() == ["cluster", "image", "install", "topology", "events", "uninstall"]


def test_the_ci_stack_pulls_the_image_the_script_loads() -> None:
    # The script builds <default repository>:<ci imageTag> and loads it into kind.
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"cd {ROOT} && eval \"$(sed -n '/^REPOSITORY=/,/^IMAGE=/p' {SCRIPT})\" && echo $IMAGE",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    assert result.stdout.strip() == f"ghcr.io/eventwire/eventwire-runtime:{CI_STACK['eventwire:imageTag']}"


def topology() -> list[dict[str, Any]]:
    script = E2E / "topology.py"
    result = subprocess.run(
        [sys.executable, str(script), "--image", "ghcr.io/eventwire/eventwire-runtime:e2e"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_the_topology_is_the_example_without_github_or_knative_and_valid() -> None:
    documents = topology()
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds == ["Channel"] * 2 + ["ConfigMap", "Deployment"] + ["Service"] * 4 + ["Subscription"] * 3
    assert {doc["metadata"]["namespace"] for doc in documents} == {CI_STACK["eventwire:channelNamespace"]}
    assert "serving.knative.dev" not in yaml.safe_dump_all(documents)
    services = {doc["metadata"]["name"] for doc in documents if doc["kind"] == "Service"}
    for doc in documents:
        if doc["apiVersion"].startswith("messaging.eventwire.dev"):
            assert resource_errors(doc) == [], doc["metadata"]["name"]
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        pod = pod_spec_of(doc)
        if pod is not None:
            assert restricted_violations(pod) == []
    # Every Service the example's destinations name is the sink's.
    text = yaml.safe_dump_all(documents)
    named = set(re.findall(r"kind: Service\n\s+name: ([\w-]+)", text))
    named |= set(re.findall(r"http://([\w-]+)\.shop\.svc", text))
    assert named <= services
    assert {"audit", "enricher", "notifier", "dead-letters"} == services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def sink() -> Any:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-u", str(E2E / "sink.py")],
        env={"PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    eventually(healthy, timeout=20, what="the sink to start")
    yield port, process
    process.terminate()
    process.wait(timeout=10)


def test_the_producer_and_sink_speak_cloudevents(sink: Any) -> None:
    port, process = sink
    produced = subprocess.run(
        [sys.executable, str(E2E / "produce.py"), f"http://127.0.0.1:{port}/shop/orders", "3", "t"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert produced.returncode == 0, produced.stderr
    assert produced.stdout.splitlines() == [f"sent id=t-{index} status=202" for index in range(3)]
    # The enricher's path, in structured mode as the example's subscription delivers: a reply.
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/enrich",
        data=b'{"specversion": "1.0", "id": "x-1", "type": "t", "source": "/s"}',
        headers={"content-type": "application/cloudevents+json", "host": "enricher.shop.svc.cluster.local"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["ce-id"] == "x-1-enriched"
        assert response.headers["ce-specversion"] == "1.0"
    process.terminate()
    out, _ = process.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[:3] == [
        f"received service=127 path=/shop/orders id=t-{i} type=dev.eventwire.e2e.order" for i in range(3)
    ]
    assert lines[3] == "received service=enricher path=/v1/enrich id=x-1 type=t"
