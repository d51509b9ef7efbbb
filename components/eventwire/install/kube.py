"""Create Kubernetes objects from plain manifest dicts, as typed pulumi-kubernetes resources.

Components build manifests with pure functions (see workloads.py) and hand them to
`kube_object`, so that the same dicts are easy to test, and the registered inputs are exactly
the manifest (which is what the engine-free render writes out).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from eventwire.exceptions import ConfigError

_PROVIDER_VERSION = version("pulumi_kubernetes")

# (apiVersion, kind) -> the typed resource class and the top-level fields it takes besides metadata.
_TYPED: dict[tuple[str, str], tuple[Any, tuple[str, ...]]] = {
    ("v1", "Namespace"): (k8s.core.v1.Namespace, ("spec",)),
    ("v1", "ServiceAccount"): (k8s.core.v1.ServiceAccount, ("automountServiceAccountToken",)),
    ("v1", "Service"): (k8s.core.v1.Service, ("spec",)),
    ("v1", "ConfigMap"): (k8s.core.v1.ConfigMap, ("data",)),
    ("v1", "Secret"): (k8s.core.v1.Secret, ("type", "stringData", "data", "immutable")),
    ("apps/v1", "Deployment"): (k8s.apps.v1.Deployment, ("spec",)),
    ("apps/v1", "StatefulSet"): (k8s.apps.v1.StatefulSet, ("spec",)),
    ("policy/v1", "PodDisruptionBudget"): (k8s.policy.v1.PodDisruptionBudget, ("spec",)),
    ("networking.k8s.io/v1", "NetworkPolicy"): (k8s.networking.v1.NetworkPolicy, ("spec",)),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): (k8s.rbac.v1.ClusterRole, ("rules", "aggregationRule")),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): (
        k8s.rbac.v1.ClusterRoleBinding,
        ("roleRef", "subjects"),
    ),
    ("rbac.authorization.k8s.io/v1", "Role"): (k8s.rbac.v1.Role, ("rules",)),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (k8s.rbac.v1.RoleBinding, ("roleRef", "subjects")),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): (
        k8s.apiextensions.v1.CustomResourceDefinition,
        ("spec",),
    ),
}

_SNAKE = {
    "automountServiceAccountToken": "automount_service_account_token",
    "stringData": "string_data",
    "aggregationRule": "aggregation_rule",
    "roleRef": "role_ref",
}


def kube_object(
    name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """Register `manifest` as a Kubernetes resource called `name` (the Pulumi name, not metadata.name).

    Built-in kinds get their typed class (so the provider knows their schema); any other kind
    (our custom resources, Istio's) becomes an apiextensions.CustomResource.
    """
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ConfigError(f"{name}: a manifest needs apiVersion and kind")
    typed = _TYPED.get((api_version, kind))
    if typed is None:
        unknown = set(manifest) - {"apiVersion", "kind", "metadata", "spec"}
        if unknown:
            raise ConfigError(
                f"{name}: a custom resource takes only metadata and spec, not {sorted(unknown)}"
            )
        return ObservedCustomResource(
            name, api_version, kind, manifest.get("metadata"), manifest.get("spec"), opts
        )
    cls, fields = typed
    unknown = set(manifest) - {"apiVersion", "kind", "metadata", *fields}
    if unknown:
        raise ConfigError(f"{name}: {kind} does not take the fields {sorted(unknown)}")
    kwargs = {_SNAKE.get(field, field): manifest[field] for field in fields if field in manifest}
    created: pulumi.CustomResource = cls(name, metadata=manifest.get("metadata"), opts=opts, **kwargs)
    return created


class ObservedCustomResource(pulumi.CustomResource):
    """A custom resource (any apiVersion/kind) whose `status` output is readable, unlike
    apiextensions.CustomResource; the status is empty until a controller writes it."""

    status: pulumi.Output[Any]

    def __init__(
        self,
        name: str,
        api_version: str,
        kind: str,
        metadata: pulumi.Input[Any],
        spec: pulumi.Input[Any],
        opts: pulumi.ResourceOptions | None = None,
    ):
        # Pin the kubernetes provider plugin to the SDK's version, as the typed classes do.
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=_PROVIDER_VERSION))
        props = {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec, "status": None}
        super().__init__(f"kubernetes:{api_version}:{kind}", name, props, opts)
