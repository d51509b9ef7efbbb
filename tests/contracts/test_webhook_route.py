"""The install and the controller agree on the GitHub webhook route: the controller, configured by
the environment the install gives it, builds a VirtualService that binds to the Gateway the install
creates, for a host that Gateway serves, and the install grants it exactly the rights to do so."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire import rbac
from eventwire.render.engine import ProgramRun
from eventwire.render.stack import run_stack
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.sources import resources
from tests.controller.factories import make_source, served
from tests.infra.conftest import PROJECT


def objects(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    return [r.plain for r in run.registrations if r.custom and r.inputs.get("kind") == kind]


def controller_settings(run: ProgramRun) -> ControllerSettings:
    """The settings the controller parses from the env the install gives its pod."""
    [controller] = [d for d in objects(run, "Deployment") if d["metadata"]["name"] == "eventwire-controller"]
    env = controller["spec"]["template"]["spec"]["containers"][0]["env"]
    return ControllerSettings.from_env({e["name"]: str(e["value"]) for e in env if "value" in e})


def gateway_serves(gateway: dict[str, Any], host: str, protocol: str = "HTTP") -> bool:
    """Whether a server of `protocol` matches `host` (Istio host matching: exact, or a `*.`
    wildcard that matches any longer suffix)."""
    for server in gateway["spec"]["servers"]:
        if server["port"]["protocol"] != protocol:
            continue
        for pattern in server["hosts"]:
            if pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return True
    return False


@pytest.mark.parametrize(
    ("stack", "overrides", "domain"),
    [
        pytest.param("staging", {}, "webhooks.staging.eventwire.example", id="staging"),
        pytest.param("prod", {}, "webhooks.eventwire.example", id="prod"),
        pytest.param("prod", {"githubWebhookHost": "gh.corp.example"}, "gh.corp.example", id="own-domain"),
    ],
)
def test_the_controllers_route_binds_to_the_installed_gateway(
    stack: str, overrides: dict[str, Any], domain: str
) -> None:
    run = run_stack(PROJECT, stack, overrides)
    settings = controller_settings(run)
    assert settings.webhook_domain == domain
    [gateway] = objects(run, "Gateway")
    assert settings.webhook_gateway == f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}"
    # The Gateway is on the ingress gateway the Istio component installs (release istio-ingressgateway).
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}

    source = served(make_source("GitHubSource", "repo", "shop"))
    route = resources.make_webhook_virtual_service(source, settings)
    assert route["spec"]["gateways"] == [settings.webhook_gateway]
    [host] = route["spec"]["hosts"]
    assert host == f"repo.shop.{domain}"
    assert gateway_serves(gateway, host)
    assert resources.webhook_url(source, settings) == f"http://{host}"

    # The controller may manage exactly those VirtualServices: the route rules, aggregated into
    # the controller's role through the label its aggregation rule selects.
    [routes_role] = [r for r in objects(run, "ClusterRole") if r["rules"] == list(rbac.WEBHOOK_ROUTE_RULES)]
    [extra] = [
        r for r in objects(run, "ClusterRole") if r["metadata"]["name"] == "eventwire-controller-extra"
    ]
    [selector] = extra["aggregationRule"]["clusterRoleSelectors"]
    assert all(routes_role["metadata"]["labels"].get(k) == v for k, v in selector["matchLabels"].items())


def test_without_github_sources_nothing_is_routed() -> None:
    run = run_stack(PROJECT, "dev")
    settings = controller_settings(run)
    assert settings.webhook_domain == ""
    assert objects(run, "Gateway") == []
    assert not [r for r in objects(run, "ClusterRole") if r["rules"] == list(rbac.WEBHOOK_ROUTE_RULES)]
    source = served(make_source("GitHubSource", "repo", "shop"))
    assert resources.webhook_url(source, settings) == "http://repo-githubsource.shop.svc.cluster.local"


def test_secure_sources_get_an_https_url_the_gateway_serves_with_a_tls_secret() -> None:
    run = run_stack(PROJECT, "prod", {"githubWebhookTlsSecret": "webhook-cert"})
    settings = controller_settings(run)
    [gateway] = objects(run, "Gateway")
    source = served(make_source("GitHubSource", "repo", "shop", secure=True))
    url = resources.webhook_url(source, settings)
    assert url == "https://repo.shop.webhooks.eventwire.example"
    assert gateway_serves(gateway, url.removeprefix("https://"), "HTTPS")
    [https] = [s for s in gateway["spec"]["servers"] if s["port"]["protocol"] == "HTTPS"]
    assert https["tls"] == {"mode": "SIMPLE", "credentialName": "webhook-cert"}
    assert (
        gateway["metadata"]["namespace"] == settings.webhook_gateway.split("/")[0]
    )  # the Secret's namespace


def test_without_a_tls_secret_the_gateway_serves_http_only() -> None:
    [gateway] = objects(run_stack(PROJECT, "prod"), "Gateway")
    assert [s["port"]["protocol"] for s in gateway["spec"]["servers"]] == ["HTTP"]
