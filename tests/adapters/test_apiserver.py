"""ApiServerSource against the project's Kubernetes API fake (tests/support/kube.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from eventwire_runtime.adapters.apiserver import ApiServerAdapter
from eventwire_runtime.adapters.apiserver_events import label_selector, parse_source_config
from eventwire_runtime.delivery.errors import ConfigError
from tests.adapters.conftest import make_env, metered_sender, running, wait_for
from tests.support.kube import KubeApiFake, running_kube
from tests.support.sink import Received, Sink


def pod(name: str, namespace: str = "ns1", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }


@pytest.fixture
def kube() -> Iterator[KubeApiFake]:
    with running_kube() as fake:
        yield fake


class CuttableProxy:
    """Forwards API requests to the fake; can swallow watch traffic and cut watch streams, so a
    test can make the adapter miss changes (a network partition) and then reconnect."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.swallow = False
        self.swallowed_lines = 0
        self._cut = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        async with (
            ClientSession() as session,
            session.get(self.upstream + request.path_qs, headers={"Accept": "application/json"}) as upstream,
        ):
            if "watch=1" not in request.query_string:
                return web.Response(
                    status=upstream.status, body=await upstream.read(), content_type="application/json"
                )
            response = web.StreamResponse(
                status=upstream.status, headers={"Content-Type": "application/json"}
            )
            await response.prepare(request)
            reader = upstream.content.iter_any().__aiter__()
            cut = asyncio.ensure_future(self._cut.wait())
            try:
                while True:
                    read = asyncio.ensure_future(reader.__anext__())
                    await asyncio.wait({read, cut}, return_when=asyncio.FIRST_COMPLETED)
                    if cut.done():
                        read.cancel()
                        break
                    try:
                        chunk = read.result()
                    except StopAsyncIteration:
                        break
                    if self.swallow:
                        self.swallowed_lines += chunk.count(b"\n")
                    else:
                        await response.write(chunk)
            finally:
                cut.cancel()
            return response

    def cut(self) -> None:
        """End every open watch stream now (the adapter then resumes from its last version)."""
        self._cut.set()
        self._cut = asyncio.Event()

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[CuttableProxy]:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            yield self
        finally:
            self.cut()
            await runner.cleanup()


@contextlib.asynccontextmanager
async def adapter_for(
    kube_url: str, tmp_path: Path, config: dict[str, Any], **settings: str
) -> AsyncIterator[tuple[ApiServerAdapter, Sink]]:
    fake = KubeApiFake()
    fake.url = kube_url
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    async with Sink.start() as sink:
        extra = {"K_SOURCE_CONFIG": json.dumps(config), "KUBECONFIG": str(kubeconfig), **settings}
        env = make_env("apiserversource", sink.url, extra=extra)
        async with metered_sender(env) as (sender, _):
            adapter = ApiServerAdapter(env, sender)
            async with running(adapter):
                await wait_for(lambda: adapter.ready, within=10)
                yield adapter, sink


def _summary(received: list[Received]) -> list[tuple[str, str]]:
    return [(r.headers["ce-type"].rsplit(".", 1)[-1], r.headers["ce-subject"]) for r in received]


async def test_reference_mode_reports_add_update_delete_with_knative_attributes(
    kube: KubeApiFake, tmp_path: Path
) -> None:
    kube.create(pod("existing", app="web"))
    kube.create(pod("other-app", app="db"))
    kube.create(pod("elsewhere", "ns2", app="web"))
    config = {
        "resources": [{"apiVersion": "v1", "kind": "Pod", "selector": {"matchLabels": {"app": "web"}}}],
        "namespaces": ["ns1"],
        "mode": "Reference",
    }
    async with adapter_for(kube.url, tmp_path, config) as (adapter, sink):
        await sink.wait_for(1)
        await asyncio.to_thread(kube.create, pod("fresh", app="web"))
        await asyncio.to_thread(
            kube.patch, "v1", "Pod", "fresh", {"metadata": {"annotations": {"a": "b"}}}, "ns1"
        )
        await asyncio.to_thread(kube.delete, "v1", "Pod", "existing", "ns1")
        received = await sink.wait_for(4)
        assert adapter.mode.startswith("Reference mode")
    assert _summary(received) == [
        ("add", "/apis/v1/namespaces/ns1/pods/existing"),
        ("add", "/apis/v1/namespaces/ns1/pods/fresh"),
        ("update", "/apis/v1/namespaces/ns1/pods/fresh"),
        ("delete", "/apis/v1/namespaces/ns1/pods/existing"),
    ]
    first = received[0]
    assert first.headers["ce-type"] == "dev.knative.apiserver.ref.add"
    assert first.headers["ce-source"] == kube.url
    assert first.headers["ce-kind"] == "Pod"
    assert first.headers["ce-name"] == "existing"
    assert first.headers["ce-namespace"] == "ns1"
    assert json.loads(first.body) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "existing",
        "namespace": "ns1",
    }
    assert len({r.headers["ce-id"] for r in received}) == 4


async def test_resource_mode_sends_the_object_and_uses_the_group_in_subject(
    kube: KubeApiFake, tmp_path: Path
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns1"},
        "spec": {"replicas": 2},
    }
    config = {"resources": [{"apiVersion": "apps/v1", "kind": "Deployment"}], "mode": "Resource"}
    async with adapter_for(kube.url, tmp_path, config, NAMESPACE="ns1") as (_, sink):
        await asyncio.to_thread(kube.create, deployment)
        [event] = await sink.wait_for(1)
    assert event.headers["ce-type"] == "dev.knative.apiserver.resource.add"
    assert event.headers["ce-subject"] == "/apis/apps/v1/namespaces/ns1/deployments/web"
    body = json.loads(event.body)
    assert body["spec"] == {"replicas": 2}
    assert body["kind"] == "Deployment"


async def test_owner_filter_and_all_namespaces(kube: KubeApiFake, tmp_path: Path) -> None:
    owned = pod("owned", "ns3")
    owned["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u"}
    ]
    config = {
        "resources": [{"apiVersion": "v1", "kind": "Pod"}],
        "allNamespaces": True,
        "owner": {"apiVersion": "apps/v1", "kind": "ReplicaSet"},
    }
    async with adapter_for(kube.url, tmp_path, config) as (_, sink):
        await asyncio.to_thread(kube.create, pod("orphan", "ns2"))
        await asyncio.to_thread(kube.create, owned)
        await sink.wait_for(1)
        await asyncio.to_thread(
            kube.create, {**pod("marker", "ns4"), "metadata": {**owned["metadata"], "name": "m"}}
        )
        received = await sink.wait_for(2)
    assert [r.headers["ce-name"] for r in received] == ["owned", "m"]


async def test_410_gone_relists_and_sends_only_what_changed(
    kube: KubeApiFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eventwire_runtime.adapters.apiserver")
    for i in range(30):
        kube.create(pod(f"p{i}"))
    config = {"resources": [{"apiVersion": "v1", "kind": "Pod"}], "namespaces": ["ns1"]}
    async with (
        CuttableProxy(kube.url).serve() as proxy,
        adapter_for(proxy.url, tmp_path, config) as (_, sink),
    ):
        await sink.wait_for(30)
        # A partition: the adapter misses these changes, then the history is compacted.
        proxy.swallow = True
        await asyncio.to_thread(kube.patch, "v1", "Pod", "p1", {"metadata": {"labels": {"x": "y"}}}, "ns1")
        await asyncio.to_thread(kube.delete, "v1", "Pod", "p2", "ns1")
        await asyncio.to_thread(kube.create, pod("p30"))
        await wait_for(lambda: proxy.swallowed_lines >= 3)  # the adapter missed all three
        kube.compact()
        lists_before = sum(1 for m, p in kube.requests if m == "GET" and "watch" not in p and "/pods" in p)
        proxy.swallow = False
        proxy.cut()
        received = await sink.wait_for(33)
        await wait_for(
            lambda: (
                sum(1 for m, p in kube.requests if m == "GET" and "watch" not in p and "/pods" in p)
                > lists_before
            )
        )
        # Life goes on after the re-list.
        await asyncio.to_thread(kube.create, pod("p31"))
        received = await sink.wait_for(34)
    after = _summary(received[30:])
    assert sorted(after[:3]) == sorted(
        [
            ("update", "/apis/v1/namespaces/ns1/pods/p1"),
            ("delete", "/apis/v1/namespaces/ns1/pods/p2"),
            ("add", "/apis/v1/namespaces/ns1/pods/p30"),
        ]
    ), "only the missed changes, no flood of 30 adds"
    assert after[3] == ("add", "/apis/v1/namespaces/ns1/pods/p31")
    assert len(received) == 34
    assert "expired (410 Gone); re-listing" in caplog.text


async def test_watch_resumes_from_the_last_resource_version_without_repeats(
    kube: KubeApiFake, tmp_path: Path
) -> None:
    config = {"resources": [{"apiVersion": "v1", "kind": "Pod"}], "namespaces": ["ns1"]}
    async with adapter_for(kube.url, tmp_path, config, APISERVER_WATCH_TIMEOUT="1") as (_, sink):
        await asyncio.to_thread(kube.create, pod("a"))
        await sink.wait_for(1)
        # Let at least two watch renewals happen, then change something.
        await wait_for(lambda: sum(1 for _, p in kube.requests if "watch=1" in p) >= 3, within=10)
        await asyncio.to_thread(kube.create, pod("b"))
        received = await sink.wait_for(2)
    assert _summary(received) == [
        ("add", "/apis/v1/namespaces/ns1/pods/a"),
        ("add", "/apis/v1/namespaces/ns1/pods/b"),
    ]
    watches = [p for _, p in kube.requests if "watch=1" in p]
    assert all("resourceVersion=" in p for p in watches)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, ""),
        ("app=web", "app=web"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "team", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ]
            },
            "tier in (fe,be),env notin (dev),team,!legacy",
        ),
    ],
)
def test_label_selectors(selector: object, expected: str) -> None:
    assert label_selector(selector, "x") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "K_SOURCE_CONFIG is required"),
        ("{", "not valid JSON"),
        ('{"resources": []}', "non-empty list"),
        ('{"resources": [{"kind": "Pod"}]}', r"resources\[0\] needs apiVersion and kind"),
        ('{"resources": [{"apiVersion": "v1", "kind": "Pod"}], "mode": "Full"}', "Resource or Reference"),
        (
            '{"resources": [{"apiVersion": "v1", "kind": "Pod", '
            '"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}]}',
            "unknown operator 'Near'",
        ),
    ],
)
def test_bad_source_config(text: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_source_config(text)


async def test_unknown_kind_fails_the_run_with_a_clear_error(kube: KubeApiFake, tmp_path: Path) -> None:
    config = {"resources": [{"apiVersion": "v1", "kind": "Gizmo"}]}
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    env = make_env(
        "apiserversource",
        "http://127.0.0.1:9/",
        extra={"K_SOURCE_CONFIG": json.dumps(config), "KUBECONFIG": str(kubeconfig)},
    )
    async with metered_sender(env) as (sender, _):
        adapter = ApiServerAdapter(env, sender)
        with pytest.raises(ConfigError, match="kind 'Gizmo' is not served in 'v1'"):
            async with asyncio.timeout(10):
                await adapter.run()


async def test_namespace_selector_follows_namespaces_as_they_appear(
    kube: KubeApiFake, tmp_path: Path
) -> None:
    kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"watch": "yes"}}}
    )
    kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "quiet", "labels": {"watch": "no"}}}
    )
    kube.create(pod("early", "team-a"))
    config = {
        "resources": [{"apiVersion": "v1", "kind": "Pod"}],
        "namespaceSelector": {"matchLabels": {"watch": "yes"}},
    }
    async with adapter_for(kube.url, tmp_path, config) as (adapter, sink):
        assert "namespaces matching 'watch=yes'" in adapter.mode
        await sink.wait_for(1)
        await asyncio.to_thread(kube.create, pod("ignored", "quiet"))
        await asyncio.to_thread(
            kube.create,
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "team-b", "labels": {"watch": "yes"}},
            },
        )
        await wait_for(lambda: "team-b" in adapter._namespace_tasks)
        await asyncio.to_thread(kube.create, pod("late", "team-b"))
        received = await sink.wait_for(2)
    assert [(r.headers["ce-namespace"], r.headers["ce-name"]) for r in received] == [
        ("team-a", "early"),
        ("team-b", "late"),
    ]


def test_empty_namespace_selector_means_all_namespaces() -> None:
    config = parse_source_config(
        '{"resources": [{"apiVersion": "v1", "kind": "Pod"}], "namespaceSelector": {}}'
    )
    assert config.all_namespaces
    assert config.namespace_selector is None
