"""The broker-mesh example as a Pulumi program: the objects of topology.yaml, from the components.

GitHubSource and PingSource send to the Broker `shop`; Triggers select by exact type, prefix,
Knative's legacy attribute filter and CloudEvents SQL; the reviewer's replies re-enter the Broker
and reach the notifier through the `reviews` Trigger. Run it against a cluster where eventwire is
installed (`pulumi up` in this folder), or without one:
`eventwire render --project examples/broker-mesh --stack dev --out build/broker-mesh`.
"""

import pulumi
import pulumi_kubernetes as k8s

from eventwire.install import (
    Broker,
    GitHubSource,
    PingSource,
    Trigger,
    TriggerArgs,
    broker_destination,
    knative_service_destination,
    service_destination,
)

config = pulumi.Config()
provider = k8s.Provider("cluster", context=config.get("kubeContext") or None)
opts = pulumi.ResourceOptions(provider=provider)
mesh_namespace = k8s.core.v1.Namespace(
    "mesh-namespace", metadata={"name": config.get("namespace") or "shop"}, opts=opts
)
namespace = mesh_namespace.metadata.name

broker = Broker(
    "shop",
    {
        "namespace": namespace,
        "provisioner": "jetstream",
        "delivery": {
            "retry": 5,
            "backoffPolicy": "exponential",
            "backoffDelay": "PT0.5S",
            "deadLetterSink": service_destination("dead-letters"),
        },
    },
    opts,
)
# The sources name the Broker as their sink; `depends_on` only orders creation (the controller
# resolves the address whenever the Broker appears).
to_broker = pulumi.ResourceOptions(provider=provider, depends_on=[broker])
GitHubSource(
    "shop-repository",
    {
        "namespace": namespace,
        "sink": broker_destination("shop"),
        "spec": {
            "ownerAndRepository": "example-org/shop",
            "eventTypes": ["push", "pull_request"],
            "accessToken": {"secretKeyRef": {"name": "github", "key": "token"}},
            "secretToken": {"secretKeyRef": {"name": "github", "key": "webhook-secret"}},
        },
    },
    to_broker,
)
PingSource(
    "heartbeat",
    {
        "namespace": namespace,
        "sink": broker_destination("shop"),
        "spec": {
            "schedule": "*/1 * * * *",
            "contentType": "application/json",
            "data": '{"service": "shop"}',
        },
    },
    to_broker,
)

REVIEW_ACTIONS = "('opened', 'reopened', 'synchronize')"
triggers: dict[str, TriggerArgs] = {
    "pushes": {
        "namespace": namespace,
        "broker": "shop",
        "filters": [{"exact": {"type": "dev.knative.source.github.push"}}],
        "subscriber": service_destination("ci"),
    },
    "audit": {
        "namespace": namespace,
        "broker": "shop",
        "filters": [
            {"prefix": {"type": "dev.knative.source.github."}},
            {"not": {"exact": {"type": "dev.knative.source.github.ping"}}},
        ],
        "subscriber": service_destination("audit"),
    },
    "heartbeats": {
        "namespace": namespace,
        "broker": "shop",
        "attributes": {"type": "dev.knative.sources.ping", "source": ""},
        "subscriber": service_destination("monitor"),
    },
    "pull-requests": {
        "namespace": namespace,
        "broker": "shop",
        "filters": [
            {"cesql": f"type = 'dev.knative.source.github.pull_request' AND action IN {REVIEW_ACTIONS}"}
        ],
        "subscriber": knative_service_destination("reviewer"),
        "delivery": {"retry": 10},
    },
    # The reviewer's replies, back through the Broker.
    "reviews": {
        "namespace": namespace,
        "broker": "shop",
        "filters": [{"exact": {"type": "com.example.review.requested"}}],
        "subscriber": service_destination("notifier"),
    },
}
trigger_components = {name: Trigger(name, args, to_broker) for name, args in triggers.items()}

pulumi.export("brokerUrl", broker.url)
pulumi.export("subscribers", {name: t.subscriber_uri for name, t in trigger_components.items()})
