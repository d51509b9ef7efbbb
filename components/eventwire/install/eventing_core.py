"""EventingCore: the eventwire control and data plane in one namespace.

Namespace (restricted Pod Security enforced), our CRDs, the controller, one dispatcher per
ClusterChannelProvisioner (and the provisioner objects), the brokers persistent provisioners
need when asked, ServiceAccounts with least-privilege RBAC, PDBs, NetworkPolicies, optional
strict mTLS, Prometheus scrape annotations, and optionally a `default` eventwire Broker per
namespace (Knative's default broker; "broker" below otherwise means NATS or Redis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from eventwire import rbac
from eventwire.api import EVENTING_GROUP, MESSAGING_GROUP, render_crds, resource_errors
from eventwire.exceptions import ConfigError
from eventwire.install import brokers, peering
from eventwire.install import runtime_contract as contract
from eventwire.install.kube import kube_object
from eventwire.install.resources import Broker
from eventwire.install.versions import DEFAULT_NATS_CHART_VERSION, DEFAULT_REDIS_IMAGE, NATS_CHART_REPOSITORY
from eventwire.install.workloads import (
    allow_ports,
    deployment,
    network_policy,
    pod_disruption_budget,
    pod_spec,
    prometheus_annotations,
    resources_for,
    runtime_container,
    selector_labels,
    service,
    standard_labels,
)
from eventwire_spec.durations import parse_duration

# Every dispatcher pod, whatever its provisioner.
_DISPATCHER_PODS: Final = {"app.kubernetes.io/name": "eventwire", "app.kubernetes.io/component": "dispatcher"}

ProvisionerType = Literal["in-memory", "jetstream", "redis"]
PROVISIONER_TYPES: tuple[str, ...] = ("in-memory", "jetstream", "redis")


class ProvisionerArgs(TypedDict):
    """One ClusterChannelProvisioner and its dispatcher."""

    name: str
    """Name of the ClusterChannelProvisioner (a DNS label)."""
    type: ProvisionerType
    """in-memory, jetstream or redis."""
    default: NotRequired[bool]
    """Channels without spec.provisioner use it; default: true for the first provisioner only."""
    replicas: NotRequired[int]
    """Dispatcher replicas; default EventingCoreArgs.dispatcher_replicas."""
    install_broker: NotRequired[bool]
    """Install NATS (jetstream) or Redis (redis) for it; default true. When false, `spec` names the URL."""
    broker_replicas: NotRequired[int]
    """NATS servers (JetStream cluster above 1; stream replicas follow, up to 3); default 1."""
    storage_size: NotRequired[pulumi.Input[str]]
    """Persistent volume size of the broker; default 1Gi."""
    nats_chart_version: NotRequired[pulumi.Input[str]]
    """NATS Helm chart version; default versions.DEFAULT_NATS_CHART_VERSION."""
    redis_image: NotRequired[pulumi.Input[str]]
    """Redis image; default versions.DEFAULT_REDIS_IMAGE."""
    spec: NotRequired[Mapping[str, Any]]
    """Extra ClusterChannelProvisioner spec fields, merged over the generated ones."""


class EventingCoreArgs(TypedDict):
    """Arguments of EventingCore; only `image` is required."""

    image: pulumi.Input[str]
    """The runtime image reference (pin it by digest in production)."""
    namespace: NotRequired[str]
    """The system namespace; default eventwire-system."""
    provisioners: NotRequired[Sequence[ProvisionerArgs]]
    """Channel provisioners; default one in-memory provisioner called in-memory."""
    controller_replicas: NotRequired[int]
    """Controller replicas; default 1. More than one needs controller_peering: only one replica
    is active (the oldest), the others stand by and take over when it goes; a PDB keeps one up."""
    controller_peering: NotRequired[bool]
    """Run the controller with kopf's peering through the ClusterKopfPeering
    `eventwire-controller` (created here), so that replicas never reconcile at the same time,
    also during a rolling update's surge; default true. False: standalone, exactly one replica."""
    install_peering_crd: NotRequired[bool]
    """Install kopf's ClusterKopfPeering CRD (clusterkopfpeerings.kopf.dev); default true. Set
    false where another kopf operator's install already provides it."""
    dispatcher_replicas: NotRequired[int]
    """Default dispatcher replicas per provisioner; default 1."""
    resource_profile: NotRequired[str]
    """Requests/limits: small (default), medium or large."""
    strict_mtls: NotRequired[bool]
    """Istio sidecars in the namespace and a STRICT PeerAuthentication (needs Istio with CNI),
    except the dispatchers' event port, PERMISSIVE so that producers and source adapters outside
    the mesh can post events; NetworkPolicies then admit the sidecars' metrics ports. Default false."""
    network_policies: NotRequired[bool]
    """Deny ingress except to the dispatchers' and metrics ports; default true."""
    crd_labels: NotRequired[Mapping[str, str]]
    """Extra labels on the CRDs."""
    retain_crds: NotRequired[bool]
    """Leave the CRDs (ours and kopf's peering CRD) in the cluster on `pulumi destroy`; default
    true. Deleting a CRD deletes every user's objects of that kind, and the ApiServerSources and
    GitHubSources among them wait, once the controller is gone, for a finalizer nobody runs."""
    webhook_domain: NotRequired[str]
    """DNS suffix under which GitHub reaches GitHubSource adapters (`<source>.<namespace>.<domain>`,
    one Istio VirtualService each, created by the controller); in-cluster only when unset."""
    webhook_gateway_namespace: NotRequired[str]
    """Namespace of the webhook Gateway those VirtualServices bind to (EventSources creates it in
    its gateway_namespace); default istio-system."""
    default_broker_namespaces: NotRequired[Sequence[str]]
    """Namespaces that get an eventwire Broker called `default` (as Knative's default broker) on
    the default provisioner; each namespace must exist first. Default none."""


DEFAULT_BROKER: Final = "default"


class EventingCore(pulumi.ComponentResource):
    """The eventwire core. Outputs: `namespace`, `crd_names`, `dispatcher_urls` (provisioner ->
    in-cluster URL of its dispatcher), `default_provisioner`, `default_broker_urls` (namespace ->
    address of its `default` Broker, once the controller has set it)."""

    namespace: pulumi.Output[str]
    crd_names: pulumi.Output[list[str]]
    dispatcher_urls: pulumi.Output[dict[str, str]]
    default_provisioner: pulumi.Output[str]
    default_broker_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: EventingCoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:EventingCore", name, None, opts)
        if not args.get("image"):
            raise ConfigError("EventingCore image: the runtime image reference is required")
        namespace = args.get("namespace", "eventwire-system")
        profile = resources_for(args.get("resource_profile", "small"))
        in_memory: list[ProvisionerArgs] = [{"name": "in-memory", "type": "in-memory"}]
        provisioners = resolve_provisioners(
            args.get("provisioners", in_memory),
            args.get("dispatcher_replicas", 1),
        )
        strict_mtls = args.get("strict_mtls", False)
        replicas = args.get("controller_replicas", 1)
        peering = args.get("controller_peering", True)
        if replicas < 1:
            raise ConfigError(f"EventingCore controller_replicas: must be at least 1, got {replicas}")
        if replicas > 1 and not peering:
            raise ConfigError(
                "EventingCore controller_replicas: more than 1 needs controller_peering "
                "(standalone replicas would reconcile every object twice)"
            )
        broker_namespaces = check_broker_namespaces(args.get("default_broker_namespaces", ()))
        image = args["image"]
        # Every provisioner object is built (and checked against its CRD) before anything is created.
        specs = {p["name"]: provisioner_spec(p, namespace) for p in provisioners}
        provisioner_objects = {name_: provisioner_manifest(name_, spec) for name_, spec in specs.items()}

        ns = kube_object(f"{name}-namespace", namespace_manifest(namespace, strict_mtls), self._opts())
        retain_crds = args.get("retain_crds", True)
        crds = self._crds(name, args.get("crd_labels", {}), retain_crds)
        in_ns = self._opts(depends_on=[ns])

        # The controller: its ServiceAccount, the runtime's ClusterRole, and the Deployment.
        controller_sa = kube_object(
            f"{name}-controller-sa", service_account("eventwire-controller", namespace), in_ns
        )
        rbac_objects = [
            kube_object(f"{name}-{suffix}", manifest, self._opts(depends_on=[controller_sa]))
            for suffix, manifest in controller_rbac(namespace, contract.CONTROLLER_PEERING if peering else "")
        ]
        peering_objects = (
            self._peering(name, args.get("install_peering_crd", True), retain_crds) if peering else []
        )
        gateway = contract.webhook_gateway_ref(
            args.get("webhook_gateway_namespace", contract.DEFAULT_GATEWAY_NAMESPACE)
        )
        controller = controller_manifests(
            namespace,
            image,
            replicas,
            profile,
            args.get("webhook_domain", ""),
            gateway,
            contract.CONTROLLER_PEERING if peering else "",
        )
        controller_waits = [ns, *crds, *rbac_objects, *peering_objects]
        controller_objects = [
            kube_object(f"{name}-{suffix}", manifest, self._opts(depends_on=controller_waits))
            for suffix, manifest in controller
        ]

        dispatcher_sa = kube_object(
            f"{name}-dispatcher-sa", service_account("eventwire-dispatcher", namespace), in_ns
        )
        dispatcher_rbac = [
            kube_object(f"{name}-{suffix}", manifest, self._opts(depends_on=[dispatcher_sa]))
            for suffix, manifest in dispatcher_rbac_manifests(namespace)
        ]
        urls: dict[str, str] = {}
        dispatcher_objects: list[pulumi.Resource] = []
        for provisioner in provisioners:
            broker = self._broker(name, provisioner, namespace, profile, in_ns)
            spec = specs[provisioner["name"]]
            kube_object(
                f"{name}-provisioner-{provisioner['name']}",
                provisioner_objects[provisioner["name"]],
                self._opts(depends_on=crds),
            )
            waits = [ns, *crds, *dispatcher_rbac, *broker]
            dispatcher_objects += [
                kube_object(f"{name}-{suffix}", manifest, self._opts(depends_on=waits))
                for suffix, manifest in dispatcher_manifests(provisioner, spec, namespace, image, profile)
            ]
            urls[provisioner["name"]] = dispatcher_url(provisioner["name"], namespace)

        for suffix, manifest in [*messaging_user_roles(), *eventing_user_roles()]:
            kube_object(f"{name}-{suffix}", manifest, self._opts())
        # The default Brokers go after the CRDs, and on `pulumi destroy` before the controller (their
        # finalizers) and the dispatchers (their durable state).
        broker_waits = [*crds, *controller_objects, *dispatcher_objects]
        default_brokers = {
            broker_namespace: self._default_broker(name, broker_namespace, broker_waits)
            for broker_namespace in broker_namespaces
        }
        if args.get("network_policies", True):
            for suffix, manifest in namespace_network_policies(namespace, mesh=strict_mtls):
                kube_object(f"{name}-{suffix}", manifest, in_ns)
        if strict_mtls:
            kube_object(f"{name}-mtls", peer_authentication(namespace), in_ns)
            kube_object(f"{name}-dispatcher-ingress-mtls", dispatcher_peer_authentication(namespace), in_ns)

        self.namespace = pulumi.Output.from_input(namespace)
        self.crd_names = pulumi.Output.from_input([crd["metadata"]["name"] for crd in _render_crds({})])
        self.dispatcher_urls = pulumi.Output.from_input(urls)
        self.default_provisioner = pulumi.Output.from_input(
            next(p["name"] for p in provisioners if p.get("default", False))
        )
        self.default_broker_urls = pulumi.Output.all(
            **{key: broker.url for key, broker in default_brokers.items()}
        ).apply(dict)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "crd_names": self.crd_names,
                "dispatcher_urls": self.dispatcher_urls,
                "default_provisioner": self.default_provisioner,
                "default_broker_urls": self.default_broker_urls,
            }
        )

    def _opts(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _default_broker(self, name: str, namespace: str, waits: Sequence[pulumi.Resource]) -> Broker:
        return Broker(
            f"{name}-broker-{namespace}",
            {"namespace": namespace, "name": DEFAULT_BROKER},
            self._opts(depends_on=waits),
        )

    def _peering(self, name: str, install_crd: bool, retain_crd: bool) -> list[pulumi.Resource]:
        """kopf's peering CRD (unless provided elsewhere), then the controller's peering object."""
        labels = {"app.kubernetes.io/part-of": "eventwire"}
        crd_opts = pulumi.ResourceOptions.merge(
            self._opts(), pulumi.ResourceOptions(retain_on_delete=retain_crd)
        )
        crd = (
            [kube_object(f"{name}-peering-crd", peering.kopf_peering_crd(labels), crd_opts)]
            if install_crd
            else []
        )
        peering_object = kube_object(
            f"{name}-peering",
            peering.kopf_peering(contract.CONTROLLER_PEERING, labels),
            self._opts(depends_on=crd),
        )
        return [*crd, peering_object]

    def _crds(self, name: str, labels: Mapping[str, str], retain: bool) -> list[pulumi.Resource]:
        opts = pulumi.ResourceOptions.merge(self._opts(), pulumi.ResourceOptions(retain_on_delete=retain))
        return [
            kube_object(f"{name}-crd-{crd['spec']['names']['plural']}", crd, opts)
            for crd in _render_crds(labels)
        ]

    def _broker(
        self,
        name: str,
        provisioner: ProvisionerArgs,
        namespace: str,
        resources: dict[str, Any],
        opts: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        if provisioner["type"] == "in-memory" or not provisioner.get("install_broker", True):
            return []
        size = provisioner.get("storage_size", "1Gi")
        if provisioner["type"] == "jetstream":
            chart = k8s.helm.v4.Chart(
                f"{name}-{brokers.nats_release(provisioner['name'])}",
                name=brokers.nats_release(provisioner["name"]),
                chart="nats",
                version=provisioner.get("nats_chart_version", DEFAULT_NATS_CHART_VERSION),
                namespace=namespace,
                repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=NATS_CHART_REPOSITORY),
                values=brokers.nats_values(provisioner.get("broker_replicas", 1), size, resources),
                opts=opts,
            )
            policy = kube_object(
                f"{name}-{brokers.nats_release(provisioner['name'])}-policy",
                brokers.nats_network_policy(provisioner["name"], namespace),
                opts,
            )
            return [chart, policy]
        image = provisioner.get("redis_image", DEFAULT_REDIS_IMAGE)
        manifests = brokers.redis_manifests(provisioner["name"], namespace, image, size, resources)
        return [
            kube_object(f"{name}-{m['metadata']['name']}-{m['kind'].lower()}", m, opts) for m in manifests
        ]


def _render_crds(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    return render_crds(labels=dict(labels) or None)


def resolve_provisioners(given: Sequence[ProvisionerArgs], default_replicas: int) -> list[ProvisionerArgs]:
    """Check the provisioners and fill in defaults: exactly one is the default (the first unless
    one says so), names are unique DNS labels, types are known, replicas at least 1."""
    if not given:
        raise ConfigError("EventingCore provisioners: at least one provisioner is needed")
    names = [p.get("name", "") for p in given]
    if len(set(names)) != len(names):
        raise ConfigError(f"EventingCore provisioners: names must be unique, got {names}")
    marked = [p["name"] for p in given if p.get("default")]
    if len(marked) > 1:
        raise ConfigError(f"EventingCore provisioners: only one may be the default, got {marked}")
    resolved: list[ProvisionerArgs] = []
    for index, provisioner in enumerate(given):
        name, kind = provisioner.get("name", ""), provisioner.get("type", "")
        if not _is_dns_label(name):
            raise ConfigError(f"EventingCore provisioners[{index}].name: {name!r} is not a DNS label")
        if kind not in PROVISIONER_TYPES:
            raise ConfigError(
                f"EventingCore provisioners[{index}].type: {kind!r} is not one of {', '.join(PROVISIONER_TYPES)}"
            )
        replicas = provisioner.get("replicas", default_replicas)
        if replicas < 1:
            raise ConfigError(
                f"EventingCore provisioners[{index}].replicas: must be at least 1, got {replicas}"
            )
        is_default = provisioner.get("default", not marked and index == 0)
        resolved.append({**provisioner, "replicas": replicas, "default": is_default})
    return resolved


def check_broker_namespaces(namespaces: Sequence[str]) -> list[str]:
    """The namespaces that get a default Broker: DNS labels, each once."""
    checked: list[str] = []
    for index, namespace in enumerate(namespaces):
        if not isinstance(namespace, str) or not _is_dns_label(namespace):
            raise ConfigError(
                f"EventingCore default_broker_namespaces[{index}]: {namespace!r} is not a namespace name"
            )
        if namespace in checked:
            raise ConfigError(f"EventingCore default_broker_namespaces: {namespace!r} is listed twice")
        checked.append(namespace)
    return checked


def _is_dns_label(name: str) -> bool:
    return (
        0 < len(name) <= 63
        and name[0].isalnum()
        and name[-1].isalnum()
        and all(c.islower() or c.isdigit() or c == "-" for c in name)
    )


def namespace_manifest(namespace: str, sidecars: bool) -> dict[str, Any]:
    """The system namespace, enforcing the restricted Pod Security Standard."""
    labels = {
        "app.kubernetes.io/part-of": "eventwire",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    if sidecars:
        labels["istio-injection"] = "enabled"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}


def service_account(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "eventwire"},
        },
    }


def controller_rbac(namespace: str, peering_name: str = "") -> list[tuple[str, dict[str, Any]]]:
    """The controller's ClusterRole (exactly the runtime's definition, eventwire.rbac), an
    aggregated ClusterRole that collects extra rules labelled rbac.AGGREGATE_LABEL (e.g. get on
    other addressable kinds), with `peering_name` a ClusterRole of `rbac.peering_rules` for it,
    and the bindings of each to the controller's ServiceAccount."""
    labels = {"app.kubernetes.io/part-of": "eventwire"}
    extra = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "eventwire-controller-extra", "labels": labels},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {rbac.AGGREGATE_LABEL: "true"}}]},
        "rules": [],
    }
    objects = [
        ("controller-role", rbac.controller_cluster_role("eventwire-controller", labels)),
        ("controller-binding", _cluster_binding("eventwire-controller", "eventwire-controller", namespace)),
        ("controller-extra-role", extra),
        (
            "controller-extra-binding",
            _cluster_binding("eventwire-controller-extra", "eventwire-controller", namespace),
        ),
    ]
    if peering_name:
        role = rbac.controller_cluster_role(
            "eventwire-controller-peering", labels, rbac.peering_rules(peering_name)
        )
        objects += [
            ("controller-peering-role", role),
            (
                "controller-peering-binding",
                _cluster_binding("eventwire-controller-peering", "eventwire-controller", namespace),
            ),
        ]
    return objects


def dispatcher_rbac_manifests(namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """Dispatchers only read Channels and provisioners, and record Events."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "eventwire-dispatcher", "labels": {"app.kubernetes.io/part-of": "eventwire"}},
        "rules": [
            {
                "apiGroups": [MESSAGING_GROUP],
                "resources": ["channels", "clusterchannelprovisioners"],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        ],
    }
    return [
        ("dispatcher-role", role),
        ("dispatcher-binding", _cluster_binding("eventwire-dispatcher", "eventwire-dispatcher", namespace)),
    ]


def messaging_user_roles() -> list[tuple[str, dict[str, Any]]]:
    """Channels and Subscriptions join the built-in edit/admin and view roles, so that namespace
    users manage them; ClusterChannelProvisioners stay with cluster admins (view only)."""
    return rbac.aggregated_user_roles(
        "messaging", MESSAGING_GROUP, ["channels", "subscriptions"], view_extra=["clusterchannelprovisioners"]
    )


def eventing_user_roles() -> list[tuple[str, dict[str, Any]]]:
    """Brokers and Triggers join the built-in edit/admin and view roles, as Channels do."""
    return rbac.aggregated_user_roles("eventing", EVENTING_GROUP, ["brokers", "triggers"])


def _cluster_binding(name: str, account: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "eventwire"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }


def controller_manifests(
    namespace: str,
    image: Any,
    replicas: int,
    resources: dict[str, Any],
    webhook_domain: str = "",
    webhook_gateway: str = "",
    peering_name: str = "",
) -> list[tuple[str, dict[str, Any]]]:
    """The controller Deployment and its PDB (with several replicas, one stays up)."""
    labels, selector = (
        standard_labels("controller", "eventwire-controller"),
        selector_labels("controller", "eventwire-controller"),
    )
    container = runtime_container(
        "controller",
        image,
        contract.controller_args(),
        contract.controller_env(namespace, image, webhook_domain, webhook_gateway, peering_name),
        {"http": contract.CONTROLLER_HEALTH_PORT, "metrics": contract.CONTROLLER_METRICS_PORT},
        resources,
        liveness_path="/healthz",
        readiness_path="/healthz",
    )
    # kopf's peering identity of the replica: its pod name.
    container["env"].append({"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    spec = pod_spec(
        [container], "eventwire-controller", selector, replicas, contract.TERMINATION_GRACE_SECONDS
    )
    annotations = prometheus_annotations(contract.CONTROLLER_METRICS_PORT)
    return [
        (
            "controller",
            deployment("eventwire-controller", namespace, labels, selector, replicas, spec, annotations),
        ),
        (
            "controller-pdb",
            pod_disruption_budget("eventwire-controller", namespace, labels, selector, replicas),
        ),
    ]


def dispatcher_name(provisioner: str) -> str:
    return contract.dispatcher_service(provisioner)


def dispatcher_url(provisioner: str, namespace: str) -> str:
    return f"http://{dispatcher_name(provisioner)}.{namespace}.svc.cluster.local"


def provisioner_spec(provisioner: ProvisionerArgs, namespace: str) -> dict[str, Any]:
    """The ClusterChannelProvisioner spec: type, default flag and the broker connection."""
    kind, name = provisioner["type"], provisioner["name"]
    spec: dict[str, Any] = {"type": kind, "default": bool(provisioner.get("default", False))}
    installs = provisioner.get("install_broker", True)
    if kind == "jetstream":
        spec["jetstream"] = {
            "storage": "file",
            "streamReplicas": min(3, provisioner.get("broker_replicas", 1)),
        }
        if installs:
            spec["jetstream"]["url"] = brokers.nats_url(name, namespace)
    if kind == "redis" and installs:
        spec["redis"] = {"url": brokers.redis_url(name, namespace)}
    for key, value in provisioner.get("spec", {}).items():
        spec[key] = (
            {**spec[key], **value}
            if isinstance(value, Mapping) and isinstance(spec.get(key), dict)
            else value
        )
    if kind == "jetstream" and "url" not in spec["jetstream"]:
        raise ConfigError(f"provisioner {name}: without install_broker, spec.jetstream.url is required")
    if kind == "redis" and "url" not in spec.get("redis", {}):
        raise ConfigError(f"provisioner {name}: without install_broker, spec.redis.url is required")
    return spec


def provisioner_manifest(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The ClusterChannelProvisioner object, checked against our CRD schema."""
    manifest = {
        "apiVersion": f"{MESSAGING_GROUP}/v1",
        "kind": "ClusterChannelProvisioner",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "eventwire"}},
        "spec": dict(spec),
    }
    errors = resource_errors(manifest)
    if errors:
        raise ConfigError(f"provisioner {name}: " + "; ".join(str(error) for error in errors))
    # The schema admits PT0S; the dispatcher refuses a zero timeout at start (a crash loop).
    limits = spec.get("dispatcher", {}).get("http", {})
    for field in ("headerTimeout", "bodyTimeout", "idleTimeout"):
        if field in limits and parse_duration(limits[field]) == 0:
            raise ConfigError(
                f"provisioner {name}: spec.dispatcher.http.{field} must be longer than zero, got {limits[field]!r}"
            )
    return manifest


def dispatcher_manifests(
    provisioner: ProvisionerArgs,
    spec: Mapping[str, Any],
    namespace: str,
    image: Any,
    resources: dict[str, Any],
) -> list[tuple[str, dict[str, Any]]]:
    """A provisioner's dispatcher: Deployment, Service and PDB."""
    name = dispatcher_name(provisioner["name"])
    replicas = provisioner.get("replicas", 1)
    labels, selector = standard_labels("dispatcher", name), selector_labels("dispatcher", name)
    container = runtime_container(
        "dispatcher",
        image,
        contract.dispatcher_args(),
        contract.dispatcher_env(provisioner["name"], spec),
        {"http": contract.DISPATCHER_PORT},
        resources,
        liveness_path="/healthz",
        readiness_path="/readyz",
    )
    pod = pod_spec(
        [container], "eventwire-dispatcher", selector, replicas, contract.TERMINATION_GRACE_SECONDS
    )
    annotations = prometheus_annotations(contract.DISPATCHER_PORT)
    return [
        (name, deployment(name, namespace, labels, selector, replicas, pod, annotations)),
        (f"{name}-service", service(name, namespace, labels, selector, {"http": (80, "http")})),
        (f"{name}-pdb", pod_disruption_budget(name, namespace, labels, selector, replicas)),
    ]


# With the mesh, Prometheus scrapes istio-agent's merged metrics (the app's too, Istio rewrites
# the prometheus.io annotations to it) on 15020 and Envoy's own on 15090, both outside mTLS.
SIDECAR_METRICS_PORTS: Final = (15020, 15090)


def namespace_network_policies(namespace: str, mesh: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """Deny all ingress in the namespace, then admit events and metrics scrapes to the
    dispatchers (both on their http port) and metrics scrapes to the controller (its metrics
    port only), from anywhere; with the `mesh`, also the sidecars' metrics ports on every pod.
    Beyond that the controller takes no traffic but the kubelet's probes; brokers add their own
    policies."""
    labels = {"app.kubernetes.io/part-of": "eventwire"}
    dispatchers = _DISPATCHER_PODS
    controller = {"app.kubernetes.io/name": "eventwire", "app.kubernetes.io/component": "controller"}
    policies = [
        ("deny-ingress", network_policy("default-deny-ingress", namespace, labels, {}, [])),
        (
            "allow-dispatchers",
            network_policy(
                "allow-dispatcher-ingress",
                namespace,
                labels,
                dispatchers,
                [allow_ports([contract.DISPATCHER_PORT])],
            ),
        ),
        (
            "allow-controller-metrics",
            network_policy(
                "allow-controller-metrics",
                namespace,
                labels,
                controller,
                [allow_ports([contract.CONTROLLER_METRICS_PORT])],
            ),
        ),
    ]
    if mesh:
        policies.append(
            (
                "allow-sidecar-metrics",
                network_policy(
                    "allow-sidecar-metrics", namespace, labels, {}, [allow_ports(list(SIDECAR_METRICS_PORTS))]
                ),
            )
        )
    return policies


def peer_authentication(namespace: str) -> dict[str, Any]:
    """STRICT mTLS for every workload in the namespace."""
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": namespace},
        "spec": {"mtls": {"mode": "STRICT"}},
    }


def dispatcher_peer_authentication(namespace: str) -> dict[str, Any]:
    """The dispatchers stay STRICT except on their event port, which is PERMISSIVE: sources'
    adapters and producers in namespaces without sidecars post plaintext there, meshed clients
    still use mTLS. Port-level settings name the container port and need a workload selector."""
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {
            "name": "eventwire-dispatcher-ingress",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "eventwire"},
        },
        "spec": {
            "selector": {"matchLabels": dict(_DISPATCHER_PODS)},
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {str(contract.DISPATCHER_PORT): {"mode": "PERMISSIVE"}},
        },
    }
