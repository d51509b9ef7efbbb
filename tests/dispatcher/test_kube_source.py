"""The Kubernetes routes source against a real-HTTP Kubernetes API fake (tests/support/kube.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from eventwire.api import render_crds
from tests.dispatcher.conftest import binary_headers, dispatcher_process
from tests.support.kube import KubeApiFake, running_kube
from tests.support.processes import free_port
from tests.support.sink import Sink

API = "messaging.eventwire.dev/v1"


@pytest.fixture
def kube() -> Iterator[KubeApiFake]:
    with running_kube() as fake:
        fake.install_crds(render_crds())
        yield fake


def make_channel(name: str, namespace: str = "default", provisioner: str | None = "memory") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Channel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provisioner": provisioner} if provisioner else {},
    }


def set_subscribers(
    kube: KubeApiFake, name: str, subscribers: list[dict[str, Any]], namespace: str = "default"
) -> None:
    kube.patch(
        API, "Channel", name, {"status": {"subscribers": subscribers}}, namespace, subresource="status"
    )


@contextlib.asynccontextmanager
async def dispatcher(kube: KubeApiFake, **env: str) -> AsyncIterator[str]:
    port = free_port()
    settings = {
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_ROUTES_SOURCE": "kubernetes",
        "EVENTWIRE_KUBE_API_URL": kube.url,
        "EVENTWIRE_KUBE_TOKEN_FILE": "/nonexistent",
        **env,
    }
    async with dispatcher_process(settings, port):
        yield f"http://127.0.0.1:{port}"


async def status_of(http: aiohttp.ClientSession, url: str, event_id: str = "1") -> int:
    async with http.post(url, data=b"{}", headers=binary_headers(event_id)) as resp:
        return resp.status


async def eventually(check: Any, within: float = 1.0) -> None:
    for _ in range(int(within / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {within}s")


async def test_channels_and_subscribers_follow_the_cluster(kube: KubeApiFake) -> None:
    kube.create(make_channel("orders"))
    kube.create(make_channel("other", provisioner="redis"))
    async with (
        Sink.start() as sink,
        dispatcher(kube, EVENTWIRE_PROVISIONER="memory") as base,
        aiohttp.ClientSession() as http,
    ):
        orders = f"{base}/default/orders"
        assert await status_of(http, orders) == 202
        assert await status_of(http, f"{base}/default/other") == 404  # another provisioner's

        set_subscribers(kube, "orders", [{"uid": "u1", "subscriberUri": sink.url, "ready": "True"}])

        async def delivered() -> bool:
            await status_of(http, orders, "probe")
            return bool(sink.received)

        await eventually(delivered, within=1.0)  # a new subscription gets events within a second

        kube.create(make_channel("late", namespace="team"))
        await eventually(lambda: _is(http, f"{base}/team/late", 202))

        set_subscribers(kube, "orders", [])
        await asyncio.sleep(0.3)
        count = len(sink.received)
        assert await status_of(http, orders, "after") == 202
        await asyncio.sleep(0.3)
        assert len(sink.received) == count

        kube.delete(API, "Channel", "orders", "default")
        await eventually(lambda: _is(http, orders, 404))


async def _is(http: aiohttp.ClientSession, url: str, status: int) -> bool:
    return await status_of(http, url) == status


async def test_channels_naming_no_provisioner_follow_the_controllers_resolution(kube: KubeApiFake) -> None:
    kube.create(make_channel("mine", provisioner=None))
    kube.create(make_channel("theirs", provisioner=None))
    async with (
        dispatcher(kube, EVENTWIRE_PROVISIONER="memory") as base,
        aiohttp.ClientSession() as http,
    ):
        # Not resolved yet: no dispatcher serves it, so none consumes it twice.
        assert await status_of(http, f"{base}/default/mine") == 404
        for name, resolved in (("mine", "memory"), ("theirs", "redis")):
            kube.patch(
                API, "Channel", name, {"status": {"provisioner": resolved}}, "default", subresource="status"
            )
        await eventually(lambda: _is(http, f"{base}/default/mine", 202))
        assert await status_of(http, f"{base}/default/theirs") == 404
