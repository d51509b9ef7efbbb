"""The shared workload builders and the restricted Pod Security check."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eventwire.exceptions import ConfigError
from eventwire.install import workloads
from eventwire.render.pod_security import pod_spec_of, restricted_violations


def hardened_pod(replicas: int = 1) -> dict[str, Any]:
    container = workloads.runtime_container(
        "c",
        "img:1",
        ["dispatcher"],
        {"B": "2", "A": "1"},
        {"http": 8080},
        workloads.resources_for("small"),
        liveness_path="/healthz",
        readiness_path="/readyz",
    )
    return workloads.pod_spec([container], "sa", {"app": "x"}, replicas)


def test_runtime_pods_pass_the_restricted_profile() -> None:
    assert restricted_violations(hardened_pod()) == []


def test_env_is_sorted_and_carries_the_pod_identity() -> None:
    env = hardened_pod()["containers"][0]["env"]
    assert [item["name"] for item in env] == ["A", "B", "POD_NAMESPACE", "POD_NAME"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda pod: pod.update(hostNetwork=True), "spec.hostNetwork must not be true"),
        (
            lambda pod: pod["containers"][0]["securityContext"].update(privileged=True),
            "privileged must not be true",
        ),
        (
            lambda pod: pod["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation must be false",
        ),
        (
            lambda pod: pod["containers"][0]["securityContext"].pop("capabilities"),
            "capabilities must drop ALL",
        ),
        (
            lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
            "may add only NET_BIND_SERVICE",
        ),
        (
            lambda pod: (
                pod["securityContext"].pop("runAsNonRoot"),
                pod["containers"][0]["securityContext"].pop("runAsNonRoot"),
            ),
            "runAsNonRoot must be true",
        ),
        (
            lambda pod: (
                pod["securityContext"].pop("seccompProfile"),
                pod["containers"][0]["securityContext"].pop("seccompProfile"),
            ),
            "seccompProfile must be RuntimeDefault or Localhost",
        ),
        (
            lambda pod: pod["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            "type ['hostPath'] is not allowed",
        ),
        (lambda pod: pod["containers"][0]["ports"][0].update(hostPort=80), "hostPort 80 is not allowed"),
        (lambda pod: pod["securityContext"].update(runAsUser=0), "runAsUser must not be 0"),
        (
            lambda pod: pod["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
            "sysctl kernel.msgmax is not in the safe set",
        ),
        (
            lambda pod: pod.setdefault("initContainers", []).append({"name": "init", "image": "busybox"}),
            "spec.initContainers[0] (init): allowPrivilegeEscalation must be false",
        ),
    ],
)
def test_the_restricted_check_catches_each_violation(change: Any, expected: str) -> None:
    pod = copy.deepcopy(hardened_pod())
    change(pod)
    problems = restricted_violations(pod)
    assert any(expected in problem for problem in problems), problems


def test_pod_spec_of_finds_templates() -> None:
    pod: dict[str, Any] = {"containers": []}
    assert pod_spec_of({"kind": "Deployment", "spec": {"template": {"spec": pod}}}) is pod
    assert (
        pod_spec_of({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}})
        is pod
    )
    assert pod_spec_of({"kind": "Service", "spec": {}}) is None


def test_several_replicas_spread_and_keep_one_available() -> None:
    assert "topologySpreadConstraints" not in hardened_pod(1)
    assert len(hardened_pod(3)["topologySpreadConstraints"]) == 2
    pdb = workloads.pod_disruption_budget("d", "ns", {}, {"app": "x"}, 3)
    assert pdb["spec"]["minAvailable"] == 1
    assert workloads.pod_disruption_budget("d", "ns", {}, {"app": "x"}, 1)["spec"]["maxUnavailable"] == 1


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ConfigError, match="resourceProfile"):
        workloads.resources_for("huge")
    with pytest.raises(ConfigError, match="replicas must be at least 1"):
        workloads.deployment("d", "ns", {}, {}, 0, {})
