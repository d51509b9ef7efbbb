"""Durable state: the controller's Channel status says, and the dispatcher reads, which
subscriptions are live (ready or paused) and which were deleted (tombstones).

The contract (controller/channel/resources.py, dispatcher/routing.py):
- `status.subscribers` keeps an entry for every existing Subscription, ready or not; a not-ready
  entry is a *paused* subscription: its durable backlog is kept and resumes;
- `status.deletedSubscribers: [{uid, name, deletedAt}]` is written when a Subscription that had an
  entry is gone (or being deleted), kept TOMBSTONE_RETENTION; only a tombstone (or the Channel's
  own deletion) deletes durable state.

Pure half: successive `channel.make_status` results -> `routing.channel_from_object` ->
`durable.plan`. Wire half: the statuses go into the Kubernetes API fake, a real dispatcher on a
real redis-server watches them, and the consumer groups in Redis follow the contract.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from eventwire.api import render_crds, validate_resource
from eventwire.install import runtime_contract
from eventwire_runtime.controller.channel import resources as channel_resources
from eventwire_runtime.controller.provisioner import resources as provisioner_resources
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.dispatcher.backends.durable import plan
from eventwire_runtime.dispatcher.routing import RoutingTable, channel_from_object
from tests.contracts.test_routing import installed_dispatcher, resolved
from tests.controller.factories import make_channel, make_provisioner, make_subscription, served
from tests.dispatcher.conftest import binary_headers
from tests.support.kube import KubeApiFake, merge_patch, running_kube
from tests.support.redis import redis_server
from tests.support.sink import Sink
from tests.support.waiting import eventually_async

MESSAGING = "messaging.eventwire.dev/v1"
T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z", "2026-01-03T00:00:00Z"


def subscription(name: str, uri: str, ready: bool) -> dict[str, Any]:
    """A Subscription of shop/orders: resolved (ready) or not resolved yet (paused)."""
    sub = served(make_subscription(name, "shop", "orders", subscriber={"uri": uri}))
    return resolved(sub) if ready else sub


def next_status(
    channel: dict[str, Any], provisioner: dict[str, Any], subs: list[dict[str, Any]], now: str
) -> dict[str, Any]:
    """The channel as stored after the controller's reconcile at `now` (merge patch applied)."""
    status = channel_resources.make_status(
        channel, provisioner["metadata"]["name"], provisioner, "", None, subs, now
    )
    out = {**channel, "status": merge_patch(dict(channel.get("status") or {}), status)}
    validate_resource(out)  # the status fits the Channel CRD's schema
    return out


def ready_provisioner(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    ccp = served(make_provisioner("durable", default=True, **(spec or {})))
    ccp["status"] = provisioner_resources.make_status(ccp, True, ControllerSettings(), T0)
    return ccp


# -- pure: builder -> parser -> plan ---------------------------------------------------------------


def test_paused_entries_and_tombstones_from_controller_to_dispatcher() -> None:
    ccp = ready_provisioner()
    a, b = subscription("a", "http://a.example/", True), subscription("b", "http://b.example/", False)
    uid_a, uid_b = a["metadata"]["uid"], b["metadata"]["uid"]
    table = RoutingTable()

    channel = next_status(served(make_channel("orders", "shop")), ccp, [a, b], T0)
    route = channel_from_object(channel)
    assert [s.uid for s in route.subscribers] == [uid_a]
    assert route.paused == (uid_b,)  # not ready: kept, not delivered
    assert "deletedSubscribers" not in channel["status"]
    table.replace_all([route])
    todo = plan(table)
    assert set(todo.consume) == {uid_a}
    assert set(todo.keep) == {uid_b}
    assert not todo.delete

    # b is deleted; a starts being deleted: both get a tombstone, stamped now.
    deleting = {**a, "metadata": {**a["metadata"], "deletionTimestamp": T1}}
    channel = next_status(channel, ccp, [deleting], T1)
    assert channel["status"]["subscribers"] == []
    assert channel["status"]["deletedSubscribers"] == sorted(
        [{"uid": uid_a, "name": "a", "deletedAt": T1}, {"uid": uid_b, "name": "b", "deletedAt": T1}],
        key=lambda t: t["uid"],
    )
    route = channel_from_object(channel)
    assert set(route.deleted) == {uid_a, uid_b}
    table.replace_all([route])
    assert set(plan(table).delete) == {uid_a, uid_b}

    # A day later the tombstones are pruned (the merge patch removes the field).
    channel = next_status(channel, ccp, [], T2)
    assert "deletedSubscribers" not in channel["status"]


def test_a_missing_entry_is_not_a_deletion() -> None:
    """Only tombstones delete: a table that merely lacks a subscription plans nothing for it."""
    ccp = ready_provisioner()
    a, b = subscription("a", "http://a.example/", True), subscription("b", "http://b.example/", True)
    table = RoutingTable()
    table.replace_all(
        [channel_from_object(next_status(served(make_channel("orders", "shop")), ccp, [a, b], T0))]
    )
    # A status written without b by someone else (no tombstone): b is just no longer consumed.
    partial = next_status(served(make_channel("orders", "shop")), ccp, [a], T0)
    table.replace_all([channel_from_object(partial)])
    todo = plan(table)
    assert set(todo.consume) == {a["metadata"]["uid"]}
    assert not todo.delete


def test_retry_bounds_set_on_the_provisioner_reach_the_dispatcher() -> None:
    ccp = ready_provisioner({"delivery": {"backoffMax": "PT5S", "retryWindow": "PT2M"}})
    channel = next_status(
        served(make_channel("orders", "shop")), ccp, [subscription("a", "http://a/", True)], T0
    )
    [sub] = channel_from_object(channel).subscribers
    assert (sub.spec.backoff_max, sub.spec.retry_window) == (5.0, 120.0)


# -- wire: controller status in the API -> dispatcher process -> Redis groups ----------------------


@pytest.fixture
def kube() -> Iterator[KubeApiFake]:
    with running_kube() as fake:
        fake.install_crds(render_crds())
        yield fake


async def eventually(check: Callable[[], Awaitable[Any]], want: Any, within: float = 10.0) -> None:
    """Wait (the shared `eventually_async`) until `check()` returns `want`."""

    async def matches() -> bool:
        return bool(await check() == want)

    await eventually_async(matches, timeout=within, what=repr(want), interval=0.05)


def ids(sink: Sink) -> set[str]:
    return {r.headers["ce-id"] for r in sink.received}


async def test_the_dispatcher_keeps_paused_groups_and_deletes_only_tombstoned_ones(kube: KubeApiFake) -> None:
    with redis_server() as redis_url:
        ccp = ready_provisioner({"type": "redis", "redis": {"url": redis_url}})
        key = f"{runtime_contract.stream_name('durable')}:shop:orders"
        client = aioredis.Redis.from_url(redis_url)

        async def groups() -> set[str]:
            with contextlib.suppress(Exception):
                return {g["name"].decode() for g in await client.xinfo_groups(key)}
            return set()

        def write(channel: dict[str, Any]) -> None:
            kube.patch(
                MESSAGING, "Channel", "orders", {"status": channel["status"]}, "shop", subresource="status"
            )

        async with (
            contextlib.aclosing(client),
            Sink.start() as sink,
            Sink.start() as marker,
            aiohttp.ClientSession() as http,
        ):
            a_ready, b_paused = subscription("a", sink.url, True), subscription("b", sink.url, False)
            c_marker = subscription("c", marker.url, True)
            name_a, name_b, name_c = (f"sub-{s['metadata']['uid']}" for s in (a_ready, b_paused, c_marker))
            channel = served(make_channel("orders", "shop"))
            kube.create(make_channel("orders", "shop"))
            channel = next_status(channel, ccp, [a_ready, b_paused], T0)
            write(channel)
            async with installed_dispatcher(kube, ccp) as port:
                url = f"http://127.0.0.1:{port}/shop/orders"
                await eventually(groups, {name_a, name_b})  # the paused one gets its group too

                # a pauses: events accepted meanwhile wait in its group and arrive on resume. The
                # marker subscription c comes in the same update: once it gets events, a is paused.
                paused = [subscription("a", sink.url, False), b_paused, c_marker]
                channel = next_status(channel, ccp, paused, T0)
                write(channel)

                async def post(event_id: str) -> int:
                    async with http.post(url, data=b"{}", headers=binary_headers(event_id)) as resp:
                        return resp.status

                async def marker_reached() -> bool:
                    assert await post("probe") == 202
                    return bool(marker.received)

                await eventually_async(marker_reached, what="the marker subscription")
                held = {f"p-{i}" for i in range(5)}
                for event_id in sorted(held):
                    assert await post(event_id) == 202
                await eventually_async(lambda: held <= ids(marker), what="the marker's copies")
                assert not held & ids(sink)
                channel = next_status(channel, ccp, [a_ready, b_paused, c_marker], T0)
                write(channel)
                await eventually_async(lambda: held <= ids(sink), what="a's held events")
                assert ids(sink) <= held | {"probe"}

                # b is deleted: the controller's tombstone removes its group, a's and c's stay.
                channel = next_status(channel, ccp, [a_ready, c_marker], T1)
                write(channel)
                await eventually(groups, {name_a, name_c})

                # The Channel is deleted: its stream goes.
                kube.delete(MESSAGING, "Channel", "orders", "shop")
                await eventually(lambda: client.exists(key), 0, within=10)
