"""End to end: GitHub webhooks from outside the cluster. The real operator, configured with a
webhook domain (as the Pulumi install configures it), routes each GitHubSource's host through the
webhook gateway with an owned Istio VirtualService, publishes that URL in status.url, registers
exactly that URL at a local fake of GitHub's hook API, and the VirtualService goes with the source."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eventwire.rbac import CONTROLLER_RULES, WEBHOOK_ROUTE_RULES
from tests.controller.conftest import running_operator
from tests.controller.factories import (
    SOURCES,
    apply,
    condition,
    make_secret,
    make_source,
    requests_outside_rbac,
)
from tests.controller.github_fake import running_github
from tests.support.kube import KubeApiFake
from tests.support.processes import ManagedProcess
from tests.support.waiting import eventually

TIMEOUT = 10.0
DOMAIN = "hooks.example.test"
GATEWAY = "istio-edge/github-hooks"
VS = "networking.istio.io/v1"


@pytest.fixture(scope="module")
def operator(kube: KubeApiFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """This module's controller routes webhooks under DOMAIN through GATEWAY."""
    env = {"EVENTWIRE_WEBHOOK_DOMAIN": DOMAIN, "EVENTWIRE_WEBHOOK_GATEWAY": GATEWAY}
    with running_operator(kube, tmp_path_factory.mktemp("kube"), env) as proc:
        yield proc


def status_of(kube: KubeApiFake, name: str, namespace: str) -> dict[str, Any]:
    return dict((kube.get(SOURCES, "GitHubSource", name, namespace) or {}).get("status") or {})


def test_webhook_is_routed_published_registered_and_removed(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    with running_github(token="s3cr3t") as github:
        kube.create(make_secret("gh", namespace, token=b"s3cr3t"))
        source = apply(
            kube,
            make_source(
                "GitHubSource",
                "repo",
                namespace,
                ownerAndRepository="acme/shop",
                eventTypes=["push"],
                accessToken={"secretKeyRef": {"name": "gh", "key": "token"}},
                githubAPIURL=github.url,
                secure=True,
            ),
        )
        route = eventually(
            lambda: kube.get(VS, "VirtualService", "repo-githubsource", namespace), TIMEOUT, "VirtualService"
        )
        assert route["spec"] == {
            "hosts": [f"repo.{namespace}.{DOMAIN}"],
            "gateways": [GATEWAY],
            "http": [
                {
                    "route": [
                        {
                            "destination": {
                                "host": f"repo-githubsource.{namespace}.svc.cluster.local",
                                "port": {"number": 80},
                            }
                        }
                    ]
                }
            ],
        }
        [owner] = route["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "GitHubSource",
            "repo",
            source["metadata"]["uid"],
            True,
        )
        # The route's destination is the Service the controller created for the adapter.
        service = eventually(
            lambda: kube.get("v1", "Service", "repo-githubsource", namespace), TIMEOUT, "Service"
        )
        assert service["spec"]["ports"][0]["port"] == 80

        hook_id = eventually(lambda: status_of(kube, "repo", namespace).get("webhookIDKey"), TIMEOUT, "hook")
        status = status_of(kube, "repo", namespace)
        url = f"https://repo.{namespace}.{DOMAIN}"
        assert status["url"] == url
        assert github.hooks[hook_id]["config"]["url"] == url  # exactly what status publishes
        assert github.hooks[hook_id]["config"]["insecure_ssl"] == "0"
        assert condition({"status": status}, "WebhookRouted")["status"] == "True"
        assert condition({"status": status}, "WebhookRegistered")["status"] == "True"

        # A route edited by hand is put back.
        kube.patch(VS, "VirtualService", "repo-githubsource", {"spec": {"gateways": ["mesh"]}}, namespace)
        kube.patch(SOURCES, "GitHubSource", "repo", {"spec": {"eventTypes": ["push", "issues"]}}, namespace)
        eventually(
            lambda: (
                (kube.get(VS, "VirtualService", "repo-githubsource", namespace) or {})["spec"]["gateways"]
                == [GATEWAY]
            ),
            TIMEOUT,
            "the route restored",
        )

        kube.delete(SOURCES, "GitHubSource", "repo", namespace)
        eventually(lambda: kube.get(SOURCES, "GitHubSource", "repo", namespace) is None, TIMEOUT, "deleted")
        eventually(
            lambda: kube.get(VS, "VirtualService", "repo-githubsource", namespace) is None,
            TIMEOUT,
            "the VirtualService collected",
        )
        assert github.hooks == {}
    # Creating and restoring the route needed no right beyond WEBHOOK_ROUTE_RULES.
    requests = list(kube.requests)
    assert ("POST", f"/apis/{VS}/namespaces/{namespace}/virtualservices") in requests
    assert requests_outside_rbac(requests, (*CONTROLLER_RULES, *WEBHOOK_ROUTE_RULES)) == []


def test_a_source_without_a_token_still_gets_its_route_and_url(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_source("GitHubSource", "org", namespace, ownerAndRepository="acme", eventTypes=["push"]))
    eventually(lambda: kube.get(VS, "VirtualService", "org-githubsource", namespace), TIMEOUT, "route")
    eventually(lambda: status_of(kube, "org", namespace).get("url"), TIMEOUT, "status.url")
    status = status_of(kube, "org", namespace)
    assert status["url"] == f"http://org.{namespace}.{DOMAIN}"
    registered = condition({"status": status}, "WebhookRegistered")
    assert registered["reason"] == "NotManaged"
    assert status["url"] in registered["message"]


def test_every_request_is_allowed_by_the_cluster_role_and_the_webhook_route_rules(
    cluster: KubeApiFake,
) -> None:
    """Runs last in this module: what the operator did above needed no other right."""
    assert requests_outside_rbac(list(cluster.requests), (*CONTROLLER_RULES, *WEBHOOK_ROUTE_RULES)) == []
