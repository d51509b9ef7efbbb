"""A separate Pulumi program (project shop-events) that imports the eventwire components.

It brings its own kubernetes provider, as any consumer would, and builds both architectures of
the design on an existing eventwire installation: a PingSource straight to a Knative Service,
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
namespace = config.get("namespace") or "shop"
provider = k8s.Provider("team-cluster", context=config.get("kubeContext") or "team-cluster")
opts = pulumi.ResourceOptions(provider=provider)

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
                    {"name": "orders-to-audit", "subscriber": service_destination("audit")},
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
