"""End to end: the real operator against the Kubernetes API fake — every source kind gets its
adapter Deployment, ServiceAccount, Service and RBAC; sink changes roll the adapter; deletion
collects the children; a GitHubSource with a token manages its webhook on a fake GitHub."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.controller.factories import (
    SOURCES,
    apply,
    condition,
    env_of,
    make_secret,
    make_service,
    make_source,
    requests_outside_rbac,
    service_ref,
)
from tests.controller.github_fake import running_github
from tests.support.kube import KubeApiFake
from tests.support.waiting import eventually

TIMEOUT = 10.0
IMAGE = "registry.example/eventwire/runtime:test"
RBAC = "rbac.authorization.k8s.io/v1"


def deployment(kube: KubeApiFake, name: str, namespace: str) -> dict[str, Any] | None:
    return kube.get("apps/v1", "Deployment", name, namespace)


def source_status(kube: KubeApiFake, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return dict((kube.get(SOURCES, kind, name, namespace) or {}).get("status") or {})


def mark_available(kube: KubeApiFake, name: str, namespace: str) -> None:
    """What the Deployment controller would report once the adapter pod runs."""
    kube.patch(
        "apps/v1",
        "Deployment",
        name,
        {"status": {"conditions": [{"type": "Available", "status": "True"}]}},
        namespace,
        subresource="status",
    )


COMMON = {"K_SINK", "NAME", "NAMESPACE", "METRICS_PORT"}
CASES = [
    pytest.param(
        "PingSource",
        {"schedule": "*/2 * * * *", "data": "hi"},
        {"PING_SCHEDULE": "*/2 * * * *", "PING_DATA": "hi"},
        id="ping",
    ),
    pytest.param(
        "AwsSqsSource",
        {
            "queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/orders",
            "awsCredsSecret": {"name": "aws", "key": "credentials"},
        },
        {
            "SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/orders",
            "AWS_SHARED_CREDENTIALS_FILE": "/var/run/secrets/eventwire/aws-credentials/credentials",
        },
        id="sqs",
    ),
    pytest.param(
        "GcpPubSubSource",
        {"topic": "invoices", "subscription": "ew", "secret": {"name": "gcp", "key": "key.json"}},
        {
            "PUBSUB_TOPIC": "invoices",
            "PUBSUB_SUBSCRIPTION": "ew",
            "GOOGLE_APPLICATION_CREDENTIALS": "/var/run/secrets/eventwire/google-credentials/key.json",
        },
        id="pubsub",
    ),
    pytest.param(
        "GitHubSource",
        {"ownerAndRepository": "acme/shop", "eventTypes": ["push", "pull_request"]},
        {"GITHUB_OWNER_REPO": "acme/shop", "GITHUB_EVENT_TYPES": "push,pull_request", "PORT": "8080"},
        id="github",
    ),
    pytest.param(
        "ApiServerSource",
        {"resources": [{"apiVersion": "v1", "kind": "Pod"}, {"apiVersion": "apps/v1", "kind": "Deployment"}]},
        {},
        id="apiserver",
    ),
]


@pytest.mark.parametrize(("kind", "spec", "env"), CASES)
def test_source_gets_its_adapter_and_becomes_ready(
    cluster: KubeApiFake, namespace: str, kind: str, spec: dict[str, Any], env: dict[str, str]
) -> None:
    kube = cluster
    apply(kube, make_service("display", namespace))
    apply(kube, make_source(kind, "src", namespace, sink=service_ref("display"), **spec))
    name = f"src-{kind.lower()}"
    dep = eventually(lambda: deployment(kube, name, namespace), TIMEOUT, f"{kind} adapter Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["args"] == ["adapter", kind.lower()]
    got = env_of(dep)
    assert set(got) >= COMMON
    assert got["K_SINK"] == f"http://display.{namespace}.svc.cluster.local"
    assert {k: got.get(k) for k in env} == env
    source = kube.get(SOURCES, kind, "src", namespace)
    assert source is not None
    assert dep["metadata"]["ownerReferences"][0]["uid"] == source["metadata"]["uid"]
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == name
    account = kube.get("v1", "ServiceAccount", name, namespace)
    assert account is not None
    assert account["metadata"]["ownerReferences"][0]["uid"] == source["metadata"]["uid"]
    if kind == "GitHubSource":
        service = kube.get("v1", "Service", name, namespace)
        assert service is not None
        assert service["spec"]["ports"][0]["targetPort"] == 8080
        assert service["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    if kind == "ApiServerSource":
        role = kube.get(RBAC, "Role", name, namespace)
        binding = kube.get(RBAC, "RoleBinding", name, namespace)
        assert role is not None
        assert binding is not None
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
        ]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
        config = json.loads(got["K_SOURCE_CONFIG"])
        assert config["namespaces"] == [namespace]
    # Not Ready until the adapter is available; then Ready with the sink in the status.
    eventually(
        lambda: condition({"status": source_status(kube, kind, "src", namespace)}, "SinkProvided"), TIMEOUT
    )
    assert condition({"status": source_status(kube, kind, "src", namespace)})["status"] == "Unknown"
    mark_available(kube, name, namespace)
    eventually(
        lambda: condition({"status": source_status(kube, kind, "src", namespace)}).get("status") == "True",
        TIMEOUT,
        f"{kind} Ready",
    )
    status = source_status(kube, kind, "src", namespace)
    assert status["sinkUri"] == f"http://display.{namespace}.svc.cluster.local"
    assert status["observedGeneration"] == 1


def test_container_source_runs_the_users_template_with_the_sink_injected(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    template = {
        "spec": {
            "containers": [
                {
                    "name": "beats",
                    "image": "example.com/heartbeats:1",
                    "env": [{"name": "K_SINK", "value": "x"}, {"name": "PERIOD", "value": "5"}],
                }
            ]
        }
    }
    apply(
        kube,
        make_source(
            "ContainerSource", "beats", namespace, template=template, sink={"uri": "http://sink.example/"}
        ),
    )
    dep = eventually(lambda: deployment(kube, "beats-containersource", namespace), TIMEOUT, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "example.com/heartbeats:1"
    assert env_of(dep) == {
        "PERIOD": "5",
        "K_SINK": "http://sink.example/",
        "NAME": "beats",
        "NAMESPACE": namespace,
    }
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_sink_change_rolls_the_adapter(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_source("PingSource", "tick", namespace, sink={"uri": "http://one.example/"}))
    dep = eventually(lambda: deployment(kube, "tick-pingsource", namespace), TIMEOUT, "Deployment")
    annotation = "sources.eventwire.dev/spec-hash"
    first_hash = dep["spec"]["template"]["metadata"]["annotations"][annotation]
    kube.patch(SOURCES, "PingSource", "tick", {"spec": {"sink": {"uri": "http://two.example/"}}}, namespace)

    def rolled() -> dict[str, Any] | None:
        dep = deployment(kube, "tick-pingsource", namespace)
        return dep if dep and env_of(dep)["K_SINK"] == "http://two.example/" else None

    dep = eventually(rolled, TIMEOUT, "the new sink in the Deployment")
    assert dep["spec"]["template"]["metadata"]["annotations"][annotation] != first_hash
    eventually(
        lambda: source_status(kube, "PingSource", "tick", namespace).get("sinkUri") == "http://two.example/",
        TIMEOUT,
        "sinkUri updated",
    )
    assert source_status(kube, "PingSource", "tick", namespace)["observedGeneration"] == 2


def test_unresolvable_sink_sets_sink_provided_false_then_recovers(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    apply(kube, make_source("PingSource", "tick", namespace, sink=service_ref("later")))
    eventually(
        lambda: (
            condition({"status": source_status(kube, "PingSource", "tick", namespace)}, "SinkProvided").get(
                "status"
            )
            == "False"
        ),
        TIMEOUT,
        "SinkProvided=False",
    )
    assert deployment(kube, "tick-pingsource", namespace) is None
    apply(kube, make_service("later", namespace))
    eventually(
        lambda: deployment(kube, "tick-pingsource", namespace), TIMEOUT, "Deployment once the sink exists"
    )


def test_deleting_a_source_collects_its_children(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(
        kube,
        make_source("GitHubSource", "hooks", namespace, ownerAndRepository="acme/shop", eventTypes=["push"]),
    )
    eventually(lambda: deployment(kube, "hooks-githubsource", namespace), TIMEOUT, "Deployment")
    eventually(lambda: kube.get("v1", "Service", "hooks-githubsource", namespace), TIMEOUT, "Service")
    kube.delete(SOURCES, "GitHubSource", "hooks", namespace)
    eventually(lambda: kube.get(SOURCES, "GitHubSource", "hooks", namespace) is None, TIMEOUT, "source gone")
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ServiceAccount")):
        assert kube.get(api_version, kind, "hooks-githubsource", namespace) is None, kind


def test_api_server_source_with_namespace_selector_follows_namespaces_and_cleans_up(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    team = f"{namespace}-team"
    first, second = f"{team}-1", f"{team}-2"
    kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": first, "labels": {"team": team}}}
    )
    spec = {
        "resources": [{"apiVersion": "v1", "kind": "Event"}],
        "namespaceSelector": {"matchLabels": {"team": team}},
    }
    apply(kube, make_source("ApiServerSource", "events", namespace, **spec))
    name = f"eventwire-{namespace}-events-apiserversource"
    role = eventually(lambda: kube.get(RBAC, "ClusterRole", name), TIMEOUT, "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]}]
    assert kube.get(RBAC, "ClusterRoleBinding", name) is None  # bound per namespace only

    def watched() -> list[str]:
        dep = deployment(kube, "events-apiserversource", namespace)
        return json.loads(env_of(dep)["K_SOURCE_CONFIG"])["namespaces"] if dep else []

    def bound() -> list[str]:
        return sorted(
            b["metadata"]["namespace"]
            for b in kube.list(RBAC, "RoleBinding")
            if b["metadata"]["name"] == name
        )

    eventually(lambda: watched() == [first] and bound() == [first], TIMEOUT, "the selected namespace")
    # A new matching namespace is picked up through the watch on namespaces; one that stops
    # matching loses its binding.
    kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": second, "labels": {"team": team}}}
    )
    eventually(lambda: watched() == [first, second] and bound() == [first, second], TIMEOUT, "both")
    kube.patch("v1", "Namespace", first, {"metadata": {"labels": {"team": "other"}}})
    eventually(lambda: watched() == [second] and bound() == [second], TIMEOUT, "only the second")

    kube.delete(SOURCES, "ApiServerSource", "events", namespace)
    eventually(lambda: kube.get(SOURCES, "ApiServerSource", "events", namespace) is None, TIMEOUT, "deleted")
    assert kube.get(RBAC, "ClusterRole", name) is None
    assert bound() == []


def test_api_server_source_watching_an_unknown_kind_lacks_permissions(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    apply(
        kube,
        make_source(
            "ApiServerSource", "odd", namespace, resources=[{"apiVersion": "example.com/v1", "kind": "Gizmo"}]
        ),
    )
    eventually(
        lambda: (
            condition(
                {"status": source_status(kube, "ApiServerSource", "odd", namespace)}, "SufficientPermissions"
            ).get("reason")
            == "UnknownResources"
        ),
        TIMEOUT,
        "SufficientPermissions=False",
    )


def test_github_source_with_token_registers_and_removes_its_webhook(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    with running_github(token="s3cr3t") as github:
        kube.create(make_secret("gh", namespace, token=b"s3cr3t", webhook=b"hmac-key"))
        apply(
            kube,
            make_source(
                "GitHubSource",
                "repo",
                namespace,
                ownerAndRepository="acme/shop",
                eventTypes=["push", "issues"],
                accessToken={"secretKeyRef": {"name": "gh", "key": "token"}},
                secretToken={"secretKeyRef": {"name": "gh", "key": "webhook"}},
                githubAPIURL=github.url,
            ),
        )
        hook_id = eventually(
            lambda: source_status(kube, "GitHubSource", "repo", namespace).get("webhookIDKey"),
            TIMEOUT,
            "webhook id",
        )
        hook = github.hooks[hook_id]
        assert hook["path"] == "api/v3/repos/acme/shop/hooks"
        assert hook["events"] == ["issues", "push"]
        assert hook["config"] == {
            "url": f"http://repo-githubsource.{namespace}.svc.cluster.local",
            "content_type": "json",
            "insecure_ssl": "1",
            "secret": "hmac-key",
        }
        dep = deployment(kube, "repo-githubsource", namespace)
        assert dep is not None
        assert env_of(dep)["GITHUB_SECRET_TOKEN"] == {"secretKeyRef": {"name": "gh", "key": "webhook"}}
        # Reconciles that change nothing do not call GitHub again.
        calls = len(github.requests)
        mark_available(kube, "repo-githubsource", namespace)
        eventually(
            lambda: (
                condition({"status": source_status(kube, "GitHubSource", "repo", namespace)}).get("status")
                == "True"
            ),
            TIMEOUT,
            "Ready",
        )
        assert len(github.requests) == calls
        # A changed event list updates the same hook.
        kube.patch(SOURCES, "GitHubSource", "repo", {"spec": {"eventTypes": ["push"]}}, namespace)
        eventually(lambda: github.hooks[hook_id]["events"] == ["push"], TIMEOUT, "hook updated")
        assert ("PATCH", f"/api/v3/repos/acme/shop/hooks/{hook_id}") in github.requests

        kube.delete(SOURCES, "GitHubSource", "repo", namespace)
        eventually(lambda: kube.get(SOURCES, "GitHubSource", "repo", namespace) is None, TIMEOUT, "deleted")
        assert github.hooks == {}
        assert github.requests[-1] == ("DELETE", f"/api/v3/repos/acme/shop/hooks/{hook_id}")


def test_github_source_omits_events_a_repository_webhook_cannot_have(
    cluster: KubeApiFake, namespace: str
) -> None:
    """GitHub refuses a repository hook naming App-only events (the fake answers 422 as it does):
    they are left out and named in WebhookRegistered; with nothing left, nothing is registered."""
    kube = cluster
    token = {"secretKeyRef": {"name": "gh", "key": "token"}}

    def registered(name: str) -> dict[str, Any]:
        return condition(
            {"status": source_status(kube, "GitHubSource", name, namespace)}, "WebhookRegistered"
        )

    with running_github(token="s3cr3t") as github:
        kube.create(make_secret("gh", namespace, token=b"s3cr3t"))
        events = ["push", "installation", "marketplace_purchase"]
        apply(
            kube,
            make_source(
                "GitHubSource",
                "mixed",
                namespace,
                ownerAndRepository="acme/shop",
                eventTypes=events,
                accessToken=token,
                githubAPIURL=github.url,
            ),
        )
        hook_id = eventually(
            lambda: source_status(kube, "GitHubSource", "mixed", namespace).get("webhookIDKey"),
            TIMEOUT,
            "webhook id",
        )
        assert github.hooks[hook_id]["events"] == ["push"]
        cond = eventually(
            lambda: registered("mixed") if registered("mixed").get("reason") else None, TIMEOUT, "why"
        )
        assert (cond["status"], cond["reason"]) == ("True", "AppOnlyEventsOmitted")
        assert "installation, marketplace_purchase" in cond["message"]
        assert "repository webhook" in cond["message"]

        apply(
            kube,
            make_source(
                "GitHubSource",
                "app-only",
                namespace,
                ownerAndRepository="acme",
                eventTypes=["installation", "github_app_authorization"],
                accessToken=token,
                githubAPIURL=github.url,
            ),
        )
        eventually(lambda: registered("app-only").get("reason") == "AppOnlyEvents", TIMEOUT, "AppOnlyEvents")
        cond = registered("app-only")
        assert cond["status"] == "False"
        assert "github_app_authorization, installation" in cond["message"]
        assert "organisation webhook" in cond["message"]
        assert [p for _, p in github.requests if "/orgs/" in p] == []  # GitHub was not asked


def test_github_source_with_a_missing_token_secret(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(
        kube,
        make_source(
            "GitHubSource",
            "repo",
            namespace,
            ownerAndRepository="acme/shop",
            eventTypes=["push"],
            accessToken={"secretKeyRef": {"name": "absent", "key": "token"}},
        ),
    )
    eventually(
        lambda: (
            condition(
                {"status": source_status(kube, "GitHubSource", "repo", namespace)}, "WebhookRegistered"
            ).get("reason")
            == "AccessTokenMissing"
        ),
        TIMEOUT,
        "AccessTokenMissing",
    )


def test_a_deleted_adapter_deployment_comes_back(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_source("PingSource", "tick", namespace, sink={"uri": "http://one.example/"}))
    first = eventually(lambda: deployment(kube, "tick-pingsource", namespace), TIMEOUT, "Deployment")
    kube.delete("apps/v1", "Deployment", "tick-pingsource", namespace)
    again = eventually(
        lambda: (
            (dep := deployment(kube, "tick-pingsource", namespace))
            and dep["metadata"]["uid"] != first["metadata"]["uid"]
            and dep
        ),
        TIMEOUT,
        "the Deployment recreated",
    )
    assert env_of(again)["K_SINK"] == "http://one.example/"


def test_every_request_of_the_controller_is_allowed_by_its_cluster_role(cluster: KubeApiFake) -> None:
    """Runs last in this module: checks what the operator did in all the tests above."""
    assert requests_outside_rbac(list(cluster.requests)) == []
