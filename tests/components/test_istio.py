"""Istio: the three official charts, pinned, named for net-istio, in order."""

from __future__ import annotations

import pulumi
import pytest

from eventwire.exceptions import ConfigError
from eventwire.install import Istio
from eventwire.install.versions import DEFAULT_ISTIO_VERSION, ISTIO_CHART_REPOSITORY
from tests.components.conftest import Runner, charts, find


def test_defaults_install_base_istiod_and_the_ingress_gateway(run: Runner) -> None:
    record = run(lambda: Istio("istio"))
    found = charts(record)
    assert sorted(found) == ["istio-base", "istio-gateway", "istio-istiod"]
    for chart in found.values():
        assert chart["version"] == DEFAULT_ISTIO_VERSION == "1.29.2"
        assert chart["repositoryOpts"] == {"repo": ISTIO_CHART_REPOSITORY}
        assert chart["namespace"] == "istio-system"
    assert [found[name]["chart"] for name in ("istio-base", "istio-istiod", "istio-gateway")] == [
        "base",
        "istiod",
        "gateway",
    ]
    # net-istio's gateway selects istio=ingressgateway, which the chart derives from this release name.
    assert found["istio-gateway"]["name"] == "istio-ingressgateway"
    assert found["istio-gateway"]["values"]["replicaCount"] == 1
    assert find(record, "PeerAuthentication", "default").plain["spec"] == {"mtls": {"mode": "PERMISSIVE"}}


def test_charts_install_in_order(run: Runner) -> None:
    record = run(lambda: Istio("istio"))
    namespace, base, istiod, gateway = (
        record.named(name) for name in ("istio-namespace", "istio-base", "istio-istiod", "istio-gateway")
    )
    assert record.depends_on(base, namespace)
    assert record.depends_on(istiod, base)
    assert record.depends_on(gateway, istiod)
    assert record.depends_on(record.named("istio-mesh-mtls"), istiod)


def test_values_per_environment(run: Runner) -> None:
    record = run(
        lambda: Istio(
            "mesh",
            {
                "version": "1.29.0",
                "istiod_replicas": 2,
                "gateway_replicas": 3,
                "mtls_mode": "STRICT",
                "cni": True,
                "resource_profile": "large",
                "gateway_service_type": "NodePort",
            },
        )
    )
    found = charts(record)
    assert {chart["version"] for chart in found.values()} == {"1.29.0"}
    # The documented top-level keys, not the legacy pilot. prefix (test_chart_values checks all keys).
    assert found["mesh-istiod"]["values"]["replicaCount"] == 2
    assert found["mesh-istiod"]["values"]["autoscaleEnabled"] is False
    assert found["mesh-istiod"]["values"]["cni"] == {"enabled": True}
    assert found["mesh-istiod"]["values"]["resources"]["limits"]["memory"] == "1Gi"
    assert found["mesh-cni"]["values"] == {"resources": found["mesh-istiod"]["values"]["resources"]}
    assert found["mesh-cni"]["chart"] == "cni"
    assert record.depends_on(record.named("mesh-istiod"), record.named("mesh-cni"))
    gateway = found["mesh-gateway"]["values"]
    assert gateway["replicaCount"] == 3
    assert gateway["service"] == {"type": "NodePort"}
    assert gateway["podDisruptionBudget"] == {"minAvailable": 1}
    assert gateway["resources"]["limits"]["memory"] == "1Gi"
    assert find(record, "PeerAuthentication", "default").plain["spec"]["mtls"]["mode"] == "STRICT"


def test_outputs_name_the_gateway(run: Runner) -> None:
    def program() -> None:
        istio = Istio("istio")
        pulumi.export("service", istio.gateway_service)
        pulumi.export("address", istio.ingress_address)
        pulumi.export("version", istio.version)

    record = run(program)
    assert record.outputs["service"] == "istio-ingressgateway.istio-system.svc.cluster.local"
    # Under mocks no load balancer exists, so the address falls back to the Service's DNS name.
    assert record.outputs["address"] == record.outputs["service"]
    assert record.outputs["version"] == "1.29.2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"mtls_mode": "ON"}, "mtls_mode"),
        ({"istiod_replicas": 0}, "at least 1"),
        ({"gateway_service_type": "Ingress"}, "gateway_service_type"),
        ({"resource_profile": "xl"}, "resourceProfile"),
    ],
)
def test_bad_args_are_rejected_by_name(run: Runner, args: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(lambda: Istio("istio", args))  # type: ignore[arg-type]
