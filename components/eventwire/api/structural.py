"""Check that a CRD's openAPIV3Schema is structural, as apiextensions.k8s.io/v1 requires.

The API server refuses a CRD whose schema is not structural; kubernetes-validate only checks the
CRD object's shape, not this, so the rules are restated here (see the Kubernetes docs, "Specifying
a structural schema"): every node has a type unless it preserves unknown fields or is
int-or-string; properties and additionalProperties do not mix; arrays have items; logical
junctors (allOf, anyOf, oneOf, not) carry no type, description, default, additionalProperties or
nullable; at the root, metadata may only restrict name and generateName; and list-map keys are
required fields of the items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventwire.api.paths import join_path

_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_FORBIDDEN_IN_JUNCTORS = ("type", "description", "default", "additionalProperties", "nullable")
_LIST_TYPES = {"atomic", "set", "map"}


def structural_errors(schema: Mapping[str, Any]) -> list[str]:
    """Every violation of the structural-schema rules, as `path: problem` lines."""
    errors: list[str] = []
    _check(schema, (), errors, root=True)
    return errors


def _check(
    node: Mapping[str, Any], path: tuple[str | int, ...], errors: list[str], root: bool = False
) -> None:
    where = join_path(path) or "<root>"
    node_type = node.get("type")
    exempt = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    if node_type is None and not exempt:
        errors.append(f"{where}: no type")
    elif node_type is not None and node_type not in _TYPES:
        errors.append(f"{where}: unknown type {node_type!r}")
    if "$ref" in node:
        errors.append(f"{where}: $ref is not allowed")
    if "properties" in node and "additionalProperties" in node:
        errors.append(f"{where}: properties and additionalProperties are mutually exclusive")
    if node_type == "array" and "items" not in node:
        errors.append(f"{where}: array without items")
    for junctor in _JUNCTORS:
        for index, branch in enumerate(_branches(node.get(junctor))):
            for forbidden in _FORBIDDEN_IN_JUNCTORS:
                if forbidden in branch:
                    errors.append(f"{where}.{junctor}[{index}]: {forbidden} is not allowed inside {junctor}")
    _check_list_type(node, where, errors)
    for name, child in (node.get("properties") or {}).items():
        if root and name == "metadata":
            _check_root_metadata(child, errors)
        _check(child, (*path, name), errors)
    if isinstance(node.get("items"), Mapping):
        _check(node["items"], (*path, "items"), errors)
    if isinstance(node.get("additionalProperties"), Mapping):
        _check(node["additionalProperties"], (*path, "additionalProperties"), errors)


def _branches(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [branch for branch in value if isinstance(branch, Mapping)]
    return []


def _check_list_type(node: Mapping[str, Any], where: str, errors: list[str]) -> None:
    list_type = node.get("x-kubernetes-list-type")
    if list_type is None:
        return
    if list_type not in _LIST_TYPES:
        errors.append(f"{where}: x-kubernetes-list-type must be one of {sorted(_LIST_TYPES)}")
    if list_type == "map":
        keys = node.get("x-kubernetes-list-map-keys") or []
        items = node.get("items") or {}
        required = set(items.get("required") or [])
        if not keys:
            errors.append(f"{where}: a map list needs x-kubernetes-list-map-keys")
        for key in keys:
            if key not in (items.get("properties") or {}):
                errors.append(f"{where}: list-map key {key!r} is not a property of the items")
            elif key not in required and "default" not in items["properties"][key]:
                errors.append(f"{where}: list-map key {key!r} must be required or have a default")


def _check_root_metadata(metadata: Mapping[str, Any], errors: list[str]) -> None:
    if metadata.get("type") != "object":
        errors.append("metadata: must be of type object")
    extra = set(metadata.get("properties") or {}) - {"name", "generateName"}
    if extra:
        errors.append(f"metadata: only name and generateName may be restricted, not {sorted(extra)}")
