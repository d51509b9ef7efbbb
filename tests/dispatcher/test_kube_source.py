"""The Kubernetes routes source against a real-HTTP Kubernetes API fake (tests/support/kube.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eventwire.api import render_crds
from tests.dispatcher.conftest import binary_headers, dispatcher_process
from tests.support.kube import KubeApiFake, running_kube
from tests.support.nats import consumer_names
from tests.support.processes import ManagedProcess, free_port
from tests.support.sink import Received, Sink
from tests.support.waiting import eventually_async

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


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """The shared `eventually_async`, polling an HTTP probe every 50 ms."""
    await eventually_async(check, timeout=within, interval=0.05)


def _id(received: Received) -> str | None:
    return received.headers.get("ce-id")


async def test_channels_and_subscribers_follow_the_cluster(kube: KubeApiFake) -> None:
    kube.create(make_channel("orders"))
    kube.create(make_channel("other", provisioner="redis"))
    async with (
        Sink.start() as sink,
        Sink.start() as marker,
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

        await eventually(delivered)  # a new subscription gets events

        kube.create(make_channel("late", namespace="team"))
        await eventually(lambda: _is(http, f"{base}/team/late", 202))

        # The removed subscriber is swapped for a marker in one update: once the marker has an
        # event the new table is in force, so an event sent after that never reaches `sink`.
        set_subscribers(kube, "orders", [{"uid": "marker", "subscriberUri": marker.url, "ready": "True"}])

        async def marker_delivered() -> bool:
            await status_of(http, orders, "probe")
            return bool(marker.received)

        await eventually(marker_delivered)
        assert await status_of(http, orders, "after") == 202
        await eventually_async(
            lambda: any(_id(r) == "after" for r in marker.received), what="marker's 'after'"
        )
        assert not any(_id(r) == "after" for r in sink.received)

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


EVENTING = "eventing.eventwire.dev/v1"


def create_broker(kube: KubeApiFake, name: str, triggers: list[dict[str, Any]]) -> None:
    """A Broker as the controller leaves it: its Triggers' routing entries in `status.triggers`."""
    kube.create(
        {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": name, "namespace": "default"}}
    )
    set_triggers(kube, name, triggers)


def set_triggers(kube: KubeApiFake, name: str, triggers: list[dict[str, Any]]) -> None:
    kube.patch(EVENTING, "Broker", name, {"status": {"triggers": triggers}}, "default", subresource="status")


def ready_trigger(uid: str, uri: str) -> dict[str, Any]:
    return {"uid": uid, "name": uid, "generation": 1, "subscriberUri": uri, "ready": "True"}


def paused_trigger(uid: str) -> dict[str, Any]:
    return {"uid": uid, "name": uid, "generation": 1, "ready": "False", "message": "subscriber not found"}


def settings_for(kube: KubeApiFake, port: int, **env: str) -> dict[str, str]:
    return {
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_ROUTES_SOURCE": "kubernetes",
        "EVENTWIRE_KUBE_API_URL": kube.url,
        "EVENTWIRE_KUBE_TOKEN_FILE": "/nonexistent",
        **env,
    }


async def readyz(http: aiohttp.ClientSession, base: str) -> tuple[int, str]:
    with contextlib.suppress(aiohttp.ClientError):
        async with http.get(f"{base}/readyz") as resp:
            return resp.status, await resp.text()
    return 0, ""


async def test_not_ready_until_the_brokers_are_listed_too() -> None:
    # The Broker CRD is missing at first, so Brokers cannot be listed while Channels can.
    with running_kube() as kube:
        crds = render_crds()
        kube.install_crds([c for c in crds if c["spec"]["names"]["kind"] != "Broker"])
        kube.create(make_channel("orders", provisioner=None))
        async with unready_dispatcher(kube) as base, aiohttp.ClientSession() as http:
            # Channels are routed (so they were listed) ...
            await eventually(lambda: _answers(http, f"{base}/default/orders", 202), within=15)
            # ... but without the Brokers' routes the dispatcher is not ready.
            status, text = await readyz(http, base)
            assert status == 503, text
            assert "Brokers" in text
            kube.create(next(c for c in crds if c["spec"]["names"]["kind"] == "Broker"))
            create_broker(kube, "mesh", [])
            await eventually(lambda: _ready(http, base), within=20)
            assert await status_of(http, f"{base}/brokers/default/mesh") == 202


@contextlib.asynccontextmanager
async def unready_dispatcher(kube: KubeApiFake, **env: str) -> AsyncIterator[str]:
    """A dispatcher process on the fake, not waited for: its /readyz is what the test looks at."""
    port = free_port()
    argv = [sys.executable, "-m", "eventwire_runtime", "dispatcher"]
    proc = ManagedProcess(argv, env={**settings_for(kube, port), **env})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(proc.stop)


async def test_unusable_credentials_are_named_on_readyz_as_an_expected_error(
    kube: KubeApiFake, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken")
    env = {
        "EVENTWIRE_KUBE_TOKEN_FILE": str(token),
        "EVENTWIRE_KUBE_CA_FILE": str(tmp_path / "missing-ca.crt"),
    }
    async with unready_dispatcher(kube, **env) as base, aiohttp.ClientSession() as http:

        async def says_why() -> bool:
            status, text = await readyz(http, base)
            return status == 503 and "cannot start" in text and "credentials" in text

        await eventually(says_why, within=15)
        async with http.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
    assert 'internal_errors_total{where="kube_watch"}' not in metrics  # not a bug: no guard fired


async def _answers(http: aiohttp.ClientSession, url: str, status: int) -> bool:
    """Like `_is`, while the dispatcher may not listen yet."""
    with contextlib.suppress(aiohttp.ClientError):
        return await status_of(http, url) == status
    return False


async def _ready(http: aiohttp.ClientSession, base: str) -> bool:
    return (await readyz(http, base))[0] == 200


async def durable_state(backend: dict[str, str], *brokers: str) -> set[str]:
    """The consumers (jetstream) or consumer groups (redis) that hold the Triggers' positions."""
    if backend["backend"] == "jetstream":
        return await consumer_names(backend["nats_url"], "EVENTWIRE")
    import redis.asyncio as aioredis
    import redis.exceptions

    client = aioredis.Redis.from_url(backend["redis_url"])
    names: set[str] = set()
    try:
        for name in brokers:
            key = f"EVENTWIRE:default:broker:{name}"
            # The stream may go between two calls (a Broker deletion under way): no groups then.
            with contextlib.suppress(redis.exceptions.ResponseError):
                names |= {g["name"].decode() for g in await client.xinfo_groups(key)}
    finally:
        await client.aclose()
    return names


# Three failed lists back off 0.5 + 1 + 2 s before the barrier can show: room for a loaded machine.
LOADED = 30.0


async def test_only_the_watchs_deletion_of_a_broker_deletes_its_triggers_state(
    kube: KubeApiFake, backend: dict[str, str]
) -> None:
    env = {"EVENTWIRE_" + k.upper(): v for k, v in backend.items()}
    mesh_triggers = [ready_trigger("t-a", "http://127.0.0.1:9/"), paused_trigger("t-b")]
    other_triggers = [ready_trigger("t-c", "http://127.0.0.1:9/")]
    create_broker(kube, "mesh", mesh_triggers)
    create_broker(kube, "other", other_triggers)
    mesh = {"sub-t-a", "sub-t-b"}

    async def state() -> set[str]:
        return await durable_state(backend, "mesh", "other")

    async def state_is(want: set[str]) -> bool:
        return await state() == want

    def set_other(triggers: list[dict[str, Any]]) -> None:
        kube.patch(
            EVENTING, "Broker", "other", {"status": {"triggers": triggers}}, "default", subresource="status"
        )

    async with dispatcher(kube, **env) as base, aiohttp.ClientSession() as http:
        mesh_url = f"{base}/brokers/default/mesh"
        await eventually(lambda: state_is(mesh | {"sub-t-c"}), within=LOADED)  # the paused Trigger's too

        # Failed lists: the watch drops and its next requests fail. A Trigger added to the other
        # Broker meanwhile is seen only through a successful list: the barrier.
        kube.fail("GET", "/brokers", 500, times=3)
        with kube.watch_gap():
            pass
        other_triggers.append(ready_trigger("t-d", "http://127.0.0.1:9/"))
        set_triggers(kube, "other", other_triggers)
        await eventually(lambda: state_is(mesh | {"sub-t-c", "sub-t-d"}), within=LOADED)

        # The Broker vanishes while the watch is away: the next list lacks it. It is no longer
        # routed, but that is no deletion; a Trigger added to the other Broker after that list
        # (its consumer or group is the barrier) shows no deletion was under way.
        with kube.watch_gap():
            kube.delete(EVENTING, "Broker", "mesh", "default")
        await eventually(lambda: _answers(http, mesh_url, 404), within=LOADED)
        other_triggers.append(ready_trigger("t-e", "http://127.0.0.1:9/"))
        set_triggers(kube, "other", other_triggers)
        await eventually(lambda: state_is(mesh | {"sub-t-c", "sub-t-d", "sub-t-e"}), within=LOADED)

        # It comes back with the same Triggers: routed again, on the same durable state.
        create_broker(kube, "mesh", mesh_triggers)
        await eventually(lambda: _answers(http, mesh_url, 202), within=LOADED)
        assert await state() == mesh | {"sub-t-c", "sub-t-d", "sub-t-e"}

        # The watch's DELETED: this Broker's Triggers' state goes, the other Broker's stays.
        kube.delete(EVENTING, "Broker", "mesh", "default")
        await eventually(lambda: state_is({"sub-t-c", "sub-t-d", "sub-t-e"}), within=LOADED)
        assert await status_of(http, mesh_url) == 404
