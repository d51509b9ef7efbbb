"""Named reconciler cases: existing objects (and an induced API failure) in the fake, one
reconcile, then the expected writes, status and events. The reconcile functions run directly
(without kopf) with a real API client, so each case sees exactly the requests it causes."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from eventwire.api import render_crds
from eventwire_runtime.controller.context import Context
from eventwire_runtime.controller.kube import KubeClient
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.sources import handlers as sources
from eventwire_runtime.controller.subscription import handlers as subscriptions
from tests.controller.factories import (
    MESSAGING,
    SOURCES,
    condition,
    make_channel,
    make_source,
    make_subscription,
)
from tests.support.kube import KubeApiFake

SETTINGS = ControllerSettings(image="registry.example/runtime:1")
SINK = {"uri": "http://sink.example/"}


@dataclass
class Harness:
    kube: KubeApiFake
    ctx: Context
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (object name, reason, message)

    def writes(self) -> list[tuple[str, str]]:
        """Mutating requests since the last call (method, path without query)."""
        found = [
            (m, p.split("?")[0]) for m, p in self.kube.requests if m in {"POST", "PATCH", "PUT", "DELETE"}
        ]
        self.kube.requests.clear()
        return found


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    kube = KubeApiFake()
    await kube.start()
    kube.install_crds(render_crds())
    client = KubeClient(kube.url)
    events: list[tuple[str, str, str]] = []
    ctx = Context(
        SETTINGS,
        client,
        warn=lambda obj, reason, message: events.append((obj["metadata"]["name"], reason, message)),
    )
    yield Harness(kube, ctx, events)
    await client.close()
    await kube.stop()


def deployment_path(name: str = "src-pingsource") -> str:
    return f"/apis/apps/v1/namespaces/ns/deployments/{name}"


@dataclass(frozen=True)
class SourceCase:
    name: str
    existing: Callable[[dict[str, Any]], list[dict[str, Any]]]  # objects, given the created source
    fail: tuple[str, str, int] | None
    writes: list[tuple[str, str]]
    conditions: dict[str, tuple[str, str]]  # type -> (status, reason)
    events: list[str]  # reasons


def foreign_deployment(source: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "src-pingsource", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}},
        }
    ]


def drifted_deployment(source: dict[str, Any]) -> list[dict[str, Any]]:
    owner = {
        "apiVersion": SOURCES,
        "kind": "PingSource",
        "name": "src",
        "uid": source["metadata"]["uid"],
        "controller": True,
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "src-pingsource", "namespace": "ns", "ownerReferences": [owner]},
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [{"name": "adapter", "image": "old"}]}},
            },
        }
    ]


SA_PATH = "/api/v1/namespaces/ns/serviceaccounts"
STATUS_PATH = "/apis/sources.eventwire.dev/v1/namespaces/ns/pingsources/src/status"

SOURCE_CASES = [
    SourceCase(
        "creates the adapter and its account",
        lambda source: [],
        None,
        [("POST", SA_PATH), ("POST", "/apis/apps/v1/namespaces/ns/deployments"), ("PATCH", STATUS_PATH)],
        {"SinkProvided": ("True", ""), "Deployed": ("Unknown", "DeploymentUnavailable")},
        [],
    ),
    SourceCase(
        "refuses a Deployment it does not own",
        foreign_deployment,
        None,
        [("POST", SA_PATH), ("PATCH", STATUS_PATH)],
        {"Deployed": ("False", "NotOwned"), "Ready": ("False", "NotOwned")},
        ["NotOwned"],
    ),
    SourceCase(
        "patches a drifted Deployment back",
        drifted_deployment,
        None,
        [("POST", SA_PATH), ("PATCH", deployment_path()), ("PATCH", STATUS_PATH)],
        {"Deployed": ("Unknown", "DeploymentUnavailable")},
        [],
    ),
    SourceCase(
        "reports an API failure",
        lambda source: [],
        ("POST", "/deployments", 500),
        [("POST", SA_PATH), ("POST", "/apis/apps/v1/namespaces/ns/deployments"), ("PATCH", STATUS_PATH)],
        {"Deployed": ("False", "ApplyFailed"), "Ready": ("False", "ApplyFailed")},
        ["ApplyFailed"],
    ),
    SourceCase(
        "does not deploy without a sink",
        lambda source: [],
        None,
        [("PATCH", STATUS_PATH)],
        {"SinkProvided": ("False", "NotFound"), "Deployed": ("False", "NotDeployed")},
        ["NotFound"],
    ),
]


@pytest.mark.parametrize("case", SOURCE_CASES, ids=[c.name for c in SOURCE_CASES])
async def test_source_reconcile(harness: Harness, case: SourceCase) -> None:
    kube = harness.kube
    sink = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "absent"}} if "sink" in case.name else SINK
    source = kube.create(make_source("PingSource", "src", "ns", sink=sink))
    for obj in case.existing(source):
        kube.create(obj)
    if case.fail:
        kube.fail(*case.fail)
    harness.writes()
    await sources.reconcile(harness.ctx, source)
    assert harness.writes() == case.writes
    after = kube.get(SOURCES, "PingSource", "src", "ns")
    for type_, (status, reason) in case.conditions.items():
        got = condition(after, type_)
        assert (got.get("status"), got.get("reason", "")) == (status, reason), type_
    assert [reason for _, reason, _ in harness.events] == case.events
    if "drifted" in case.name:
        dep = kube.get("apps/v1", "Deployment", "src-pingsource", "ns")
        assert dep is not None
        assert dep["spec"]["replicas"] == 1
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == SETTINGS.image


async def test_a_second_reconcile_writes_nothing(harness: Harness) -> None:
    source = harness.kube.create(make_source("PingSource", "src", "ns", sink=SINK))
    await sources.reconcile(harness.ctx, source)
    harness.writes()
    await sources.reconcile(harness.ctx, source)
    assert harness.writes() == []


async def test_a_repeated_failure_posts_one_event(harness: Harness) -> None:
    source = harness.kube.create(
        make_source(
            "PingSource", "src", "ns", sink={"ref": {"apiVersion": "v1", "kind": "Service", "name": "x"}}
        )
    )
    await sources.reconcile(harness.ctx, source)
    await sources.reconcile(harness.ctx, source)
    assert [reason for _, reason, _ in harness.events] == ["NotFound"]


async def test_subscription_reconcile_adds_itself_to_the_channel_in_one_pass(harness: Harness) -> None:
    kube = harness.kube
    channel = kube.create(make_channel("orders", "ns"))
    kube.patch(
        MESSAGING,
        "Channel",
        "orders",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        "ns",
        subresource="status",
    )
    sub = kube.create(make_subscription("s", "ns", "orders", subscriber={"uri": "http://a.example/"}))
    harness.writes()
    await subscriptions.reconcile(harness.ctx, sub)
    assert harness.writes() == [
        ("PATCH", "/apis/messaging.eventwire.dev/v1/namespaces/ns/channels/orders/status"),
        ("PATCH", "/apis/messaging.eventwire.dev/v1/namespaces/ns/subscriptions/s/status"),
    ]
    listed = kube.get(MESSAGING, "Channel", "orders", "ns")
    assert listed is not None
    assert [e["uid"] for e in listed["status"]["subscribers"]] == [sub["metadata"]["uid"]]
    after = kube.get(MESSAGING, "Subscription", "s", "ns")
    assert condition(after, "AddedToChannel")["status"] == "True"
    assert condition(after, "ReferencesResolved")["status"] == "True"
    # The channel has no provisioner here, so it is not Ready (no default is installed).
    assert condition(listed, "ProvisionerReady")["reason"] == "NoDefaultProvisioner"
    assert channel["metadata"]["uid"] == listed["metadata"]["uid"]


async def test_subscription_to_a_missing_channel(harness: Harness) -> None:
    sub = harness.kube.create(
        make_subscription("s", "ns", "nowhere", subscriber={"uri": "http://a.example/"})
    )
    await subscriptions.reconcile(harness.ctx, copy.deepcopy(sub))
    after = harness.kube.get(MESSAGING, "Subscription", "s", "ns")
    assert condition(after, "ChannelReady")["reason"] == "ChannelNotFound"
    assert harness.events == [("s", "ChannelNotFound", "Channel ns/nowhere does not exist")]
