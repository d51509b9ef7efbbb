"""Turn a recorded program run into what the render writes: Kubernetes objects grouped by the
top-level component that created them, and the third-party artifacts (charts, manifest URLs).

Order is stable: components by install order (Istio, KnativeServing, EventingCore,
EventSources, then the rest by name), objects by kind (namespaces and CRDs first), then by
namespace and name. Secret values are always redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from eventwire.render.engine import REDACTED, ProgramRun, Registration

COMPONENT_PREFIX: Final = "eventwire:index:"
_COMPONENT_RANK: Final = {
    "Istio": 10,
    "KnativeServing": 20,
    "RuntimeImage": 25,
    "EventingCore": 30,
    "EventSources": 40,
}
_KIND_RANK: Final = {
    kind: rank
    for rank, kind in enumerate(
        [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "Secret",
            "ConfigMap",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
            "StatefulSet",
            "PodDisruptionBudget",
            "NetworkPolicy",
        ]
    )
}
HELM_CHART: Final = "kubernetes:helm.sh/v4:Chart"
CONFIG_FILE: Final = "kubernetes:yaml/v2:ConfigFile"


@dataclass
class KubeObject:
    """One Kubernetes object as rendered (secrets redacted); `patch` for server-side patches."""

    manifest: dict[str, Any]
    registration: Registration
    patch: bool = False

    @property
    def label(self) -> str:
        metadata = self.manifest.get("metadata") or {}
        namespace = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
        return f"{self.manifest.get('kind')}/{namespace}{metadata.get('name')}"


@dataclass
class ComponentOutput:
    """Everything one top-level component created."""

    type: str
    name: str
    objects: list[KubeObject] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        rank = _COMPONENT_RANK.get(self.type, 50 if self.type != "program" else 90)
        return f"{rank:02d}-{self.name}.yaml"


def collect(run: ProgramRun) -> list[ComponentOutput]:
    """Group the run's Kubernetes objects and artifacts by top-level component, in stable order."""
    groups: dict[str, ComponentOutput] = {}
    for registration in run.registrations:
        owner = _top_component(run, registration)
        key = owner.urn if owner else "program"
        if key not in groups:
            groups[key] = (
                ComponentOutput(owner.type[len(COMPONENT_PREFIX) :], owner.name)
                if owner
                else ComponentOutput("program", "program")
            )
        group = groups[key]
        if registration.type == HELM_CHART:
            group.artifacts.append(chart_artifact(registration))
        elif registration.type == CONFIG_FILE:
            group.artifacts.append(
                {"kind": "manifest", "name": registration.name, "url": registration.plain["file"]}
            )
        elif (
            registration.custom
            and registration.type.startswith("kubernetes:")
            and "kind" in registration.inputs
        ):
            manifest = canonical(redact_secret_data(registration.redacted, registration.plain))
            group.objects.append(
                KubeObject(manifest, registration, patch=registration.type.endswith("Patch"))
            )
        elif registration.custom and not registration.type.startswith("pulumi:providers:"):
            group.artifacts.append({"kind": "resource", "type": registration.type, "name": registration.name})
    outputs = [group for group in groups.values() if group.objects or group.artifacts]
    for group in outputs:
        group.objects.sort(key=_object_order)
        group.artifacts.sort(key=lambda artifact: (artifact["kind"], artifact["name"]))
    return sorted(outputs, key=lambda group: group.file_name)


def chart_artifact(registration: Registration) -> dict[str, Any]:
    inputs = registration.redacted
    return {
        "kind": "helm-chart",
        "name": registration.name,
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
        "release": inputs.get("name", registration.name),
        "namespace": inputs.get("namespace"),
        "values": _sorted(inputs.get("values") or {}),
    }


def _top_component(run: ProgramRun, registration: Registration) -> Registration | None:
    found = registration if registration.type.startswith(COMPONENT_PREFIX) else None
    for ancestor in run.ancestors(registration):
        if ancestor.type.startswith(COMPONENT_PREFIX):
            found = ancestor
    return found


def redact_secret_data(manifest: dict[str, Any], plain: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret's data and stringData keep their keys (from `plain`, the unredacted inputs) but
    every value is redacted, whether or not it was a Pulumi secret."""
    if manifest.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(plain.get(key), Mapping):
                manifest[key] = dict.fromkeys(plain[key], REDACTED)
    return manifest


def canonical(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """apiVersion, kind, metadata first; everything else, and every nested map, sorted by key."""
    head = [key for key in ("apiVersion", "kind", "metadata") if key in manifest]
    rest = sorted(key for key in manifest if key not in head and manifest[key] is not None)
    return {key: _sorted(manifest[key]) for key in [*head, *rest]}


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _object_order(item: KubeObject) -> tuple[int, int, str, str]:
    metadata = item.manifest.get("metadata") or {}
    kind = str(item.manifest.get("kind"))
    return (
        int(item.patch),
        _KIND_RANK.get(kind, len(_KIND_RANK)),
        str(metadata.get("namespace", "")),
        f"{kind}/{metadata.get('name', '')}",
    )
