"""Controller settings from the environment, the CLI's handling of bad settings, and the RBAC data."""

from __future__ import annotations

import datetime

import pytest

from eventwire.rbac import (
    CONTROLLER_RULES,
    WEBHOOK_ROUTE_RULES,
    allows,
    controller_cluster_role,
    peering_rules,
)
from eventwire.render.validate import object_problems
from eventwire_runtime.controller import peering
from eventwire_runtime.controller.main import main
from eventwire_runtime.controller.settings import ControllerSettings, SettingsError
from tests.controller.factories import requests_outside_rbac


def test_defaults() -> None:
    settings = ControllerSettings.from_env({})
    assert settings == ControllerSettings()
    assert settings.webhook_domain == ""  # no VirtualServices: webhook URLs are in-cluster
    assert settings.webhook_gateway == "istio-system/eventwire-webhooks"
    assert settings.dispatcher_service_name("fast") == "eventwire-dispatcher-fast"


def test_every_variable() -> None:
    settings = ControllerSettings.from_env(
        {
            "EVENTWIRE_RUNTIME_IMAGE": "reg/rt@sha256:abc",
            "EVENTWIRE_IMAGE_PULL_POLICY": "Always",
            "EVENTWIRE_SYSTEM_NAMESPACE": "ew",
            "EVENTWIRE_DISPATCHER_SERVICE": "{provisioner}-dispatcher",
            "EVENTWIRE_CLUSTER_DOMAIN": "corp.internal.",
            "EVENTWIRE_WEBHOOK_DOMAIN": "Hooks.Example.com.",
            "EVENTWIRE_WEBHOOK_GATEWAY": "edge/github-hooks",
            "EVENTWIRE_RESYNC_SECONDS": "12.5",
            "EVENTWIRE_ADAPTER_METRICS_PORT": "9191",
            "EVENTWIRE_GITHUB_TIMEOUT": "3",
            "EVENTWIRE_METRICS_PORT": "0",
            "EVENTWIRE_METRICS_ADDRESS": "127.0.0.1",
        }
    )
    assert settings == ControllerSettings(
        image="reg/rt@sha256:abc",
        image_pull_policy="Always",
        system_namespace="ew",
        dispatcher_service="{provisioner}-dispatcher",
        cluster_domain="corp.internal",
        webhook_domain="hooks.example.com",
        webhook_gateway="edge/github-hooks",
        resync_seconds=12.5,
        adapter_metrics_port=9191,
        github_timeout=3.0,
        metrics_port=0,
        metrics_address="127.0.0.1",
    )
    assert settings.dispatcher_service_name("fast") == "fast-dispatcher"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "EVENTWIRE_IMAGE_PULL_POLICY",
            "Sometimes",
            "EVENTWIRE_IMAGE_PULL_POLICY must be Always, IfNotPresent or Never",
        ),
        ("EVENTWIRE_RESYNC_SECONDS", "soon", "EVENTWIRE_RESYNC_SECONDS must be a number"),
        ("EVENTWIRE_RESYNC_SECONDS", "0", "EVENTWIRE_RESYNC_SECONDS must be at least 1"),
        ("EVENTWIRE_CACHE_RESYNC_SECONDS", "-1", "EVENTWIRE_CACHE_RESYNC_SECONDS must be at least 0"),
        ("EVENTWIRE_ADAPTER_METRICS_PORT", "70000", "EVENTWIRE_ADAPTER_METRICS_PORT must be a port number"),
        ("EVENTWIRE_METRICS_PORT", "-1", "EVENTWIRE_METRICS_PORT must be at least 0"),
        ("EVENTWIRE_METRICS_PORT", "90.5", "EVENTWIRE_METRICS_PORT must be a port number"),
        (
            "EVENTWIRE_WEBHOOK_GATEWAY",
            "eventwire-webhooks",
            "EVENTWIRE_WEBHOOK_GATEWAY must be <namespace>/<name>",
        ),
        ("EVENTWIRE_WEBHOOK_GATEWAY", "Istio/Hooks", "EVENTWIRE_WEBHOOK_GATEWAY must be <namespace>/<name>"),
    ],
)
def test_invalid_variables_are_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ControllerSettings.from_env({variable: value})


def test_cli_exits_2_naming_a_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTWIRE_RESYNC_SECONDS", "never")
    assert main([]) == 2
    assert "EVENTWIRE_RESYNC_SECONDS" in capsys.readouterr().err


def test_cluster_role_is_a_valid_manifest() -> None:
    role = controller_cluster_role("eventwire-controller", {"app.kubernetes.io/name": "eventwire"})
    assert object_problems(role) == ([], True)
    assert role["rules"] == [dict(rule) for rule in CONTROLLER_RULES]


@pytest.mark.parametrize(
    ("group", "resource", "verb", "allowed"),
    [
        ("messaging.eventwire.dev", "channels/status", "patch", True),
        ("sources.eventwire.dev", "githubsources", "patch", True),
        ("apps", "deployments", "create", True),
        ("rbac.authorization.k8s.io", "clusterroles", "escalate", True),
        ("", "secrets", "get", True),
        ("", "secrets", "list", False),
        ("", "pods", "get", False),
        ("messaging.eventwire.dev", "channels", "delete", False),
        ("networking.istio.io", "virtualservices", "create", False),  # only with WEBHOOK_ROUTE_RULES
    ],
)
def test_controller_rules(group: str, resource: str, verb: str, allowed: bool) -> None:
    assert allows(group, resource, verb) is allowed


@pytest.mark.parametrize(
    ("verb", "allowed"),
    [("get", True), ("create", True), ("patch", True), ("update", True), ("delete", False), ("watch", False)],
)
def test_webhook_route_rules_cover_only_what_the_reconciler_does(verb: str, allowed: bool) -> None:
    assert allows("networking.istio.io", "virtualservices", verb, WEBHOOK_ROUTE_RULES) is allowed


def test_request_audit_maps_requests_to_verbs() -> None:
    assert (
        requests_outside_rbac(
            [
                ("GET", "/apis/apps/v1/deployments?watch=true&resourceVersion=3"),
                ("PATCH", "/apis/messaging.eventwire.dev/v1/namespaces/ns/channels/c/status"),
                ("GET", "/apis/apps/v1"),
                ("GET", "/version"),
            ]
        )
        == []
    )
    assert requests_outside_rbac(
        [
            ("GET", "/api/v1/namespaces/ns/secrets"),
            ("DELETE", "/apis/messaging.eventwire.dev/v1/namespaces/n/channels/c"),
        ]
    ) == [
        "list core/secrets (GET /api/v1/namespaces/ns/secrets)",
        "delete messaging.eventwire.dev/channels (DELETE /apis/messaging.eventwire.dev/v1/namespaces/n/channels/c)",
    ]


def test_peering_settings() -> None:
    assert ControllerSettings.from_env({}).peering == ""  # standalone
    settings = ControllerSettings.from_env(
        {"EVENTWIRE_PEERING": "eventwire-controller", "EVENTWIRE_PEERING_LIFETIME": "12"}
    )
    assert (settings.peering, settings.peering_lifetime) == ("eventwire-controller", 12)
    assert ControllerSettings.from_env({}).peering_lifetime == 30


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("EVENTWIRE_PEERING", "Eventwire_Controller", "EVENTWIRE_PEERING must be a Kubernetes object name"),
        ("EVENTWIRE_PEERING_LIFETIME", "1", "EVENTWIRE_PEERING_LIFETIME must be at least 2"),
        ("EVENTWIRE_PEERING_LIFETIME", "2.5", "EVENTWIRE_PEERING_LIFETIME must be whole seconds"),
    ],
)
def test_invalid_peering_variables_are_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ControllerSettings.from_env({variable: value})


def test_oldest_replica_has_the_highest_priority() -> None:
    first = peering.priority(1_790_000_000.000, 999)
    same_millisecond = peering.priority(1_790_000_000.000, 3)
    later = peering.priority(1_790_000_000.001, 0)
    assert first < same_millisecond  # a tie-break orders replicas started together ...
    assert later < first  # ... but a later start always ranks lower
    assert peering.priority(1_790_000_000.0, 1003) == same_millisecond  # tie-breaks wrap
    assert abs(peering.priority(9_000_000_000.0, 999)) < 2**53  # exact as a JSON number


@pytest.mark.parametrize(
    ("verb", "name", "allowed"),
    [
        ("list", None, True),
        ("watch", None, True),
        ("patch", "eventwire-controller", True),
        ("patch", "someone-elses", False),
        ("patch", None, False),
        ("delete", "eventwire-controller", False),
        ("create", None, False),
    ],
)
def test_peering_rules_cover_only_kopfs_use_of_its_object(verb: str, name: str | None, allowed: bool) -> None:
    rules = peering_rules("eventwire-controller")
    assert allows("kopf.dev", "clusterkopfpeerings", verb, rules, name) is allowed


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"standalone": True}),
        (
            {"EVENTWIRE_PEERING": "eventwire-controller"},
            {"standalone": False, "peering_name": "eventwire-controller"},
        ),
    ],
    ids=["standalone", "peering"],
)
def test_cli_runs_kopf_standalone_or_peering(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: dict[str, object]
) -> None:
    import logging

    import kopf

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    monkeypatch.setattr(kopf, "run", lambda **kwargs: calls.append(kwargs))
    monkeypatch.delenv("EVENTWIRE_PEERING", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    level = logging.getLogger().level
    try:
        assert main(["--namespace", "shop"]) == 0
    finally:
        logging.getLogger().setLevel(level)
    [kwargs] = calls
    assert {key: kwargs[key] for key in expected} == expected
    assert kwargs["namespaces"] == ["shop"]
    assert kwargs["clusterwide"] is False
    if env:
        priority = kwargs["priority"]
        assert isinstance(priority, int)
        assert priority < 0  # the negated start time: the oldest replica ranks highest
    else:
        assert "priority" not in kwargs


NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def keepalive(priority: int, seen_seconds_ago: float, lifetime: int = 30) -> dict[str, object]:
    seen = NOW - datetime.timedelta(seconds=seen_seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


@pytest.mark.parametrize(
    ("peers", "standing_by"),
    [
        ({"me": keepalive(-5, 0)}, False),  # alone
        ({"me": keepalive(-5, 0), "older": keepalive(-3, 10)}, True),  # a live higher priority
        ({"me": keepalive(-5, 0), "older": keepalive(-3, 31)}, False),  # its keep-alive expired
        ({"me": keepalive(-5, 0), "newer": keepalive(-9, 0)}, False),  # a lower priority
        ({"me": keepalive(-5, 0), "twin": keepalive(-5, 0)}, True),  # kopf pauses both
        ({"me": keepalive(-5, 0), "odd": {"priority": 1}}, True),  # unreadable: assume alive
    ],
    ids=["alone", "outranked", "expired", "outranking", "same-priority", "unreadable"],
)
def test_a_replica_stands_by_by_kopfs_rule(peers: dict[str, object], standing_by: bool) -> None:
    assert peering.standing_by(peers, "me", -5, NOW) is standing_by


def test_the_cli_gives_kopf_the_identity_the_standby_check_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    import kopf

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    monkeypatch.setattr(kopf, "run", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setenv("EVENTWIRE_PEERING", "eventwire-controller")
    monkeypatch.setenv("POD_ID", "controller-0")
    level = logging.getLogger().level
    try:
        assert main([]) == 0
    finally:
        logging.getLogger().setLevel(level)
    [kwargs] = calls
    memo = kwargs["memo"]
    assert kwargs["identity"] == "controller-0"
    assert getattr(memo, "identity", None) == "controller-0"
