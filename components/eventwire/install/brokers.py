"""The brokers persistent channel provisioners need: NATS JetStream through the official NATS
Helm chart, or a single Redis with append-only persistence built here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from eventwire.install.workloads import (
    allow_ports,
    network_policy,
    restricted_container_security_context,
    restricted_pod_security_context,
    selector_labels,
    service,
    standard_labels,
)

if TYPE_CHECKING:  # pure builders: Pulumi only names the Input type here
    import pulumi

NATS_PORT: Final = 4222
REDIS_PORT: Final = 6379
# The official images' unprivileged users.
NATS_UID: Final = 1000
REDIS_UID: Final = 999
# NATS accepts 1 MB messages by default; the dispatcher takes GitHub-sized events (bodies up to
# its 32 MiB limit, plus the stored attributes), so the server's max_payload is raised (NATS
# allows up to 64 MB and requires max_pending, 64 MB by default, to be at least as large).
NATS_MAX_PAYLOAD: Final = 40 * 1024 * 1024


def nats_release(provisioner: str) -> str:
    """Helm release (and Service) name of a provisioner's NATS."""
    return f"{provisioner}-nats"


def nats_url(provisioner: str, namespace: str) -> str:
    return f"nats://{nats_release(provisioner)}.{namespace}.svc.cluster.local:{NATS_PORT}"


def nats_values(replicas: int, storage_size: pulumi.Input[str], resources: dict[str, Any]) -> dict[str, Any]:
    """Values of the NATS chart: JetStream on persistent volumes, clustered above one replica,
    max_payload raised to NATS_MAX_PAYLOAD for large events, nats-box (a debug shell) off, and
    every container the chart renders (nats, the config reloader, the Prometheus exporter)
    hardened to the restricted Pod Security Standard: the chart sets no securityContext of its
    own, so each one comes from that container's `merge` block."""
    container_security = restricted_container_security_context()
    container_security["runAsUser"] = NATS_UID
    config: dict[str, Any] = {
        "jetstream": {
            "enabled": True,
            "fileStore": {"enabled": True, "pvc": {"enabled": True, "size": storage_size}},
        },
        "cluster": {"enabled": replicas > 1, "replicas": replicas},
        "merge": {"max_payload": NATS_MAX_PAYLOAD},
    }
    return {
        "config": config,
        "container": {"merge": {"resources": resources, "securityContext": container_security}},
        "reloader": {"merge": {"securityContext": container_security}},
        "podTemplate": {
            "merge": {
                "metadata": {"annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "7777"}},
                "spec": {"securityContext": restricted_pod_security_context(NATS_UID)},
            }
        },
        "promExporter": {"enabled": True, "merge": {"securityContext": container_security}},
        "natsBox": {"enabled": False},
        "podDisruptionBudget": {"enabled": replicas > 1},
    }


def redis_name(provisioner: str) -> str:
    return f"{provisioner}-redis"


def redis_url(provisioner: str, namespace: str) -> str:
    return f"redis://{redis_name(provisioner)}.{namespace}.svc.cluster.local:{REDIS_PORT}/0"


def redis_manifests(
    provisioner: str,
    namespace: str,
    image: pulumi.Input[str],
    storage_size: pulumi.Input[str],
    resources: dict[str, Any],
) -> list[dict[str, Any]]:
    """A one-replica Redis StatefulSet with append-only persistence, its Service and an ingress
    policy that admits only eventwire pods. Redis HA (Sentinel) is out of scope."""
    name = redis_name(provisioner)
    labels = standard_labels("redis", name)
    selector = selector_labels("redis", name)
    container_security = restricted_container_security_context()
    container_security["runAsUser"] = REDIS_UID
    probe = {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10, "timeoutSeconds": 2}
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": restricted_pod_security_context(REDIS_UID),
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "redis",
                            "image": image,
                            "args": ["--appendonly", "yes", "--dir", "/data", "--save", ""],
                            "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
                            "resources": resources,
                            "livenessProbe": {**probe, "failureThreshold": 6},
                            "readinessProbe": probe,
                            "securityContext": container_security,
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage_size}},
                    },
                }
            ],
        },
    }
    svc = service(name, namespace, labels, selector, {"redis": (REDIS_PORT, "redis")})
    policy = network_policy(
        f"{name}-clients",
        namespace,
        labels,
        selector,
        [
            allow_ports(
                [REDIS_PORT], [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "eventwire"}}}]
            )
        ],
    )
    return [statefulset, svc, policy]


def nats_network_policy(provisioner: str, namespace: str) -> dict[str, Any]:
    """Admit NATS clients from eventwire pods, cluster routes between NATS servers, and metrics."""
    release = nats_release(provisioner)
    nats_pods = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": release}
    return network_policy(
        f"{release}-clients",
        namespace,
        standard_labels("nats", release),
        nats_pods,
        [
            allow_ports(
                [NATS_PORT], [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "eventwire"}}}]
            ),
            allow_ports([6222], [{"podSelector": {"matchLabels": nats_pods}}]),
            allow_ports([7777, 8222]),
        ],
    )
