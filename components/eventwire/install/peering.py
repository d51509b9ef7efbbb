"""kopf's peering objects for the controller: the ClusterKopfPeering CRD (kopf.dev/v1, the shape
kopf's documentation gives) and the one peering object the controller replicas share. Pure
builders, no Pulumi.

The controller (EVENTWIRE_PEERING) writes every replica's keep-alive into the object's status;
the replica that started first is the active one, the others stand by (see the runtime's
eventwire_runtime.controller.peering). kopf patches the status as part of the object, so the CRD
has no status subresource; the schema keeps whatever kopf writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from eventwire import rbac

CRD_NAME: Final = f"{rbac.KOPF_PEERINGS}.{rbac.KOPF_GROUP}"


def kopf_peering_crd(labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The cluster-scoped ClusterKopfPeering CRD."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": dict(labels or {})},
        "spec": {
            "scope": "Cluster",
            "group": rbac.KOPF_GROUP,
            "names": {
                "kind": "ClusterKopfPeering",
                "plural": rbac.KOPF_PEERINGS,
                "singular": "clusterkopfpeering",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    },
                }
            ],
        },
    }


def kopf_peering(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ClusterKopfPeering the controller replicas share (its status is kopf's)."""
    return {
        "apiVersion": f"{rbac.KOPF_GROUP}/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": name, "labels": dict(labels or {})},
    }
