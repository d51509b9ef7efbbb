"""The `eventwire` command: crds, validate and convert, run as users run them."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from eventwire.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_crds_prints_every_crd_for_kubectl_apply() -> None:
    code, out = run("crds", "--label", "eventwire.dev/release=0.1.0")
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    assert len(documents) == 11
    assert all(doc["kind"] == "CustomResourceDefinition" for doc in documents)
    assert {doc["metadata"]["labels"]["eventwire.dev/release"] for doc in documents} == {"0.1.0"}


def test_crds_rejects_a_malformed_label() -> None:
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        run("crds", "--label", "novalue")


def test_validate_accepts_the_examples() -> None:
    code, out = run("validate", str(ROOT / "examples"))
    assert code == 0, out
    assert "0 invalid" in out
    assert "ok      " in out


def test_validate_reports_each_error_with_file_and_field_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """
apiVersion: sources.eventwire.dev/v1
kind: PingSource
metadata: {name: ping}
spec:
  schedule: "* * * * *"
  data: x
  dataBase64: eA==
---
apiVersion: messaging.eventwire.dev/v1
kind: Channel
metadata: {name: fine}
""",
    )
    code, out = run("validate", str(path))
    assert code == 1
    assert f"error   {path}: PingSource/ping" in out
    assert "spec.sink: required field is missing" in out
    assert "spec: data and dataBase64 are mutually exclusive" in out
    assert f"ok      {path}[1]: Channel/fine" in out
    assert "2 documents, 1 invalid" in out


def test_validate_checks_builtin_kinds_against_kubernetes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: notanumber}]}\n",
    )
    code, out = run("validate", str(path))
    assert code == 1
    assert "spec.ports.0.port" in out


def test_validate_reports_yaml_errors_and_missing_files(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", "kind: [unclosed\n")
    code, out = run("validate", str(broken), str(tmp_path / "missing.yaml"))
    assert code == 1
    assert "not valid YAML" in out
    assert "cannot read" in out


def test_validate_needs_documents(tmp_path: Path) -> None:
    code, out = run("validate", str(tmp_path))
    assert code == 1
    assert "no YAML documents" in out


def test_validate_refuses_knative_manifests_unless_converted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kn.yaml",
        """
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: ping}
spec:
  schedule: "*/1 * * * *"
  sink: {uri: "http://display.default.svc.cluster.local"}
---
apiVersion: flows.knative.dev/v1
kind: Parallel
metadata: {name: branches}
""",
    )
    code, out = run("validate", str(path))
    assert code == 1
    assert "a Knative manifest (sources.knative.dev/v1 PingSource): run `eventwire convert`" in out
    code, out = run("validate", "--knative", str(path))
    assert code == 1
    assert f"ok      {path}: PingSource/ping" in out
    assert "flows.knative.dev/v1 Parallel is not converted: eventwire has no Parallel" in out


def test_convert_prints_eventwire_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "kn.yaml",
        """
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: {name: orders, namespace: shop}
""",
    )
    code, out = run("convert", str(path))
    assert code == 0
    (doc,) = yaml.safe_load_all(out)
    assert doc == {
        "apiVersion": "messaging.eventwire.dev/v1",
        "kind": "Channel",
        "metadata": {"name": "orders", "namespace": "shop"},
    }
    assert "InMemoryChannel became Channel" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "eventwire"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "crds" in result.stdout
    assert "validate" in result.stdout


def test_convert_passes_other_documents_through_and_converts_every_knative_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "mixed.yaml",
        """
apiVersion: v1
kind: Secret
metadata: {name: githubsecret}
stringData: {secretToken: s3cret}
---
apiVersion: sources.eventwire.dev/v1
kind: PingSource
metadata: {name: ping}
spec: {schedule: "* * * * *", sink: {uri: "http://display.default.svc.cluster.local"}}
---
apiVersion: sources.eventing.knative.dev/v1alpha1
kind: CronJobSource
metadata: {name: cron}
spec:
  schedule: "* * * * *"
  data: '{"m": 1}'
  sink: {apiVersion: serving.knative.dev/v1alpha1, kind: Service, name: display}
""",
    )
    code, out = run("convert", str(path))
    assert code == 0
    secret, ping, cron = yaml.safe_load_all(out)
    assert secret["kind"] == "Secret"
    assert ping["spec"]["sink"] == {"uri": "http://display.default.svc.cluster.local"}
    assert (cron["apiVersion"], cron["kind"]) == ("sources.eventwire.dev/v1", "PingSource")
    assert "CronJobSource became a PingSource" in capsys.readouterr().err
    converted = write(tmp_path, "converted.yaml", out)
    code, report = run("validate", str(converted))
    assert code == 0, report
