"""The Pulumi components that install eventwire, and the components other programs reuse.

Every component takes the caller's provider through `opts` (children inherit it through
`parent`), supports `transforms`/`transformations`, and needs nothing but its args.
"""

from eventwire.install.eventing_core import EventingCore, EventingCoreArgs, ProvisionerArgs
from eventwire.install.istio import Istio, IstioArgs
from eventwire.install.knative_serving import KnativeServing, KnativeServingArgs
from eventwire.install.resources import (
    ApiServerSource,
    AwsSqsSource,
    Broker,
    BrokerArgs,
    Channel,
    ChannelArgs,
    ContainerSource,
    GcpPubSubSource,
    GitHubSource,
    PingSource,
    SourceArgs,
    Subscription,
    SubscriptionArgs,
    Trigger,
    TriggerArgs,
    broker_destination,
    channel_destination,
    knative_service_destination,
    service_destination,
)
from eventwire.install.sources import EventSources, EventSourcesArgs
from eventwire.install.topologies import (
    ChannelFanout,
    ChannelFanoutArgs,
    ChannelSpec,
    SourceSpec,
    SourceToService,
    SourceToServiceArgs,
    SubscriberSpec,
)

__all__ = [
    "ApiServerSource",
    "AwsSqsSource",
    "Broker",
    "BrokerArgs",
    "Channel",
    "ChannelArgs",
    "ChannelFanout",
    "ChannelFanoutArgs",
    "ChannelSpec",
    "ContainerSource",
    "EventSources",
    "EventSourcesArgs",
    "EventingCore",
    "EventingCoreArgs",
    "GcpPubSubSource",
    "GitHubSource",
    "Istio",
    "IstioArgs",
    "KnativeServing",
    "KnativeServingArgs",
    "PingSource",
    "ProvisionerArgs",
    "SourceArgs",
    "SourceSpec",
    "SourceToService",
    "SourceToServiceArgs",
    "SubscriberSpec",
    "Subscription",
    "SubscriptionArgs",
    "Trigger",
    "TriggerArgs",
    "broker_destination",
    "channel_destination",
    "knative_service_destination",
    "service_destination",
]
