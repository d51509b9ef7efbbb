"""Pure builders for the workload manifests every component shares: labels, hardened pods,
Deployments, Services, PodDisruptionBudgets and NetworkPolicies. No Pulumi, no I/O.

Every pod built here passes the Kubernetes "restricted" Pod Security Standard: non-root user,
no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, read-only root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from eventwire.exceptions import ConfigError

# Requests and limits per profile; CPU in cores (millicores), memory in bytes (Mi).
RESOURCE_PROFILES: Final[Mapping[str, Mapping[str, Mapping[str, str]]]] = {
    "small": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
    "medium": {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
    "large": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
}

# The non-root user of the runtime image (distroless "nonroot").
RUNTIME_UID: Final = 65532
METRICS_PORT: Final = 9090


def resources_for(profile: str) -> dict[str, Any]:
    """Requests and limits of a resource profile (small, medium or large)."""
    try:
        chosen = RESOURCE_PROFILES[profile]
    except KeyError:
        raise ConfigError(
            f"resourceProfile: {profile!r} is not one of {', '.join(RESOURCE_PROFILES)}"
        ) from None
    return {key: dict(values) for key, values in chosen.items()}


def standard_labels(component: str, instance: str) -> dict[str, str]:
    """The recommended app.kubernetes.io labels for one eventwire workload."""
    return {
        **selector_labels(component, instance),
        "app.kubernetes.io/part-of": "eventwire",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector_labels(component: str, instance: str) -> dict[str, str]:
    """The immutable subset of standard_labels used in selectors."""
    return {
        "app.kubernetes.io/name": "eventwire",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
    }


def restricted_pod_security_context(uid: int = RUNTIME_UID) -> dict[str, Any]:
    """A pod securityContext that satisfies the restricted Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security_context() -> dict[str, Any]:
    """A container securityContext that satisfies the restricted Pod Security Standard."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: str, period_seconds: int = 10, failure_threshold: int = 3) -> dict[str, Any]:
    """An HTTP GET probe on a named port; periods in seconds."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_seconds,
        "timeoutSeconds": 2,
        "failureThreshold": failure_threshold,
    }


def env_list(env: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Plain env vars, sorted by name for stable manifests, plus the pod's own namespace and name."""
    items: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in sorted(env.items())]
    items.append({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}})
    items.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    return items


def runtime_container(
    name: str,
    image: Any,
    args: Sequence[str],
    env: Mapping[str, Any],
    ports: Mapping[str, int],
    resources: Mapping[str, Any],
    liveness_path: str,
    readiness_path: str,
    probe_port: str = "http",
) -> dict[str, Any]:
    """One hardened container of the runtime image (`eventwire-runtime <args>`)."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": list(args),
        "env": env_list(env),
        "ports": [
            {"name": port_name, "containerPort": port, "protocol": "TCP"} for port_name, port in ports.items()
        ],
        "resources": dict(resources),
        "livenessProbe": http_probe(liveness_path, probe_port, failure_threshold=6),
        "readinessProbe": http_probe(readiness_path, probe_port, period_seconds=5),
        "securityContext": restricted_container_security_context(),
        # The root filesystem is read-only; Python and kopf still need a scratch directory.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def pod_spec(
    containers: Sequence[Mapping[str, Any]],
    service_account: str,
    selector: Mapping[str, str],
    replicas: int,
    termination_grace_seconds: int = 30,
) -> dict[str, Any]:
    """A restricted pod spec; with several replicas it spreads them over nodes and zones."""
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": True,
        "securityContext": restricted_pod_security_context(),
        "terminationGracePeriodSeconds": termination_grace_seconds,
        "containers": [dict(container) for container in containers],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if replicas > 1:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": topology_key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(selector)},
            }
            for topology_key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
        ]
    return spec


def prometheus_annotations(port: int = METRICS_PORT, path: str = "/metrics") -> dict[str, str]:
    """The conventional prometheus.io scrape annotations."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}


def deployment(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    replicas: int,
    spec: Mapping[str, Any],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Deployment manifest with a rolling update that never drops below the desired replicas."""
    if replicas < 1:
        raise ConfigError(f"{name}: replicas must be at least 1, got {replicas}")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": dict(selector)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": dict(annotations or {})},
                "spec": dict(spec),
            },
        },
    }


def service(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    ports: Mapping[str, tuple[int, str]],
) -> dict[str, Any]:
    """A ClusterIP Service; `ports` maps a port name to (port, targetPort name)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [
                {"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}
                for port_name, (port, target) in ports.items()
            ],
        },
    }


def pod_disruption_budget(
    name: str, namespace: str, labels: Mapping[str, str], selector: Mapping[str, str], replicas: int
) -> dict[str, Any]:
    """A PDB: with several replicas at least one stays up; a single replica may be evicted."""
    budget: dict[str, Any] = {"minAvailable": 1} if replicas > 1 else {"maxUnavailable": 1}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"selector": {"matchLabels": dict(selector)}, **budget},
    }


def network_policy(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    pod_selector: Mapping[str, str],
    ingress: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """An ingress NetworkPolicy for the selected pods (an empty `ingress` denies all ingress)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "podSelector": {"matchLabels": dict(pod_selector)},
            "policyTypes": ["Ingress"],
            "ingress": [dict(rule) for rule in ingress],
        },
    }


def allow_ports(ports: Sequence[int], sources: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """One ingress rule: these TCP ports, from `sources` (peers) or from anywhere."""
    rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": port} for port in ports]}
    if sources is not None:
        rule["from"] = [dict(source) for source in sources]
    return rule
