"""ApiServerSource RBAC, pure: exactly get/list/watch on the watched resources.

Without a namespaceSelector the adapter watches its own namespace: a Role and RoleBinding there,
owned by the source. With one it watches every matching namespace: a ClusterRole and
ClusterRoleBinding (cluster-scoped, so they carry the source's uid label instead of an owner
reference and are deleted by the source's finalizer). The controller resolves the selector to
namespace names (K_SOURCE_CONFIG.namespaces), so the adapter needs no rights on namespaces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventwire_runtime.controller.children import owner_reference
from eventwire_runtime.controller.sources import names

READ_VERBS = ["get", "list", "watch"]


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def rules_for(plurals: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """One read-only rule per API group for the (group, plural) pairs, sorted."""
    by_group: dict[str, set[str]] = {}
    for group, plural in plurals:
        by_group.setdefault(group, set()).add(plural)
    return [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": list(READ_VERBS)}
        for group, resources in sorted(by_group.items())
    ]


def is_cluster_wide(source: Mapping[str, Any]) -> bool:
    return (source.get("spec") or {}).get("namespaceSelector") is not None


def make_rbac(
    source: Mapping[str, Any], plurals: Sequence[tuple[str, str]], service_account: str
) -> list[dict[str, Any]]:
    """The Role+RoleBinding (or ClusterRole+ClusterRoleBinding) that let the adapter watch."""
    meta = source["metadata"]
    labels = names.labels(meta["name"], source["kind"])
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": meta["namespace"]}
    cluster_wide = is_cluster_wide(source)
    rules = rules_for(plurals)
    if cluster_wide:
        name = names.cluster_rbac_name(meta["namespace"], meta["name"], source["kind"])
        cluster_labels = {**labels, names.SOURCE_UID_LABEL: meta["uid"]}
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name, "labels": cluster_labels},
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": cluster_labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [subject],
            },
        ]
    name = names.adapter_name(meta["name"], source["kind"])
    child_meta = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(source)],
    }
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(child_meta),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(child_meta),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [subject],
        },
    ]
