"""Components for other Pulumi programs: one custom resource each, from typed args.

`Channel`, `Subscription`, `Broker`, `Trigger`, and one per source kind (`PingSource`,
`ApiServerSource`, `ContainerSource`, `GitHubSource`, `AwsSqsSource`, `GcpPubSubSource`). Each
checks its object against our CRD schema in the constructor (when the args are plain values; for
a Trigger that includes its CESQL filters) and exports its address: a Channel's or Broker's
`url`, a source's `sink_uri`, a Subscription's or Trigger's `subscriber_uri`, read from the
status the controller writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi

from eventwire.exceptions import ConfigError
from eventwire.install.kube import ObservedCustomResource

Destination = Mapping[str, Any]
"""A Knative-style Destination: {"ref": {"apiVersion", "kind", "name", "namespace"?}} and/or {"uri"}."""

MESSAGING_V1 = "messaging.eventwire.dev/v1"
EVENTING_V1 = "eventing.eventwire.dev/v1"
SOURCES_V1 = "sources.eventwire.dev/v1"


def service_destination(
    name: pulumi.Input[str], namespace: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    """A Destination referring to a Kubernetes Service."""
    ref: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "name": name}
    if namespace is not None:
        ref["namespace"] = namespace
    return {"ref": ref}


def knative_service_destination(
    name: pulumi.Input[str], namespace: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    """A Destination referring to a Knative Service (serving.knative.dev/v1)."""
    ref: dict[str, Any] = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": name}
    if namespace is not None:
        ref["namespace"] = namespace
    return {"ref": ref}


def channel_destination(
    name: pulumi.Input[str], namespace: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    """A Destination referring to an eventwire Channel."""
    ref: dict[str, Any] = {"apiVersion": MESSAGING_V1, "kind": "Channel", "name": name}
    if namespace is not None:
        ref["namespace"] = namespace
    return {"ref": ref}


def broker_destination(name: pulumi.Input[str], namespace: pulumi.Input[str] | None = None) -> dict[str, Any]:
    """A Destination referring to an eventwire Broker (a sink, subscriber or reply)."""
    ref: dict[str, Any] = {"apiVersion": EVENTING_V1, "kind": "Broker", "name": name}
    if namespace is not None:
        ref["namespace"] = namespace
    return {"ref": ref}


class _EventwireObject(pulumi.ComponentResource):
    """Shared constructor shape: build the manifest, check it, create it as a child."""

    resource: ObservedCustomResource

    def _create(
        self,
        name: str,
        api_version: str,
        kind: str,
        namespace: pulumi.Input[str],
        object_name: pulumi.Input[str] | None,
        spec: dict[str, Any],
    ) -> None:
        metadata = {"name": name if object_name is None else object_name, "namespace": namespace}
        manifest = {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}
        check_manifest(manifest)
        self.resource = ObservedCustomResource(
            f"{name}-{kind.lower()}", api_version, kind, metadata, spec, pulumi.ResourceOptions(parent=self)
        )

    def _status_field(self, *path: str) -> pulumi.Output[str]:
        def pick(status: Any) -> str:
            node = status
            for key in path:
                node = node.get(key) if isinstance(node, Mapping) else None
            return str(node) if node else ""

        return self.resource.status.apply(pick)


def check_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise ConfigError listing every schema problem; objects holding unresolved Outputs are
    checked by the API server instead."""
    if _has_outputs(manifest):
        return
    from eventwire.api import resource_errors

    errors = resource_errors(manifest)
    if errors:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        raise ConfigError(f"{name}: " + "; ".join(str(error) for error in errors))


def _has_outputs(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, Mapping):
        return any(_has_outputs(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_outputs(item) for item in value)
    return False


def _spec(required: Mapping[str, Any], optional: Mapping[str, Any]) -> dict[str, Any]:
    return {**required, **{key: value for key, value in optional.items() if value is not None}}


class ChannelArgs(TypedDict):
    """Arguments of Channel."""

    namespace: pulumi.Input[str]
    """Namespace of the Channel."""
    name: NotRequired[pulumi.Input[str]]
    """metadata.name; default the component's name."""
    provisioner: NotRequired[pulumi.Input[str]]
    """The ClusterChannelProvisioner; the cluster default when unset."""
    delivery: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """The DeliverySpec of the channel (retry, backoffPolicy, backoffDelay, deadLetterSink, ...)."""


class _Addressable(_EventwireObject):
    """A Channel or a Broker: the same args (namespace, name, provisioner, delivery) and `url` out."""

    API_VERSION = ""
    KIND = ""
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ChannelArgs | BrokerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"eventwire:index:{self.KIND}", name, None, opts)
        spec = _spec({}, {"provisioner": args.get("provisioner"), "delivery": args.get("delivery")})
        self._create(name, self.API_VERSION, self.KIND, args["namespace"], args.get("name"), spec)
        self.url = self._status_field("address", "url")
        self.register_outputs({"url": self.url})


class Channel(_Addressable):
    """An eventwire Channel. Output `url`: its address once the controller has set it."""

    API_VERSION = MESSAGING_V1
    KIND = "Channel"


class SubscriptionArgs(TypedDict):
    """Arguments of Subscription; a subscriber, a reply, or both."""

    namespace: pulumi.Input[str]
    """Namespace of the Subscription and its Channel."""
    channel: pulumi.Input[str]
    """Name of the Channel (same namespace)."""
    name: NotRequired[pulumi.Input[str]]
    """metadata.name; default the component's name."""
    subscriber: NotRequired[pulumi.Input[Destination]]
    """Where the channel's events go."""
    reply: NotRequired[pulumi.Input[Destination]]
    """Where the subscriber's replies go."""
    delivery: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """The DeliverySpec towards the subscriber."""


class Subscription(_EventwireObject):
    """An eventwire Subscription. Output `subscriber_uri`: the resolved subscriber."""

    subscriber_uri: pulumi.Output[str]

    def __init__(self, name: str, args: SubscriptionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:Subscription", name, None, opts)
        if "subscriber" not in args and "reply" not in args:
            raise ConfigError(f"Subscription {name}: needs a subscriber, a reply, or both")
        channel = {"apiVersion": MESSAGING_V1, "kind": "Channel", "name": args["channel"]}
        spec = _spec(
            {"channel": channel},
            {
                "subscriber": args.get("subscriber"),
                "reply": args.get("reply"),
                "delivery": args.get("delivery"),
            },
        )
        self._create(name, MESSAGING_V1, "Subscription", args["namespace"], args.get("name"), spec)
        self.subscriber_uri = self._status_field("physicalSubscription", "subscriberUri")
        self.register_outputs({"subscriber_uri": self.subscriber_uri})


class BrokerArgs(TypedDict):
    """Arguments of Broker."""

    namespace: pulumi.Input[str]
    """Namespace of the Broker (its Triggers live there too)."""
    name: NotRequired[pulumi.Input[str]]
    """metadata.name; default the component's name."""
    provisioner: NotRequired[pulumi.Input[str]]
    """The ClusterChannelProvisioner storing its events; the cluster default when unset. Immutable."""
    delivery: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """The default DeliverySpec of its Triggers (retry, backoff, deadLetterSink, ...); a
    Trigger's own delivery overrides it field by field."""


class Broker(_Addressable):
    """An eventwire Broker. Output `url`: its address once the controller has set it."""

    API_VERSION = EVENTING_V1
    KIND = "Broker"


class TriggerArgs(TypedDict):
    """Arguments of Trigger. Without `attributes` or `filters` every event of the Broker passes."""

    namespace: pulumi.Input[str]
    """Namespace of the Trigger and its Broker."""
    broker: pulumi.Input[str]
    """Name of the Broker (same namespace). Immutable."""
    subscriber: pulumi.Input[Destination]
    """Where the events that pass the filters go; its replies go back into the Broker."""
    name: NotRequired[pulumi.Input[str]]
    """metadata.name; default the component's name."""
    attributes: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Knative's `filter.attributes`: exact match per attribute, "" matches any value of a present
    attribute. Ignored by the data plane when `filters` is non-empty."""
    filters: NotRequired[pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]]]
    """Knative's `filters`, in the CRD's spelling: [{"exact": {...}}, {"cesql": "..."}, ...];
    an event passes when every entry matches."""
    delivery: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """The DeliverySpec towards the subscriber; unset fields fall back to the Broker's."""


class Trigger(_EventwireObject):
    """An eventwire Trigger. Output `subscriber_uri`: the resolved subscriber."""

    subscriber_uri: pulumi.Output[str]

    def __init__(self, name: str, args: TriggerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:Trigger", name, None, opts)
        attributes = args.get("attributes")
        spec = _spec(
            {"broker": args["broker"], "subscriber": args["subscriber"]},
            {
                "filter": None if attributes is None else {"attributes": attributes},
                "filters": args.get("filters"),
                "delivery": args.get("delivery"),
            },
        )
        self._create(name, EVENTING_V1, "Trigger", args["namespace"], args.get("name"), spec)
        self.subscriber_uri = self._status_field("subscriberUri")
        self.register_outputs({"subscriber_uri": self.subscriber_uri})


class SourceArgs(TypedDict):
    """Arguments every source kind shares."""

    namespace: pulumi.Input[str]
    """Namespace of the source."""
    sink: pulumi.Input[Destination]
    """Where the source sends its events."""
    name: NotRequired[pulumi.Input[str]]
    """metadata.name; default the component's name."""
    ce_overrides: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """CloudEvent extension attributes added to every event."""
    delivery: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """The DeliverySpec towards the sink."""
    spec: NotRequired[Mapping[str, Any]]
    """The kind's own spec fields, in the CRD's spelling (e.g. {"schedule": "*/1 * * * *"})."""


class SourceComponent(_EventwireObject):
    """A source object; subclasses name the kind and the spec fields they require."""

    KIND = ""
    REQUIRED: tuple[str, ...] = ()
    sink_uri: pulumi.Output[str]

    def __init__(self, name: str, args: SourceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"eventwire:index:{self.KIND}", name, None, opts)
        own = dict(args.get("spec", {}))
        missing = [field for field in self.REQUIRED if field not in own]
        if missing:
            raise ConfigError(f"{self.KIND} {name}: spec needs {', '.join(missing)}")
        overrides = args.get("ce_overrides")
        spec = _spec(
            {**own, "sink": args["sink"]},
            {
                "ceOverrides": {"extensions": overrides} if overrides else None,
                "delivery": args.get("delivery"),
            },
        )
        self._create(name, SOURCES_V1, self.KIND, args["namespace"], args.get("name"), spec)
        self.sink_uri = self._status_field("sinkUri")
        self.register_outputs({"sink_uri": self.sink_uri})


class PingSource(SourceComponent):
    """A PingSource: spec needs `schedule`; optional timezone, data, dataBase64, contentType."""

    KIND = "PingSource"
    REQUIRED = ("schedule",)


class ApiServerSource(SourceComponent):
    """An ApiServerSource: spec needs `resources`; optional mode, owner, namespaceSelector."""

    KIND = "ApiServerSource"
    REQUIRED = ("resources",)


class ContainerSource(SourceComponent):
    """A ContainerSource: spec needs `template` (a PodTemplateSpec)."""

    KIND = "ContainerSource"
    REQUIRED = ("template",)


class GitHubSource(SourceComponent):
    """A GitHubSource: spec needs `ownerAndRepository` and `eventTypes`; secrets by reference."""

    KIND = "GitHubSource"
    REQUIRED = ("ownerAndRepository", "eventTypes")


class AwsSqsSource(SourceComponent):
    """An AwsSqsSource: spec needs `queueUrl`."""

    KIND = "AwsSqsSource"
    REQUIRED = ("queueUrl",)


class GcpPubSubSource(SourceComponent):
    """A GcpPubSubSource: spec needs `topic`."""

    KIND = "GcpPubSubSource"
    REQUIRED = ("topic",)
