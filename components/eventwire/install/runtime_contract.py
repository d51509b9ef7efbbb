"""What the install tells the runtime image: entrypoint arguments, ports and environment.

The variable names come from the runtime's own documentation (the module docstrings of
eventwire_runtime.dispatcher.settings and eventwire_runtime.controller); this module is the one
place the install spells them, so a rename there is a one-line change here. The component
library never imports eventwire_runtime (it stays free of aiohttp, kopf and broker clients).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# The dispatcher serves ingress, /healthz, /readyz and /metrics on one port.
DISPATCHER_PORT: Final = 8080
# The controller's health endpoint (kopf --liveness).
CONTROLLER_HEALTH_PORT: Final = 8080
# The controller's Prometheus endpoint, GET /metrics (its EVENTWIRE_METRICS_PORT).
CONTROLLER_METRICS_PORT: Final = 9090
# Seconds the dispatcher drains on SIGTERM; the pod's grace period is longer.
SHUTDOWN_TIMEOUT_SECONDS: Final = 20
TERMINATION_GRACE_SECONDS: Final = 30


def dispatcher_args() -> list[str]:
    return ["dispatcher"]


def controller_args() -> list[str]:
    # Without --namespace the controller serves every namespace.
    return ["controller", f"--liveness=http://0.0.0.0:{CONTROLLER_HEALTH_PORT}/healthz"]


def stream_name(provisioner: str) -> str:
    """The JetStream stream (Redis key prefix) of one provisioner, so that two share a server safely."""
    return "EVENTWIRE_" + provisioner.upper().replace("-", "_").replace(".", "_")


# spec.dispatcher.http of a ClusterChannelProvisioner -> the dispatcher's variable. Byte and
# connection counts pass as integers, timeouts as the ISO-8601 duration the runtime also reads.
DISPATCHER_HTTP_SETTINGS: Final = {
    "maxBodyBytes": "EVENTWIRE_MAX_BODY_BYTES",
    "maxRequestLineBytes": "EVENTWIRE_MAX_REQUEST_LINE_BYTES",
    "maxHeaderBytes": "EVENTWIRE_MAX_HEADER_BYTES",
    "maxConnections": "EVENTWIRE_MAX_CONNECTIONS",
    "headerTimeout": "EVENTWIRE_HEADER_TIMEOUT",
    "bodyTimeout": "EVENTWIRE_BODY_TIMEOUT",
    "idleTimeout": "EVENTWIRE_IDLE_TIMEOUT",
}


def dispatcher_env(provisioner: str, spec: Mapping[str, Any]) -> dict[str, str]:
    """The dispatcher environment for the ClusterChannelProvisioner `provisioner` with `spec`."""
    backend = str(spec["type"])
    env = {
        "EVENTWIRE_PORT": str(DISPATCHER_PORT),
        "EVENTWIRE_BACKEND": backend,
        "EVENTWIRE_ROUTES_SOURCE": "kubernetes",
        "EVENTWIRE_PROVISIONER": provisioner,
        "EVENTWIRE_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT_SECONDS),
        "EVENTWIRE_LOG_LEVEL": "INFO",
    }
    dispatcher = spec.get("dispatcher", {})
    host_suffix = dispatcher.get("hostSuffix")
    if host_suffix:
        env["EVENTWIRE_HOST_SUFFIX"] = str(host_suffix)
    if "maxBacklog" in dispatcher:
        env["EVENTWIRE_MAX_BACKLOG"] = str(dispatcher["maxBacklog"])
    for field, variable in DISPATCHER_HTTP_SETTINGS.items():
        if field in dispatcher.get("http", {}):
            env[variable] = str(dispatcher["http"][field])
    if backend == "in-memory" and "capacity" in spec.get("inMemory", {}):
        env["EVENTWIRE_QUEUE_CAPACITY"] = str(spec["inMemory"]["capacity"])
    if backend == "jetstream":
        env["EVENTWIRE_NATS_URL"] = str(spec["jetstream"]["url"])
        env["EVENTWIRE_STREAM"] = stream_name(provisioner)
    if backend == "redis":
        env["EVENTWIRE_REDIS_URL"] = str(spec["redis"]["url"])
        env["EVENTWIRE_STREAM"] = stream_name(provisioner)
    return env


def dispatcher_service(provisioner: str) -> str:
    """The dispatcher Deployment and Service name of a provisioner (the controller's default)."""
    return DISPATCHER_SERVICE_PATTERN.replace("{provisioner}", provisioner)


DISPATCHER_SERVICE_PATTERN: Final = "eventwire-dispatcher-{provisioner}"


# The Istio Gateway (EventSources creates it) that GitHubSource VirtualServices bind to.
WEBHOOK_GATEWAY_NAME: Final = "eventwire-webhooks"
DEFAULT_GATEWAY_NAMESPACE: Final = "istio-system"


def webhook_gateway_ref(gateway_namespace: str = DEFAULT_GATEWAY_NAMESPACE) -> str:
    """`<namespace>/<name>` of the webhook Gateway, as a VirtualService's `gateways` names it."""
    return f"{gateway_namespace}/{WEBHOOK_GATEWAY_NAME}"


# The ClusterKopfPeering the controller replicas share (EVENTWIRE_PEERING); kopf's own default
# name ("default") is avoided so that other kopf operators in the cluster stay apart.
CONTROLLER_PEERING: Final = "eventwire-controller"
# Seconds after which a standby replica takes over from one that died without notice.
CONTROLLER_PEERING_LIFETIME: Final = 30


def controller_env(
    namespace: str,
    image: Any,
    webhook_domain: str = "",
    webhook_gateway: str = "",
    peering: str = "",
) -> dict[str, Any]:
    """The controller environment: where the system lives, which image adapters run, how
    dispatcher Services are named, where metrics are served, (with a webhook domain) under which
    host suffix and through which Istio Gateway GitHub reaches GitHubSource adapters, and (with
    `peering`) the peering object through which replicas agree on the active one. kopf's
    identity of a replica, POD_ID, is the pod name (set from the downward API by the install)."""
    env: dict[str, Any] = {
        "EVENTWIRE_SYSTEM_NAMESPACE": namespace,
        "EVENTWIRE_RUNTIME_IMAGE": image,
        "EVENTWIRE_DISPATCHER_SERVICE": DISPATCHER_SERVICE_PATTERN,
        "EVENTWIRE_METRICS_PORT": str(CONTROLLER_METRICS_PORT),
    }
    if peering:
        env["EVENTWIRE_PEERING"] = peering
        env["EVENTWIRE_PEERING_LIFETIME"] = str(CONTROLLER_PEERING_LIFETIME)
    if webhook_domain:
        env["EVENTWIRE_WEBHOOK_DOMAIN"] = webhook_domain
        env["EVENTWIRE_WEBHOOK_GATEWAY"] = webhook_gateway or webhook_gateway_ref()
    return env
