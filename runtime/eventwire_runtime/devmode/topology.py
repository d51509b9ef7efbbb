"""What `eventwire dev up` runs, worked out from the manifests (pure; no I/O).

Channels and Subscriptions, Brokers and Triggers become the dispatcher's routing table through
the controller's own functions: each destination is resolved with
`controller.destinations.destination_uri`, each Subscription's status is the controller's
`make_status`, each Channel's routing entries are the controller's `routing_table` and each
Broker's address and Trigger entries its `broker.resources.routing_status`. Only the lookup of
a destination's target is local (`LocalAddresses`): a Channel's or Broker's address is on the
local dispatcher, and a Kubernetes or Knative Service's in-cluster address is mapped to a local
URL (`services.ServiceMap`).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.api import MESSAGING_GROUP, SOURCES_GROUP
from eventwire_runtime.controller.broker import resources as broker_resources
from eventwire_runtime.controller.channel import resources as channel_resources
from eventwire_runtime.controller.channel.names import channel_path_url
from eventwire_runtime.controller.destinations import Resolution, destination_uri, ref_target
from eventwire_runtime.controller.subscription import resources as subscription_resources
from eventwire_runtime.devmode.services import CLUSTER_DOMAIN, ServiceMap

EVENTING_GROUP = "eventing.eventwire.dev"
KNATIVE_SERVING_GROUP = "serving.knative.dev"
DEFAULT_NAMESPACE = "default"
DEV_PROVISIONER = "eventwire-dev"  # the one local dispatcher, as the Brokers' provisioner
# Stable uids, so a restart with --persist finds the same durable consumers (`sub-<uid>`).
_UID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4f57-9b7e-1b5e0e0d2c11")


def stable_uid(kind: str, namespace: str, name: str) -> str:
    return str(uuid.uuid5(_UID_NAMESPACE, f"{kind}/{namespace}/{name}"))


def _group(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[0]


def key(obj: Mapping[str, Any]) -> str:
    """`namespace/name` of an object."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


@dataclass
class Manifests:
    """The manifests sorted by what `dev up` does with them (namespaces defaulted, uids set)."""

    channels: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)  # namespace/name -> "Service" or "Knative Service"
    brokers: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # "Kind namespace/name: why"


def sort_manifests(documents: Iterable[Mapping[str, Any]]) -> Manifests:
    """Sort eventwire manifests (Knative ones already converted) by what dev mode does with them."""
    found = Manifests()
    for document in documents:
        if not isinstance(document, Mapping) or not isinstance(document.get("metadata"), Mapping):
            continue
        obj = copy.deepcopy(dict(document))
        meta = obj["metadata"]
        meta.setdefault("namespace", DEFAULT_NAMESPACE)
        meta.setdefault("generation", 1)
        group, kind = _group(obj), str(obj.get("kind", ""))
        meta.setdefault("uid", stable_uid(kind, meta["namespace"], str(meta.get("name"))))
        if group == MESSAGING_GROUP and kind == "Channel":
            found.channels.append(obj)
        elif group == MESSAGING_GROUP and kind == "Subscription":
            found.subscriptions.append(obj)
        elif group == SOURCES_GROUP:  # every kind of the group is a source
            found.sources.append(obj)
        elif group == EVENTING_GROUP and kind == "Broker":
            found.brokers.append(obj)
        elif group == EVENTING_GROUP and kind == "Trigger":
            found.triggers.append(obj)
        elif kind == "Service" and group in ("", KNATIVE_SERVING_GROUP):
            found.services[key(obj)] = "Knative Service" if group else "Service"
        elif group == MESSAGING_GROUP and kind == "ClusterChannelProvisioner":
            found.ignored.append(
                f"ClusterChannelProvisioner {meta.get('name')}: every channel runs on the one local dispatcher"
            )
        else:
            found.ignored.append(f"{kind or '<no kind>'} {key(obj)}: not something eventwire dev runs")
    return found


class LocalAddresses:
    """Looks up destination targets the way the cluster would, with local addresses.

    Args:
        manifests: the objects being run (Channels must be among them to be addressable).
        dispatcher_url: base URL of the local dispatcher (`http://127.0.0.1:<port>`).
        services: where Kubernetes and Knative Services are served locally.
    """

    def __init__(self, manifests: Manifests, dispatcher_url: str, services: ServiceMap) -> None:
        self.channels = {key(c) for c in manifests.channels}
        self.brokers = {key(b) for b in manifests.brokers}
        self.dispatcher_url = dispatcher_url
        self.services = services
        # What the controller reads a Broker's address from: the provisioner's dispatcher.
        self.provisioner = {"status": {"address": {"url": dispatcher_url}}}

    def channel_url(self, namespace: str, name: str) -> str:
        return channel_path_url(name, namespace, self.dispatcher_url)

    def broker_url(self, namespace: str, name: str) -> str:
        url = broker_resources.broker_address(name, namespace, self.provisioner)
        assert url is not None  # the provisioner has an address
        return url

    def _target(self, ref: Mapping[str, Any], namespace: str) -> Mapping[str, Any] | None:
        target = ref_target(ref, namespace)
        where = f"{target.namespace}/{target.name}"
        if target.group == MESSAGING_GROUP and target.kind == "Channel":
            if where not in self.channels:
                return None
            return {"status": {"address": {"url": self.channel_url(target.namespace, target.name)}}}
        if target.kind == "Service" and target.group in ("", KNATIVE_SERVING_GROUP):
            # Any Service resolves: unmapped ones go to the built-in display service.
            address = f"http://{target.name}.{target.namespace}.svc.{CLUSTER_DOMAIN}"
            return {"status": {"address": {"url": address}}}
        if target.group == EVENTING_GROUP and target.kind == "Broker" and where in self.brokers:
            return {"status": {"address": {"url": self.broker_url(target.namespace, target.name)}}}
        return None

    def resolve(self, destination: Mapping[str, Any] | None, namespace: str) -> Resolution:
        """The destination's local URI, resolved by the controller's `destination_uri`."""
        ref = (destination or {}).get("ref")
        target = self._target(ref, namespace) if ref else None
        resolution = destination_uri(destination, namespace, target, CLUSTER_DOMAIN)
        if not resolution.ok:
            return resolution
        return Resolution(uri=self.services.localize(resolution.uri))


@dataclass
class Routes:
    """The routing table (Channel objects with `status.subscribers`, Broker objects with
    `status.triggers`) and each Subscription's and Trigger's state."""

    channels: list[dict[str, Any]]
    subscriptions: list[dict[str, Any]]  # with the status the controller would write
    problems: list[str]
    brokers: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)  # with a resolved status


def _ready_channel(channel: dict[str, Any], addresses: LocalAddresses, problems: list[str]) -> dict[str, Any]:
    meta = channel["metadata"]
    status: dict[str, Any] = {
        "address": {"url": addresses.channel_url(meta["namespace"], meta["name"])},
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    dead_letter = _dead_letter_uri(channel, addresses, problems)
    if dead_letter:
        status["deadLetterSinkUri"] = dead_letter
    return {**channel, "status": status}


def _dead_letter_uri(owner: Mapping[str, Any], addresses: LocalAddresses, problems: list[str]) -> str | None:
    """The owner's `spec.delivery.deadLetterSink`, resolved (None: none, or a problem noted)."""
    dead_letter = ((owner.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
    if not dead_letter:
        return None
    resolution = addresses.resolve(dead_letter, owner["metadata"]["namespace"])
    if resolution.ok:
        return resolution.uri
    problems.append(f"{owner['kind']} {key(owner)}: dead-letter sink: {resolution.message}")
    return None


def _resolved_trigger(
    trigger: dict[str, Any], addresses: LocalAddresses, problems: list[str]
) -> dict[str, Any]:
    """The Trigger with the status its reconciler writes: subscriber and dead letter resolved,
    `SubscriberResolved` for its generation (what `broker_resources.trigger_entry` reads)."""
    meta, spec = trigger["metadata"], trigger.get("spec") or {}
    subscriber = addresses.resolve(spec.get("subscriber"), meta["namespace"])
    status: dict[str, Any] = {"observedGeneration": meta["generation"]}
    if subscriber.ok:
        status["subscriberUri"] = subscriber.uri
        status["conditions"] = [{"type": "SubscriberResolved", "status": "True"}]
    else:
        problems.append(f"Trigger {key(trigger)}: subscriber: {subscriber.message}")
        status["conditions"] = [
            {
                "type": "SubscriberResolved",
                "status": "False",
                "reason": subscriber.reason,
                "message": subscriber.message,
            }
        ]
    dead_letter = _dead_letter_uri(trigger, addresses, problems)
    if dead_letter:
        status["deadLetterSinkUri"] = dead_letter
    return {**trigger, "status": status}


def _routed_broker(
    broker: dict[str, Any], triggers: list[dict[str, Any]], addresses: LocalAddresses, problems: list[str]
) -> dict[str, Any]:
    """The Broker with its address and Trigger entries, built by the controller's `routing_status`."""
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True"}]}
    dead_letter = _dead_letter_uri(broker, addresses, problems)
    if dead_letter:
        status["deadLetterSinkUri"] = dead_letter
    routed = {**broker, "status": status}
    status.update(broker_resources.routing_status(routed, DEV_PROVISIONER, addresses.provisioner, triggers))
    namespace = broker["metadata"]["namespace"]
    for entry in status["triggers"]:
        if str(entry.get("message", "")).startswith("invalid filters"):
            problems.append(f"Trigger {namespace}/{entry['name']}: {entry['message']}")
    return routed


def routes(manifests: Manifests, addresses: LocalAddresses) -> Routes:
    """Resolve every Subscription and build each Channel's routing entries, as the controller does."""
    problems: list[str] = []
    channels = {key(c): _ready_channel(c, addresses, problems) for c in manifests.channels}
    resolved_subs = []
    for subscription in manifests.subscriptions:
        meta, spec = subscription["metadata"], subscription.get("spec") or {}
        channel = channels.get(f"{meta['namespace']}/{(spec.get('channel') or {}).get('name', '')}")
        resolved = {
            name: addresses.resolve(destination, meta["namespace"])
            for name, destination in subscription_resources.destinations(spec).items()
        }
        status = subscription_resources.make_status(subscription, channel, resolved)
        resolved_subs.append({**subscription, "status": status})
        for name, resolution in resolved.items():
            if not resolution.ok:
                problems.append(f"Subscription {key(subscription)}: {name}: {resolution.message}")
        if channel is None:
            problems.append(f"Subscription {key(subscription)}: its Channel is not among the manifests")
    table = []
    for channel in channels.values():
        subscribers = channel_resources.routing_table(channel, resolved_subs)
        table.append({**channel, "status": {**channel["status"], "subscribers": subscribers}})
    triggers = [_resolved_trigger(t, addresses, problems) for t in manifests.triggers]
    for trigger in triggers:
        if f"{trigger['metadata']['namespace']}/{(trigger.get('spec') or {}).get('broker', '')}" not in (
            addresses.brokers
        ):
            problems.append(f"Trigger {key(trigger)}: its Broker is not among the manifests")
    brokers = [_routed_broker(b, triggers, addresses, problems) for b in manifests.brokers]
    return Routes(table, resolved_subs, problems, brokers, triggers)
