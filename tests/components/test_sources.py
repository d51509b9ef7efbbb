"""EventSources: aggregated RBAC, default Secrets from Pulumi secrets, the GitHub webhook ingress."""

from __future__ import annotations

import pulumi
import pytest

from eventwire import rbac
from eventwire.exceptions import ConfigError
from eventwire.install import EventSources
from tests.components.conftest import Runner, find, kube_objects


def test_enabled_kinds_join_the_edit_and_view_roles(run: Runner) -> None:
    record = run(lambda: EventSources("sources", {"kinds": ["PingSource", "ApiServerSource"]}))
    edit = find(record, "ClusterRole", "eventwire-sources-edit").plain
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit["rules"][0]["resources"] == ["apiserversources", "pingsources"]
    view = find(record, "ClusterRole", "eventwire-sources-view").plain
    assert "pingsources/status" in view["rules"][0]["resources"]
    assert "create" not in view["rules"][0]["verbs"]


def test_credentials_become_secret_kubernetes_secrets(run: Runner) -> None:
    def program() -> None:
        EventSources(
            "sources",
            {
                "kinds": ["GitHubSource", "AwsSqsSource", "GcpPubSubSource"],
                "secrets_namespace": "shop",
                "github_webhook_secret": pulumi.Output.secret("gh-hook-value"),
                "aws_credentials": "aws-creds-value",  # even a plain input is stored as a secret
                "gcp_credentials": pulumi.Output.secret("gcp-key-value"),
                "webhook_domain": "hooks.example.org",
            },
        )

    record = run(program)
    for name, key, value in (
        ("github-webhook", "secret", "gh-hook-value"),
        ("aws-credentials", "credentials", "aws-creds-value"),
        ("gcp-credentials", "key.json", "gcp-key-value"),
    ):
        secret = find(record, "Secret", name)
        assert secret.plain["stringData"] == {key: value}
        assert secret.plain["metadata"]["namespace"] == "shop"
        assert secret.has_secrets
        assert value not in str(secret.redacted)
    gateway = find(record, "Gateway", "eventwire-webhooks").plain
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    assert gateway["spec"]["servers"][0]["hosts"] == ["*.hooks.example.org"]
    assert gateway["metadata"]["namespace"] == "istio-system"
    routes = find(record, "ClusterRole", "eventwire-controller-webhook-routes").plain
    assert routes["metadata"]["labels"][rbac.AGGREGATE_LABEL] == "true"
    assert routes["rules"] == [dict(rule) for rule in rbac.WEBHOOK_ROUTE_RULES]


def test_secrets_of_disabled_kinds_are_not_created(run: Runner) -> None:
    record = run(
        lambda: EventSources(
            "sources", {"kinds": ["PingSource"], "github_webhook_secret": pulumi.Output.secret("x")}
        )
    )
    assert not [o for o in kube_objects(record) if o["kind"] in ("Secret", "Gateway")]


def test_unknown_kinds_are_rejected(run: Runner) -> None:
    with pytest.raises(ConfigError, match="KafkaSource"):
        run(lambda: EventSources("sources", {"kinds": ["KafkaSource"]}))


def test_webhook_gateway_serves_https_with_a_tls_secret(run: Runner) -> None:
    record = run(
        lambda: EventSources(
            "sources",
            {
                "kinds": ["GitHubSource"],
                "webhook_domain": "hooks.example.org",
                "gateway_namespace": "edge",
                "webhook_tls_secret": "webhook-cert",
            },
        )
    )
    gateway = find(record, "Gateway", "eventwire-webhooks").plain
    assert gateway["metadata"]["namespace"] == "edge"
    assert gateway["spec"]["servers"] == [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*.hooks.example.org"]},
        {
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "hosts": ["*.hooks.example.org"],
            "tls": {"mode": "SIMPLE", "credentialName": "webhook-cert"},
        },
    ]
