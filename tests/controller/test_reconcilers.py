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
from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.channel import handlers as channels
from eventwire_runtime.controller.context import Context
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.sources import handlers as sources
from eventwire_runtime.controller.subscription import handlers as subscriptions
from eventwire_runtime.kube import KubeClient
from tests.controller.factories import (
    MESSAGING,
    SOURCES,
    condition,
    make_channel,
    make_source,
    make_subscription,
)
from tests.support.kube import ISTIO_VIRTUAL_SERVICE, KubeApiFake

SETTINGS = ControllerSettings(image="registry.example/runtime:1")
SINK = {"uri": "http://sink.example/"}


@dataclass
class Harness:
    kube: KubeApiFake
    ctx: Context
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (object name, reason, message)

    def cache_now(self) -> None:
        """Fill the context's cache with the fake's current messaging objects, as kopf's indexes
        would hold them once the watch events arrived."""
        objects = [
            obj
            for kind in ("ClusterChannelProvisioner", "Channel", "Subscription")
            for obj in self.kube.list(MESSAGING, kind)
        ]
        self.ctx.cache = Cache.from_objects(objects + self.kube.list("v1", "Service"))

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
    client = KubeClient.for_url(kube.url)
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


CHANNEL_STATUS = "/apis/messaging.eventwire.dev/v1/namespaces/ns/channels/orders/status"
SUBSCRIPTION_STATUS = "/apis/messaging.eventwire.dev/v1/namespaces/ns/subscriptions/s/status"


async def test_each_messaging_reconciler_writes_only_its_own_status_and_reads_the_cache(
    harness: Harness,
) -> None:
    kube = harness.kube
    kube.create(make_channel("orders", "ns"))
    kube.patch(
        MESSAGING,
        "Channel",
        "orders",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        "ns",
        subresource="status",
    )
    sub = kube.create(make_subscription("s", "ns", "orders", subscriber={"uri": "http://a.example/"}))
    harness.cache_now()
    await harness.ctx.client.path(MESSAGING, "Channel")  # discovery, cached for the process
    kube.requests.clear()

    # The Subscription resolves its subscriber and reports; the channel does not list it yet.
    await subscriptions.reconcile(harness.ctx, sub)
    assert kube.requests == [("PATCH", SUBSCRIPTION_STATUS)]  # no GET, no LIST
    after = kube.get(MESSAGING, "Subscription", "s", "ns")
    assert condition(after, "ReferencesResolved")["status"] == "True"
    assert condition(after, "AddedToChannel")["reason"] == "NotAddedYet"

    # The Channel's reconciler builds its routing table from the cached Subscriptions.
    harness.cache_now()
    kube.requests.clear()
    channel = harness.ctx.cache.channel("ns", "orders")
    assert channel is not None
    await channels.reconcile(harness.ctx, channel)
    assert kube.requests == [("PATCH", CHANNEL_STATUS)]
    listed = kube.get(MESSAGING, "Channel", "orders", "ns")
    assert listed is not None
    assert [(e["uid"], e["ready"]) for e in listed["status"]["subscribers"]] == [
        (sub["metadata"]["uid"], "True")
    ]
    # The channel has no provisioner here, so it is not Ready (no default is installed).
    assert condition(listed, "ProvisionerReady")["reason"] == "NoDefaultProvisioner"

    # The Subscription sees itself listed; then nothing is left to write.
    harness.cache_now()
    kube.requests.clear()
    await subscriptions.reconcile(harness.ctx, harness.ctx.cache.subscription("ns", "s") or {})
    assert condition(kube.get(MESSAGING, "Subscription", "s", "ns"), "AddedToChannel")["status"] == "True"
    harness.cache_now()
    kube.requests.clear()
    await subscriptions.reconcile(harness.ctx, harness.ctx.cache.subscription("ns", "s") or {})
    await channels.reconcile(harness.ctx, harness.ctx.cache.channel("ns", "orders") or {})
    assert kube.requests == []


async def test_a_subscription_that_is_not_ready_keeps_its_entry(harness: Harness) -> None:
    kube = harness.kube
    kube.create(make_channel("orders", "ns"))
    sub = kube.create(
        make_subscription(
            "s", "ns", "orders", subscriber={"ref": {"apiVersion": "v1", "kind": "Service", "name": "gone"}}
        )
    )
    harness.cache_now()
    await subscriptions.reconcile(harness.ctx, sub)
    harness.cache_now()
    await channels.reconcile(harness.ctx, harness.ctx.cache.channel("ns", "orders") or {})
    listed = kube.get(MESSAGING, "Channel", "orders", "ns")
    assert listed is not None
    [entry] = listed["status"]["subscribers"]
    assert (entry["uid"], entry["ready"]) == (sub["metadata"]["uid"], "False")
    assert "does not exist" in entry["message"]


async def test_subscription_to_a_missing_channel(harness: Harness) -> None:
    sub = harness.kube.create(
        make_subscription("s", "ns", "nowhere", subscriber={"uri": "http://a.example/"})
    )
    await subscriptions.reconcile(harness.ctx, copy.deepcopy(sub))
    after = harness.kube.get(MESSAGING, "Subscription", "s", "ns")
    assert condition(after, "ChannelReady")["reason"] == "ChannelNotFound"
    assert harness.events == [("s", "ChannelNotFound", "Channel ns/nowhere does not exist")]


ROUTED = ControllerSettings(image="registry.example/runtime:1", webhook_domain="hooks.example.com")
VS_PATH = "/apis/networking.istio.io/v1/namespaces/ns/virtualservices"
GH_PATHS = [
    ("POST", SA_PATH),
    ("POST", "/api/v1/namespaces/ns/services"),
    ("POST", "/apis/apps/v1/namespaces/ns/deployments"),
]
GH_STATUS = ("PATCH", "/apis/sources.eventwire.dev/v1/namespaces/ns/githubsources/repo/status")


def foreign_virtual_service(source: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "repo-githubsource", "namespace": "ns"},
            "spec": {"hosts": ["someone.else.example"]},
        }
    ]


@dataclass(frozen=True)
class RouteCase:
    name: str
    settings: ControllerSettings
    istio: bool  # whether the API server serves VirtualServices
    existing: Callable[[dict[str, Any]], list[dict[str, Any]]]
    writes: list[tuple[str, str]]
    conditions: dict[str, tuple[str, str]]
    url: str
    events: list[str]


ROUTE_CASES = [
    RouteCase(
        "routes the webhook host through the gateway",
        ROUTED,
        True,
        lambda source: [],
        [*GH_PATHS, ("POST", VS_PATH), GH_STATUS],
        {"WebhookRouted": ("True", ""), "WebhookRegistered": ("True", "NotManaged")},
        "http://repo.ns.hooks.example.com",
        [],
    ),
    RouteCase(
        "without a webhook domain keeps the in-cluster URL and says so",
        SETTINGS,
        True,
        lambda source: [],
        [*GH_PATHS, GH_STATUS],
        {"WebhookRouted": ("True", "InClusterOnly"), "WebhookRegistered": ("True", "NotManaged")},
        "http://repo-githubsource.ns.svc.cluster.local",
        [],
    ),
    RouteCase(
        "reports that Istio is not installed",
        ROUTED,
        False,
        lambda source: [],
        [*GH_PATHS, GH_STATUS],
        {
            "WebhookRouted": ("False", "VirtualServiceNotServed"),
            "WebhookRegistered": ("Unknown", "WebhookNotRouted"),
            "Ready": ("False", "VirtualServiceNotServed"),
        },
        "http://repo.ns.hooks.example.com",
        ["VirtualServiceNotServed"],
    ),
    RouteCase(
        "refuses a VirtualService it does not own",
        ROUTED,
        True,
        foreign_virtual_service,
        [*GH_PATHS, GH_STATUS],
        {"WebhookRouted": ("False", "NotOwned"), "Ready": ("False", "NotOwned")},
        "http://repo.ns.hooks.example.com",
        ["NotOwned"],
    ),
]


@pytest.mark.parametrize("case", ROUTE_CASES, ids=[c.name for c in ROUTE_CASES])
async def test_github_source_webhook_route(harness: Harness, case: RouteCase) -> None:
    kube = harness.kube
    if case.istio:
        kube.add_type(ISTIO_VIRTUAL_SERVICE)
    harness.ctx.settings = case.settings
    source = kube.create(
        make_source(
            "GitHubSource", "repo", "ns", ownerAndRepository="acme/shop", eventTypes=["push"], sink=SINK
        )
    )
    for obj in case.existing(source):
        kube.create(obj)
    harness.writes()
    await sources.reconcile(harness.ctx, source)
    assert harness.writes() == case.writes
    after = kube.get(SOURCES, "GitHubSource", "repo", "ns")
    assert after is not None
    for type_, (status, reason) in case.conditions.items():
        got = condition(after, type_)
        assert (got.get("status"), got.get("reason", "")) == (status, reason), type_
    assert after["status"]["url"] == case.url
    assert [reason for _, reason, _ in harness.events] == case.events
    if "without a webhook domain" in case.name:
        assert "EVENTWIRE_WEBHOOK_DOMAIN is not set" in condition(after, "WebhookRouted")["message"]
    if case.writes[-2:-1] == [("POST", VS_PATH)]:
        routed = kube.get("networking.istio.io/v1", "VirtualService", "repo-githubsource", "ns")
        assert routed is not None
        assert routed["spec"]["hosts"] == ["repo.ns.hooks.example.com"]
        assert routed["metadata"]["ownerReferences"][0]["uid"] == source["metadata"]["uid"]
        # Nothing drifted: a second reconcile writes nothing.
        await sources.reconcile(harness.ctx, after)
        assert harness.writes() == []


async def test_the_context_knows_its_own_writes_until_the_cache_catches_up(harness: Harness) -> None:
    kube, ctx = harness.kube, harness.ctx
    stale = kube.create(make_channel("orders", "ns"))
    await ctx.write_status(stale, {"observedGeneration": 1})
    written = kube.get(MESSAGING, "Channel", "orders", "ns")
    assert written is not None
    # The cache still holds the copy from before the write: our write is the fresher one, and
    # its watch event (the echo) tells the reconciler nothing new.
    assert ctx.fresher(stale)["status"] == {"observedGeneration": 1}
    assert ctx.is_own_write(written)
    assert not ctx.is_own_write(stale)
    # Someone else changes the object: the cache is the fresher one, the write is forgotten.
    newer = kube.patch(MESSAGING, "Channel", "orders", {"metadata": {"labels": {"x": "y"}}}, "ns")
    assert ctx.fresher(newer) is newer
    assert not ctx.is_own_write(newer)
    assert ctx.fresher(stale) is stale
