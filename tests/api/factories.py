"""Minimal valid eventwire resources, one per kind, to vary in tests: make("PingSource", spec={...})."""

from __future__ import annotations

import copy
from typing import Any

from eventwire.api import kind_named

SINK = {"uri": "http://display.default.svc.cluster.local"}

_SPECS: dict[str, dict[str, Any]] = {
    "ClusterChannelProvisioner": {"type": "in-memory"},
    "Channel": {},
    "Subscription": {
        "channel": {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "orders"},
        "subscriber": SINK,
    },
    "Broker": {},
    "Trigger": {"broker": "default", "subscriber": SINK},
    "ApiServerSource": {"resources": [{"apiVersion": "v1", "kind": "Event"}], "sink": SINK},
    "PingSource": {"schedule": "*/5 * * * *", "sink": SINK},
    "ContainerSource": {
        "template": {"spec": {"containers": [{"image": "example.com/heartbeats:1"}]}},
        "sink": SINK,
    },
    "GitHubSource": {"ownerAndRepository": "example-org/shop", "eventTypes": ["push"], "sink": SINK},
    "AwsSqsSource": {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", "sink": SINK},
    "GcpPubSubSource": {"topic": "invoices", "subscription": "eventwire-invoices", "sink": SINK},
}


def make(kind: str, name: str = "example", namespace: str = "default", **overrides: Any) -> dict[str, Any]:
    """A valid `kind` resource; keyword arguments replace top-level fields (spec=..., metadata=...)."""
    found = kind_named(kind)
    metadata: dict[str, Any] = {"name": name}
    if found.scope == "Namespaced":
        metadata["namespace"] = namespace
    resource: dict[str, Any] = {
        "apiVersion": found.api_version,
        "kind": kind,
        "metadata": metadata,
        "spec": copy.deepcopy(_SPECS[kind]),
    }
    resource.update(copy.deepcopy(overrides))
    return resource


def with_spec(kind: str, **spec_changes: Any) -> dict[str, Any]:
    """A valid `kind` resource with these spec fields set (None deletes a field)."""
    resource = make(kind)
    for key, value in spec_changes.items():
        if value is None:
            resource["spec"].pop(key, None)
        else:
            resource["spec"][key] = value
    return resource


ALL_KINDS = tuple(_SPECS)
