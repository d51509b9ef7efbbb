"""ApiServerSource RBAC, pure: exactly get/list/watch on the watched resources.

Without a namespaceSelector the adapter watches its own namespace: a Role and RoleBinding there,
owned by the source. With a selector, a ClusterRole holds the rules and a RoleBinding in each
matching namespace grants them there (an empty selector, all namespaces: a ClusterRoleBinding).
The controller resolves the selector to namespace names (K_SOURCE_CONFIG.namespaces), so the
adapter needs no rights on namespaces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventwire_runtime.controller.children import owner_reference
from eventwire_runtime.controller.sources import kinds, names

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


RBAC_API = "rbac.authorization.k8s.io/v1"


def make_rbac(
    source: Mapping[str, Any],
    plurals: Sequence[tuple[str, str]],
    service_account: str,
    namespaces: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The RBAC that lets the adapter watch exactly `plurals` ((group, plural) pairs) where it watches.

    Args:
        namespaces: the namespaces a non-empty namespaceSelector matches (None without one).
    """
    meta = source["metadata"]
    labels = names.labels(meta["name"], source["kind"])
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": meta["namespace"]}
    rules = rules_for(plurals)
    if not is_cluster_wide(source):
        name = names.adapter_name(meta["name"], source["kind"])
        child_meta = {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(source)],
        }
        return [
            {"apiVersion": RBAC_API, "kind": "Role", "metadata": dict(child_meta), "rules": rules},
            {
                "apiVersion": RBAC_API,
                "kind": "RoleBinding",
                "metadata": dict(child_meta),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [subject],
            },
        ]
    # Cluster-scoped objects and bindings in other namespaces cannot be owned by the source: they
    # carry its uid label and are removed by its finalizer (and when a namespace stops matching).
    name = names.cluster_rbac_name(meta["namespace"], meta["name"], source["kind"])
    tracked = {**labels, names.SOURCE_UID_LABEL: meta["uid"]}
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
    role = {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": tracked},
        "rules": rules,
    }
    if kinds.selects_all(source["spec"].get("namespaceSelector")):
        binding = {
            "apiVersion": RBAC_API,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": tracked},
            "roleRef": role_ref,
            "subjects": [subject],
        }
        return [role, binding]
    return [
        role,
        *(
            {
                "apiVersion": RBAC_API,
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace, "labels": tracked},
                "roleRef": role_ref,
                "subjects": [subject],
            }
            for namespace in sorted(namespaces or [])
        ),
    ]
