"""The routing table: Channel status written by the controller's builders, read by the
dispatcher's Kubernetes routing source, for both channel address styles.

Pure half: `channel.make_status` -> `routing.channel_from_object` (what `dispatcher.kube` applies
to every watched Channel) yields the same subscribers with the same delivery.
Wire half: the status goes into the Kubernetes API fake, a real dispatcher process configured the
way the install configures it (`eventwire.install.runtime_contract.dispatcher_env`) watches it,
and an event POSTed to the published `status.address.url` (its Host and path, sent to loopback)
reaches the subscriber, the reply destination and the dead-letter sink.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from eventwire.api import render_crds, validate_resource
from eventwire.install import runtime_contract
from eventwire_runtime.controller.channel import resources as channel_resources
from eventwire_runtime.controller.destinations import Resolution, destination_uri
from eventwire_runtime.controller.provisioner import resources as provisioner_resources
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.subscription import resources as subscription_resources
from eventwire_runtime.delivery.spec import DeliverySpec
from eventwire_runtime.dispatcher.routing import RoutingTable, Subscriber, channel_from_object
from tests.controller.factories import (
    MESSAGING,
    make_channel,
    make_provisioner,
    make_service,
    make_subscription,
    served,
)
from tests.dispatcher.conftest import dispatcher_process
from tests.support.kube import KubeApiFake, merge_patch, running_kube
from tests.support.processes import free_port
from tests.support.sink import Received, Reply, Sink

NOW = "2026-01-01T00:00:00Z"
SETTINGS = ControllerSettings()
HOST_SUFFIX = "channels.example.com"
STYLES = {"path": {}, "host": {"hostSuffix": HOST_SUFFIX}}


def provisioner_for(style: str, name: str = "default") -> dict[str, Any]:
    """A Ready provisioner whose status comes from the controller's builder."""
    ccp = served(make_provisioner(name, default=True, dispatcher=dict(STYLES[style])))
    ccp["status"] = provisioner_resources.make_status(ccp, True, SETTINGS, NOW)
    return ccp


def resolved(sub: dict[str, Any], targets: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The Subscription with the status the controller computes once its references resolve."""
    namespace = sub["metadata"]["namespace"]
    resolutions: dict[str, Resolution] = {}
    for key, dest in subscription_resources.destinations(sub["spec"]).items():
        target = (targets or {}).get(str((dest.get("ref") or {}).get("name", "")))
        resolutions[key] = destination_uri(dest, namespace, target, SETTINGS.cluster_domain)
        assert resolutions[key].ok, resolutions[key]
    sub = dict(sub)
    sub["status"] = subscription_resources.make_status(sub, None, resolutions, NOW)
    return sub


def channel_with_status(
    channel: dict[str, Any],
    provisioner: dict[str, Any],
    subscriptions: list[dict[str, Any]],
    dead_letter: str | None = None,
) -> dict[str, Any]:
    status = channel_resources.make_status(
        channel,
        provisioner["metadata"]["name"],
        provisioner,
        "",
        Resolution(uri=dead_letter) if dead_letter else None,
        subscriptions,
        NOW,
    )
    # As stored after the controller's merge patch (None removes a key); it fits the CRD.
    out = {**channel, "status": merge_patch({}, status)}
    validate_resource(out)
    return out


# -- pure: builder -> parser ------------------------------------------------------------------------


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_delivery_field_survives_from_controller_to_dispatcher(style: str) -> None:
    ccp = provisioner_for(style)
    ccp["spec"]["delivery"] = {"retry": 7, "backoffMax": "PT9S", "timeout": "PT4S"}
    ch = served(
        make_channel(
            "orders",
            "shop",
            delivery={
                "backoffPolicy": "linear",
                "backoffDelay": "PT0.5S",
                "deadLetterSink": {"uri": "http://channel-dead.example/"},
            },
        )
    )
    billing = served(make_service("billing", "shop"))
    subs = [
        # Everything set on the subscription: it wins over channel and provisioner.
        resolved(
            served(
                make_subscription(
                    "full",
                    "shop",
                    "orders",
                    subscriber={"ref": {"apiVersion": "v1", "kind": "Service", "name": "billing"}},
                    reply={"uri": "http://replies.example/in"},
                    delivery={
                        "retry": 2,
                        "backoffPolicy": "exponential",
                        "backoffDelay": "PT0.25S",
                        "backoffMax": "PT3S",
                        "timeout": "PT1.5S",
                        "retryAfterMax": "PT1M",
                        "format": "json",
                        "deadLetterSink": {"uri": "http://sub-dead.example/x"},
                    },
                )
            ),
            {"billing": billing},
        ),
        # Nothing set: provisioner and channel parameters, the channel's dead-letter sink.
        resolved(
            served(make_subscription("plain", "shop", "orders", subscriber={"uri": "http://p.example/"}))
        ),
        # Not resolved yet: listed as Unknown, not routed.
        served(make_subscription("pending", "shop", "orders", subscriber={"uri": "http://q.example/"})),
    ]
    written = channel_with_status(ch, ccp, subs, dead_letter="http://channel-dead.example/")

    route = channel_from_object(written, where="Channel shop/orders")

    assert route.key == ("shop", "orders")
    assert route.subscribers == (
        Subscriber(
            uid=subs[0]["metadata"]["uid"],
            subscriber_uri="http://billing.shop.svc.cluster.local",
            reply_uri="http://replies.example/in",
            spec=DeliverySpec(
                retry=2,
                backoff_policy="exponential",
                backoff_delay=0.25,
                backoff_max=3.0,
                timeout=1.5,
                retry_after_max=60.0,
                dead_letter_uri="http://sub-dead.example/x",
                format="structured",
            ),
            name="full",
        ),
        Subscriber(
            uid=subs[1]["metadata"]["uid"],
            subscriber_uri="http://p.example/",
            reply_uri=None,
            spec=DeliverySpec(
                retry=7,
                backoff_policy="linear",
                backoff_delay=0.5,
                backoff_max=9.0,
                timeout=4.0,
                dead_letter_uri="http://channel-dead.example/",
            ),
            name="plain",
        ),
    )
    assert [e["ready"] for e in written["status"]["subscribers"]] == ["True", "Unknown", "True"]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_the_dispatcher_routes_the_address_the_controller_publishes(style: str) -> None:
    """RoutingTable.lookup (configured as the install configures the dispatcher) finds the channel
    from the Host and path of status.address.url."""
    ccp = provisioner_for(style)
    written = channel_with_status(served(make_channel("orders", "shop")), ccp, [])
    url = urlsplit(written["status"]["address"]["url"])
    env = runtime_contract.dispatcher_env("default", ccp["spec"])
    table = RoutingTable(env.get("EVENTWIRE_HOST_SUFFIX"))
    table.upsert(channel_from_object(written))
    table.upsert(channel_from_object(channel_with_status(served(make_channel("other", "shop")), ccp, [])))

    found = table.lookup(url.netloc, url.path or "/")

    assert found is not None
    assert found.key == ("shop", "orders")
    if style == "path":
        # A Service address that stock cluster DNS resolves; the channel is in the path.
        assert url.netloc == "eventwire-dispatcher-default.eventwire-system.svc.cluster.local"
        assert url.path == "/shop/orders"
    else:
        assert (url.netloc, url.path) == (f"orders.shop.{HOST_SUFFIX}", "")


# -- wire: controller status in the API -> dispatcher process -> subscribers -----------------------


@pytest.fixture
def kube() -> Iterator[KubeApiFake]:
    with running_kube() as fake:
        fake.install_crds(render_crds())
        yield fake


@contextlib.asynccontextmanager
async def installed_dispatcher(kube: KubeApiFake, provisioner: dict[str, Any]) -> AsyncIterator[int]:
    """The dispatcher process with the install's env for `provisioner`, watching the fake."""
    port = free_port()
    env = {
        **runtime_contract.dispatcher_env(provisioner["metadata"]["name"], provisioner["spec"]),
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_HOST": "127.0.0.1",
        "EVENTWIRE_KUBE_API_URL": kube.url,
        "EVENTWIRE_KUBE_TOKEN_FILE": "/nonexistent",
    }
    async with dispatcher_process(env, port):
        yield port


def event_headers(event_id: str, host: str) -> dict[str, str]:
    return {
        "Host": host,
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/contracts",
        "ce-type": "dev.eventwire.contract",
        "content-type": "application/json",
    }


@pytest.mark.parametrize("style", sorted(STYLES))
async def test_an_event_sent_to_the_published_address_reaches_every_destination(
    kube: KubeApiFake, style: str
) -> None:
    def reply_once(index: int, request: Received) -> Reply:
        headers = {
            "ce-specversion": "1.0",
            "ce-id": f"reply-{request.headers['ce-id']}",
            "ce-source": "/subscriber",
            "ce-type": "dev.eventwire.reply",
            "content-type": "application/json",
        }
        return Reply(200, headers, b'{"ok": true}')

    async with (
        Sink.start(reply_once) as subscriber,
        Sink.start() as replies,
        Sink.start(lambda i, r: Reply(500)) as failing,
        Sink.start() as dead_letters,
    ):
        ccp = provisioner_for(style)
        fast = {"retry": 1, "backoffDelay": "PT0.01S", "timeout": "PT5S"}
        subs = [
            resolved(
                served(
                    make_subscription(
                        "answers",
                        "shop",
                        "orders",
                        subscriber={"uri": subscriber.url},
                        reply={"uri": replies.url},
                        delivery=fast,
                    )
                )
            ),
            resolved(
                served(
                    make_subscription(
                        "broken",
                        "shop",
                        "orders",
                        subscriber={"uri": failing.url},
                        delivery={**fast, "deadLetterSink": {"uri": dead_letters.url}},
                    )
                )
            ),
        ]
        created = kube.create(make_channel("orders", "shop"))
        written = channel_with_status(created, ccp, subs)
        kube.patch(
            MESSAGING, "Channel", "orders", {"status": written["status"]}, "shop", subresource="status"
        )
        address = urlsplit(written["status"]["address"]["url"])

        async with installed_dispatcher(kube, ccp) as port, aiohttp.ClientSession() as http:
            target = f"http://127.0.0.1:{port}{address.path or '/'}"
            async with http.post(target, data=b"{}", headers=event_headers("e1", address.netloc)) as resp:
                assert resp.status == 202, await resp.text()
            # The wrong host or path is not this channel.
            async with http.post(
                f"http://127.0.0.1:{port}/shop/nope", data=b"{}", headers=event_headers("e2", address.netloc)
            ) as resp:
                assert resp.status == 404

            (got,) = await subscriber.wait_for(1)
            (reply,) = await replies.wait_for(1)
            (dead,) = await dead_letters.wait_for(1)

    assert got.headers["ce-id"] == "e1"
    assert reply.headers["ce-id"] == "reply-e1"
    assert len(failing.received) == 2  # retry 1: two attempts
    assert dead.headers["ce-id"] == "e1"
    assert dead.headers["ce-knativeerrordest"] == failing.url
    assert dead.headers["ce-knativeerrorcode"] == "500"
