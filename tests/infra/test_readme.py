"""The README's install, uninstall and image sections say what the program does."""

from __future__ import annotations

import re

from eventwire.api import render_crds
from eventwire.install import peering
from eventwire.install.settings import KEYS
from eventwire.render.project import Project
from tests.infra.conftest import ROOT

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n#", start + len(title))
    return README[start:] if end < 0 else README[start:end]


def test_every_config_key_the_readme_names_exists() -> None:
    named = set(re.findall(r"eventwire:([A-Za-z]+)", README))
    assert named
    assert named <= set(KEYS), named - set(KEYS)


def test_uninstall_keeps_the_crds_by_default_and_the_selector_finds_only_ours(project: Project) -> None:
    text = section("### Uninstall")
    assert project.schema["retainCrdsOnDelete"]["default"] is True
    assert "retainCrdsOnDelete false" in text
    selector = re.search(r"kubectl delete crd -l ([\w./-]+)=([\w-]+)", text)
    assert selector is not None
    key, value = selector.groups()
    ours = {crd["metadata"]["name"] for crd in render_crds()}
    assert {
        crd["metadata"]["name"] for crd in render_crds() if crd["metadata"]["labels"].get(key) == value
    } == ours
    kopf = peering.kopf_peering_crd({"app.kubernetes.io/part-of": "eventwire"})
    assert kopf["metadata"]["labels"].get(key) != value  # kopf's CRD may be shared: removed by name
    assert f"kubectl delete crd {peering.CRD_NAME}" in text


def test_the_install_section_names_the_namespaces_it_creates(project: Project) -> None:
    text = section("## With the Pulumi CLI and a cluster")
    for namespace in ("istio-system", "knative-serving", "eventwire-system", "channelNamespace"):
        assert namespace in text, namespace
    assert "createChannelNamespace" in text
    assert project.schema["createChannelNamespace"]["default"] is True
