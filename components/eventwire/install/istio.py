"""The Istio install: the official `base`, `istiod` and `gateway` Helm charts, pinned."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from eventwire.exceptions import ConfigError
from eventwire.install.kube import kube_object
from eventwire.install.versions import DEFAULT_ISTIO_VERSION, ISTIO_CHART_REPOSITORY, ISTIO_GATEWAY_RELEASE
from eventwire.install.workloads import resources_for

MtlsMode = Literal["PERMISSIVE", "STRICT"]
MTLS_MODES: tuple[str, ...] = ("PERMISSIVE", "STRICT")


class IstioArgs(TypedDict):
    """Arguments of Istio; every field is optional."""

    version: NotRequired[pulumi.Input[str]]
    """Istio chart version; default 1.29.2 (what net-istio for Knative 1.22 pins)."""
    namespace: NotRequired[str]
    """Namespace of istiod and the ingress gateway; default istio-system (net-istio expects it)."""
    istiod_replicas: NotRequired[int]
    """istiod replicas; default 1. Above 1 also sets a PodDisruptionBudget (the chart's)."""
    gateway_replicas: NotRequired[int]
    """Ingress gateway replicas; default 1."""
    gateway_service_type: NotRequired[str]
    """Service type of the ingress gateway: LoadBalancer (default), NodePort or ClusterIP."""
    mtls_mode: NotRequired[MtlsMode]
    """Mesh-wide PeerAuthentication mode: PERMISSIVE (default) or STRICT."""
    resource_profile: NotRequired[str]
    """Requests/limits of istiod and the gateway: small (default), medium or large."""
    cni: NotRequired[bool]
    """Install the Istio CNI node agent, so that sidecar pods need no NET_ADMIN and pass the
    restricted Pod Security Standard; default false."""


class Istio(pulumi.ComponentResource):
    """Istio from its official charts: base (CRDs), istiod, and the `istio-ingressgateway` gateway.

    Outputs: `namespace`, `version`, `gateway_service` (in-cluster DNS name of the gateway) and
    `ingress_address` (the load balancer's IP or hostname once known, else the DNS name).
    """

    namespace: pulumi.Output[str]
    version: pulumi.Output[str]
    gateway_service: pulumi.Output[str]
    ingress_address: pulumi.Output[str]

    def __init__(self, name: str, args: IstioArgs | None = None, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:Istio", name, None, opts)
        args = args or {}
        version = args.get("version", DEFAULT_ISTIO_VERSION)
        namespace = args.get("namespace", "istio-system")
        istiod_replicas = args.get("istiod_replicas", 1)
        gateway_replicas = args.get("gateway_replicas", 1)
        mtls_mode = args.get("mtls_mode", "PERMISSIVE")
        service_type = args.get("gateway_service_type", "LoadBalancer")
        resources = resources_for(args.get("resource_profile", "small"))
        if mtls_mode not in MTLS_MODES:
            raise ConfigError(f"Istio mtls_mode: {mtls_mode!r} is not one of {', '.join(MTLS_MODES)}")
        if istiod_replicas < 1 or gateway_replicas < 1:
            raise ConfigError("Istio istiod_replicas and gateway_replicas must be at least 1")
        if service_type not in ("LoadBalancer", "NodePort", "ClusterIP"):
            raise ConfigError(
                f"Istio gateway_service_type: {service_type!r} is not LoadBalancer, NodePort or ClusterIP"
            )

        ns = kube_object(
            f"{name}-namespace",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            pulumi.ResourceOptions(parent=self),
        )
        repo = k8s.helm.v4.RepositoryOptsArgs(repo=ISTIO_CHART_REPOSITORY)
        base = k8s.helm.v4.Chart(
            f"{name}-base",
            name="istio-base",
            chart="base",
            version=version,
            namespace=namespace,
            repository_opts=repo,
            values={"defaultRevision": "default"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        after_base: list[pulumi.Resource] = [base]
        if args.get("cni", False):
            after_base.append(
                k8s.helm.v4.Chart(
                    f"{name}-cni",
                    name="istio-cni",
                    chart="cni",
                    version=version,
                    namespace=namespace,
                    repository_opts=repo,
                    values={"resources": resources},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[base]),
                )
            )
        istiod = k8s.helm.v4.Chart(
            f"{name}-istiod",
            name="istiod",
            chart="istiod",
            version=version,
            namespace=namespace,
            repository_opts=repo,
            values=istiod_values(istiod_replicas, resources, args.get("cni", False)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after_base),
        )
        gateway = k8s.helm.v4.Chart(
            f"{name}-gateway",
            name=ISTIO_GATEWAY_RELEASE,
            chart="gateway",
            version=version,
            namespace=namespace,
            repository_opts=repo,
            values=gateway_values(gateway_replicas, service_type, resources),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[istiod]),
        )
        kube_object(
            f"{name}-mesh-mtls",
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": namespace},
                "spec": {"mtls": {"mode": mtls_mode}},
            },
            pulumi.ResourceOptions(parent=self, depends_on=[istiod]),
        )
        self.gateway_chart = gateway
        self.namespace = pulumi.Output.from_input(namespace)
        self.version = pulumi.Output.from_input(version)
        dns = f"{ISTIO_GATEWAY_RELEASE}.{namespace}.svc.cluster.local"
        self.gateway_service = pulumi.Output.from_input(dns)
        self.ingress_address = gateway.resources.apply(lambda found: _load_balancer_address(found, dns))
        self.register_outputs(
            {
                "namespace": self.namespace,
                "version": self.version,
                "gateway_service": self.gateway_service,
                "ingress_address": self.ingress_address,
            }
        )


def istiod_values(replicas: int, resources: dict[str, Any], cni: bool = False) -> dict[str, Any]:
    """Values of the istiod chart: fixed replicas (no HPA), requests and limits, CNI mode.

    The documented top-level keys, not the legacy `pilot.` prefix that the chart still copies
    over (a compatibility template a later release may drop, silently, with our settings).
    """
    return {
        "autoscaleEnabled": False,
        "replicaCount": replicas,
        "resources": resources,
        "cni": {"enabled": cni},
        "global": {"defaultPodDisruptionBudget": {"enabled": replicas > 1}},
    }


def gateway_values(replicas: int, service_type: str, resources: dict[str, Any]) -> dict[str, Any]:
    """Values of the gateway chart; the release name gives the pods `istio: ingressgateway`."""
    return {
        "replicaCount": replicas,
        "autoscaling": {"enabled": False},
        "service": {"type": service_type},
        "resources": resources,
        "podDisruptionBudget": {"minAvailable": 1} if replicas > 1 else {},
    }


def _load_balancer_address(found: Any, fallback: str) -> pulumi.Output[str] | str:
    """The gateway Service's load balancer IP or hostname, once the chart's resources are known."""
    for resource in found or []:
        if isinstance(resource, k8s.core.v1.Service):
            return resource.status.apply(lambda status: _address_of(status) or fallback)
    return fallback


def _address_of(status: Any) -> str | None:
    load_balancer = getattr(status, "load_balancer", None) if status is not None else None
    for ingress in getattr(load_balancer, "ingress", None) or []:
        address = getattr(ingress, "ip", None) or getattr(ingress, "hostname", None)
        if address:
            return str(address)
    return None
