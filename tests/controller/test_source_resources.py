"""Pure builders of the sources' children: whole manifests, checked against the Kubernetes
schemas and the restricted Pod Security Standard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventwire.render.validate import object_problems
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.sources import apiserver, kinds, names, resources
from eventwire_runtime.controller.sources.github import hook_payload, hooks_path
from tests.controller.factories import make_source, served

SETTINGS = ControllerSettings(image="registry.example/runtime:1", system_namespace="eventwire-system")
SINK = "http://display.ns.svc.cluster.local"


def owner(source: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": source["apiVersion"],
            "kind": source["kind"],
            "name": source["metadata"]["name"],
            "uid": source["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def labels(name: str, kind: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "eventwire-controller",
        "app.kubernetes.io/part-of": "eventwire",
        "app.kubernetes.io/component": "adapter",
        "sources.eventwire.dev/source-kind": kind.lower(),
        "sources.eventwire.dev/source-name": name,
    }


def test_ping_source_adapter_deployment_whole() -> None:
    source = served(
        make_source(
            "PingSource",
            "tick",
            "ns",
            schedule="*/5 * * * *",
            timezone="Europe/Berlin",
            data='{"hello": 1}',
            contentType="application/json",
            ceOverrides={"extensions": {"team": "a"}},
            delivery={"retry": 2, "deadLetterSink": {"uri": "http://dead.example"}},
        )
    )
    deployment = resources.make_adapter_deployment(source, SINK, "http://dead.example", SETTINGS)
    pod_spec = deployment["spec"]["template"]["spec"]
    assert deployment == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "tick-pingsource",
            "namespace": "ns",
            "labels": labels("tick", "PingSource"),
            "ownerReferences": owner(source),
        },
        "spec": {
            "replicas": 1,
            "selector": {
                "matchLabels": {
                    "sources.eventwire.dev/source-kind": "pingsource",
                    "sources.eventwire.dev/source-name": "tick",
                }
            },
            "template": {
                "metadata": {
                    "labels": labels("tick", "PingSource"),
                    "annotations": {"sources.eventwire.dev/spec-hash": resources.spec_hash(pod_spec)},
                },
                "spec": {
                    "serviceAccountName": "tick-pingsource",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "adapter",
                            "image": "registry.example/runtime:1",
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["adapter", "pingsource"],
                            "env": [
                                {"name": "K_SINK", "value": SINK},
                                {"name": "NAME", "value": "tick"},
                                {"name": "NAMESPACE", "value": "ns"},
                                {"name": "K_CE_OVERRIDES", "value": '{"extensions": {"team": "a"}}'},
                                {
                                    "name": "K_DELIVERY",
                                    "value": '{"deadLetterSinkUri": "http://dead.example", "retry": 2}',
                                },
                                {"name": "METRICS_PORT", "value": "9090"},
                                {"name": "PING_SCHEDULE", "value": "*/5 * * * *"},
                                {"name": "PING_TIMEZONE", "value": "Europe/Berlin"},
                                {"name": "PING_CONTENT_TYPE", "value": "application/json"},
                                {"name": "PING_DATA", "value": '{"hello": 1}'},
                            ],
                            "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": 9090},
                                "periodSeconds": 10,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": 9090},
                                "periodSeconds": 20,
                            },
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "64Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                            },
                        }
                    ],
                },
            },
        },
    }
    assert object_problems(deployment) == ([], True)


SPECS = [
    pytest.param(
        "AwsSqsSource",
        {
            "queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q",
            "region": "eu-west-1",
            "awsCredsSecret": {"name": "aws", "key": "creds"},
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"},
        },
        {
            "SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q",
            "AWS_REGION": "eu-west-1",
            "AWS_SHARED_CREDENTIALS_FILE": "/var/run/secrets/eventwire/aws-credentials/credentials",
        },
        [
            {
                "name": "aws-credentials",
                "secret": {"secretName": "aws", "items": [{"key": "creds", "path": "credentials"}]},
            }
        ],
        id="sqs",
    ),
    pytest.param(
        "GcpPubSubSource",
        {"project": "p1", "topic": "t", "createSubscription": True, "secret": {"name": "g", "key": "k.json"}},
        {
            "PUBSUB_PROJECT": "p1",
            "PUBSUB_TOPIC": "t",
            "PUBSUB_CREATE_SUBSCRIPTION": "true",
            "GOOGLE_APPLICATION_CREDENTIALS": "/var/run/secrets/eventwire/google-credentials/key.json",
        },
        [
            {
                "name": "google-credentials",
                "secret": {"secretName": "g", "items": [{"key": "k.json", "path": "key.json"}]},
            }
        ],
        id="pubsub",
    ),
    pytest.param(
        "GitHubSource",
        {
            "ownerAndRepository": "acme",
            "eventTypes": ["push"],
            "secretToken": {"secretKeyRef": {"name": "gh", "key": "hmac"}},
        },
        {
            "GITHUB_OWNER_REPO": "acme",
            "GITHUB_EVENT_TYPES": "push",
            "PORT": "8080",
            "GITHUB_SECRET_TOKEN": {"secretKeyRef": {"name": "gh", "key": "hmac"}},
        },
        [],
        id="github",
    ),
]


@pytest.mark.parametrize(("kind", "spec", "env", "volumes"), SPECS)
def test_kind_specific_env_and_secret_mounts(
    kind: str, spec: dict[str, Any], env: dict[str, Any], volumes: list[dict[str, Any]]
) -> None:
    source = served(make_source(kind, "src", "ns", **spec))
    deployment = resources.make_adapter_deployment(source, SINK, None, SETTINGS)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    got = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert {k: got.get(k) for k in env} == env
    assert deployment["spec"]["template"]["spec"].get("volumes", []) == volumes
    if volumes:
        assert container["volumeMounts"] == [
            {
                "name": volumes[0]["name"],
                "mountPath": f"/var/run/secrets/eventwire/{volumes[0]['name']}",
                "readOnly": True,
            }
        ]
    assert object_problems(deployment) == ([], True)


def test_sqs_pod_annotations_for_pod_identity() -> None:
    source = served(make_source("AwsSqsSource", "q", "ns", annotations={"eks.amazonaws.com/role-arn": "arn"}))
    template = resources.make_adapter_deployment(source, SINK, None, SETTINGS)["spec"]["template"]
    assert template["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn"


def test_a_sink_change_changes_the_spec_hash() -> None:
    source = served(make_source("PingSource", "tick", "ns"))
    one = resources.make_adapter_deployment(source, "http://one.example", None, SETTINGS)
    two = resources.make_adapter_deployment(source, "http://two.example", None, SETTINGS)
    again = resources.make_adapter_deployment(source, "http://one.example", None, SETTINGS)
    key = "sources.eventwire.dev/spec-hash"
    assert (
        one["spec"]["template"]["metadata"]["annotations"][key]
        != two["spec"]["template"]["metadata"]["annotations"][key]
    )
    assert one == again  # deterministic: a reconcile that changes nothing patches nothing


def test_user_service_account_is_used_and_none_is_created_for_it() -> None:
    source = served(make_source("AwsSqsSource", "q", "ns", serviceAccountName="irsa"))
    assert (
        resources.make_adapter_deployment(source, SINK, None, SETTINGS)["spec"]["template"]["spec"][
            "serviceAccountName"
        ]
        == "irsa"
    )


def test_container_source_injects_env_and_security_defaults() -> None:
    template = {
        "metadata": {"labels": {"app": "beats"}},
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "image": "img:1",
                    "env": [{"name": "K_SINK", "value": "old"}, {"name": "X", "value": "1"}],
                },
                {
                    "name": "b",
                    "image": "img:2",
                    "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 1000},
                },
            ]
        },
    }
    source = served(make_source("ContainerSource", "beats", "ns", template=template))
    deployment = resources.make_container_deployment(source, SINK, None)
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["app"] == "beats"
    assert pod["metadata"]["labels"]["sources.eventwire.dev/source-name"] == "beats"
    injected = [
        {"name": "K_SINK", "value": SINK},
        {"name": "NAME", "value": "beats"},
        {"name": "NAMESPACE", "value": "ns"},
    ]
    assert pod["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}, *injected]
    assert pod["spec"]["containers"][1]["env"] == injected
    assert pod["spec"]["containers"][1]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "runAsUser": 1000,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert object_problems(deployment) == ([], True)


def test_webhook_service_and_service_account() -> None:
    source = served(make_source("GitHubSource", "hooks", "ns"))
    assert resources.make_webhook_service(source) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "hooks-githubsource",
            "namespace": "ns",
            "labels": labels("hooks", "GitHubSource"),
            "ownerReferences": owner(source),
        },
        "spec": {
            "selector": {
                "sources.eventwire.dev/source-kind": "githubsource",
                "sources.eventwire.dev/source-name": "hooks",
            },
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }
    account = resources.make_service_account(source)
    assert account["metadata"]["name"] == "hooks-githubsource"
    for manifest in (resources.make_webhook_service(source), account):
        assert object_problems(manifest) == ([], True)


ROUTED = ControllerSettings(webhook_domain="hooks.example.com")


@pytest.mark.parametrize(
    ("settings", "spec", "url"),
    [
        pytest.param(SETTINGS, {}, "http://repo-githubsource.ns.svc.cluster.local", id="in-cluster"),
        pytest.param(
            SETTINGS,
            {"secure": True},
            "https://repo-githubsource.ns.svc.cluster.local",
            id="in-cluster-secure",
        ),
        pytest.param(
            ControllerSettings(cluster_domain="corp.internal"),
            {},
            "http://repo-githubsource.ns.svc.corp.internal",
            id="in-cluster-own-domain",
        ),
        pytest.param(ROUTED, {}, "http://repo.ns.hooks.example.com", id="routed"),
        pytest.param(ROUTED, {"secure": True}, "https://repo.ns.hooks.example.com", id="routed-secure"),
        pytest.param(ROUTED, {"secure": False}, "http://repo.ns.hooks.example.com", id="routed-insecure"),
    ],
)
def test_webhook_url(settings: ControllerSettings, spec: dict[str, Any], url: str) -> None:
    source = served(make_source("GitHubSource", "repo", "ns", **spec))
    assert resources.webhook_url(source, settings) == url


def virtual_service(source: dict[str, Any], host: str, gateway: str, destination: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {
            "name": "repo-githubsource",
            "namespace": "shop",
            "labels": labels("repo", "GitHubSource"),
            "ownerReferences": owner(source),
        },
        "spec": {
            "hosts": [host],
            "gateways": [gateway],
            "http": [{"route": [{"destination": {"host": destination, "port": {"number": 80}}}]}],
        },
    }


@pytest.mark.parametrize(
    ("settings", "host", "gateway", "destination"),
    [
        pytest.param(
            ROUTED,
            "repo.shop.hooks.example.com",
            "istio-system/eventwire-webhooks",
            "repo-githubsource.shop.svc.cluster.local",
            id="defaults",
        ),
        pytest.param(
            ControllerSettings(
                webhook_domain="gh.corp.example", webhook_gateway="edge/hooks", cluster_domain="corp.internal"
            ),
            "repo.shop.gh.corp.example",
            "edge/hooks",
            "repo-githubsource.shop.svc.corp.internal",
            id="own-gateway-and-cluster-domain",
        ),
    ],
)
def test_webhook_virtual_service_whole(
    settings: ControllerSettings, host: str, gateway: str, destination: str
) -> None:
    source = served(make_source("GitHubSource", "repo", "shop", secure=True))
    built = resources.make_webhook_virtual_service(source, settings)
    assert built == virtual_service(source, host, gateway, destination)
    # The route ends at the webhook Service's port, and the URL GitHub gets names the routed host.
    service = resources.make_webhook_service(source)
    assert (
        built["spec"]["http"][0]["route"][0]["destination"]["port"]["number"]
        == (service["spec"]["ports"][0]["port"])
    )
    assert destination.startswith(f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.")
    assert resources.webhook_url(source, settings) == f"https://{host}"


def test_api_server_source_namespaced_rbac() -> None:
    source = served(make_source("ApiServerSource", "w", "ns"))
    role, binding = apiserver.make_rbac(
        source, [("", "pods"), ("apps", "deployments"), ("", "events")], "w-sa"
    )
    assert role["kind"] == "Role"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["events", "pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "w-apiserversource",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "w-sa", "namespace": "ns"}]
    assert role["metadata"]["ownerReferences"] == owner(source)
    for manifest in (role, binding):
        assert object_problems(manifest) == ([], True)


def test_api_server_source_with_a_selector_binds_a_cluster_role_in_each_namespace() -> None:
    source = served(make_source("ApiServerSource", "w", "ns", namespaceSelector={"matchLabels": {"a": "b"}}))
    role, *bindings = apiserver.make_rbac(source, [("", "events")], "w-apiserversource", ["y", "x"])
    name = "eventwire-ns-w-apiserversource"
    tracked = {**labels("w", "ApiServerSource"), names.SOURCE_UID_LABEL: source["metadata"]["uid"]}
    assert role == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": tracked},
        "rules": [{"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]}],
    }
    assert bindings == [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace, "labels": tracked},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "w-apiserversource", "namespace": "ns"}],
        }
        for namespace in ("x", "y")
    ]
    for manifest in (role, *bindings):
        assert object_problems(manifest) == ([], True)


def test_api_server_source_for_all_namespaces_gets_a_cluster_role_binding() -> None:
    source = served(make_source("ApiServerSource", "w", "ns", namespaceSelector={}))
    role, binding = apiserver.make_rbac(source, [("", "events")], "sa")
    assert (role["kind"], binding["kind"]) == ("ClusterRole", "ClusterRoleBinding")
    assert binding["metadata"]["labels"][names.SOURCE_UID_LABEL] == source["metadata"]["uid"]


@pytest.mark.parametrize(
    ("selector", "selected", "where"),
    [
        (None, None, {"namespaces": ["ns"]}),
        ({"matchLabels": {"a": "b"}}, ["y", "x"], {"namespaces": ["x", "y"]}),
        ({}, None, {"allNamespaces": True}),
    ],
)
def test_api_server_source_config(selector: Any, selected: list[str] | None, where: dict[str, Any]) -> None:
    spec: dict[str, Any] = {"mode": "Resource", "owner": {"apiVersion": "apps/v1", "kind": "Deployment"}}
    if selector is not None:
        spec["namespaceSelector"] = selector
    source = served(make_source("ApiServerSource", "w", "ns", **spec))
    (env,) = kinds.adapter_for(source, selected).env
    assert env["name"] == "K_SOURCE_CONFIG"
    assert json.loads(env["value"]) == {
        "mode": "Resource",
        "owner": {"apiVersion": "apps/v1", "kind": "Deployment"},
        "resources": [{"apiVersion": "v1", "kind": "Event"}],
        **where,
    }


@pytest.mark.parametrize(
    ("selector", "query"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "t", "operator": "In", "values": ["x", "y"]},
                    {"key": "u", "operator": "DoesNotExist"},
                ]
            },
            "t in (x,y),!u",
        ),
        (
            {
                "matchExpressions": [
                    {"key": "t", "operator": "NotIn", "values": ["x"]},
                    {"key": "v", "operator": "Exists"},
                ]
            },
            "t notin (x),v",
        ),
    ],
)
def test_selector_matches_as_the_api_server_matches_its_query(selector: dict[str, Any], query: str) -> None:
    """The controller matches namespaces in its cache as a labelSelector query would."""
    from tests.support.kube import label_selector_matches

    label_sets: list[dict[str, str]] = [
        {},
        {"t": "x"},
        {"t": "y", "v": "1"},
        {"t": "z", "u": "1"},
        {"t": "x", "u": "1", "v": "2"},
        {"team": "shop", "t": "x"},
    ]
    for labels in label_sets:
        assert kinds.selector_matches(selector, labels) == label_selector_matches(query, labels), labels


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"ackDeadline": "PT1M30S"}, {"PUBSUB_ACK_DEADLINE": "90"}),
        # Clamped to what Pub/Sub accepts: ack deadline 10 s..600 s, retention 10 min..31 days.
        (
            {"ackDeadline": "PT5S", "retentionDuration": "PT1M"},
            {"PUBSUB_ACK_DEADLINE": "10", "PUBSUB_RETENTION_DURATION": "600"},
        ),
        (
            {"ackDeadline": "PT1H", "retentionDuration": "P1D"},
            {"PUBSUB_ACK_DEADLINE": "600", "PUBSUB_RETENTION_DURATION": "86400"},
        ),
        ({"retentionDuration": "P60D"}, {"PUBSUB_RETENTION_DURATION": str(31 * 86400)}),
        ({}, {}),
    ],
)
def test_pubsub_durations_in_seconds(spec: dict[str, Any], expected: dict[str, str]) -> None:
    source = served(make_source("GcpPubSubSource", "p", "ns", **spec))
    env = {e["name"]: e["value"] for e in kinds.adapter_for(source).env}
    assert {
        k: v for k, v in env.items() if k in ("PUBSUB_ACK_DEADLINE", "PUBSUB_RETENTION_DURATION")
    } == expected
    assert "PUBSUB_PROJECT" not in env  # no spec.project: the adapter takes the credentials' project


@pytest.mark.parametrize(
    ("parent", "suffix", "expected"),
    [
        ("tick", "pingsource", "tick-pingsource"),
        ("x" * 60, "pingsource", "x" * 54 + "-8e4a4880"),
    ],
)
def test_child_names_fit_dns_labels(parent: str, suffix: str, expected: str) -> None:
    name = names.child_name(parent, suffix)
    assert name == expected
    assert len(name) <= 63


def test_github_hook_payload_and_paths() -> None:
    assert hooks_path("acme/shop") == "repos/acme/shop/hooks"
    assert hooks_path("acme") == "orgs/acme/hooks"
    assert hook_payload("https://hooks.example", ["push", "issues"], "k", secure=True) == {
        "name": "web",
        "active": True,
        "events": ["issues", "push"],
        "config": {
            "url": "https://hooks.example",
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": "k",
        },
    }


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        (
            "PingSource",
            {},
            [{"type": "dev.knative.sources.ping", "source": "/apis/v1/namespaces/ns/pingsources/s"}],
        ),
        (
            "GitHubSource",
            {"ownerAndRepository": "a/b", "eventTypes": ["push"]},
            [{"type": "dev.knative.source.github.push", "source": "https://github.com/a/b"}],
        ),
        ("ContainerSource", {}, []),
    ],
)
def test_ce_attributes(kind: str, spec: dict[str, Any], expected: list[dict[str, str]]) -> None:
    assert kinds.ce_attributes(served(make_source(kind, "s", "ns", **spec))) == expected


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        (None, (False, "the adapter Deployment does not exist")),
        ({}, (False, "the adapter Deployment has not reported availability yet")),
        ({"status": {"conditions": [{"type": "Available", "status": "True"}]}}, (True, "")),
        (
            {
                "status": {
                    "conditions": [{"type": "Available", "status": "False", "message": "0/1 available"}]
                }
            },
            (False, "0/1 available"),
        ),
    ],
)
def test_deployment_available(deployment: Any, expected: tuple[bool, str]) -> None:
    assert resources.deployment_available(deployment) == expected


def test_app_only_events_are_split_from_those_a_webhook_can_have() -> None:
    from eventwire_runtime.controller.sources.github import hook_events
    from eventwire_spec.github_events import APP_ONLY_GITHUB_EVENTS, GITHUB_EVENTS

    assert set(GITHUB_EVENTS) >= APP_ONLY_GITHUB_EVENTS  # every one is a name the CRD accepts
    assert hook_events(["push", "sponsorship", "issues", "installation", "push"]) == (
        ["issues", "push"],
        ["installation", "sponsorship"],
    )
    assert hook_events(["repository_dispatch"]) == ([], ["repository_dispatch"])
