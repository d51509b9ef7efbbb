"""A separate Pulumi program (project shop-events) that imports the eventwire components.

It brings its own kubernetes provider, as any consumer would, passes its own resources' outputs
(its namespace, its audit Service) to the components, and builds both architectures of the
design on an existing eventwire installation: a PingSource straight to a Knative Service,
and a GitHubSource feeding a channel whose enricher replies into a second channel.
"""

import pulumi
import pulumi_kubernetes as k8s

from eventwire.install import (
    ChannelFanout,
    SourceToService,
    knative_service_destination,
    service_destination,
)

config = pulumi.Config()
provider = k8s.Provider("team-cluster", context=config.get("kubeContext") or "team-cluster")
opts = pulumi.ResourceOptions(provider=provider)
# The team's own namespace and audit Service: the components take their outputs as they are.
shop = k8s.core.v1.Namespace("shop", metadata={"name": config.get("namespace") or "shop"}, opts=opts)
namespace = shop.metadata.name
audit = k8s.core.v1.Service(
    "audit",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="audit", namespace=namespace),
    spec=k8s.core.v1.ServiceSpecArgs(
        selector={"app": "audit"}, ports=[k8s.core.v1.ServicePortArgs(port=80, target_port=8080)]
    ),
    opts=opts,
)

heartbeat = SourceToService(
    "heartbeat",
    {
        "namespace": namespace,
        "source": {"kind": "PingSource", "spec": {"schedule": "*/1 * * * *", "data": '{"beat": true}'}},
        "service": "display",
    },
    opts,
)

orders = ChannelFanout(
    "orders",
    {
        "namespace": namespace,
        "source": {
            "kind": "GitHubSource",
            "spec": {
                "ownerAndRepository": "acme/shop",
                "eventTypes": ["push", "pull_request"],
                "secretToken": {"secretKeyRef": {"name": "github-webhook", "key": "secret"}},
            },
        },
        "channels": [
            {
                "name": "orders",
                "provisioner": "jetstream",
                "delivery": {
                    "retry": 5,
                    "backoffDelay": "PT0.5S",
                    "deadLetterSink": service_destination("dead-letters"),
                },
                "subscribers": [
                    {"name": "orders-to-audit", "subscriber": service_destination(audit.metadata.name)},
                    {
                        "name": "orders-to-enricher",
                        "subscriber": knative_service_destination("enricher"),
                        "reply_to": "enriched",
                    },
                ],
            },
            {
                "name": "enriched",
                "subscribers": [
                    {"name": "enriched-to-notifier", "subscriber": service_destination("notifier")}
                ],
            },
        ],
    },
    opts,
)

pulumi.export("heartbeatSink", heartbeat.sink_uri)
pulumi.export("channelUrls", orders.channel_urls)
