"""Validate eventwire custom resources against their CRD schemas, with path-precise errors.

What the API server would reject is rejected here too: the OpenAPI schema (types, enums,
patterns, bounds, required fields), unknown fields (as `kubectl apply --validate=strict`
does), the CRD's CEL rules, and what no schema can say (a Trigger's CloudEvents SQL must parse;
see semantics.py). Errors name the field path (spec.sink.uri), never a schema path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

from eventwire.api.cel import cel_errors
from eventwire.api.crds import openapi_schema
from eventwire.api.kinds import KINDS, kind_for
from eventwire.api.paths import join_path
from eventwire.api.semantics import semantic_errors
from eventwire.exceptions import FieldError, InvalidResourceError

# metadata.name of namespaced objects and of our cluster-scoped kind: a DNS-1123 subdomain.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _to_json_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a structural OpenAPI v3 schema into a JSON Schema that also rejects unknown fields."""
    out: dict[str, Any] = {
        key: value
        for key, value in node.items()
        if not key.startswith("x-kubernetes-") and key not in {"properties", "items", "additionalProperties"}
    }
    if "properties" in node:
        out["properties"] = {name: _to_json_schema(child) for name, child in node["properties"].items()}
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("items"), Mapping):
        out["items"] = _to_json_schema(node["items"])
    if isinstance(node.get("additionalProperties"), Mapping):
        out["additionalProperties"] = _to_json_schema(node["additionalProperties"])
    bounds = _INT_BOUNDS.get(str(node.get("format", "")))
    if node.get("type") == "integer" and bounds:
        out.setdefault("minimum", bounds[0])
        out.setdefault("maximum", bounds[1])
    return out


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = openapi_schema(api_version, kind)
    assert schema is not None
    json_schema = _to_json_schema(schema)
    return jsonschema.Draft7Validator(json_schema)


def _schema_errors(api_version: str, kind: str, resource: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for error in _validator(api_version, kind).iter_errors(resource):
        path: list[str | int] = list(error.absolute_path)
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        if error.validator == "additionalProperties":
            allowed = set(schema.get("properties", {}))
            unknown = sorted(set(error.instance) - allowed) if isinstance(error.instance, dict) else []
            for field in unknown:
                known = ", ".join(sorted(allowed))
                errors.append(FieldError(join_path([*path, field]), f"unknown field (known fields: {known})"))
            continue
        if error.validator == "required":
            missing = re.search(r"'([^']+)' is a required property", error.message)
            if missing:
                errors.append(FieldError(join_path([*path, missing.group(1)]), "required field is missing"))
                continue
        errors.append(FieldError(join_path(path), _describe(error, schema)))
    return errors


def _describe(error: jsonschema.ValidationError, schema: Mapping[str, Any]) -> str:
    if error.validator == "pattern":
        expected = schema.get("description") or f"the pattern {error.validator_value}"
        return f"{error.instance!r} does not have the expected form: {expected}"
    if error.validator == "enum":
        allowed = ", ".join(repr(value) for value in error.validator_value)  # type: ignore[union-attr]
        return f"{error.instance!r} is not one of {allowed}"
    if error.validator == "type":
        return f"{error.instance!r} is not of type {error.validator_value!r}"
    return str(error.message)


def _metadata_errors(resource: Mapping[str, Any], cluster_scoped: bool) -> list[FieldError]:
    metadata = resource.get("metadata")
    if not isinstance(metadata, dict):
        return [FieldError("metadata", "required field is missing (needs at least metadata.name)")]
    errors = []
    name = metadata.get("name")
    if name is None and not metadata.get("generateName"):
        errors.append(FieldError("metadata.name", "required field is missing"))
    elif name is not None and (
        not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name)
    ):
        errors.append(
            FieldError(
                "metadata.name", f"{name!r} is not a DNS-1123 subdomain (lowercase a-z, 0-9, '-', '.')"
            )
        )
    if cluster_scoped and "namespace" in metadata:
        errors.append(FieldError("metadata.namespace", "must not be set: the kind is cluster-scoped"))
    return errors


def resource_errors(resource: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[FieldError]:
    """Every problem with `resource`; with `old`, also the update rules (e.g. immutable fields).

    Returns an empty list for a valid resource. Only eventwire kinds are accepted.
    """
    if not isinstance(resource, Mapping):
        return [FieldError("", f"a resource must be a mapping, not {type(resource).__name__}")]
    api_version, kind = resource.get("apiVersion"), resource.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [
            FieldError(
                "apiVersion" if not isinstance(api_version, str) else "kind", "required field is missing"
            )
        ]
    found = kind_for(api_version, kind)
    if found is None:
        known = ", ".join(f"{k.api_version} {k.kind}" for k in KINDS)
        return [FieldError("kind", f"{api_version} {kind} is not an eventwire kind (known: {known})")]
    errors = _metadata_errors(resource, found.scope == "Cluster")
    structural = _schema_errors(api_version, kind, resource)
    errors.extend(structural)
    schema = openapi_schema(api_version, kind)
    assert schema is not None
    # A rule that cannot even be evaluated on a malformed object would only echo the schema errors.
    errors.extend(
        cel_errors(
            schema, dict(resource), dict(old) if old is not None else None, report_eval_errors=not structural
        )
    )
    errors.extend(semantic_errors(kind, resource, errors))
    return errors


def validate_resource(resource: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> None:
    """Raise InvalidResourceError listing every problem with `resource` (see resource_errors)."""
    errors = resource_errors(resource, old)
    if errors:
        metadata = resource.get("metadata") if isinstance(resource, Mapping) else None
        name = metadata.get("name", "<unnamed>") if isinstance(metadata, Mapping) else "<unnamed>"
        raise InvalidResourceError(f"{resource.get('kind', 'resource')}/{name}", errors)
