"""Knative Serving: release manifests by URL, in order, with the Istio ingress class."""

from __future__ import annotations

import pulumi
import pytest

from eventwire.exceptions import ConfigError
from eventwire.install import Istio, KnativeServing
from tests.components.conftest import Runner

RELEASES = "https://github.com/knative"


def test_release_manifests_come_from_the_official_urls(run: Runner) -> None:
    record = run(lambda: KnativeServing("serving"))
    files = {r.name: r.plain["file"] for r in record.of_type("kubernetes:yaml/v2:ConfigFile")}
    assert files == {
        "serving-crds": f"{RELEASES}/serving/releases/download/knative-v1.22.0/serving-crds.yaml",
        "serving-core": f"{RELEASES}/serving/releases/download/knative-v1.22.0/serving-core.yaml",
        "serving-net-istio": f"{RELEASES}/net-istio/releases/download/knative-v1.22.0/net-istio.yaml",
    }


def test_crds_before_core_and_istio_before_net_istio(run: Runner) -> None:
    def program() -> None:
        istio = Istio("istio")
        KnativeServing("serving", {"istio": istio, "version": "1.21.1"})

    record = run(program)
    crds, core, net_istio = (record.named(f"serving-{part}") for part in ("crds", "core", "net-istio"))
    assert record.depends_on(core, crds)
    assert record.depends_on(net_istio, core)
    assert record.depends_on(net_istio, record.named("istio-gateway"))
    assert record.depends_on(net_istio, record.named("istio-istiod"))
    assert "knative-v1.21.1" in net_istio.plain["file"]


def test_config_network_and_domain(run: Runner) -> None:
    def program() -> None:
        serving = KnativeServing("serving", {"domain": pulumi.Output.from_input("apps.example.org")})
        pulumi.export("urls", serving.manifest_urls)

    record = run(program)
    patches = {r.plain["metadata"]["name"]: r for r in record.of_type("kubernetes:core/v1:ConfigMapPatch")}
    assert patches["config-network"].plain["data"] == {
        "ingress-class": "istio.ingress.networking.knative.dev"
    }
    assert patches["config-domain"].plain["data"] == {"apps.example.org": ""}
    for patch in patches.values():
        assert patch.plain["metadata"]["namespace"] == "knative-serving"
        assert record.depends_on(patch, record.named("serving-core"))
    assert len(record.outputs["urls"]) == 3


def test_without_a_domain_config_domain_is_left_alone(run: Runner) -> None:
    record = run(lambda: KnativeServing("serving"))
    names = [r.plain["metadata"]["name"] for r in record.of_type("kubernetes:core/v1:ConfigMapPatch")]
    assert names == ["config-network"]


@pytest.mark.parametrize("version", ["latest", "1.22", "v1.22.0", ""])
def test_a_version_must_be_a_release(run: Runner, version: str) -> None:
    with pytest.raises(ConfigError, match="KnativeServing version"):
        run(lambda: KnativeServing("serving", {"version": version}))
