"""Applying a desired child object: the same steps for every kind of child.

Build the desired object (pure, elsewhere), fetch the actual one, create it if missing, refuse
(`NotOwnedError`) if another controller owns it, and patch it only when the fields we set have
drifted. Owner references make Kubernetes' garbage collector delete children with their parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventwire_runtime.delivery.errors import EventwireError
from eventwire_runtime.kube import KubeClient, KubeError, Obj


class NotOwnedError(EventwireError):
    """A child with the desired name exists but is not controlled by the reconciled object."""


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The controller ownerReference to `owner` (blocks its foreground deletion)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_subset(desired: Any, actual: Any) -> bool:
    """Whether every field of `desired` has the same value in `actual` (dicts compared by key)."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(is_subset(v, actual.get(k)) for k, v in desired.items())
    return bool(desired == actual)


def controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner_uid and ref.get("controller") for ref in refs)


async def apply_child(client: KubeClient, desired: Obj, owner_uid: str | None) -> tuple[Obj, str]:
    """Make `desired` exist as described; returns (the object, "created" | "updated" | "unchanged").

    Args:
        owner_uid: the uid that must control an existing child; None for children that cannot
            carry an owner reference (cluster-scoped children of namespaced objects) and are
            matched by their labels instead.

    Raises:
        NotOwnedError: when a same-named object exists under another controller.
        KubeError: when the API request fails.
    """
    meta = desired["metadata"]
    actual = await client.get(desired["apiVersion"], desired["kind"], meta["name"], meta.get("namespace"))
    if actual is None:
        try:
            return await client.create(desired), "created"
        except KubeError as exc:
            if exc.status != 409:
                raise
            actual = await client.get(
                desired["apiVersion"], desired["kind"], meta["name"], meta.get("namespace")
            )
            if actual is None:
                raise
    if owner_uid is not None and not controlled_by(actual, owner_uid):
        raise NotOwnedError(
            f"{desired['kind']} {meta.get('namespace', '')}/{meta['name']} exists and is not owned by this object"
        )
    if is_subset(desired, actual):
        return actual, "unchanged"
    patch = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    updated = await client.patch(
        desired["apiVersion"], desired["kind"], meta["name"], patch, meta.get("namespace")
    )
    return updated, "updated"
