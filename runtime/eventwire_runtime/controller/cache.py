"""The informer cache: kopf indexes of every object the reconcilers read, and lookups over them.

kopf keeps each index current from its watch streams (an index is updated before any handler
sees the event) and starts handlers only once every index holds its initial listing, so an
object missing from an index does not exist. Reconcilers read other kinds only from here, never
by GET/LIST; the one exception is a reference to a kind the controller does not watch (a
destination `ref` to anything with `status.address.url`, a Trigger's dependency of such a kind),
which `Cache.get_object` fetches from the API. Brokers,
like Channels, are indexed: a sink, subscriber or reply naming a Broker resolves from here.

The index functions are pure: `Cache.from_objects` runs them over plain objects, which is how
tests build a cache without kopf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import kopf

from eventwire_runtime.api import (
    EVENTING_API_VERSION,
    EVENTING_GROUP,
    MESSAGING_API_VERSION,
    MESSAGING_GROUP,
    SOURCES_API_VERSION,
    SOURCES_GROUP,
)
from eventwire_runtime.controller.dependency import Dependency, dependency_target
from eventwire_runtime.controller.destinations import TargetKey, ref_target

Body = dict[str, Any]
ObjectKey = tuple[str, str]  # (namespace, name)

PROVISIONERS = "provisioner_cache"
CHANNELS = "channel_cache"
SUBSCRIPTIONS = "subscription_cache"
BROKERS = "broker_cache"
TRIGGERS = "trigger_cache"
SERVICES = "service_cache"
KNATIVE_SERVICES = "knative_service_cache"
SOURCES = "source_cache"
NAMESPACES = "namespace_cache"
REFERRERS = "referrer_cache"  # target -> (kind, namespace, name) of every object referencing it
INDEX_NAMES = (
    PROVISIONERS,
    CHANNELS,
    SUBSCRIPTIONS,
    BROKERS,
    TRIGGERS,
    SERVICES,
    KNATIVE_SERVICES,
    SOURCES,
    NAMESPACES,
    REFERRERS,
)

ALL = ("*",)  # the key under which an index also stores every object of its kind


class Fetcher(Protocol):
    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Mapping[str, Any] | None: ...


def is_cache_index(name: str) -> bool:
    """Whether a kopf index id is one of ours."""
    return name.startswith(INDEX_NAMES)


def snapshot(body: Mapping[str, Any]) -> Body:
    """What the cache keeps of an object: apiVersion, kind, metadata, spec and status."""
    return {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec", "status") if k in body}


def referenced_targets(spec: Mapping[str, Any], namespace: str) -> set[TargetKey]:
    """Every ref among subscriber, reply, sink and the dead-letter sink of a spec."""
    candidates = [
        spec.get("subscriber"),
        spec.get("reply"),
        spec.get("sink"),
        (spec.get("delivery") or {}).get("deadLetterSink"),
    ]
    return {ref_target(dest["ref"], namespace) for dest in candidates if dest and dest.get("ref")}


# -- the index functions (pure: an object in, its index entries out) ---------------------------


def index_provisioner(body: Mapping[str, Any]) -> dict[Any, Any]:
    return {body["metadata"]["name"]: snapshot(body), ALL: snapshot(body)}


def index_channel(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    provisioner = (body.get("spec") or {}).get("provisioner") or ""
    key = (meta["namespace"], meta["name"])
    # ("provisioner", "") holds the channels served by whichever provisioner is the default.
    return {key: snapshot(body), ("provisioner", provisioner): key}


def index_subscription(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    channel = ((body.get("spec") or {}).get("channel") or {}).get("name", "")
    return {
        (meta["namespace"], meta["name"]): snapshot(body),
        ("channel", meta["namespace"], channel): snapshot(body),
    }


def index_broker(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    provisioner = (body.get("spec") or {}).get("provisioner") or ""
    key = (meta["namespace"], meta["name"])
    # As for Channels: ("provisioner", "") holds the Brokers served by the default provisioner.
    return {key: snapshot(body), ("provisioner", provisioner): key}


def index_trigger(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    broker = (body.get("spec") or {}).get("broker") or ""
    return {
        (meta["namespace"], meta["name"]): snapshot(body),
        ("broker", meta["namespace"], broker): snapshot(body),
    }


def index_service(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    return {
        (meta["namespace"], meta["name"]): {
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")}
        }
    }


def index_knative_service(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta, status = body["metadata"], body.get("status") or {}
    # The address (a destination) and the readiness (a Trigger's dependency).
    kept = {key: status.get(key) for key in ("address", "conditions", "observedGeneration")}
    return {(meta["namespace"], meta["name"]): {"metadata": dict(meta), "status": kept}}


def index_namespace(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    labels = dict(meta.get("labels") or {})
    return {ALL: {"metadata": {"name": meta["name"], "uid": meta.get("uid"), "labels": labels}}}


def index_source(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    return {
        (body["kind"], meta["namespace"], meta["name"]): snapshot(body),
        ("kind", body["kind"]): snapshot(body),
    }


def index_referrer(body: Mapping[str, Any]) -> dict[Any, Any]:
    meta = body["metadata"]
    who = (str(body.get("kind")), meta["namespace"], meta["name"])
    targets = referenced_targets(body.get("spec") or {}, meta["namespace"])
    if body.get("kind") == "Trigger":  # and the object its dependency annotation names
        targets |= dependency_target(body)
    return dict.fromkeys(targets, who)


SOURCE_KINDS = {
    "pingsources": "PingSource",
    "containersources": "ContainerSource",
    "apiserversources": "ApiServerSource",
    "githubsources": "GitHubSource",
    "awssqssources": "AwsSqsSource",
    "gcppubsubsources": "GcpPubSubSource",
}
SOURCE_PLURALS = tuple(SOURCE_KINDS)

# The indexes that hold whole objects (with metadata.uid), by id: (apiVersion, kind, plural) of
# the kind each one indexes. `resync` compares each with a LIST of its kind.
OBJECT_INDEXES: dict[str, tuple[str, str, str]] = {
    PROVISIONERS: (MESSAGING_API_VERSION, "ClusterChannelProvisioner", "clusterchannelprovisioners"),
    CHANNELS: (MESSAGING_API_VERSION, "Channel", "channels"),
    SUBSCRIPTIONS: (MESSAGING_API_VERSION, "Subscription", "subscriptions"),
    BROKERS: (EVENTING_API_VERSION, "Broker", "brokers"),
    TRIGGERS: (EVENTING_API_VERSION, "Trigger", "triggers"),
    SERVICES: ("v1", "Service", "services"),
    KNATIVE_SERVICES: ("serving.knative.dev/v1", "Service", "services"),
    NAMESPACES: ("v1", "Namespace", "namespaces"),
    **{f"{SOURCES}_{plural}": (SOURCES_API_VERSION, kind, plural) for plural, kind in SOURCE_KINDS.items()},
}


def _kopf(fn: Callable[[Mapping[str, Any]], dict[Any, Any]]) -> Callable[..., dict[Any, Any]]:
    def handler(body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return fn(body)

    return handler


def register() -> None:
    """Declare the indexes with kopf (once, on import of the controller package)."""
    kopf.index(MESSAGING_GROUP, "clusterchannelprovisioners", id=PROVISIONERS)(_kopf(index_provisioner))
    kopf.index(MESSAGING_GROUP, "channels", id=CHANNELS)(_kopf(index_channel))
    kopf.index(MESSAGING_GROUP, "subscriptions", id=SUBSCRIPTIONS)(_kopf(index_subscription))
    kopf.index("", "v1", "services", id=SERVICES)(_kopf(index_service))
    kopf.index("serving.knative.dev", "v1", "services", id=KNATIVE_SERVICES)(_kopf(index_knative_service))
    kopf.index("", "v1", "namespaces", id=NAMESPACES)(_kopf(index_namespace))
    kopf.index(EVENTING_GROUP, "brokers", id=BROKERS)(_kopf(index_broker))
    kopf.index(EVENTING_GROUP, "triggers", id=TRIGGERS)(_kopf(index_trigger))
    for plural in ("subscriptions", "channels"):
        kopf.index(MESSAGING_GROUP, plural, id=f"{REFERRERS}_{plural}")(_kopf(index_referrer))
    for plural in ("brokers", "triggers"):
        kopf.index(EVENTING_GROUP, plural, id=f"{REFERRERS}_{plural}")(_kopf(index_referrer))
    for plural in SOURCE_PLURALS:
        kopf.index(SOURCES_GROUP, plural, id=f"{SOURCES}_{plural}")(_kopf(index_source))
        kopf.index(SOURCES_GROUP, plural, id=f"{REFERRERS}_{plural}")(_kopf(index_referrer))


Index = Mapping[Any, Iterable[Any]]


@dataclass(frozen=True)
class Cache:
    """Lookups over the indexes (index name -> key -> values); `indexes` are kopf's live ones.

    Args:
        indexes: kopf's indexes by id (handler kwargs), or plain mappings in tests.
        fetcher: reads targets of kinds no index holds (see the module docstring).
    """

    indexes: Mapping[str, Index]
    fetcher: Fetcher | None = None

    def _values(self, prefix: str, key: Any) -> list[Any]:
        found: list[Any] = []
        for name, index in self.indexes.items():
            if name.startswith(prefix) and key in index:
                found.extend(index[key])
        return found

    def _one(self, prefix: str, key: Any) -> Body | None:
        values = self._values(prefix, key)
        return dict(values[0]) if values else None

    def provisioner(self, name: str) -> Body | None:
        return self._one(PROVISIONERS, name)

    def provisioners(self) -> list[Body]:
        return self._values(PROVISIONERS, ALL)

    def channel(self, namespace: str, name: str) -> Body | None:
        return self._one(CHANNELS, (namespace, name))

    def channels_served_by(self, provisioner: str) -> list[ObjectKey]:
        """Channels naming `provisioner`; `""` gives those served by the default provisioner."""
        return list(self._values(CHANNELS, ("provisioner", provisioner)))

    def subscription(self, namespace: str, name: str) -> Body | None:
        return self._one(SUBSCRIPTIONS, (namespace, name))

    def subscriptions_of(self, namespace: str, channel: str) -> list[Body]:
        return self._values(SUBSCRIPTIONS, ("channel", namespace, channel))

    def broker(self, namespace: str, name: str) -> Body | None:
        return self._one(BROKERS, (namespace, name))

    def brokers_served_by(self, provisioner: str) -> list[ObjectKey]:
        """Brokers naming `provisioner`; `""` gives those served by the default provisioner."""
        return list(self._values(BROKERS, ("provisioner", provisioner)))

    def trigger(self, namespace: str, name: str) -> Body | None:
        return self._one(TRIGGERS, (namespace, name))

    def triggers_of(self, namespace: str, broker: str) -> list[Body]:
        return self._values(TRIGGERS, ("broker", namespace, broker))

    def service_exists(self, namespace: str, name: str) -> bool:
        return bool(self._values(SERVICES, (namespace, name)))

    def source(self, kind: str, namespace: str, name: str) -> Body | None:
        return self._one(SOURCES, (kind, namespace, name))

    def sources_of_kind(self, kind: str) -> list[Body]:
        return self._values(SOURCES, ("kind", kind))

    def namespaces(self) -> list[Body]:
        """Every Namespace: its name and labels."""
        return self._values(NAMESPACES, ALL)

    def referrers(self, target: TargetKey) -> list[tuple[str, str, str]]:
        """(kind, namespace, name) of every Subscription, Channel, Broker, Trigger and source
        referencing `target`."""
        return list(self._values(REFERRERS, target))

    async def get_object(
        self, api_version: str, kind: str, name: str, namespace: str | None
    ) -> Mapping[str, Any] | None:
        """`ObjectLookup` for destination resolution: from the indexes where the kind has one."""
        group = api_version.rpartition("/")[0]
        ns = namespace or ""
        if (group, kind) == ("", "Service"):
            return self._one(SERVICES, (ns, name))
        if (group, kind) == (MESSAGING_GROUP, "Channel"):
            return self.channel(ns, name)
        if (group, kind) == (EVENTING_GROUP, "Broker"):
            return self.broker(ns, name)
        if (group, kind) == ("serving.knative.dev", "Service"):
            return self._one(KNATIVE_SERVICES, (ns, name))
        if self.fetcher is None:
            return None
        return await self.fetcher.get(api_version, kind, name, namespace)

    async def dependency(self, dependency: Dependency) -> Mapping[str, Any] | None:
        """The object a Trigger's dependency annotation names: a source from its index, else as
        `get_object` finds it (from the indexes where the kind has one, else from the API)."""
        target = dependency.target
        if target is None:
            return None
        if target.group == SOURCES_GROUP:
            return self.source(target.kind, target.namespace, target.name)
        return await self.get_object(dependency.api_version, target.kind, target.name, target.namespace)

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]], fetcher: Fetcher | None = None) -> Cache:
        """A cache holding `objects`, indexed by the same functions kopf runs."""
        by_kind: dict[tuple[str, str], list[tuple[str, Callable[[Mapping[str, Any]], dict[Any, Any]]]]] = {
            (MESSAGING_GROUP, "ClusterChannelProvisioner"): [(PROVISIONERS, index_provisioner)],
            (MESSAGING_GROUP, "Channel"): [
                (CHANNELS, index_channel),
                (f"{REFERRERS}_channels", index_referrer),
            ],
            (MESSAGING_GROUP, "Subscription"): [
                (SUBSCRIPTIONS, index_subscription),
                (f"{REFERRERS}_subscriptions", index_referrer),
            ],
            (EVENTING_GROUP, "Broker"): [(BROKERS, index_broker), (f"{REFERRERS}_brokers", index_referrer)],
            (EVENTING_GROUP, "Trigger"): [
                (TRIGGERS, index_trigger),
                (f"{REFERRERS}_triggers", index_referrer),
            ],
            ("", "Service"): [(SERVICES, index_service)],
            ("", "Namespace"): [(NAMESPACES, index_namespace)],
            ("serving.knative.dev", "Service"): [(KNATIVE_SERVICES, index_knative_service)],
        }
        indexes: dict[str, dict[Any, list[Any]]] = {}
        for obj in objects:
            group = str(obj.get("apiVersion", "")).rpartition("/")[0]
            functions = by_kind.get((group, str(obj.get("kind"))))
            if functions is None and group == SOURCES_GROUP:
                functions = [(SOURCES, index_source), (f"{REFERRERS}_sources", index_referrer)]
            for name, fn in functions or []:
                for key, value in fn(obj).items():
                    indexes.setdefault(name, {}).setdefault(key, []).append(value)
        return cls(indexes, fetcher)
