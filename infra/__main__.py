"""The eventwire program: read the stack's typed config and compose the install.

    pulumi up --stack dev              install into the current kubeconfig context
    eventwire render --stack dev ...   the same program without a cluster (engine-free)

Istio, then Knative Serving (net-istio after Istio), channelNamespace, then the eventing core
(its CRDs before the controller, the default Brokers after both), the event sources and the
stack's channels; `pulumi destroy` runs the other way round, so the stack's channels and Brokers
go while the controller and dispatchers still run, and the CRDs and channelNamespace stay (see
the README's Uninstall). The kubernetes provider is the only one, built here and handed to every
component.
"""

from pathlib import Path
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from eventwire.install import (
    Channel,
    EventingCore,
    EventSources,
    Istio,
    KnativeServing,
    KnativeServingArgs,
    ProvisionerArgs,
)
from eventwire.install.eventing_core import ProvisionerType
from eventwire.install.image import RuntimeImage
from eventwire.install.settings import load

settings = load()
provider = k8s.Provider(
    "kubernetes",
    context=settings.kube_context or None,
    # With renderYamlTo the provider writes manifests to a folder instead of a cluster.
    render_yaml_to_directory=settings.render_yaml_to or None,
)
with_provider = pulumi.ResourceOptions(provider=provider)

istio = None
if settings.install_istio:
    istio = Istio(
        "istio",
        {
            "version": settings.istio_version,
            "istiod_replicas": settings.istiod_replicas,
            "gateway_replicas": settings.gateway_replicas,
            "gateway_service_type": settings.gateway_service_type,
            "mtls_mode": "STRICT" if settings.mesh_mtls_mode == "STRICT" else "PERMISSIVE",
            "cni": settings.strict_mtls,
            "resource_profile": settings.resource_profile,
        },
        with_provider,
    )

serving = None
if settings.install_knative_serving:
    serving_args: KnativeServingArgs = {"version": settings.knative_version, "domain": settings.domain}
    if istio is not None:
        serving_args["istio"] = istio
    serving = KnativeServing("knative-serving", serving_args, with_provider)

image: pulumi.Input[str] = settings.image
if settings.build_image:
    # The build context is the repository root (this file's parent's parent), not the working
    # directory Pulumi runs the program in (infra/).
    image = RuntimeImage(
        "runtime-image",
        {
            "repository": settings.image_repository,
            "tag": settings.image_tag,
            "context": str(Path(__file__).resolve().parent.parent),
        },
        with_provider,
    ).ref

provisioners: list[ProvisionerArgs] = [
    {
        "name": kind,
        "type": cast(ProvisionerType, kind),  # EventingCore checks it
        "install_broker": settings.install_brokers,
        "broker_replicas": settings.broker_replicas,
        "storage_size": settings.broker_storage_size,
        "nats_chart_version": settings.nats_chart_version,
    }
    for kind in settings.provisioners
]
# GitHub reaches GitHubSource adapters at <source>.<namespace>.<webhook domain>: EventSources
# creates the Istio Gateway for it, the controller one VirtualService per source (both need Istio,
# ours or the cluster's when githubWebhookHost is set explicitly).
webhook_domain = ""
if "GitHubSource" in settings.sources:
    webhook_domain = settings.github_webhook_host or (f"webhooks.{settings.domain}" if istio else "")
# The stack's channels and the sources' default Secrets live in channelNamespace. It is created
# first and left behind by `pulumi destroy`: users put their own objects next to ours.
after_channel_namespace: list[pulumi.Resource] = []
if settings.creates_channel_namespace:
    after_channel_namespace.append(
        k8s.core.v1.Namespace(
            "channel-namespace",
            metadata={
                "name": settings.channel_namespace,
                "labels": {"app.kubernetes.io/part-of": "eventwire"},
            },
            opts=pulumi.ResourceOptions(provider=provider, retain_on_delete=True),
        )
    )

# A default Broker in channelNamespace needs the namespace first; other namespaces named in
# defaultBrokerNamespaces must exist already.
core_waits: list[pulumi.Resource] = [*([istio] if istio else [])]
if settings.channel_namespace in settings.default_broker_namespaces:
    core_waits += after_channel_namespace
core = EventingCore(
    "eventing",
    {
        "image": image,
        "namespace": settings.namespace,
        "provisioners": provisioners,
        "controller_replicas": settings.controller_replicas,
        "dispatcher_replicas": settings.dispatcher_replicas,
        "resource_profile": settings.resource_profile,
        "strict_mtls": settings.strict_mtls,
        "network_policies": settings.network_policies,
        "retain_crds": settings.retain_crds_on_delete,
        "webhook_domain": webhook_domain,
        "default_broker_namespaces": settings.default_broker_namespaces,
    },
    # The PeerAuthentication and sidecars need Istio first.
    pulumi.ResourceOptions(provider=provider, depends_on=core_waits),
)

sources = EventSources(
    "sources",
    {
        "kinds": settings.sources,
        "secrets_namespace": settings.channel_namespace,
        "github_webhook_secret": settings.github_webhook_secret,
        "aws_credentials": settings.aws_credentials,
        "gcp_credentials": settings.gcp_credentials,
        "webhook_domain": webhook_domain,
        "webhook_tls_secret": settings.github_webhook_tls_secret,
    },
    pulumi.ResourceOptions(
        provider=provider, depends_on=[core, *([istio] if istio else []), *after_channel_namespace]
    ),
)

channels = {
    name: Channel(
        f"channel-{name}",
        {"namespace": settings.channel_namespace, "name": name},
        pulumi.ResourceOptions(provider=provider, depends_on=[core, *after_channel_namespace]),
    )
    for name in settings.channels
}

pulumi.export("namespace", core.namespace)
pulumi.export("ingressAddress", istio.ingress_address if istio else "")
pulumi.export("dispatcherUrls", core.dispatcher_urls)
pulumi.export("channelUrls", {name: channel.url for name, channel in channels.items()})
pulumi.export("defaultBrokerUrls", core.default_broker_urls)
pulumi.export(
    "versions",
    {
        "istio": settings.istio_version if istio else None,
        "knativeServing": serving.version if serving else None,
        "runtimeImage": image,
        "natsChart": settings.nats_chart_version if "jetstream" in settings.provisioners else None,
    },
)
