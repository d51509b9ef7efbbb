"""The topology as a graph for the viewer: sources -> channels/brokers -> subscriptions/triggers -> services.

Nodes carry a column (0..3), a label and a status line; edges say what links them (sink,
subscriber, reply, dead letter). Pure: built from the sorted manifests and what runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from eventwire_runtime.controller.destinations import ref_target
from eventwire_runtime.devmode.services import SERVICE_HOST, ServiceMap
from eventwire_runtime.devmode.sources import SourcePlan
from eventwire_runtime.devmode.topology import Manifests, Routes, key

SOURCE, BUS, ROUTE, SERVICE = range(4)


class _Graph:
    def __init__(self, services: ServiceMap) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, str]] = []
        self.services = services

    def node(self, node_id: str, column: int, kind: str, label: str, status: str, ok: bool = True) -> str:
        self.nodes.setdefault(
            node_id,
            {"id": node_id, "column": column, "kind": kind, "label": label, "status": status, "ok": ok},
        )
        return node_id

    def service(self, namespace: str, name: str, kind: str = "Service") -> str:
        where = "mapped to " + self.services.base_url(namespace, name)
        if not self.services.is_mapped(namespace, name):
            where = "built-in display service"
        return self.node(f"service:{namespace}/{name}", SERVICE, kind, f"{namespace}/{name}", where)

    def target(self, destination: Mapping[str, Any] | None, namespace: str) -> str | None:
        """The node a Destination points at (created when new)."""
        if not destination:
            return None
        ref = destination.get("ref")
        if ref:
            target = ref_target(ref, namespace)
            where = f"{target.namespace}/{target.name}"
            if target.kind == "Channel":
                return f"channel:{where}"
            if target.kind == "Broker":
                return f"broker:{where}"
            if target.kind == "Service":
                return self.service(
                    target.namespace, target.name, "Knative Service" if target.group else "Service"
                )
            return self.node(
                f"ref:{target.kind}:{where}", SERVICE, target.kind, where, "not resolvable here", False
            )
        uri = str(destination.get("uri") or "")
        match = SERVICE_HOST.match(urlsplit(uri).hostname or "")
        if match:
            return self.service(match["ns"], match["name"])
        return self.node(f"uri:{uri}", SERVICE, "URI", uri, "as given")

    def edge(self, source: str | None, target: str | None, label: str) -> None:
        if source and target:
            self.edges.append({"from": source, "to": target, "label": label})


def _filter_summary(spec: Mapping[str, Any]) -> str:
    """A Trigger's filter in a few words: the exact attributes, else the kind of filter."""
    exact = dict(((spec.get("filter") or {}).get("attributes")) or {})
    filters = spec.get("filters") or []
    if filters and all(isinstance(f, Mapping) and list(f) == ["exact"] for f in filters):
        for f in filters:
            exact.update(f["exact"] or {})
    if exact:
        return ", ".join(f"{name}={value}" for name, value in sorted(exact.items()))
    if filters:
        return "filters: " + ", ".join(
            sorted({next(iter(f), "?") for f in filters if isinstance(f, Mapping)})
        )
    return "every event"


def build_graph(
    manifests: Manifests, routes: Routes, plans: list[SourcePlan], services: ServiceMap
) -> dict[str, Any]:
    """`{nodes: [...], edges: [...]}` for the viewer."""
    graph = _Graph(services)
    for channel in routes.channels:
        entries = channel["status"].get("subscribers") or []
        graph.node(f"channel:{key(channel)}", BUS, "Channel", key(channel), f"{len(entries)} subscriber(s)")
        dead_letter = ((channel.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
        graph.edge(
            f"channel:{key(channel)}",
            graph.target(dead_letter, channel["metadata"]["namespace"]),
            "dead letter",
        )
    for broker in routes.brokers:
        entries = broker["status"].get("triggers") or []
        graph.node(f"broker:{key(broker)}", BUS, "Broker", key(broker), f"{len(entries)} trigger(s)")
        dead_letter = ((broker.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
        graph.edge(
            f"broker:{key(broker)}", graph.target(dead_letter, broker["metadata"]["namespace"]), "dead letter"
        )
    for subscription in routes.subscriptions:
        namespace, spec = subscription["metadata"]["namespace"], subscription.get("spec") or {}
        node = f"subscription:{key(subscription)}"
        conditions = {c["type"]: c for c in subscription["status"].get("conditions") or []}
        resolved = conditions.get("ReferencesResolved", {})
        ok = resolved.get("status") == "True"
        graph.node(
            node,
            ROUTE,
            "Subscription",
            key(subscription),
            "routed" if ok else str(resolved.get("message", "")),
            ok,
        )
        graph.edge(f"channel:{namespace}/{(spec.get('channel') or {}).get('name')}", node, "")
        uri = str((spec.get("subscriber") or {}).get("uri") or "")
        graph.edge(node, graph.target(spec.get("subscriber"), namespace), uri if uri.startswith("/") else "")
        graph.edge(node, graph.target(spec.get("reply"), namespace), "reply")
        graph.edge(
            node, graph.target((spec.get("delivery") or {}).get("deadLetterSink"), namespace), "dead letter"
        )
    entries = {
        (broker["metadata"]["namespace"], entry["uid"]): entry
        for broker in routes.brokers
        for entry in broker["status"].get("triggers") or []
    }
    for trigger in routes.triggers:
        namespace, spec = trigger["metadata"]["namespace"], trigger.get("spec") or {}
        entry = entries.get((namespace, trigger["metadata"]["uid"]))
        ok = entry is not None and entry.get("ready") == "True"
        status = _filter_summary(spec) if ok else str((entry or {}).get("message") or "its Broker is not run")
        node = graph.node(f"trigger:{key(trigger)}", ROUTE, "Trigger", key(trigger), status, ok)
        graph.edge(f"broker:{namespace}/{spec.get('broker')}", node, "")
        uri = str((spec.get("subscriber") or {}).get("uri") or "")
        graph.edge(node, graph.target(spec.get("subscriber"), namespace), uri if uri.startswith("/") else "")
        graph.edge(
            node, graph.target((spec.get("delivery") or {}).get("deadLetterSink"), namespace), "dead letter"
        )
    for plan in plans:
        source = plan.source
        node = f"source:{key(source)}"
        status = f"not run: {plan.reason}" if plan.argv is None else (plan.note or "running")
        graph.node(node, SOURCE, source["kind"], key(source), status, plan.argv is not None)
        graph.edge(
            node,
            graph.target((source.get("spec") or {}).get("sink"), source["metadata"]["namespace"]),
            "sink",
        )
    for where, kind in manifests.services.items():
        namespace, _, name = where.partition("/")
        graph.service(namespace, name, kind)
    return {"nodes": list(graph.nodes.values()), "edges": graph.edges}
