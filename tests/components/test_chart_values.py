"""Third-party Helm values against the real charts at their pinned versions.

Every values key the install sets must exist in that chart version's values.yaml (or lie in a
map the chart leaves free-form), as recorded in components/eventwire/install/chart_keys/; the
pods the NATS chart renders from our values (modelled from its templates) pass the restricted
Pod Security Standard the eventwire namespace enforces.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Any

import pytest

from eventwire.install import EventingCore, Istio
from eventwire.install.chart_pods import nats_chart_pods
from eventwire.install.chart_values import chart_keys, derive_key_list, recorded_charts, unknown_values
from eventwire.install.versions import (
    DEFAULT_ISTIO_VERSION,
    DEFAULT_NATS_CHART_VERSION,
    ISTIO_CHART_REPOSITORY,
    NATS_CHART_REPOSITORY,
)
from eventwire.render.charts import chart_problems
from eventwire.render.pod_security import restricted_violations
from tests.components.conftest import Runner, charts

IMAGE = "registry.example/eventwire/runtime@sha256:" + "a" * 64


def every_chart_the_install_sets(run: Runner) -> dict[str, dict[str, Any]]:
    """The charts of the largest shapes: Istio with CNI and HA, NATS single and clustered."""

    def program() -> None:
        Istio("istio", {"istiod_replicas": 2, "gateway_replicas": 3, "cni": True, "mtls_mode": "STRICT"})
        Istio("lean", {"namespace": "lean-istio"})
        EventingCore(
            "eventing",
            {
                "image": IMAGE,
                "provisioners": [
                    {"name": "jetstream", "type": "jetstream", "broker_replicas": 3},
                    {"name": "single", "type": "jetstream"},
                ],
            },
        )

    return charts(run(program))


def test_every_pinned_chart_version_has_a_recorded_key_list() -> None:
    recorded = {(c.repository, c.chart, c.version) for c in recorded_charts()}
    for chart in ("base", "istiod", "gateway", "cni"):
        assert (ISTIO_CHART_REPOSITORY, chart, DEFAULT_ISTIO_VERSION) in recorded, chart
    assert (NATS_CHART_REPOSITORY, "nats", DEFAULT_NATS_CHART_VERSION) in recorded
    for chart in recorded_charts():
        assert chart.keys, chart.label
        assert chart.version in chart.source, chart.label


def test_every_values_key_the_install_sets_exists_in_its_chart(run: Runner) -> None:
    found = every_chart_the_install_sets(run)
    assert len(found) == 9  # base, istiod, cni and gateway; the same without CNI; two NATS
    for name, chart in found.items():
        recorded = chart_keys(chart["repositoryOpts"]["repo"], chart["chart"], chart["version"])
        assert recorded is not None, name
        assert unknown_values(recorded, chart["values"]) == [], name


def test_istio_settings_use_the_documented_top_level_keys(run: Runner) -> None:
    found = every_chart_the_install_sets(run)
    istiod = found["istio-istiod"]["values"]
    assert "pilot" not in istiod
    assert istiod["replicaCount"] == 2
    assert istiod["autoscaleEnabled"] is False
    assert istiod["cni"] == {"enabled": True}
    assert istiod["resources"]["limits"]
    assert "cni" not in found["istio-cni"]["values"]
    assert found["istio-cni"]["values"]["resources"]["requests"]


def test_the_nats_chart_pods_pass_the_restricted_profile(run: Runner) -> None:
    for name in ("eventing-jetstream-nats", "eventing-single-nats"):
        values = every_chart_the_install_sets(run)[name]["values"]
        pods, problems = nats_chart_pods(values)
        assert problems == []
        assert list(pods) == ["StatefulSet nats"]  # nats-box is off
        containers = [c["name"] for c in pods["StatefulSet nats"]["containers"]]
        assert containers == ["nats", "reloader", "prom-exporter"]
        assert restricted_violations(pods["StatefulSet nats"]) == [], name
        assert chart_problems(
            {"repository": NATS_CHART_REPOSITORY, "chart": "nats", "version": "1.3.7", "values": values}
        ) == ([], True)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"pilot": {"replicaCount": 2}}, "values.pilot: chart istiod 1.29.2 has no such value"),
        ({"replicaCont": 2}, "values.replicaCont: chart istiod 1.29.2 has no such value"),
        ({"cni": True}, "values.cni: is a map in chart istiod 1.29.2, not a single value"),
        ({"cni": {"enabeld": True}}, "values.cni.enabeld: chart istiod 1.29.2 has no such value"),
    ],
)
def test_unknown_istiod_values_are_named(values: dict[str, Any], expected: str) -> None:
    recorded = chart_keys(ISTIO_CHART_REPOSITORY, "istiod", "1.29.2")
    assert recorded is not None
    problems = unknown_values(recorded, values)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_free_form_maps_take_any_key() -> None:
    recorded = chart_keys(NATS_CHART_REPOSITORY, "nats", "1.3.7")
    assert recorded is not None
    values = {
        "container": {"merge": {"securityContext": {"runAsUser": 1000}}, "env": {"GOMEMLIMIT": "1GiB"}},
        "config": {"merge": {"max_payload": 1}, "jetstream": {"fileStore": {"pvc": {"size": "1Gi"}}}},
    }
    assert unknown_values(recorded, values) == []
    assert unknown_values(recorded, {"config": {"jetstream": {"fileStor": {}}}}) == [
        "values.config.jetstream.fileStor: chart nats 1.3.7 has no such value "
        "(see https://github.com/nats-io/k8s/blob/nats-1.3.7/helm/charts/nats/values.yaml)"
    ]


def test_a_prometheus_exporter_without_a_security_context_is_caught() -> None:
    hardened = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}
    values = {
        "container": {"merge": {"securityContext": hardened}},
        "reloader": {"merge": {"securityContext": hardened}},
        "podTemplate": {
            "merge": {"spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}}
        },
        "promExporter": {"enabled": True},
        "natsBox": {"enabled": False},
    }
    pods, _ = nats_chart_pods(values)
    problems = restricted_violations(pods["StatefulSet nats"])
    assert problems == [
        "spec.containers[2] (prom-exporter): allowPrivilegeEscalation must be false",
        "spec.containers[2] (prom-exporter): capabilities must drop ALL",
        "spec.containers[2] (prom-exporter): runAsNonRoot must be true (on the container or the pod)",
    ]
    # nats-box, on by default in the chart, is modelled too.
    pods, _ = nats_chart_pods({**values, "natsBox": {}})
    assert restricted_violations(pods["Deployment nats-box"])
    _, problems = nats_chart_pods({**values, "container": {"patch": [{"op": "add"}]}})
    assert problems == ["values.container.patch: JSON patches are not modelled; use `merge`"]


def test_an_unrecorded_chart_version_is_reported_unchecked() -> None:
    assert chart_problems({"repository": NATS_CHART_REPOSITORY, "chart": "nats", "version": "9.9.9"}) == (
        [],
        False,
    )


def test_derive_key_list_walks_maps_and_keeps_empty_ones_free_form() -> None:
    values = {
        "_internal_defaults_do_not_set": {
            "replicaCount": 1,
            "image": None,
            "env": {},
            "service": {"type": "LoadBalancer", "ports": [{"port": 80}], "annotations": {}},
        }
    }
    assert derive_key_list(values) == (
        ["replicaCount", "image", "service.type", "service.ports"],
        ["env", "service.annotations"],
    )


def test_the_key_lists_ship_with_the_package() -> None:
    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "eventwire"
    ]
    package = root / "components" / "eventwire"
    files = sorted((package / "install" / "chart_keys").glob("*"))
    assert files
    for path in files:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
