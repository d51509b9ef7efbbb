"""EventingCore: CRDs, controller, dispatchers per provisioner, brokers, RBAC and hardening."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from eventwire import rbac
from eventwire.api import render_crds, resource_errors
from eventwire.exceptions import ConfigError
from eventwire.install import EventingCore, EventingCoreArgs, peering
from eventwire.render.pod_security import pod_spec_of, restricted_violations
from tests.components.conftest import Runner, charts, find, kube_objects

IMAGE = "registry.example/eventwire/runtime@sha256:" + "a" * 64


def core(args: dict[str, Any] | None = None) -> None:
    EventingCore("eventing", {"image": IMAGE, **(args or {})})  # type: ignore[typeddict-item]


def env_of(manifest: dict[str, Any]) -> dict[str, str]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}


def test_crds_are_the_apis_own(run: Runner) -> None:
    record = run(core)
    installed = [
        o
        for o in kube_objects(record)
        if o["kind"] == "CustomResourceDefinition" and o["spec"]["group"].endswith("eventwire.dev")
    ]
    assert sorted(installed, key=lambda c: c["metadata"]["name"]) == sorted(
        render_crds(), key=lambda c: c["metadata"]["name"]
    )


def test_controller_role_is_exactly_the_runtimes_definition(run: Runner) -> None:
    record = run(core)
    role = find(record, "ClusterRole", "eventwire-controller").plain
    assert role["rules"] == [dict(rule) for rule in rbac.CONTROLLER_RULES]
    binding = find(record, "ClusterRoleBinding", "eventwire-controller").plain
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "eventwire-controller", "namespace": "eventwire-system"}
    ]
    extra = find(record, "ClusterRole", "eventwire-controller-extra").plain
    assert extra["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {rbac.AGGREGATE_LABEL: "true"}}
    ]


def test_namespace_users_manage_channels_and_subscriptions(run: Runner) -> None:
    record = run(core)
    edit = find(record, "ClusterRole", "eventwire-messaging-edit").plain
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit["rules"][0]["resources"] == ["channels", "subscriptions"]
    view = find(record, "ClusterRole", "eventwire-messaging-view").plain
    assert set(view["rules"][0]["verbs"]) == {"get", "list", "watch"}


def test_crds_and_rbac_come_before_the_controller(run: Runner) -> None:
    record = run(core)
    controller = find(record, "Deployment", "eventwire-controller")
    for crd in record.registrations:
        if crd.plain.get("kind") == "CustomResourceDefinition":
            assert record.depends_on(controller, crd), crd.name
    assert record.depends_on(controller, find(record, "ClusterRole", "eventwire-controller"))
    provisioner = find(record, "ClusterChannelProvisioner", "in-memory")
    assert record.depends_on(
        provisioner,
        find(record, "CustomResourceDefinition", "clusterchannelprovisioners.messaging.eventwire.dev"),
    )


def test_defaults_one_in_memory_dispatcher(run: Runner) -> None:
    record = run(core)
    provisioner = find(record, "ClusterChannelProvisioner", "in-memory").plain
    assert provisioner["spec"] == {"type": "in-memory", "default": True}
    dispatcher = find(record, "Deployment", "eventwire-dispatcher-in-memory").plain
    assert dispatcher["spec"]["replicas"] == 1
    assert env_of(dispatcher) == {
        "EVENTWIRE_BACKEND": "in-memory",
        "EVENTWIRE_LOG_LEVEL": "INFO",
        "EVENTWIRE_PORT": "8080",
        "EVENTWIRE_PROVISIONER": "in-memory",
        "EVENTWIRE_ROUTES_SOURCE": "kubernetes",
        "EVENTWIRE_SHUTDOWN_TIMEOUT": "20",
    }
    container = dispatcher["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["args"] == ["dispatcher"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    assert dispatcher["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    service = find(record, "Service", "eventwire-dispatcher-in-memory").plain
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert (
        find(record, "PodDisruptionBudget", "eventwire-dispatcher-in-memory").plain["spec"]["maxUnavailable"]
        == 1
    )


def test_controller_env_matches_the_runtime_settings(run: Runner) -> None:
    record = run(lambda: core({"webhook_domain": "hooks.example.org", "webhook_gateway_namespace": "edge"}))
    controller = find(record, "Deployment", "eventwire-controller").plain
    assert env_of(controller) == {
        "EVENTWIRE_DISPATCHER_SERVICE": "eventwire-dispatcher-{provisioner}",
        "EVENTWIRE_METRICS_PORT": "9090",
        "EVENTWIRE_PEERING": "eventwire-controller",
        "EVENTWIRE_PEERING_LIFETIME": "30",
        "EVENTWIRE_RUNTIME_IMAGE": IMAGE,
        "EVENTWIRE_SYSTEM_NAMESPACE": "eventwire-system",
        "EVENTWIRE_WEBHOOK_DOMAIN": "hooks.example.org",
        "EVENTWIRE_WEBHOOK_GATEWAY": "edge/eventwire-webhooks",
    }
    assert controller["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "prometheus.io/path": "/metrics",
    }
    assert controller["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]
    assert controller["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "controller",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]


def test_controller_peers_through_its_own_peering_object_by_default(run: Runner) -> None:
    record = run(core)
    crd = find(record, "CustomResourceDefinition", "clusterkopfpeerings.kopf.dev")
    assert crd.plain == peering.kopf_peering_crd({"app.kubernetes.io/part-of": "eventwire"})
    peering_object = find(record, "ClusterKopfPeering", "eventwire-controller")
    assert peering_object.plain["apiVersion"] == "kopf.dev/v1"
    role = find(record, "ClusterRole", "eventwire-controller-peering").plain
    assert role["rules"] == [dict(rule) for rule in rbac.peering_rules("eventwire-controller")]
    binding = find(record, "ClusterRoleBinding", "eventwire-controller-peering").plain
    assert binding["roleRef"]["name"] == "eventwire-controller-peering"
    assert binding["subjects"][0]["name"] == "eventwire-controller"
    controller = find(record, "Deployment", "eventwire-controller")
    assert record.depends_on(peering_object, crd)
    assert record.depends_on(controller, peering_object)
    assert record.depends_on(controller, find(record, "ClusterRole", "eventwire-controller-peering"))
    env = controller.plain["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env
    assert controller.plain["spec"]["replicas"] == 1


def test_several_controller_replicas_one_active_with_a_budget(run: Runner) -> None:
    record = run(lambda: core({"controller_replicas": 3}))
    controller = find(record, "Deployment", "eventwire-controller").plain
    assert controller["spec"]["replicas"] == 3
    assert env_of(controller)["EVENTWIRE_PEERING"] == "eventwire-controller"
    assert len(controller["spec"]["template"]["spec"]["topologySpreadConstraints"]) == 2
    budget = find(record, "PodDisruptionBudget", "eventwire-controller").plain["spec"]
    assert budget["minAvailable"] == 1
    assert (
        budget["selector"]["matchLabels"].items()
        <= controller["spec"]["template"]["metadata"]["labels"].items()
    )


def test_standalone_controller_has_no_peering(run: Runner) -> None:
    record = run(lambda: core({"controller_peering": False}))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in kube_objects(record)}
    assert ("ClusterKopfPeering", "eventwire-controller") not in kinds
    assert ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev") not in kinds
    assert ("ClusterRole", "eventwire-controller-peering") not in kinds
    assert "EVENTWIRE_PEERING" not in env_of(find(record, "Deployment", "eventwire-controller").plain)


def test_peering_crd_can_come_from_elsewhere(run: Runner) -> None:
    record = run(lambda: core({"install_peering_crd": False}))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in kube_objects(record)}
    assert ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev") not in kinds
    assert ("ClusterKopfPeering", "eventwire-controller") in kinds


def test_jetstream_with_nats_from_the_official_chart(run: Runner) -> None:
    args = {
        "provisioners": [
            {"name": "jetstream", "type": "jetstream", "broker_replicas": 3, "storage_size": "20Gi"}
        ],
        "dispatcher_replicas": 3,
    }
    record = run(lambda: core(args))
    nats = charts(record)["eventing-jetstream-nats"]
    assert nats["chart"] == "nats"
    assert nats["repositoryOpts"] == {"repo": "https://nats-io.github.io/k8s/helm/charts/"}
    assert nats["name"] == "jetstream-nats"
    config = nats["values"]["config"]
    assert config["jetstream"]["fileStore"]["pvc"]["size"] == "20Gi"
    assert config["cluster"] == {"enabled": True, "replicas": 3}
    assert nats["values"]["podTemplate"]["merge"]["spec"]["securityContext"]["runAsNonRoot"] is True
    spec = find(record, "ClusterChannelProvisioner", "jetstream").plain["spec"]
    url = "nats://jetstream-nats.eventwire-system.svc.cluster.local:4222"
    assert spec["jetstream"] == {"url": url, "streamReplicas": 3, "storage": "file"}
    dispatcher = find(record, "Deployment", "eventwire-dispatcher-jetstream")
    assert env_of(dispatcher.plain)["EVENTWIRE_NATS_URL"] == url
    assert env_of(dispatcher.plain)["EVENTWIRE_STREAM"] == "EVENTWIRE_JETSTREAM"
    assert dispatcher.plain["spec"]["replicas"] == 3
    assert record.depends_on(dispatcher, record.named("eventing-jetstream-nats"))
    assert (
        find(record, "PodDisruptionBudget", "eventwire-dispatcher-jetstream").plain["spec"]["minAvailable"]
        == 1
    )
    assert find(record, "NetworkPolicy", "jetstream-nats-clients")


def test_redis_broker_is_a_hardened_statefulset(run: Runner) -> None:
    record = run(lambda: core({"provisioners": [{"name": "redis", "type": "redis"}]}))
    statefulset = find(record, "StatefulSet", "redis-redis").plain
    assert restricted_violations(pod_spec_of(statefulset) or {}) == []
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    spec = find(record, "ClusterChannelProvisioner", "redis").plain["spec"]
    assert spec["redis"] == {"url": "redis://redis-redis.eventwire-system.svc.cluster.local:6379/0"}


def test_external_brokers_need_a_url(run: Runner) -> None:
    with pytest.raises(ConfigError, match=r"spec.jetstream.url is required"):
        run(lambda: core({"provisioners": [{"name": "js", "type": "jetstream", "install_broker": False}]}))
    spec = {"jetstream": {"url": "nats://nats.example:4222"}}
    record = run(
        lambda: core(
            {"provisioners": [{"name": "js", "type": "jetstream", "install_broker": False, "spec": spec}]}
        )
    )
    assert not charts(record)
    assert (
        find(record, "ClusterChannelProvisioner", "js").plain["spec"]["jetstream"]["url"]
        == "nats://nats.example:4222"
    )


def test_namespace_is_restricted_and_policies_admit_only_events_and_metrics(run: Runner) -> None:
    record = run(core)
    labels = find(record, "Namespace", "eventwire-system").plain["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "istio-injection" not in labels
    deny = find(record, "NetworkPolicy", "default-deny-ingress").plain["spec"]
    assert deny == {"podSelector": {"matchLabels": {}}, "policyTypes": ["Ingress"], "ingress": []}
    allow = find(record, "NetworkPolicy", "allow-dispatcher-ingress").plain["spec"]
    assert allow["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    metrics = find(record, "NetworkPolicy", "allow-controller-metrics").plain["spec"]
    assert metrics["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9090}]}]
    controller_pod = find(record, "Deployment", "eventwire-controller").plain["spec"]["template"]
    assert metrics["podSelector"]["matchLabels"].items() <= controller_pod["metadata"]["labels"].items()
    dispatcher_pod = find(record, "Deployment", "eventwire-dispatcher-in-memory").plain["spec"]["template"]
    assert not metrics["podSelector"]["matchLabels"].items() <= dispatcher_pod["metadata"]["labels"].items()
    policies = sorted(o["metadata"]["name"] for o in kube_objects(record) if o["kind"] == "NetworkPolicy")
    assert policies == ["allow-controller-metrics", "allow-dispatcher-ingress", "default-deny-ingress"]
    for manifest in kube_objects(record):
        pod = pod_spec_of(manifest)
        if pod is not None:
            assert restricted_violations(pod) == [], manifest["metadata"]["name"]


def test_strict_mtls_adds_sidecars_and_peer_authentication(run: Runner) -> None:
    record = run(lambda: core({"strict_mtls": True, "network_policies": False}))
    labels = find(record, "Namespace", "eventwire-system").plain["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled"
    assert find(record, "PeerAuthentication", "default").plain["spec"] == {"mtls": {"mode": "STRICT"}}
    assert not [o for o in kube_objects(record) if o["kind"] == "NetworkPolicy"]


def test_producers_outside_the_mesh_reach_strict_mtls_dispatchers(run: Runner) -> None:
    record = run(lambda: core({"strict_mtls": True}))
    ingress = find(record, "PeerAuthentication", "eventwire-dispatcher-ingress").plain
    dispatcher_pod = find(record, "Deployment", "eventwire-dispatcher-in-memory").plain["spec"]["template"]
    selector = ingress["spec"]["selector"]["matchLabels"]
    assert selector.items() <= dispatcher_pod["metadata"]["labels"].items()
    controller_pod = find(record, "Deployment", "eventwire-controller").plain["spec"]["template"]
    assert not selector.items() <= controller_pod["metadata"]["labels"].items()
    # STRICT for the workload, except its event port (the container port), where sources and
    # producers without a sidecar post plaintext; meshed clients still use mTLS there.
    port = dispatcher_pod["spec"]["containers"][0]["ports"][0]
    assert port["name"] == "http"
    assert ingress["spec"]["mtls"] == {"mode": "STRICT"}
    assert ingress["spec"]["portLevelMtls"] == {str(port["containerPort"]): {"mode": "PERMISSIVE"}}


def test_with_the_mesh_policies_admit_the_sidecar_scrape_ports(run: Runner) -> None:
    record = run(lambda: core({"strict_mtls": True}))
    scrapes = find(record, "NetworkPolicy", "allow-sidecar-metrics").plain["spec"]
    # Every pod in the namespace gets a sidecar: istio-agent's merged metrics and Envoy's own.
    assert scrapes["podSelector"] == {"matchLabels": {}}
    assert scrapes["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": 15020}, {"protocol": "TCP", "port": 15090}]}
    ]
    without_mesh = run(core)
    names = {o["metadata"]["name"] for o in kube_objects(without_mesh) if o["kind"] == "NetworkPolicy"}
    assert "allow-sidecar-metrics" not in names


def test_several_provisioners_get_one_dispatcher_each(run: Runner) -> None:
    provisioners = [
        {"name": "fast", "type": "in-memory", "replicas": 2},
        {"name": "durable", "type": "jetstream", "default": True},
    ]

    def program() -> None:
        import pulumi

        created = EventingCore("eventing", {"image": IMAGE, "provisioners": provisioners})  # type: ignore[typeddict-item]
        pulumi.export("urls", created.dispatcher_urls)
        pulumi.export("default", created.default_provisioner)

    record = run(program)
    assert record.outputs["default"] == "durable"
    assert record.outputs["urls"] == {
        "fast": "http://eventwire-dispatcher-fast.eventwire-system.svc.cluster.local",
        "durable": "http://eventwire-dispatcher-durable.eventwire-system.svc.cluster.local",
    }
    assert find(record, "ClusterChannelProvisioner", "fast").plain["spec"]["default"] is False
    assert find(record, "Deployment", "eventwire-dispatcher-fast").plain["spec"]["replicas"] == 2


def test_a_provisioners_http_limits_reach_its_dispatcher(run: Runner) -> None:
    limits = {"maxBodyBytes": 1048576, "idleTimeout": "PT30S"}
    provisioners = [{"name": "default", "type": "in-memory", "spec": {"dispatcher": {"http": limits}}}]

    def program() -> None:
        EventingCore("eventing", {"image": IMAGE, "provisioners": provisioners})  # type: ignore[typeddict-item]

    record = run(program)
    assert find(record, "ClusterChannelProvisioner", "default").plain["spec"]["dispatcher"]["http"] == limits
    env = env_of(find(record, "Deployment", "eventwire-dispatcher-default").plain)
    assert env["EVENTWIRE_MAX_BODY_BYTES"] == "1048576"
    assert env["EVENTWIRE_IDLE_TIMEOUT"] == "PT30S"
    assert "EVENTWIRE_MAX_HEADER_BYTES" not in env


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"image": ""}, "image"),
        ({"provisioners": []}, "at least one provisioner"),
        ({"provisioners": [{"name": "Bad_Name", "type": "in-memory"}]}, r"provisioners\[0\].name"),
        ({"provisioners": [{"name": "x", "type": "kafka"}]}, r"provisioners\[0\].type"),
        ({"provisioners": [{"name": "x", "type": "in-memory"}, {"name": "x", "type": "redis"}]}, "unique"),
        (
            {
                "provisioners": [
                    {"name": "a", "type": "in-memory", "default": True},
                    {"name": "b", "type": "in-memory", "default": True},
                ]
            },
            "only one may be the default",
        ),
        ({"controller_replicas": 2, "controller_peering": False}, "more than 1 needs controller_peering"),
        ({"controller_replicas": 0}, "controller_replicas: must be at least 1"),
        (
            {"provisioners": [{"name": "m", "type": "in-memory", "spec": {"inMemory": {"capacity": 0}}}]},
            "capacity",
        ),
    ],
)
def test_bad_args_are_rejected_by_name(run: Runner, args: dict[str, Any], message: str) -> None:
    full: EventingCoreArgs = {"image": IMAGE, **args}  # type: ignore[typeddict-item]
    with pytest.raises(ConfigError, match=message):
        run(lambda: EventingCore("eventing", full))


def test_crds_are_kept_on_destroy_unless_asked(run: Runner) -> None:
    record = run(core)
    crds = [r for r in record.registrations if r.inputs.get("kind") == "CustomResourceDefinition"]
    assert len(crds) == len(render_crds()) + 1  # ours and kopf's peering CRD
    # `pulumi destroy` would delete every user's Channels and sources with them.
    assert all(r.retain_on_delete for r in crds)
    others = [
        r for r in record.registrations if r.custom and r.inputs.get("kind") != "CustomResourceDefinition"
    ]
    assert not any(r.retain_on_delete for r in others)
    record = run(lambda: core({"retain_crds": False}))
    assert not any(r.retain_on_delete for r in record.registrations)


def brokers_of(record: Any) -> dict[str, Any]:
    """The eventwire Broker registrations by namespace."""
    return {
        r.plain["metadata"]["namespace"]: r
        for r in record.registrations
        if r.custom and r.plain.get("kind") == "Broker"
    }


def test_no_default_broker_unless_asked(run: Runner) -> None:
    record = run(core)
    assert brokers_of(record) == {}


def test_a_default_broker_per_namespace_after_its_crd_and_the_controller(run: Runner) -> None:
    def controller(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if type_ == "kubernetes:eventing.eventwire.dev/v1:Broker":
            namespace = inputs["metadata"]["namespace"]
            return {"status": {"address": {"url": f"http://broker.example/{namespace}/default"}}}
        return {}

    def program() -> None:
        eventing = EventingCore("eventing", {"image": IMAGE, "default_broker_namespaces": ["shop", "team-a"]})
        pulumi.export("brokers", eventing.default_broker_urls)

    record = run(program, respond=controller)
    brokers = brokers_of(record)
    assert sorted(brokers) == ["shop", "team-a"]
    crd = find(record, "CustomResourceDefinition", "brokers.eventing.eventwire.dev")
    deployment = find(record, "Deployment", "eventwire-controller")
    for namespace, broker in brokers.items():
        assert broker.plain == {
            "apiVersion": "eventing.eventwire.dev/v1",
            "kind": "Broker",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {},
        }
        assert resource_errors(broker.plain) == []
        # Created after its CRD, and deleted before the controller that will finalize it.
        assert record.depends_on(broker, crd)
        assert record.depends_on(broker, deployment)
    assert record.outputs["brokers"] == {
        "shop": "http://broker.example/shop/default",
        "team-a": "http://broker.example/team-a/default",
    }


@pytest.mark.parametrize(
    ("namespaces", "message"),
    [
        (["Shop"], r"default_broker_namespaces\[0\]: 'Shop' is not a namespace name"),
        (["shop", ""], r"default_broker_namespaces\[1\]: '' is not a namespace name"),
        (["shop", "shop"], "'shop' is listed twice"),
    ],
)
def test_default_broker_namespaces_are_checked(run: Runner, namespaces: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(lambda: core({"default_broker_namespaces": namespaces}))


def test_namespace_users_manage_brokers_and_triggers(run: Runner) -> None:
    record = run(core)
    edit = find(record, "ClusterRole", "eventwire-eventing-edit").plain
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit["rules"] == [
        {
            "apiGroups": ["eventing.eventwire.dev"],
            "resources": ["brokers", "triggers"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        }
    ]
    view = find(record, "ClusterRole", "eventwire-eventing-view").plain
    assert set(view["rules"][0]["verbs"]) == {"get", "list", "watch"}
    assert "triggers/status" in view["rules"][0]["resources"]


@pytest.mark.parametrize(
    ("resource", "verb", "allowed"),
    [
        ("brokers", "watch", True),
        ("triggers", "list", True),
        ("triggers", "patch", True),  # kopf's progress annotations
        ("brokers/status", "patch", True),
        ("triggers/status", "get", True),
        # Least privilege until the reconcilers need more: users create and delete them.
        ("brokers", "create", False),
        ("triggers", "delete", False),
        ("brokers", "update", False),
        ("brokers/finalizers", "update", False),
    ],
)
def test_the_controller_reads_brokers_and_triggers_and_writes_their_status(
    resource: str, verb: str, allowed: bool
) -> None:
    assert rbac.allows("eventing.eventwire.dev", resource, verb) is allowed
    assert rbac.allows("", "events", "create")  # reported on the objects
