"""Component args take `pulumi.Input[...]` wherever a user would pass another resource's output
(a Namespace's name, a Service's name, a URL, a secret), so that composing needs no
`type: ignore` (tests/pulumi_program is type-checked doing it). The fields that stay plain decide
the shape of what is created (resource names, counts, kinds, validated choices) and say so here.
"""

from __future__ import annotations

from typing import Any, get_type_hints

import pulumi
import pulumi_kubernetes as k8s

import eventwire.install
from eventwire.install.image import RuntimeImageArgs
from tests.components.conftest import Runner, find

# field -> why it must be a plain value, for every field that is not an Input.
PLAIN: dict[str, str] = {
    "ChannelFanoutArgs.channels": "one Channel and its Subscriptions are created per entry",
    "ChannelFanoutArgs.source": "its kind picks the component class",
    "ChannelSpec.name": "part of the Pulumi resource names",
    "ChannelSpec.subscribers": "one Subscription is created per entry",
    "EventSourcesArgs.gateway_namespace": "the controller is told the Gateway's namespace/name",
    "EventSourcesArgs.kinds": "decides which roles, Secrets and Gateway exist",
    "EventSourcesArgs.webhook_domain": "decides whether the webhook Gateway exists",
    "EventSourcesArgs.webhook_tls_secret": "decides whether the Gateway serves HTTPS",
    "EventingCoreArgs.controller_peering": "decides which objects exist",
    "EventingCoreArgs.controller_replicas": "checked, and decides peering and the budget",
    "EventingCoreArgs.crd_labels": "the CRDs are rendered and checked in the constructor",
    "EventingCoreArgs.default_broker_namespaces": "one Broker per entry, named after it in the Pulumi names",
    "EventingCoreArgs.dispatcher_replicas": "checked, and decides the budgets and spreading",
    "EventingCoreArgs.install_peering_crd": "decides which objects exist",
    "EventingCoreArgs.namespace": "spelled into URLs, RBAC subjects and the routing contract",
    "EventingCoreArgs.network_policies": "decides which objects exist",
    "EventingCoreArgs.provisioners": "one dispatcher (and broker) is created per entry",
    "EventingCoreArgs.resource_profile": "a choice among profiles, checked",
    "EventingCoreArgs.retain_crds": "a resource option, fixed when the resource is registered",
    "EventingCoreArgs.strict_mtls": "decides which objects exist",
    "EventingCoreArgs.webhook_domain": "decides the controller's webhook mode",
    "EventingCoreArgs.webhook_gateway_namespace": "spelled into the controller's Gateway reference",
    "IstioArgs.cni": "decides which charts exist",
    "IstioArgs.gateway_replicas": "checked, and decides the budget",
    "IstioArgs.gateway_service_type": "a choice, checked",
    "IstioArgs.istiod_replicas": "checked, and decides the budget",
    "IstioArgs.mtls_mode": "a choice, checked",
    "IstioArgs.namespace": "spelled into the gateway's DNS name output",
    "IstioArgs.resource_profile": "a choice among profiles, checked",
    "KnativeServingArgs.version": "checked, and spelled into the release URLs",
    "ProvisionerArgs.broker_replicas": "decides clustering and stream replicas",
    "ProvisionerArgs.default": "exactly one default is checked",
    "ProvisionerArgs.install_broker": "decides which objects exist",
    "ProvisionerArgs.name": "part of resource names, checked as a DNS label",
    "ProvisionerArgs.replicas": "checked, and decides the budget",
    "ProvisionerArgs.spec": "merged and checked against the CRD in the constructor",
    "ProvisionerArgs.type": "decides the dispatcher and broker",
    "RuntimeImageArgs.context": "a folder on this machine, resolved and checked",
    "SourceSpec.kind": "picks the component class",
    "SourceSpec.spec": "its required fields are checked (values may be Inputs)",
    "SourceArgs.spec": "its required fields are checked (values may be Inputs)",
    "SourceToServiceArgs.service_kind": "a choice, checked",
    "SourceToServiceArgs.source": "its kind picks the component class",
    "SubscriberSpec.name": "part of the Pulumi resource names",
    "SubscriberSpec.reply_to": "checked against the fanout's channels",
}


def args_types() -> list[type]:
    names = [name for name in eventwire.install.__all__ if name.endswith(("Args", "Spec"))]
    return [getattr(eventwire.install, name) for name in names] + [RuntimeImageArgs]


def accepts_outputs(hint: Any) -> bool:
    """Whether an annotation admits a pulumi.Output (Input[...] is a union with Output[...])."""
    return "pulumi.output.Output" in str(hint) or "Awaitable" in str(hint) or hint is pulumi.Resource


def test_every_field_takes_an_input_or_says_why_not() -> None:
    inputs, plain = [], []
    for cls in args_types():
        for field, hint in get_type_hints(
            cls, localns={**vars(pulumi.output), "Output": pulumi.Output}
        ).items():
            key = f"{cls.__name__}.{field}"
            (inputs if accepts_outputs(hint) else plain).append(key)
    assert sorted(plain) == sorted(PLAIN)
    assert len(inputs) >= 30, inputs


def test_outputs_of_other_resources_compose(run: Runner) -> None:
    def program() -> None:
        shop = k8s.core.v1.Namespace("shop", metadata={"name": "shop"})
        audit = k8s.core.v1.Service("audit", metadata={"name": "audit", "namespace": shop.metadata.name})
        namespace = shop.metadata.name
        fanout = eventwire.install.ChannelFanout(
            "orders",
            {
                "namespace": namespace,
                "channels": [
                    {
                        "name": "orders",
                        "provisioner": pulumi.Output.from_input("jetstream"),
                        "subscribers": [
                            {
                                "name": "to-audit",
                                "subscriber": eventwire.install.service_destination(audit.metadata.name),
                            }
                        ],
                    }
                ],
            },
        )
        eventwire.install.PingSource(
            "beat",
            {
                "namespace": namespace,
                "sink": fanout.channel_urls.apply(lambda urls: {"uri": urls.get("orders") or "http://x"}),
                "spec": {"schedule": "* * * * *"},
            },
        )
        eventwire.install.EventSources(
            "sources",
            {
                "kinds": ["GitHubSource"],
                "secrets_namespace": namespace,
                "github_webhook_secret": pulumi.Output.secret("s3cret"),
            },
        )

    record = run(program)
    shop = find(record, "Namespace", "shop")
    for kind, name in (("Channel", "orders"), ("Subscription", "to-audit"), ("PingSource", "beat")):
        registration = find(record, kind, name)
        assert registration.plain["metadata"]["namespace"] == "shop", name
        assert shop.urn in registration.dependencies, name
    subscription = find(record, "Subscription", "to-audit").plain
    assert subscription["spec"]["subscriber"] == {
        "ref": {"apiVersion": "v1", "kind": "Service", "name": "audit"}
    }
    assert find(record, "Channel", "orders").plain["spec"]["provisioner"] == "jetstream"
    assert find(record, "Secret", "github-webhook").plain["metadata"]["namespace"] == "shop"
