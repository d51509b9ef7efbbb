"""ApiServerSource's pure parts: its config, label selectors, and objects as CloudEvents.

Attributes follow Knative's ApiServerSource: type `dev.knative.apiserver.resource.<op>` (Resource
mode, data the object) or `dev.knative.apiserver.ref.<op>` (Reference mode, data
`{"apiVersion", "kind", "name", "namespace"}`), op one of add, update, delete; source the API
server URL; subject `/apis/<apiVersion>/namespaces/<ns>/<plural>/<name>` (cluster-scoped
objects: `/apis/<apiVersion>/<plural>/<name>`); extensions `kind`, `name`, `namespace`. The id is
`<uid>/<resourceVersion>/<op>`, so a consumer can drop the duplicates a restart may cause.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eventwire_runtime.adapters.env import parse_json_object
from eventwire_runtime.adapters.events import SourceEvent
from eventwire_runtime.delivery.errors import ConfigError

Mode = Literal["Resource", "Reference"]
Operation = Literal["add", "update", "delete"]
Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One watched resource: `apiVersion`, `kind` and a label selector string."""

    api_version: str
    kind: str
    selector: str = ""


@dataclass(frozen=True, slots=True)
class OwnerFilter:
    """Only objects with an ownerReference of this apiVersion/kind pass (either may be empty)."""

    api_version: str = ""
    kind: str = ""

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if (not self.api_version or ref.get("apiVersion") == self.api_version) and (
                not self.kind or ref.get("kind") == self.kind
            ):
                return True
        return False


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """The parsed K_SOURCE_CONFIG.

    Attributes:
        resources: what to watch.
        namespaces: where; None (the key is absent) with `all_namespaces` False means the
            adapter's NAMESPACE; an empty tuple means no namespace (a namespaceSelector the
            controller resolved to nothing): only cluster-scoped resources are watched.
        all_namespaces: watch cluster-wide.
        namespace_selector: when set, a label selector string: the adapter follows the namespaces
            that match it as they come and go (empty string = every namespace).
        mode: "Resource" (send objects) or "Reference" (send references).
        owner: optional owner filter.
    """

    resources: tuple[ResourceSpec, ...]
    namespaces: tuple[str, ...] | None = None
    all_namespaces: bool = False
    mode: Mode = "Reference"
    owner: OwnerFilter | None = None
    namespace_selector: str | None = None


def label_selector(selector: Any, where: str) -> str:
    """A LabelSelector (`matchLabels`, `matchExpressions`) or a string as a selector string.

    Raises:
        ConfigError: naming `where` for an invalid selector.
    """
    if selector is None or selector == "":
        return ""
    if isinstance(selector, str):
        return selector
    if not isinstance(selector, Mapping):
        raise ConfigError(f"{where}: a selector must be an object or a string")
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key")
        operator = expression.get("operator")
        values = expression.get("values") or []
        if not key:
            raise ConfigError(f"{where}: matchExpressions entries need a key")
        if operator == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            terms.append(key)
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
        else:
            raise ConfigError(f"{where}: unknown operator {operator!r} (In, NotIn, Exists, DoesNotExist)")
    return ",".join(terms)


def parse_source_config(text: str | None) -> SourceConfig:
    """Parse K_SOURCE_CONFIG (see the apiserver module docstring for the shape).

    Raises:
        ConfigError: naming the field that is missing or invalid.
    """
    if not text or not text.strip():
        raise ConfigError("K_SOURCE_CONFIG is required: JSON with resources, namespaces and mode")
    doc = parse_json_object("K_SOURCE_CONFIG", text)
    raw_resources = doc.get("resources")
    if not isinstance(raw_resources, list) or not raw_resources:
        raise ConfigError("K_SOURCE_CONFIG.resources must be a non-empty list")
    resources = []
    for index, item in enumerate(raw_resources):
        where = f"K_SOURCE_CONFIG.resources[{index}]"
        if not isinstance(item, dict) or not item.get("apiVersion") or not item.get("kind"):
            raise ConfigError(f"{where} needs apiVersion and kind")
        resources.append(
            ResourceSpec(
                str(item["apiVersion"]), str(item["kind"]), label_selector(item.get("selector"), where)
            )
        )
    raw_mode = doc.get("mode") or "Reference"
    if raw_mode not in ("Resource", "Reference"):
        raise ConfigError(f"K_SOURCE_CONFIG.mode must be Resource or Reference, got {raw_mode!r}")
    mode: Mode = "Resource" if raw_mode == "Resource" else "Reference"
    namespaces = doc.get("namespaces")
    if namespaces is not None and (
        not isinstance(namespaces, list) or not all(isinstance(n, str) and n for n in namespaces)
    ):
        raise ConfigError("K_SOURCE_CONFIG.namespaces must be a list of names")
    owner = doc.get("owner")
    owner_filter = None
    if owner:
        if not isinstance(owner, dict):
            raise ConfigError("K_SOURCE_CONFIG.owner must be an object with apiVersion and/or kind")
        owner_filter = OwnerFilter(str(owner.get("apiVersion") or ""), str(owner.get("kind") or ""))
    namespace_selector = None
    if doc.get("namespaceSelector") is not None:
        namespace_selector = label_selector(doc["namespaceSelector"], "K_SOURCE_CONFIG.namespaceSelector")
    all_namespaces = bool(doc.get("allNamespaces")) or namespace_selector == ""
    return SourceConfig(
        resources=tuple(resources),
        namespaces=None if namespaces is None else tuple(dict.fromkeys(namespaces)),
        all_namespaces=all_namespaces,
        mode=mode,
        owner=owner_filter,
        namespace_selector=None if all_namespaces else namespace_selector,
    )


def subject_for(api_version: str, plural: str, obj: Mapping[str, Any]) -> str:
    """`/apis/<apiVersion>/namespaces/<ns>/<plural>/<name>` (no namespace part when cluster-scoped)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    if namespace:
        return f"/apis/{api_version}/namespaces/{namespace}/{plural}/{meta.get('name', '')}"
    return f"/apis/{api_version}/{plural}/{meta.get('name', '')}"


def to_event(
    mode: Mode, operation: Operation, api_server: str, api_version: str, kind: str, plural: str, obj: Obj
) -> SourceEvent:
    """The CloudEvent for one change of `obj` (see the module docstring)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    namespace = str(meta.get("namespace") or "")
    if mode == "Resource":
        event_type = f"dev.knative.apiserver.resource.{operation}"
        data = obj
    else:
        event_type = f"dev.knative.apiserver.ref.{operation}"
        data = {"apiVersion": api_version, "kind": kind, "name": name}
        if namespace:
            data["namespace"] = namespace
    extensions = {"kind": kind, "name": name}
    if namespace:
        extensions["namespace"] = namespace
    return SourceEvent(
        type=event_type,
        source=api_server,
        id=f"{meta.get('uid', name)}/{meta.get('resourceVersion', '')}/{operation}",
        data=json.dumps(data, separators=(",", ":")).encode(),
        datacontenttype="application/json",
        subject=subject_for(api_version, plural, obj),
        extensions=extensions,
    )
