"""Pure builders of every source's children: the adapter Deployment, its ServiceAccount, the
GitHub webhook Service and its Istio VirtualService, and the source status. Kind-specific settings come from `kinds`.

Every adapter pod runs the runtime image as `eventwire-runtime adapter <kind>`, with the common
env contract (K_SINK, K_CE_OVERRIDES, NAME, NAMESPACE, K_DELIVERY, METRICS_PORT) and passes the
restricted Pod Security Standard.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from eventwire_runtime.controller.channel.resources import delivery_params
from eventwire_runtime.controller.children import owner_reference
from eventwire_runtime.controller.conditions import Conditions
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.sources import kinds, names

SPEC_HASH_ANNOTATION = "sources.eventwire.dev/spec-hash"
NON_ROOT_UID = 65532

POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": NON_ROOT_UID,
    "runAsGroup": NON_ROOT_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


def _meta(source: Mapping[str, Any], name: str) -> dict[str, Any]:
    meta = source["metadata"]
    return {
        "name": name,
        "namespace": meta["namespace"],
        "labels": names.labels(meta["name"], source["kind"]),
        "ownerReferences": [owner_reference(source)],
    }


def common_env(source: Mapping[str, Any], sink_uri: str, dead_letter_uri: str | None) -> list[dict[str, Any]]:
    """The Knative adapter contract every adapter reads (see eventwire_runtime.adapters.env)."""
    meta, spec = source["metadata"], source.get("spec") or {}
    env = [
        {"name": "K_SINK", "value": sink_uri},
        {"name": "NAME", "value": meta["name"]},
        {"name": "NAMESPACE", "value": meta["namespace"]},
    ]
    extensions = (spec.get("ceOverrides") or {}).get("extensions")
    if extensions:
        env.append(
            {"name": "K_CE_OVERRIDES", "value": json.dumps({"extensions": extensions}, sort_keys=True)}
        )
    delivery = delivery_params(spec.get("delivery"))
    if dead_letter_uri:
        delivery["deadLetterSinkUri"] = dead_letter_uri
    if delivery:
        env.append({"name": "K_DELIVERY", "value": json.dumps(delivery, sort_keys=True)})
    return env


def spec_hash(template_spec: Mapping[str, Any]) -> str:
    """A short hash of a pod spec: changes whenever the sink, env or mounts change."""
    return hashlib.sha256(json.dumps(template_spec, sort_keys=True).encode()).hexdigest()[:16]


def make_service_account(source: Mapping[str, Any]) -> dict[str, Any]:
    """The adapter's own ServiceAccount (no rights unless a kind adds a Role)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(source, names.adapter_name(source["metadata"]["name"], source["kind"])),
    }


def service_account_name(source: Mapping[str, Any]) -> str:
    """spec.serviceAccountName, else the ServiceAccount the controller creates."""
    return str((source.get("spec") or {}).get("serviceAccountName") or "") or names.adapter_name(
        source["metadata"]["name"], source["kind"]
    )


def _deployment(
    source: Mapping[str, Any], pod_meta: dict[str, Any], pod_spec: dict[str, Any]
) -> dict[str, Any]:
    meta = source["metadata"]
    selector = names.selector_labels(meta["name"], source["kind"])
    pod_meta = copy.deepcopy(pod_meta)
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **names.labels(meta["name"], source["kind"])}
    pod_meta["annotations"] = {
        **(pod_meta.get("annotations") or {}),
        SPEC_HASH_ANNOTATION: spec_hash(pod_spec),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(source, names.adapter_name(meta["name"], source["kind"])),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {"metadata": pod_meta, "spec": pod_spec},
        },
    }


def make_adapter_deployment(
    source: Mapping[str, Any],
    sink_uri: str,
    dead_letter_uri: str | None,
    settings: ControllerSettings,
    namespaces: list[str] | None = None,
) -> dict[str, Any]:
    """The adapter Deployment of a source kind that runs the runtime image.

    Args:
        namespaces: for ApiServerSource, the namespaces its namespaceSelector matches.
    """
    adapter = kinds.adapter_for(source, namespaces)
    port = settings.adapter_metrics_port
    env = [
        *common_env(source, sink_uri, dead_letter_uri),
        {"name": "METRICS_PORT", "value": str(port)},
        *adapter.env,
    ]
    ports = [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    if adapter.http_port:
        ports.insert(0, {"name": "http", "containerPort": adapter.http_port, "protocol": "TCP"})
    container: dict[str, Any] = {
        "name": "adapter",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["adapter", adapter.command],
        "env": env,
        "ports": ports,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": port}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 20},
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
    }
    if adapter.mounts:
        container["volumeMounts"] = list(adapter.mounts)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service_account_name(source),
        "securityContext": copy.deepcopy(POD_SECURITY),
        "containers": [container],
    }
    if adapter.volumes:
        pod_spec["volumes"] = list(adapter.volumes)
    pod_meta: dict[str, Any] = {}
    if adapter.pod_annotations:
        pod_meta["annotations"] = dict(adapter.pod_annotations)
    return _deployment(source, pod_meta, pod_spec)


def make_container_deployment(
    source: Mapping[str, Any], sink_uri: str, dead_letter_uri: str | None
) -> dict[str, Any]:
    """ContainerSource: the user's pod template with the adapter env injected into every container.

    The injected variables replace same-named ones; the restricted Pod Security settings are
    added where the template leaves them unset (explicit user settings win).
    """
    template = copy.deepcopy((source.get("spec") or {}).get("template") or {})
    pod_spec: dict[str, Any] = template.get("spec") or {}
    injected = common_env(source, sink_uri, dead_letter_uri)
    names_injected = {e["name"] for e in injected}
    pod_security = pod_spec.setdefault("securityContext", {})
    pod_security.setdefault("runAsNonRoot", True)
    pod_security.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    for container in pod_spec.get("containers") or []:
        own = [e for e in container.get("env") or [] if e.get("name") not in names_injected]
        container["env"] = [*own, *injected]
        security = container.setdefault("securityContext", {})
        security.setdefault("allowPrivilegeEscalation", False)
        security.setdefault("capabilities", {"drop": ["ALL"]})
    return _deployment(source, template.get("metadata") or {}, pod_spec)


WEBHOOK_SERVICE_PORT = 80


def make_webhook_service(source: Mapping[str, Any]) -> dict[str, Any]:
    """The Service GitHub delivers to: port 80 -> the adapter's http port."""
    meta = source["metadata"]
    adapter = kinds.adapter_for(source)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(source, names.adapter_name(meta["name"], source["kind"])),
        "spec": {
            "selector": names.selector_labels(meta["name"], source["kind"]),
            "ports": [
                {
                    "name": "http",
                    "port": WEBHOOK_SERVICE_PORT,
                    "targetPort": adapter.http_port,
                    "protocol": "TCP",
                }
            ],
        },
    }


VIRTUAL_SERVICE_API = "networking.istio.io/v1"


def webhook_url(source: Mapping[str, Any], settings: ControllerSettings) -> str:
    """The URL GitHub delivers a GitHubSource's webhooks to (https when spec.secure).

    With a webhook domain: `<source>.<namespace>.<domain>`, routed by the source's VirtualService
    through the webhook gateway. Without one: the webhook Service's in-cluster name, which only
    reaches the adapter from inside the cluster (a GitHub Enterprise server there, or a proxy).
    """
    meta = source["metadata"]
    scheme = "https" if (source.get("spec") or {}).get("secure") else "http"
    if settings.webhook_domain:
        return f"{scheme}://{names.webhook_host(meta['name'], meta['namespace'], settings.webhook_domain)}"
    service = names.adapter_name(meta["name"], source["kind"])
    return f"{scheme}://{service}.{meta['namespace']}.{settings.service_domain}"


def make_webhook_virtual_service(source: Mapping[str, Any], settings: ControllerSettings) -> dict[str, Any]:
    """The Istio VirtualService that routes the source's webhook host, arriving at the webhook
    gateway, to its webhook Service (port 80). Needs settings.webhook_domain."""
    meta = source["metadata"]
    service = names.adapter_name(meta["name"], source["kind"])
    return {
        "apiVersion": VIRTUAL_SERVICE_API,
        "kind": "VirtualService",
        "metadata": _meta(source, service),
        "spec": {
            "hosts": [names.webhook_host(meta["name"], meta["namespace"], settings.webhook_domain)],
            "gateways": [settings.webhook_gateway],
            "http": [
                {
                    "route": [
                        {
                            "destination": {
                                "host": f"{service}.{meta['namespace']}.{settings.service_domain}",
                                "port": {"number": WEBHOOK_SERVICE_PORT},
                            }
                        }
                    ]
                }
            ],
        },
    }


def deployment_available(deployment: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether a Deployment reports Available=True, with the reason when not."""
    if deployment is None:
        return False, "the adapter Deployment does not exist"
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Available":
            if cond.get("status") == "True":
                return True, ""
            return False, str(cond.get("message") or cond.get("reason") or "the adapter is not available")
    return False, "the adapter Deployment has not reported availability yet"


def make_status(
    source: Mapping[str, Any], conds: Conditions, sink_uri: str | None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The source status: sinkUri, ceAttributes, conditions and observedGeneration."""
    status: dict[str, Any] = {
        "observedGeneration": int(source["metadata"].get("generation", 1)),
        "sinkUri": sink_uri,
        "ceAttributes": kinds.ce_attributes(source),
        **(extra or {}),
    }
    status["conditions"] = conds.result()
    return status
