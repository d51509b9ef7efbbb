"""Convert Knative Eventing manifests to the eventwire API.

eventwire mirrors Knative v1 field for field, so a conversion mostly changes apiVersion: the
groups messaging.knative.dev and sources.knative.dev become messaging.eventwire.dev and
sources.eventwire.dev, references to Knative channels inside the spec follow, and the few
fields with no eventwire meaning are dropped with a note that says why.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire.api.kinds import MESSAGING_GROUP, SOURCES_GROUP, VERSION
from eventwire.exceptions import ConversionError

KNATIVE_MESSAGING = "messaging.knative.dev"
KNATIVE_SOURCES = "sources.knative.dev"
# Groups whose kinds are recognised as Knative Eventing (some of them have no eventwire equivalent).
KNATIVE_EVENTING_GROUPS = frozenset(
    {KNATIVE_MESSAGING, KNATIVE_SOURCES, "eventing.knative.dev", "flows.knative.dev"}
)

# Knative kind -> eventwire kind, per Knative group.
_MESSAGING_KINDS = {"Channel": "Channel", "InMemoryChannel": "Channel", "Subscription": "Subscription"}
_SOURCE_KINDS = {
    "ApiServerSource": "ApiServerSource",
    "PingSource": "PingSource",
    "ContainerSource": "ContainerSource",
    "GitHubSource": "GitHubSource",
    "AwsSqsSource": "AwsSqsSource",
}
_NO_EQUIVALENT = {
    "Broker": "use a Channel with Subscriptions",
    "Trigger": "use a Subscription on a Channel",
    "Sequence": "chain Subscriptions with spec.reply pointing at the next Channel",
    "Parallel": "fan out with several Subscriptions on one Channel",
    "SinkBinding": "use a ContainerSource, which injects K_SINK the same way",
}
# Server-populated metadata that must not travel with a converted manifest.
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


@dataclass
class Conversion:
    """A converted manifest and the notes on what changed beyond the apiVersion."""

    resource: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def is_knative(manifest: Mapping[str, Any]) -> bool:
    """True for a manifest in one of Knative Eventing's groups."""
    group = str(manifest.get("apiVersion", "")).split("/")[0]
    return group in KNATIVE_EVENTING_GROUPS


def convert_knative(manifest: Mapping[str, Any]) -> Conversion:
    """The eventwire form of a Knative Eventing manifest.

    Raises ConversionError for kinds eventwire does not have, naming the alternative.
    """
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    group = api_version.split("/")[0]
    new_kind = _target_kind(group, kind)
    if new_kind is None:
        hint = _NO_EQUIVALENT.get(kind)
        reason = f"; {hint}" if hint else ""
        raise ConversionError(f"{api_version} {kind} has no eventwire equivalent{reason}")
    notes: list[str] = []
    resource = copy.deepcopy(dict(manifest))
    new_group = MESSAGING_GROUP if group == KNATIVE_MESSAGING else SOURCES_GROUP
    resource["apiVersion"] = f"{new_group}/{VERSION}"
    resource["kind"] = new_kind
    if kind != new_kind:
        notes.append(f"{kind} became {new_kind}: the channel implementation is chosen by spec.provisioner")
    resource.pop("status", None)
    metadata = resource.get("metadata")
    if isinstance(metadata, dict):
        for key in _SERVER_METADATA:
            metadata.pop(key, None)
    spec = resource.get("spec")
    if isinstance(spec, dict):
        _convert_spec(kind, new_kind, spec, notes)
        _retarget_references(spec)
    return Conversion(resource, notes)


def _target_kind(group: str, kind: str) -> str | None:
    if group == KNATIVE_MESSAGING:
        return _MESSAGING_KINDS.get(kind)
    if group == KNATIVE_SOURCES:
        return _SOURCE_KINDS.get(kind)
    return None


def _convert_spec(kind: str, new_kind: str, spec: dict[str, Any], notes: list[str]) -> None:
    if new_kind == "Channel":
        template = spec.pop("channelTemplate", None)
        if template is not None:
            notes.append(
                f"spec.channelTemplate ({template.get('kind', '?')}) dropped: the channel uses the cluster's "
                "default ClusterChannelProvisioner unless spec.provisioner names one"
            )
        if spec.pop("subscribers", None) is not None:
            notes.append(
                "spec.subscribers dropped: eventwire derives them from Subscriptions into status.subscribers"
            )
    if kind == "PingSource" and "jsonData" in spec:
        # v1beta1 PingSource called it jsonData; v1 renamed it data.
        spec["data"] = spec.pop("jsonData")
        notes.append("spec.jsonData renamed to spec.data")
    if new_kind == "GitHubSource":
        ce = spec.get("ceOverrides")
        if isinstance(ce, dict) and ce.get("extensions") is None:
            ce.pop("extensions", None)


def _retarget_references(node: Any) -> None:
    """Point every KReference to a Knative channel at the eventwire Channel instead."""
    if isinstance(node, dict):
        api_version = node.get("apiVersion")
        if isinstance(api_version, str) and api_version.split("/")[0] == KNATIVE_MESSAGING:
            new_kind = _MESSAGING_KINDS.get(str(node.get("kind")))
            if new_kind == "Channel":
                node["apiVersion"] = f"{MESSAGING_GROUP}/{VERSION}"
                node["kind"] = "Channel"
        for value in node.values():
            _retarget_references(value)
    elif isinstance(node, list):
        for value in node:
            _retarget_references(value)
