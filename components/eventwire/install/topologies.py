"""Helpers for the two architectures of the design.

1. `SourceToService`: a source sends straight to a service (Knative or Kubernetes Service).
2. `ChannelFanout`: a source sends to a Channel; Subscriptions fan out to subscribers, and the
   replies of a subscriber can be forwarded to another Channel (which has subscribers of its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

import pulumi

from eventwire.exceptions import ConfigError
from eventwire.install.resources import (
    ApiServerSource,
    AwsSqsSource,
    Channel,
    ChannelArgs,
    ContainerSource,
    Destination,
    GcpPubSubSource,
    GitHubSource,
    PingSource,
    SourceArgs,
    SourceComponent,
    Subscription,
    SubscriptionArgs,
    channel_destination,
    knative_service_destination,
    service_destination,
)

SOURCE_COMPONENTS: dict[str, type[SourceComponent]] = {
    cls.KIND: cls
    for cls in (PingSource, ApiServerSource, ContainerSource, GitHubSource, AwsSqsSource, GcpPubSubSource)
}


class SourceSpec(TypedDict):
    """Which source to create: its kind and its own spec fields (the sink is filled in)."""

    kind: str
    """PingSource, ApiServerSource, ContainerSource, GitHubSource, AwsSqsSource or GcpPubSubSource."""
    spec: Mapping[str, Any]
    """The kind's own spec fields in the CRD's spelling."""
    ce_overrides: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Extension attributes added to every event."""


def _source(
    name: str, namespace: pulumi.Input[str], source: SourceSpec, sink: Destination, parent: pulumi.Resource
) -> SourceComponent:
    cls = SOURCE_COMPONENTS.get(source["kind"])
    if cls is None:
        raise ConfigError(
            f"{name}: source kind {source['kind']!r} is not one of {', '.join(SOURCE_COMPONENTS)}"
        )
    args: SourceArgs = {"namespace": namespace, "sink": sink, "spec": source["spec"]}
    if "ce_overrides" in source:
        args["ce_overrides"] = source["ce_overrides"]
    return cls(name, args, pulumi.ResourceOptions(parent=parent))


class SourceToServiceArgs(TypedDict):
    """Arguments of SourceToService."""

    namespace: pulumi.Input[str]
    """Namespace of the source and the service."""
    source: SourceSpec
    """The source."""
    service: pulumi.Input[str]
    """Name of the service receiving the events."""
    service_kind: NotRequired[Literal["knative", "kubernetes"]]
    """knative (default: a serving.knative.dev/v1 Service) or kubernetes (a v1 Service)."""


class SourceToService(pulumi.ComponentResource):
    """Architecture 1: source -> service. Output `sink_uri`: where the source delivers."""

    sink_uri: pulumi.Output[str]

    def __init__(self, name: str, args: SourceToServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:SourceToService", name, None, opts)
        kind = args.get("service_kind", "knative")
        if kind not in ("knative", "kubernetes"):
            raise ConfigError(f"SourceToService {name}: service_kind {kind!r} is not knative or kubernetes")
        make = knative_service_destination if kind == "knative" else service_destination
        source = _source(f"{name}-source", args["namespace"], args["source"], make(args["service"]), self)
        self.sink_uri = source.sink_uri
        self.register_outputs({"sink_uri": self.sink_uri})


class SubscriberSpec(TypedDict):
    """One subscriber of a ChannelFanout channel."""

    name: str
    """Name of the Subscription."""
    subscriber: pulumi.Input[Destination]
    """Where the events go."""
    reply_to: NotRequired[str]
    """A channel of this fanout (declared in `channels`) that receives the subscriber's replies."""
    delivery: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """The DeliverySpec towards the subscriber."""


class ChannelSpec(TypedDict):
    """One channel of a ChannelFanout and its subscribers."""

    name: str
    """Name of the Channel."""
    subscribers: Sequence[SubscriberSpec]
    """Its Subscriptions."""
    provisioner: NotRequired[pulumi.Input[str]]
    """The ClusterChannelProvisioner; the cluster default when unset."""
    delivery: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """The DeliverySpec of the channel."""


class ChannelFanoutArgs(TypedDict):
    """Arguments of ChannelFanout."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    channels: Sequence[ChannelSpec]
    """The channels; the first receives the source's events."""
    source: NotRequired[SourceSpec]
    """The source feeding the first channel; none when producers post to the channel themselves."""


class ChannelFanout(pulumi.ComponentResource):
    """Architecture 2: source -> channel -> subscribers, replies forwarded to other channels.

    Output `channel_urls`: channel name -> address (once the controller has set it).
    """

    channel_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: ChannelFanoutArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:ChannelFanout", name, None, opts)
        namespace = args["namespace"]
        if not args["channels"]:
            raise ConfigError(f"ChannelFanout {name}: needs at least one channel")
        declared = [channel["name"] for channel in args["channels"]]
        if len(set(declared)) != len(declared):
            raise ConfigError(f"ChannelFanout {name}: channel names must be unique, got {declared}")
        channels: dict[str, Channel] = {}
        for spec in args["channels"]:
            channel_args: ChannelArgs = {"namespace": namespace, "name": spec["name"]}
            if "provisioner" in spec:
                channel_args["provisioner"] = spec["provisioner"]
            if "delivery" in spec:
                channel_args["delivery"] = spec["delivery"]
            channels[spec["name"]] = Channel(
                f"{name}-{spec['name']}", channel_args, pulumi.ResourceOptions(parent=self)
            )
        for spec in args["channels"]:
            for subscriber in spec["subscribers"]:
                self._subscribe(name, namespace, spec["name"], subscriber, channels)
        if "source" in args:
            first = declared[0]
            _source(f"{name}-source", namespace, args["source"], channel_destination(first), self)
        self.channel_urls = pulumi.Output.all(
            **{key: channel.url for key, channel in channels.items()}
        ).apply(dict)
        self.register_outputs({"channel_urls": self.channel_urls})

    def _subscribe(
        self,
        name: str,
        namespace: pulumi.Input[str],
        channel: str,
        subscriber: SubscriberSpec,
        channels: Mapping[str, Channel],
    ) -> None:
        sub_args: SubscriptionArgs = {
            "namespace": namespace,
            "name": subscriber["name"],
            "channel": channel,
            "subscriber": subscriber["subscriber"],
        }
        if "reply_to" in subscriber:
            if subscriber["reply_to"] not in channels:
                raise ConfigError(
                    f"ChannelFanout {name}: subscriber {subscriber['name']} replies to "
                    f"{subscriber['reply_to']!r}, which is not one of its channels {sorted(channels)}"
                )
            sub_args["reply"] = channel_destination(subscriber["reply_to"])
        if "delivery" in subscriber:
            sub_args["delivery"] = subscriber["delivery"]
        Subscription(
            f"{name}-{subscriber['name']}",
            sub_args,
            pulumi.ResourceOptions(parent=self, depends_on=[channels[channel]]),
        )
