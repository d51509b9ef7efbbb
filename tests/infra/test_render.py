"""`eventwire render`: every object written, valid, hardened, stable, and free of secrets.

The rendered files are checked here independently of the render's own validation: built-in
kinds with kubernetes-validate, eventwire kinds against our CRDs, pods against the restricted
Pod Security Standard.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from eventwire.api import resource_errors
from eventwire.cli import main
from eventwire.render.engine import REDACTED
from eventwire.render.pod_security import pod_spec_of, restricted_violations
from eventwire.render.project import Project
from eventwire.render.stack import RenderResult, render_stack
from eventwire.render.validate import is_builtin
from tests.infra.conftest import ROOT, SECRETS, STACKS

THIRD_PARTY_KINDS = {"PeerAuthentication", "Gateway", "ClusterKopfPeering"}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


# Kubernetes 1.33 (the oldest supported) and every newer release kubernetes-validate has schemas for.
KUBERNETES_VERSIONS = [
    version
    for version in ("1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0")
    if _version(version) <= _version(kubernetes_validate.latest_version())
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, RenderResult]]:
    from tests.infra.conftest import PROJECT

    results = {}
    for stack in STACKS:
        out = tmp_path_factory.mktemp(stack)
        results[stack] = (out, render_stack(PROJECT, stack, out, secrets=SECRETS))
    return results


def documents(out: Path) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(out.glob("[0-9]*.yaml")):
        found.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_one_file_per_component_plus_artifacts_and_outputs(rendered: Any, stack: str) -> None:
    out, result = rendered[stack]
    assert result.problems == []
    names = sorted(path.name for path in out.glob("*.yaml"))
    assert "artifacts.yaml" in names
    assert "outputs.yaml" in names
    assert any(name.endswith("-eventing.yaml") for name in names)
    assert result.objects == len(documents(out)) > 10
    assert {path.name for path in result.files} == set(names)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_validates(rendered: Any, stack: str, version: str) -> None:
    out, _ = rendered[stack]
    for file_name, doc in documents(out):
        label = f"{file_name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].split("/")[0].endswith("eventwire.dev"):
            assert resource_errors(doc) == [], label
        elif is_builtin(doc["apiVersion"]):
            kubernetes_validate.validate(doc, version, strict=True)
        else:
            assert doc["kind"] in THIRD_PARTY_KINDS, label


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_pod_passes_the_restricted_profile(rendered: Any, stack: str) -> None:
    out, _ = rendered[stack]
    pods = 0
    for file_name, doc in documents(out):
        pod = pod_spec_of(doc)
        if pod is not None:
            pods += 1
            assert restricted_violations(pod) == [], f"{file_name}: {doc['metadata']['name']}"
    assert pods >= 2


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_never_appear_in_rendered_files(rendered: Any, stack: str) -> None:
    out, _ = rendered[stack]
    text = "\n".join(path.read_text() for path in out.glob("*.yaml"))
    for value in SECRETS.values():
        for fragment in value.splitlines():
            assert fragment not in text
    for file_name, doc in documents(out):
        if doc["kind"] == "Secret":
            assert set(doc["stringData"].values()) == {REDACTED}, file_name


def test_prod_lists_its_third_party_artifacts(rendered: Any) -> None:
    out, _ = rendered["prod"]
    artifacts = yaml.safe_load((out / "artifacts.yaml").read_text())["artifacts"]
    charts = {a["release"]: a for a in artifacts if a["kind"] == "helm-chart"}
    assert set(charts) == {"istio-base", "istiod", "istio-cni", "istio-ingressgateway", "jetstream-nats"}
    assert charts["istiod"]["version"] == "1.29.2"
    assert charts["istiod"]["repository"] == "https://istio-release.storage.googleapis.com/charts"
    assert charts["jetstream-nats"]["values"]["config"]["jetstream"]["enabled"] is True
    urls = sorted(a["url"] for a in artifacts if a["kind"] == "manifest")
    assert [url.rsplit("/", 1)[1] for url in urls] == [
        "net-istio.yaml",
        "serving-core.yaml",
        "serving-crds.yaml",
    ]
    assert all("knative-v1.22.0" in url for url in urls)
    outputs = yaml.safe_load((out / "outputs.yaml").read_text())
    assert outputs["versions"]["istio"] == "1.29.2"


def test_render_is_stable(tmp_path: Path, project: Project, rendered: Any) -> None:
    first, _ = rendered["staging"]
    render_stack(project, "staging", tmp_path, secrets=SECRETS)
    for path in sorted(first.glob("*.yaml")):
        assert (tmp_path / path.name).read_text() == path.read_text(), path.name


def test_render_replaces_only_its_own_files(tmp_path: Path, project: Project) -> None:
    mine = tmp_path / "kustomization.yaml"
    mine.write_text("resources: []\n")
    stale = tmp_path / "60-old-component.yaml"
    stale.write_text("# Written by `eventwire render`, stack dev: component Channel 'gone'.\n")
    render_stack(project, "dev", tmp_path)
    assert mine.read_text() == "resources: []\n"
    assert not stale.exists()


def test_namespaces_and_crds_come_first_in_each_file(rendered: Any) -> None:
    out, _ = rendered["prod"]
    kinds = [doc["kind"] for name, doc in documents(out) if name.endswith("-eventing.yaml")]
    assert kinds[0] == "Namespace"
    assert kinds[1 : 1 + kinds.count("CustomResourceDefinition")] == [
        "CustomResourceDefinition"
    ] * kinds.count("CustomResourceDefinition")


def test_the_cli_renders_a_stack(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(["render", "--stack", "dev", "--out", str(tmp_path / "dev"), "--project", str(ROOT)], out)
    assert code == 0, out.getvalue()
    assert "0 problems" in out.getvalue()
    assert (tmp_path / "dev" / "30-eventing.yaml").is_file()
    # What render writes is what `eventwire validate` accepts.
    checked = io.StringIO()
    assert main(["validate", str(tmp_path / "dev")], checked) == 0, checked.getvalue()


def test_the_cli_overrides_config_keys(tmp_path: Path) -> None:
    out = io.StringIO()
    args = ["render", "--stack", "dev", "--out", str(tmp_path), "--project", str(ROOT)]
    sets = ["--set", "channels=[alpha, beta]", "--set", "dispatcherReplicas=2", "--set", "imageTag=1.10"]
    assert main([*args, *sets], out) == 0, out.getvalue()
    assert sorted(path.name for path in tmp_path.glob("50-*.yaml")) == [
        "50-channel-alpha.yaml",
        "50-channel-beta.yaml",
    ]
    eventing = list(yaml.safe_load_all((tmp_path / "30-eventing.yaml").read_text()))
    dispatcher = next(
        d for d in eventing if d["kind"] == "Deployment" and "dispatcher" in d["metadata"]["name"]
    )
    assert dispatcher["spec"]["replicas"] == 2
    assert dispatcher["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.10")
    bad = io.StringIO()
    assert main([*args, "--set", "dispatcherReplicas"], bad) == 1
    assert "--set needs KEY=VALUE" in bad.getvalue()


def test_the_cli_names_an_unknown_stack(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["render", "--stack", "qa", "--out", str(tmp_path), "--project", str(ROOT)], out) == 1
    assert "stacks: ci, dev, prod, staging" in out.getvalue()


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_chart_value_is_checked_against_its_chart_version(rendered: Any, stack: str) -> None:
    out, result = rendered[stack]
    artifacts = yaml.safe_load((out / "artifacts.yaml").read_text())["artifacts"]
    assert any(a["kind"] == "helm-chart" and a["chart"] == "nats" for a in artifacts)
    assert not [note for note in result.unchecked if "helm-chart" in note]
    assert result.problems == []


def render_program(tmp_path: Path, program: str) -> tuple[int, str]:
    """Render a one-file program (project in tmp_path, stack test): the exit code and the report."""
    (tmp_path / "Pulumi.yaml").write_text(
        "name: inline\nruntime: python\nmain: program/\nstackConfigDir: .\n"
    )
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "program").mkdir()
    (tmp_path / "program" / "__main__.py").write_text(program)
    out = io.StringIO()
    args = ["render", "--stack", "test", "--out", str(tmp_path / "out"), "--project", str(tmp_path)]
    return main(args, out), out.getvalue()


def test_render_reports_chart_values_the_chart_does_not_have(tmp_path: Path) -> None:
    # A program with the legacy istiod prefix and a NATS exporter left unhardened.
    code, report = render_program(
        tmp_path,
        "import pulumi_kubernetes as k8s\n"
        "from eventwire.install.versions import ISTIO_CHART_REPOSITORY, NATS_CHART_REPOSITORY\n"
        "k8s.helm.v4.Chart('istiod', chart='istiod', version='1.29.2',\n"
        "    repository_opts={'repo': ISTIO_CHART_REPOSITORY}, values={'pilot': {'replicaCount': 2}})\n"
        "k8s.helm.v4.Chart('nats', chart='nats', version='1.3.7',\n"
        "    repository_opts={'repo': NATS_CHART_REPOSITORY},\n"
        "    values={'promExporter': {'enabled': True}, 'natsBox': {'enabled': False}})\n",
    )
    assert code == 1
    assert "helm-chart istiod (istiod 1.29.2): values.pilot: chart istiod 1.29.2 has no such value" in report
    assert (
        "helm-chart nats (nats 1.3.7): pod of the chart's StatefulSet nats: restricted Pod Security" in report
    )
    assert "(prom-exporter): capabilities must drop ALL" in report


def test_render_notes_a_chart_version_without_a_key_list(tmp_path: Path) -> None:
    out = io.StringIO()
    args = ["render", "--stack", "staging", "--out", str(tmp_path), "--project", str(ROOT)]
    assert main([*args, "--set", "natsChartVersion=1.3.6"], out) == 0, out.getvalue()
    assert (
        "note    artifacts.yaml: helm-chart jetstream-nats (nats 1.3.6): no key list recorded "
        "for this chart version, values not checked"
    ) in out.getvalue()


def test_every_stack_renders_its_default_brokers_and_validates_them(rendered: Any) -> None:
    for stack in ("dev", "staging", "prod"):
        out, result = rendered[stack]
        brokers = [doc for _, doc in documents(out) if doc["kind"] == "Broker"]
        assert brokers, stack
        assert {broker["metadata"]["name"] for broker in brokers} == {"default"}
        assert result.problems == []


def test_render_checks_brokers_and_triggers_the_constructor_could_not(tmp_path: Path) -> None:
    # Values from other resources' outputs are only known at render time: the render checks them.
    code, report = render_program(
        tmp_path,
        "import pulumi\n"
        "from eventwire.install import Broker, Trigger, service_destination\n"
        "later = pulumi.Output.from_input\n"
        "Broker('shop', {'namespace': 'shop', 'provisioner': later('Not A Name')})\n"
        "Trigger('sql', {'namespace': 'shop', 'broker': 'shop', 'subscriber': service_destination('x'),\n"
        "    'filters': [{'cesql': later(\"type = 'a' AND\")}]})\n",
    )
    assert code == 1
    assert "50-shop.yaml: Broker/shop/shop: spec.provisioner: 'Not A Name'" in report
    assert "50-sql.yaml: Trigger/shop/sql: spec.filters[0].cesql: CloudEvents SQL does not parse" in report
