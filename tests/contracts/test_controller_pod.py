"""The install's controller pod and the controller agree: the settings the controller parses from
the pod's env serve metrics where the pod declares its metrics port, where Prometheus is told
to scrape and where the NetworkPolicies admit scrapes; and its replicas peer through the object,
CRD and rights the install creates."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire import rbac
from eventwire.install.eventing_core import SIDECAR_METRICS_PORTS
from eventwire.render.engine import ProgramRun
from eventwire.render.stack import run_stack
from eventwire_runtime.controller.settings import ControllerSettings
from tests.infra.conftest import PROJECT, STACKS


def objects(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    return [r.plain for r in run.registrations if r.custom and r.inputs.get("kind") == kind]


def controller(run: ProgramRun) -> dict[str, Any]:
    [found] = [d for d in objects(run, "Deployment") if d["metadata"]["name"] == "eventwire-controller"]
    return found


def settings_of(pod: dict[str, Any]) -> ControllerSettings:
    env = pod["spec"]["containers"][0]["env"]
    return ControllerSettings.from_env({e["name"]: str(e["value"]) for e in env if "value" in e})


def admitted_ports(run: ProgramRun, pod_labels: dict[str, str]) -> set[int]:
    """TCP ports the stack's NetworkPolicies admit (from anywhere) to a pod with these labels."""
    ports: set[int] = set()
    for policy in objects(run, "NetworkPolicy"):
        if policy["spec"]["podSelector"].get("matchLabels", {}).items() <= pod_labels.items():
            for rule in policy["spec"]["ingress"]:
                ports.update(p["port"] for p in rule.get("ports", []) if "from" not in rule)
    return ports


@pytest.mark.parametrize("stack", STACKS)
def test_metrics_are_served_declared_annotated_and_admitted_on_one_port(stack: str) -> None:
    run = run_stack(PROJECT, stack)
    pod = controller(run)["spec"]["template"]
    settings = settings_of(pod)
    assert settings.metrics_port > 0
    assert settings.metrics_address == "0.0.0.0"  # reachable from the pod's IP
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert ports["metrics"] == settings.metrics_port
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == settings.metrics_port
    assert annotations["prometheus.io/path"] == "/metrics"
    admitted = admitted_ports(run, pod["metadata"]["labels"])
    if objects(run, "NetworkPolicy"):
        # The metrics port and nothing else, plus the sidecar's metrics ports where the mesh is on.
        meshed = any(
            ns["metadata"].get("labels", {}).get("istio-injection") == "enabled"
            for ns in objects(run, "Namespace")
        )
        assert admitted == {settings.metrics_port, *(SIDECAR_METRICS_PORTS if meshed else ())}


@pytest.mark.parametrize(("stack", "replicas"), [("dev", 1), ("staging", 2), ("prod", 2)])
def test_replicas_peer_through_the_object_crd_and_rights_the_install_creates(
    stack: str, replicas: int
) -> None:
    from kopf._cogs.structs.references import CLUSTER_PEERINGS_K

    run = run_stack(PROJECT, stack)
    deployment = controller(run)
    pod = deployment["spec"]["template"]
    settings = settings_of(pod)
    assert deployment["spec"]["replicas"] == replicas
    # The controller peers through the object the install creates ...
    [peering] = objects(run, "ClusterKopfPeering")
    assert settings.peering == peering["metadata"]["name"]
    # ... of the kind kopf looks for (its cluster-wide peering selector) ...
    [crd] = [
        c
        for c in objects(run, "CustomResourceDefinition")
        if c["spec"]["names"]["kind"] == "ClusterKopfPeering"
    ]
    assert crd["spec"]["group"] == CLUSTER_PEERINGS_K.group
    assert [v["name"] for v in crd["spec"]["versions"] if v["served"]] == [CLUSTER_PEERINGS_K.version]
    assert crd["spec"]["names"]["plural"] == CLUSTER_PEERINGS_K.any_name
    assert crd["spec"]["scope"] == "Cluster"
    assert peering["apiVersion"] == f"{CLUSTER_PEERINGS_K.group}/{CLUSTER_PEERINGS_K.version}"
    # ... with exactly the rights for that object, bound to the controller's account.
    [role] = [
        r for r in objects(run, "ClusterRole") if r["metadata"]["name"] == "eventwire-controller-peering"
    ]
    assert role["rules"] == [dict(rule) for rule in rbac.peering_rules(settings.peering)]
    account = pod["spec"]["serviceAccountName"]
    [binding] = [
        b for b in objects(run, "ClusterRoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]
    ]
    assert binding["subjects"][0]["name"] == account
    # Each replica has its own identity (kopf's POD_ID), and a budget keeps one of several up.
    env = pod["spec"]["containers"][0]["env"]
    assert {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env
    [budget] = [
        b for b in objects(run, "PodDisruptionBudget") if b["metadata"]["name"] == "eventwire-controller"
    ]
    assert budget["spec"] == (
        {"selector": budget["spec"]["selector"], "minAvailable": 1}
        if replicas > 1
        else {"selector": budget["spec"]["selector"], "maxUnavailable": 1}
    )
