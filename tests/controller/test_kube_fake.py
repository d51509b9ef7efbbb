"""The Kubernetes API fake (tests/support/kube.py) behaves as clients rely on, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.kube import (
    ApiError,
    KubeApiFake,
    json_patch,
    label_selector_matches,
    merge_patch,
)

CM = "/api/v1/namespaces/ns/configmaps"


@pytest.fixture
async def api() -> AsyncIterator[tuple[KubeApiFake, aiohttp.ClientSession]]:
    fake = KubeApiFake(history=100)
    await fake.start()
    async with aiohttp.ClientSession(fake.url) as session:
        yield fake, session
    await fake.stop()


def configmap(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, **fields}


async def test_discovery_reports_verbs_scope_and_subresources(
    api: tuple[KubeApiFake, aiohttp.ClientSession],
) -> None:
    _, session = api
    async with session.get("/apis/apps/v1") as rsp:
        resources = {r["name"]: r for r in (await rsp.json())["resources"]}
    assert {"list", "watch", "patch"} <= set(resources["deployments"]["verbs"])  # kmock 0.8 reports []
    assert resources["deployments"]["namespaced"] is True
    assert "deployments/status" in resources
    async with session.get("/apis") as rsp:
        groups = {g["name"] for g in (await rsp.json())["groups"]}
    assert {"apps", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= groups


async def test_crd_creation_serves_the_new_kind(api: tuple[KubeApiFake, aiohttp.ClientSession]) -> None:
    fake, session = api
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": True, "subresources": {"status": {}}}],
        },
    }
    async with session.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd) as rsp:
        assert rsp.status == 201
    async with session.get("/apis/example.com/v1") as rsp:
        listing = await rsp.json()
    assert [(r["name"], r["namespaced"]) for r in listing["resources"]] == [
        ("widgets", False),
        ("widgets/status", False),
    ]
    assert fake.type_for("example.com/v1", "Widget").plural == "widgets"


async def test_create_get_and_conflict(api: tuple[KubeApiFake, aiohttp.ClientSession]) -> None:
    _, session = api
    async with session.post(CM, json=configmap("a", data={"k": "v"})) as rsp:
        created = await rsp.json()
        assert rsp.status == 201
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["generation"] == 1
    assert meta["resourceVersion"].isdigit()
    async with session.post(CM, json=configmap("a")) as rsp:
        assert rsp.status == 409
        assert (await rsp.json())["reason"] == "AlreadyExists"
    async with session.get(f"{CM}/a") as rsp:
        assert (await rsp.json())["data"] == {"k": "v"}
    async with session.get(f"{CM}/missing") as rsp:
        assert rsp.status == 404
        assert (await rsp.json())["kind"] == "Status"


def test_status_subresource_keeps_spec_and_status_apart() -> None:
    fake = KubeApiFake()
    created = fake.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"replicas": 1},
            "status": {"x": 1},
        }
    )
    assert "status" not in created  # ignored on create, as with a status subresource
    patched = fake.patch("apps/v1", "Deployment", "d", {"spec": {"replicas": 2}, "status": {"x": 2}}, "ns")
    assert patched["spec"]["replicas"] == 2
    assert "status" not in patched
    assert patched["metadata"]["generation"] == 2
    status = fake.patch(
        "apps/v1",
        "Deployment",
        "d",
        {"spec": {"replicas": 9}, "status": {"ready": True}},
        "ns",
        subresource="status",
    )
    assert status["spec"]["replicas"] == 2
    assert status["status"] == {"ready": True}
    assert status["metadata"]["generation"] == 2  # status and metadata changes do not bump it
    relabelled = fake.patch("apps/v1", "Deployment", "d", {"metadata": {"labels": {"a": "b"}}}, "ns")
    assert relabelled["metadata"]["generation"] == 2


def test_a_no_op_patch_keeps_the_resource_version() -> None:
    fake = KubeApiFake()
    created = fake.create(configmap("a", data={"k": "v"}))
    same = fake.patch("v1", "ConfigMap", "a", {"data": {"k": "v"}}, "ns")
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_json_patch_with_a_failing_test_is_unprocessable(
    api: tuple[KubeApiFake, aiohttp.ClientSession],
) -> None:
    fake, session = api
    created = fake.create(configmap("a", metadata={"name": "a", "namespace": "ns", "finalizers": ["x"]}))
    stale = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "remove", "path": "/metadata/finalizers"},
    ]
    headers = {"Content-Type": "application/json-patch+json"}
    async with session.patch(f"{CM}/a", data=json.dumps(stale), headers=headers) as rsp:
        assert rsp.status == 422
    fresh = [{**stale[0], "value": created["metadata"]["resourceVersion"]}, stale[1]]
    async with session.patch(f"{CM}/a", data=json.dumps(fresh), headers=headers) as rsp:
        assert rsp.status == 200
        assert "finalizers" not in (await rsp.json())["metadata"]


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("", {}, True),
        ("app=a", {"app": "a"}, True),
        ("app==a,tier!=db", {"app": "a", "tier": "web"}, True),
        ("app=a,tier!=db", {"app": "a", "tier": "db"}, False),
        ("tier in (web, api)", {"tier": "api"}, True),
        ("tier notin (web,api)", {"tier": "api"}, False),
        ("app", {"app": "x"}, True),
        ("!app", {"app": "x"}, False),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert label_selector_matches(selector, labels) is matches


def test_merge_and_json_patch_helpers() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {
        "a": {"c": 2},
        "l": [2],
    }
    doc = {"a": [1, 2]}
    assert json_patch(
        doc, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/a/0", "value": 0}]
    ) == {"a": [0, 2, 3]}
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "remove", "path": "/missing"}])


async def read_events(rsp: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    events = []
    while len(events) < count:
        line = await asyncio.wait_for(rsp.content.readline(), 5)
        if not line:
            break
        events.append(json.loads(line))
    return events


async def test_watch_resumes_from_a_resource_version_and_reports_410_when_too_old(
    api: tuple[KubeApiFake, aiohttp.ClientSession],
) -> None:
    fake, session = api
    fake.create(configmap("a"))
    async with session.get(CM) as rsp:
        listed_rv = (await rsp.json())["metadata"]["resourceVersion"]
    fake.create(configmap("b"))
    fake.patch("v1", "ConfigMap", "a", {"data": {"k": "v"}}, "ns")
    async with session.get(CM, params={"watch": "true", "resourceVersion": listed_rv}) as rsp:
        replayed = await read_events(rsp, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in replayed] == [
            ("ADDED", "b"),
            ("MODIFIED", "a"),
        ]
        fake.delete("v1", "ConfigMap", "b", "ns")  # live events follow the replay
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in await read_events(rsp, 1)] == [
            ("DELETED", "b")
        ]
    fake.compact()
    async with session.get(CM, params={"watch": "true", "resourceVersion": listed_rv}) as rsp:
        (gone,) = await read_events(rsp, 1)
    assert gone["type"] == "ERROR"
    assert gone["object"]["code"] == 410


async def test_watch_with_initial_events_ends_them_with_a_bookmark(
    api: tuple[KubeApiFake, aiohttp.ClientSession],
) -> None:
    fake, session = api
    fake.create(configmap("a", metadata={"name": "a", "namespace": "ns", "labels": {"app": "x"}}))
    fake.create(configmap("b"))
    params = {"watch": "true", "sendInitialEvents": "true", "labelSelector": "app=x", "timeoutSeconds": "1"}
    async with session.get(CM, params=params) as rsp:
        events = await read_events(rsp, 3)  # the server closes the stream after timeoutSeconds
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_finalizers_delay_deletion_and_owned_children_are_collected() -> None:
    fake = KubeApiFake()
    parent = fake.create(
        configmap("parent", metadata={"name": "parent", "namespace": "ns", "finalizers": ["x"]})
    )
    owner = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "parent",
            "uid": parent["metadata"]["uid"],
            "controller": True,
        }
    ]
    fake.create(configmap("child", metadata={"name": "child", "namespace": "ns", "ownerReferences": owner}))
    marked = fake.delete("v1", "ConfigMap", "parent", "ns")
    assert marked["metadata"]["deletionTimestamp"]
    assert fake.get("v1", "ConfigMap", "child", "ns") is not None
    fake.patch("v1", "ConfigMap", "parent", {"metadata": {"finalizers": None}}, "ns")
    assert fake.get("v1", "ConfigMap", "parent", "ns") is None
    assert fake.get("v1", "ConfigMap", "child", "ns") is None


def test_orphan_propagation_keeps_children() -> None:
    fake = KubeApiFake()
    parent = fake.create(configmap("parent"))
    owner = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent["metadata"]["uid"]}]
    fake.create(configmap("child", metadata={"name": "child", "namespace": "ns", "ownerReferences": owner}))
    fake.delete("v1", "ConfigMap", "parent", "ns", orphan=True)
    assert fake.get("v1", "ConfigMap", "child", "ns") is not None


async def test_our_kinds_are_validated_on_create_update_and_status_writes(
    api: tuple[KubeApiFake, aiohttp.ClientSession],
) -> None:
    """As the API server enforces a CRD's schema and CEL rules, so does the fake (over HTTP)."""
    from eventwire.api import render_crds

    fake, session = api
    fake.install_crds(render_crds())
    base = "/apis/messaging.eventwire.dev/v1/namespaces/ns"
    channel_ref = {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "orders"}
    sub = {
        "apiVersion": "messaging.eventwire.dev/v1",
        "kind": "Subscription",
        "metadata": {"name": "s"},
        "spec": {"channel": channel_ref, "subscriber": {"uri": "http://a.example/"}},
    }
    merge = {"Content-Type": "application/merge-patch+json"}

    async def answer(
        method: str, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with session.request(method, path, json=body, headers=headers) as rsp:
            return rsp.status, await rsp.json()

    # Create: a destination needs ref or uri (a CEL rule).
    status, body = await answer(
        "POST", f"{base}/subscriptions", {**sub, "spec": {"channel": channel_ref, "subscriber": {}}}
    )
    assert status == 422
    assert body["reason"] == "Invalid"
    assert "spec.subscriber" in body["message"]
    assert (await answer("POST", f"{base}/subscriptions", sub))[0] == 201

    # Update: the channel is immutable (a transition rule against the stored object).
    moved = {"spec": {"channel": {**channel_ref, "name": "elsewhere"}}}
    status, body = await answer("PATCH", f"{base}/subscriptions/s", moved, merge)
    assert status == 422
    assert "spec.channel" in body["message"]

    # Status: a schema type and an unknown field are refused, naming the field; nothing is stored.
    bad_status = {
        "status": {
            "observedGeneration": "one",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 1,
                }
            ],
        }
    }
    status, body = await answer("PATCH", f"{base}/subscriptions/s/status", bad_status, merge)
    assert status == 422
    assert "status.observedGeneration" in body["message"]
    assert "status.conditions[0]" in body["message"]
    assert "status" not in (fake.get("messaging.eventwire.dev/v1", "Subscription", "s", "ns") or {})
    good_status = {"status": {"observedGeneration": 1}}
    assert (await answer("PATCH", f"{base}/subscriptions/s/status", good_status, merge))[0] == 200
