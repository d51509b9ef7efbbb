"""The runtime's one Kubernetes client (eventwire_runtime.kube) against the API fake."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import certifi
import pytest
from aiohttp import web

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.kube import Change, KubeClient, KubeConfigError, KubeError, ListWatch, Obj
from tests.support.kube import running_kube
from tests.support.processes import free_port

CM = "/api/v1/namespaces/ns/configmaps"


def configmap(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, **fields}


async def test_the_runtime_client_works_against_the_threaded_fake_through_a_kubeconfig(
    tmp_path: Path,
) -> None:
    """It logs in with a kubeconfig's token and gets, patches, lists and watches plain objects."""
    with running_kube() as fake:
        fake.create(configmap("a", data={"k": "v"}))
        client = await KubeClient.connect(str(fake.write_kubeconfig(tmp_path / "config")))
        try:
            found = await client.get("v1", "ConfigMap", "a", "ns")
            assert found is not None
            assert found["data"] == {"k": "v"}
            await client.patch("v1", "ConfigMap", "a", {"data": {"k": "w"}}, "ns")
            assert [c["data"] for c in await client.list("v1", "ConfigMap", "ns")] == [{"k": "w"}]
            assert await client.get("v1", "ConfigMap", "gone", "ns") is None
            with pytest.raises(KubeError) as info:
                await client.create(configmap("a"))
            assert info.value.status == 409
            async with client.stream(CM, 5, watch="true", timeoutSeconds="1") as response:
                first = json.loads(await response.content.readline())
            assert (first["type"], first["object"]["data"]) == ("ADDED", {"k": "w"})
        finally:
            await client.close()
        assert ("GET", "/api/v1/namespaces/ns/configmaps/a") in fake.requests


async def test_missing_credentials_are_a_configuration_error_that_names_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError, match="cannot load Kubernetes credentials") as info:
        await KubeClient.connect(str(tmp_path / "no-such-kubeconfig"))
    assert isinstance(info.value, ConfigError)  # adapters exit with their configuration status
    assert isinstance(info.value, KubeError)


@contextlib.asynccontextmanager
async def serving(answer: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[int]:
    """A real HTTP server on a free loopback port answering GET CM; yields its port."""
    app = web.Application()
    app.router.add_get(CM, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def test_a_service_account_token_is_sent_and_a_missing_ca_bundle_is_named(tmp_path: Path) -> None:
    """The dispatcher's credentials: a token file (with its CA bundle) is sent as a bearer token."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"kind": "ConfigMapList", "metadata": {"resourceVersion": "1"}, "items": []})

    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token")  # kubernetes_asyncio sends it as is (no trailing newline allowed)
    async with serving(answer) as port:
        with pytest.raises(KubeConfigError, match="service account"):
            KubeClient.for_service_account(f"http://127.0.0.1:{port}", str(token), str(ca))
        shutil.copyfile(certifi.where(), ca)  # any valid bundle: the server is plain http
        client = KubeClient.for_service_account(f"http://127.0.0.1:{port}/", str(token), str(ca))
        try:
            assert (await client.request("GET", CM))["items"] == []
        finally:
            await client.close()
        unauthenticated = KubeClient.for_service_account(
            f"http://127.0.0.1:{port}", str(tmp_path / "none"), str(ca)
        )
        try:
            await unauthenticated.request("GET", CM)
        finally:
            await unauthenticated.close()
    assert seen == ["Bearer sa-token", ""]


async def test_a_token_file_ending_with_a_newline_is_sent_without_it(tmp_path: Path) -> None:
    """Token files written by hand or by tools (echo, kubectl create secret --from-file) often end
    with a newline; the kubelet's do not. Either way the bearer token is the text without it."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"kind": "ConfigMapList", "metadata": {"resourceVersion": "1"}, "items": []})

    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token\n")
    shutil.copyfile(certifi.where(), ca)
    async with serving(answer) as port:
        client = KubeClient.for_service_account(f"http://127.0.0.1:{port}", str(token), str(ca))
        try:
            for _ in range(2):  # every request runs the library's token refresh hook
                assert (await client.request("GET", CM))["items"] == []
        finally:
            await client.close()
    assert seen == ["Bearer sa-token", "Bearer sa-token"]


async def test_a_list_of_the_wrong_shape_is_retried_and_reported_without_ending_the_loop() -> None:
    """ListWatch: an answer that is no Kubernetes List is an error it reports and retries."""
    answers = [web.json_response(["not", "a", "list"]), web.json_response({"items": "nope"})]

    async def answer(request: web.Request) -> web.Response:
        if request.query.get("watch"):
            await asyncio.sleep(0.05)
            return web.Response(text="")
        if answers:
            return answers.pop(0)
        return web.json_response({"metadata": {"resourceVersion": "7"}, "items": [configmap("a")]})

    errors: list[str] = []
    observed: list[str] = []
    listed = asyncio.Event()

    async def observe(change: Change, obj: Obj) -> None:
        observed.append(f"{change} {obj['metadata']['name']}")

    async with serving(answer) as port:
        client = KubeClient.for_url(f"http://127.0.0.1:{port}")
        watch = ListWatch(
            client,
            CM,
            observe,
            stopping=asyncio.Event(),
            reconnect=lambda attempt: 0.01,
            on_listed=listed.set,
            on_error=lambda exc: errors.append(str(exc)),
        )
        task = asyncio.create_task(watch.run())
        try:
            async with asyncio.timeout(10):
                await listed.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()
    assert len(errors) == 2
    assert all("is not a Kubernetes List" in e for e in errors)
    assert observed == ["ADDED a"]
