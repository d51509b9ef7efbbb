"""Convert one Knative document to eventwire's API, following `mapping.MAPPINGS`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from eventwire.api.knative.mapping import GROUP_ADVICE, OTHER_ADVICE, KindMapping, mapping_for, versions_of
from eventwire.api.knative.references import group_of, is_knative_group
from eventwire.api.knative.rules import Fields
from eventwire.exceptions import ConversionError

# Server-populated metadata that must not travel with a converted manifest.
_SERVER_METADATA: Final = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
)


@dataclass
class Conversion:
    """A converted manifest and the notes on what changed beyond the apiVersion."""

    resource: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def is_knative(manifest: Mapping[str, Any]) -> bool:
    """True for a manifest in any *.knative.dev API group."""
    return is_knative_group(group_of(str(manifest.get("apiVersion", ""))))


def needs_conversion(manifest: Mapping[str, Any]) -> bool:
    """True for a Knative manifest that is not already part of an eventwire install.

    Knative Serving v1 resources are: eventwire installs Knative Serving.
    """
    if not is_knative(manifest):
        return False
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    mapping = _lookup(api_version, kind)
    return mapping is None or mapping.target_api_version != api_version


def _lookup(api_version: str, kind: str) -> KindMapping | None:
    group, _, version = api_version.rpartition("/")
    return mapping_for(group, version, kind)


def _refusal(api_version: str, kind: str) -> ConversionError:
    group, _, version = api_version.rpartition("/")
    known = versions_of(group, kind)
    if known:
        return ConversionError(
            f"{api_version} {kind} is not converted: {kind} is known in {group} "
            f"{', '.join(known)}, not {version}; {_advice(group)}"
        )
    return ConversionError(
        f"{api_version} {kind} is not converted: eventwire has no {kind}; {_advice(group)}"
    )


def _advice(group: str) -> str:
    return GROUP_ADVICE.get(group, OTHER_ADVICE)


def convert_knative(manifest: Mapping[str, Any]) -> Conversion:
    """The eventwire form of a Knative manifest of any API generation.

    Raises:
        ConversionError: for a kind eventwire does not have, a field it cannot carry or a
            reference to a kind it cannot resolve; the message names the kind and what to use
            instead.
    """
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    if not is_knative(manifest):
        raise ConversionError(f"{api_version} {kind} is not a Knative manifest")
    mapping = _lookup(api_version, kind)
    if mapping is None:
        raise _refusal(api_version, kind)
    if mapping.target is None:
        raise ConversionError(f"{api_version} {kind} is not converted: {mapping.advice}")
    if not isinstance(manifest.get("metadata") or {}, Mapping):
        raise ConversionError(f"{api_version} {kind}: metadata must be a mapping")
    metadata = copy.deepcopy(dict(manifest.get("metadata") or {}))
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    spec = manifest.get("spec")
    if spec is not None and not isinstance(spec, Mapping):
        raise ConversionError(f"{api_version} {kind}: spec must be a mapping")
    fields = Fields(
        f"{api_version} {kind}", copy.deepcopy(dict(spec or {})), {}, metadata, list(mapping.notes)
    )
    for rule in mapping.rules:
        rule.apply(fields)
    if fields.src and mapping.passthrough:
        fields.out.update(fields.src)
    elif fields.src:
        unknown = ", ".join(f"spec.{name}" for name in fields.src)
        raise fields.fail(
            f"{unknown} is not a field of {kind} at {api_version}; remove it or convert it by hand"
        )
    resource: dict[str, Any] = {
        "apiVersion": mapping.api_version,
        "kind": mapping.target,
        "metadata": metadata,
    }
    if spec is not None or fields.out:
        resource["spec"] = _in_source_order(fields.out, list(spec or {}))
    if mapping.target_api_version is None and kind != mapping.target and not mapping.notes:
        fields.notes.append(f"{kind} became {mapping.target}")
    return Conversion(resource, fields.notes)


def _in_source_order(out: dict[str, Any], source_keys: list[str]) -> dict[str, Any]:
    """`out` with the fields the Knative spec had in its order, then the new ones, for a diff
    that reads like the input."""
    position = {key: index for index, key in enumerate(source_keys)}
    return dict(sorted(out.items(), key=lambda item: position.get(item[0], len(position))))
