"""The program (infra/) runs for every stack file, with the typed config of Pulumi.yaml."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
import yaml

from eventwire import rbac
from eventwire.exceptions import ConfigError
from eventwire.install.settings import KEYS, SECRET_KEYS
from eventwire.render.engine import ProgramRun
from eventwire.render.project import Project
from eventwire.render.stack import run_stack
from tests.infra.conftest import ROOT, SECRETS, STACKS

RUNTIME_VERSION = tomllib.loads((ROOT / "runtime" / "pyproject.toml").read_text())["project"]["version"]


def objects(run: ProgramRun, kind: str) -> dict[str, dict[str, Any]]:
    return {
        r.plain["metadata"]["name"]: r.plain
        for r in run.registrations
        if r.custom and r.inputs.get("kind") == kind
    }


def by_kind_name(run: ProgramRun, kind: str, name: str) -> Any:
    for registration in run.registrations:
        if registration.inputs.get("kind") == kind and registration.plain["metadata"]["name"] == name:
            return registration
    raise AssertionError(f"no {kind}/{name}")


def test_there_are_the_three_cluster_stacks_and_ci() -> None:
    assert STACKS == ["ci", "dev", "prod", "staging"]


def test_pulumi_yaml_declares_every_key_the_program_reads_with_a_default(project: Project) -> None:
    assert {key: spec["type"] for key, spec in project.schema.items()} == KEYS
    for key, spec in project.schema.items():
        assert "default" in spec, key
        assert spec.get("description"), key
        if spec["type"] == "array":
            assert spec["items"] == {"type": "string"}, key
    assert project.main == ROOT / "infra"
    assert project.stack_dir == ROOT / "stacks"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_set_only_declared_keys_with_the_right_types(stack: str) -> None:
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    python_types = {"string": str, "integer": int, "boolean": bool, "array": list}
    for full_key, value in config.items():
        project, _, key = full_key.partition(":")
        assert project == "eventwire", full_key
        assert key in KEYS, full_key
        assert key not in SECRET_KEYS, f"{full_key}: secrets are set with `pulumi config set --secret`"
        assert isinstance(value, python_types[KEYS[key]]), full_key


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_runs_the_whole_program(project: Project, stack: str) -> None:
    run = run_stack(project, stack, secrets=SECRETS)
    types = {r.type for r in run.registrations}
    assert {"eventwire:index:EventingCore", "eventwire:index:EventSources"} <= types
    assert {"namespace", "ingressAddress", "dispatcherUrls", "channelUrls", "versions"} <= set(run.outputs)
    role = by_kind_name(run, "ClusterRole", "eventwire-controller").plain
    assert role["rules"] == [dict(rule) for rule in rbac.CONTROLLER_RULES]
    providers = run.of_type("pulumi:providers:kubernetes")
    assert [p.name for p in providers] == ["kubernetes"]


def test_dev_is_small_in_memory_and_needs_no_mesh(project: Project) -> None:
    run = run_stack(project, "dev")
    types = {r.type for r in run.registrations}
    assert "eventwire:index:Istio" not in types
    assert "eventwire:index:KnativeServing" not in types
    assert list(objects(run, "ClusterChannelProvisioner")) == ["in-memory"]
    for deployment in objects(run, "Deployment").values():
        assert deployment["spec"]["replicas"] == 1
    assert run.outputs["ingressAddress"] == ""
    assert run.outputs["versions"]["runtimeImage"] == f"ghcr.io/eventwire/eventwire-runtime:{RUNTIME_VERSION}"


def test_prod_is_ha_jetstream_pinned_and_strict(project: Project) -> None:
    run = run_stack(project, "prod", secrets=SECRETS)
    provisioners = objects(run, "ClusterChannelProvisioner")
    assert provisioners["jetstream"]["spec"]["jetstream"]["streamReplicas"] == 3
    nats = {r.name: r.plain for r in run.of_type("kubernetes:helm.sh/v4:Chart")}["eventing-jetstream-nats"]
    assert nats["values"]["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert nats["values"]["config"]["jetstream"]["fileStore"]["pvc"]["size"] == "20Gi"
    dispatcher = objects(run, "Deployment")["eventwire-dispatcher-jetstream"]
    assert dispatcher["spec"]["replicas"] == 3
    # The release tag until a real digest is pinned (imageDigest), never a placeholder digest.
    for deployment in objects(run, "Deployment").values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"ghcr.io/eventwire/eventwire-runtime:{RUNTIME_VERSION}", deployment["metadata"][
            "name"
        ]
    peer = [r.plain for r in run.registrations if r.inputs.get("kind") == "PeerAuthentication"]
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"]["mtls"]["mode"] for p in peer} == {
        ("istio-system", "default"): "STRICT",
        ("eventwire-system", "default"): "STRICT",
        ("eventwire-system", "eventwire-dispatcher-ingress"): "STRICT",
    }
    # Producers and source adapters outside the mesh post to the dispatchers' event port.
    ingress = next(p for p in peer if p["metadata"]["name"] == "eventwire-dispatcher-ingress")
    assert ingress["spec"]["portLevelMtls"] == {"8080": {"mode": "PERMISSIVE"}}
    assert "allow-sidecar-metrics" in objects(run, "NetworkPolicy")
    assert run.outputs["versions"]["istio"] == "1.29.2"
    assert run.outputs["versions"]["knativeServing"] == "1.22.0"
    assert set(run.outputs["channelUrls"]) == {"orders", "enriched", "audit"}


def test_install_order_across_components(project: Project) -> None:
    run = run_stack(project, "prod", secrets=SECRETS)
    net_istio = run.named("knative-serving-net-istio")
    assert run.depends_on(net_istio, run.named("istio-gateway"))
    assert run.depends_on(run.named("knative-serving-core"), run.named("knative-serving-crds"))
    namespace = by_kind_name(run, "Namespace", "eventwire-system")
    assert run.depends_on(namespace, run.named("istio-istiod"))  # sidecar injection needs istiod
    controller = by_kind_name(run, "Deployment", "eventwire-controller")
    for crd in objects(run, "CustomResourceDefinition"):
        assert run.depends_on(controller, by_kind_name(run, "CustomResourceDefinition", crd))
    channel = by_kind_name(run, "Channel", "orders")
    assert run.depends_on(
        channel, by_kind_name(run, "CustomResourceDefinition", "channels.messaging.eventwire.dev")
    )


def test_secrets_become_secret_kubernetes_secrets(project: Project) -> None:
    run = run_stack(project, "prod", secrets=SECRETS)
    secrets = {r.plain["metadata"]["name"]: r for r in run.registrations if r.inputs.get("kind") == "Secret"}
    assert set(secrets) == {"github-webhook", "aws-credentials", "gcp-credentials"}
    for registration in secrets.values():
        assert registration.has_secrets
        for value in SECRETS.values():
            assert value not in str(registration.redacted)
    assert secrets["github-webhook"].plain["stringData"] == {"secret": SECRETS["githubWebhookSecret"]}


def test_a_plaintext_secret_is_rejected(project: Project) -> None:
    with pytest.raises(ConfigError, match="githubWebhookSecret holds a plaintext value"):
        run_stack(project, "staging", overrides={"githubWebhookSecret": "not-encrypted"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"controllerReplicas": "many"}, "controllerReplicas.*not an integer"),
        ({"dispatcherReplicas": 0}, "dispatcherReplicas.*below the minimum"),
        ({"installIstio": "yes"}, "installIstio.*not true or false"),
        ({"provisioners": []}, "provisioners"),
        ({"sources": "PingSource"}, "sources.*not a list"),
        ({"imageDigest": "latest"}, "imageDigest: 'latest' is not a digest"),
        ({"imageDigest": "sha256:" + "ab" * 31}, "not a digest"),
        ({"imageDigest": "sha256:" + "AB" * 32}, "not a digest"),
        ({"imageDigest": "sha512:" + "ab" * 64}, "not a digest"),
        ({"imageDigest": "sha256:" + "0" * 64}, "all-zero placeholder"),
    ],
)
def test_bad_config_names_the_key(project: Project, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_stack(project, "dev", overrides=overrides)


def test_build_image_builds_from_the_repository_root_and_uses_the_pushed_image(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pulumi runs the program in its main folder, infra/.
    monkeypatch.chdir(ROOT / "infra")
    overrides = {"buildImage": True, "imageRepository": "ghcr.io/acme/runtime", "imageTag": "0.2.0-rc1"}
    run = run_stack(project, "dev", overrides=overrides)
    build = run.of_type("docker-build:index:Image")[0].plain
    assert build["tags"] == ["ghcr.io/acme/runtime:0.2.0-rc1"]
    # `docker build -f runtime/Dockerfile .` from the repository root, as the Dockerfile expects.
    assert build["context"] == {"location": str(ROOT)}
    assert build["dockerfile"] == {"location": str(ROOT / "runtime" / "Dockerfile")}
    dispatcher = objects(run, "Deployment")["eventwire-dispatcher-in-memory"]
    assert (
        dispatcher["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/runtime:0.2.0-rc1"
    )


def test_render_yaml_to_makes_the_cluster_optional(project: Project) -> None:
    run = run_stack(project, "dev", overrides={"renderYamlTo": "build/manifests", "kubeContext": "kind-dev"})
    provider = run.of_type("pulumi:providers:kubernetes")[0].plain
    assert provider["renderYamlToDirectory"] == "build/manifests"
    assert provider["context"] == "kind-dev"


# Namespaces every cluster has; everything else the install puts objects into, it creates first.
BUILT_IN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespace_the_install_uses_is_created_first(project: Project, stack: str) -> None:
    run = run_stack(project, stack, secrets=SECRETS)
    created = {
        r.plain["metadata"]["name"]: r
        for r in run.registrations
        if r.custom and r.inputs.get("kind") == "Namespace"
    }
    # knative-serving comes with serving-core.yaml, which the config patches wait for.
    upstream = (
        {"knative-serving": run.named("knative-serving-core")}
        if "knative-serving-core" in {r.name for r in run.registrations}
        else {}
    )
    for registration in run.registrations:
        if not registration.custom or registration.inputs.get("kind") == "Namespace":
            continue
        inputs = registration.plain
        namespace = (inputs.get("metadata") or {}).get("namespace") or inputs.get("namespace")
        if not namespace or namespace in BUILT_IN_NAMESPACES:
            continue
        creator = created.get(namespace) or upstream.get(namespace)
        assert creator is not None, f"{registration.name}: namespace {namespace} is never created"
        assert run.waits_for(registration, creator), f"{registration.name} does not wait for {namespace}"


def test_prod_creates_the_channel_namespace_and_keeps_it_on_destroy(project: Project) -> None:
    run = run_stack(project, "prod", secrets=SECRETS)
    shop = by_kind_name(run, "Namespace", "shop")
    assert shop.plain["metadata"]["labels"]["app.kubernetes.io/part-of"] == "eventwire"
    assert shop.retain_on_delete
    for kind, name in (("Channel", "orders"), ("Secret", "github-webhook")):
        assert run.depends_on(by_kind_name(run, kind, name), shop), name
    # An existing namespace is used as it is.
    existing = run_stack(project, "prod", overrides={"createChannelNamespace": False}, secrets=SECRETS)
    assert "shop" not in objects(existing, "Namespace")


def test_a_pinned_digest_is_what_every_workload_pulls(project: Project) -> None:
    digest = "sha256:" + "4f" * 32
    run = run_stack(project, "prod", overrides={"imageDigest": digest}, secrets=SECRETS)
    for deployment in objects(run, "Deployment").values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"ghcr.io/eventwire/eventwire-runtime@{digest}"


def test_the_placeholder_digest_error_says_what_to_set(project: Project) -> None:
    with pytest.raises(ConfigError) as caught:
        run_stack(project, "prod", overrides={"imageDigest": "sha256:" + "0" * 64}, secrets=SECRETS)
    message = str(caught.value)
    assert (
        "pulumi config set eventwire:imageDigest sha256:<the digest the release workflow printed>" in message
    )
    assert "pulumi config rm eventwire:imageDigest" in message


def test_the_default_image_tag_is_the_runtime_release(project: Project) -> None:
    assert project.schema["imageTag"]["default"] == RUNTIME_VERSION
    for stack in STACKS:
        config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert "eventwire:imageDigest" not in config, (
            f"{stack}: pin a digest only once the release printed it"
        )


@pytest.mark.parametrize("stack", STACKS)
def test_destroy_keeps_the_crds_and_the_controller_outlives_what_it_finalizes(
    project: Project, stack: str
) -> None:
    run = run_stack(project, stack, secrets=SECRETS)
    crds = [r for r in run.registrations if r.inputs.get("kind") == "CustomResourceDefinition"]
    assert crds
    assert all(r.retain_on_delete for r in crds)
    # Pulumi deletes a resource before what it depends on: the stack's eventwire objects go while
    # the controller (their finalizers) and the dispatchers (their durable state) still run.
    workloads = [r for r in run.registrations if r.inputs.get("kind") == "Deployment"]
    assert any(r.plain["metadata"]["name"] == "eventwire-controller" for r in workloads)
    for registration in run.registrations:
        if str(registration.inputs.get("apiVersion", "")).split("/")[0].endswith("eventwire.dev"):
            if registration.inputs.get("kind") == "ClusterChannelProvisioner":
                continue
            for workload in workloads:
                assert run.waits_for(registration, workload), (registration.name, workload.name)
    released = run_stack(project, stack, overrides={"retainCrdsOnDelete": False}, secrets=SECRETS)
    assert not any(
        r.retain_on_delete
        for r in released.registrations
        if r.inputs.get("kind") == "CustomResourceDefinition"
    )


def test_default_brokers_follow_the_config(project: Project) -> None:
    prod = run_stack(project, "prod", secrets=SECRETS)
    brokers = [r for r in prod.registrations if r.inputs.get("kind") == "Broker"]
    assert [(b.plain["metadata"]["namespace"], b.plain["metadata"]["name"]) for b in brokers] == [
        ("shop", "default")
    ]
    # shop is the channel namespace the program creates: the Broker waits for it.
    assert prod.waits_for(brokers[0], by_kind_name(prod, "Namespace", "shop"))
    assert set(prod.outputs["defaultBrokerUrls"]) == {"shop"}
    none = run_stack(project, "prod", overrides={"defaultBrokerNamespaces": []}, secrets=SECRETS)
    assert not [r for r in none.registrations if r.inputs.get("kind") == "Broker"]
    assert none.outputs["defaultBrokerUrls"] == {}
    with pytest.raises(ConfigError, match="default_broker_namespaces"):
        run_stack(project, "dev", overrides={"defaultBrokerNamespaces": ["Shop"]})
