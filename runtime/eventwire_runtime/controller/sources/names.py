"""Deterministic child names and selector labels of a source's children."""

from __future__ import annotations

import hashlib

MAX_NAME = 63  # DNS-1035 labels: Service names, and safe for every other child


def child_name(parent: str, suffix: str) -> str:
    """`<parent>-<suffix>`, shortened with a hash when longer than 63 characters (stable)."""
    name = f"{parent}-{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-')}-{digest}"


def adapter_name(source: str, kind: str) -> str:
    """The adapter Deployment (and its ServiceAccount and Role): `<source>-<kind>`."""
    return child_name(source, kind.lower())


def webhook_host(source: str, namespace: str, domain: str) -> str:
    """The host GitHub delivers a GitHubSource's webhooks to: `<source>.<namespace>.<domain>`."""
    return f"{source}.{namespace}.{domain}"


def cluster_rbac_name(namespace: str, source: str, kind: str) -> str:
    """Cluster-scoped RBAC names must be unique across namespaces."""
    return child_name(f"eventwire-{namespace}-{source}", kind.lower())


SOURCE_NAME_LABEL = "sources.eventwire.dev/source-name"
SOURCE_KIND_LABEL = "sources.eventwire.dev/source-kind"
SOURCE_UID_LABEL = "sources.eventwire.dev/source-uid"
MANAGED_BY = {
    "app.kubernetes.io/managed-by": "eventwire-controller",
    "app.kubernetes.io/part-of": "eventwire",
}


def selector_labels(source: str, kind: str) -> dict[str, str]:
    """The adapter pods' selector (immutable once the Deployment exists)."""
    return {SOURCE_KIND_LABEL: kind.lower(), SOURCE_NAME_LABEL: source}


def labels(source: str, kind: str) -> dict[str, str]:
    """Labels of every child of a source."""
    return {**MANAGED_BY, "app.kubernetes.io/component": "adapter", **selector_labels(source, kind)}
