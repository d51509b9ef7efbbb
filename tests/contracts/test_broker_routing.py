"""The Broker routing contract: the status the controller's builder writes
(controller/broker/resources.py) is what the dispatcher reads (dispatcher/broker.py, kube.py).

Pure half: `routing_status` -> `broker_from_object` gives the Triggers with their subscriber,
delivery and compiled filters, pauses the ones not ready, honours tombstones, and the published
address resolves to the Broker (never to a Channel of the same name).
Wire half: the status in the Kubernetes API fake, a real dispatcher process configured as the
install configures it, an event POSTed to the published address reaches the matching Trigger.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp

from eventwire.api import validate_resource
from eventwire.install import runtime_contract
from eventwire_runtime.controller.broker import resources as broker_resources
from eventwire_runtime.controller.provisioner import resources as provisioner_resources
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.delivery.spec import DeliverySpec
from eventwire_runtime.dispatcher import routing
from eventwire_runtime.dispatcher.broker import broker_from_object
from eventwire_runtime.dispatcher.routing import RoutingTable, channel_from_object
from tests.api.factories import make
from tests.contracts.test_routing import installed_dispatcher, kube  # noqa: F401  (the fixture)
from tests.controller.factories import make_channel, make_provisioner, served
from tests.support.kube import KubeApiFake, merge_patch
from tests.support.sink import Sink

NOW = "2026-01-01T00:00:00Z"
EVENTING = "eventing.eventwire.dev/v1"


def provisioner() -> dict[str, Any]:
    ccp = served(make_provisioner("default", default=True, dispatcher={}))
    ccp["status"] = provisioner_resources.make_status(ccp, True, ControllerSettings(), NOW)
    return ccp


def resolved_trigger(name: str, subscriber: str | None, generation: int = 1, **spec: Any) -> dict[str, Any]:
    """A Trigger with the status the controller gives it once its subscriber resolves (or not)."""
    trigger = served(
        make("Trigger", name, "shop", spec={"broker": "mesh", "subscriber": {"uri": "http://x/"}, **spec}),
        generation,
    )
    status: dict[str, Any] = {"observedGeneration": generation}
    if subscriber is not None:
        status["subscriberUri"] = subscriber
        status["conditions"] = [{"type": "SubscriberResolved", "status": "True"}]
    trigger["status"] = status
    return trigger


def broker_with_status(
    broker: dict[str, Any], ccp: dict[str, Any], triggers: list[dict[str, Any]]
) -> dict[str, Any]:
    status = broker_resources.routing_status(broker, ccp["metadata"]["name"], ccp, triggers, NOW)
    out = {**broker, "status": merge_patch(dict(broker.get("status") or {}), status)}
    validate_resource(out)  # it fits the Broker CRD's status schema
    return out


def test_paths_agree() -> None:
    assert broker_resources.BROKERS_PATH == routing.BROKERS_PATH


def test_the_dispatcher_reads_every_trigger_as_the_controller_wrote_it() -> None:
    ccp = provisioner()
    ccp["spec"]["delivery"] = {"retry": 7}
    broker = served(
        make("Broker", "mesh", "shop", spec={"delivery": {"backoffDelay": "PT0.5S", "timeout": "PT2S"}})
    )
    broker["status"] = {"deadLetterSinkUri": "http://broker-dead.example/"}
    exact = resolved_trigger(
        "exact",
        "http://orders.example/",
        filter={"attributes": {"type": "order.created"}},
        delivery={"retry": 2},
    )
    sql = resolved_trigger("sql", "http://big.example/", filters=[{"cesql": "INT(amount) > 100"}])
    pending = resolved_trigger("pending", None)
    broken = resolved_trigger("broken", "http://b.example/", filters=[{"cesql": "NOPE(type)"}])
    other_broker = resolved_trigger("elsewhere", "http://e.example/")
    other_broker["spec"]["broker"] = "another"

    written = broker_with_status(broker, ccp, [exact, sql, pending, broken, other_broker])
    route = broker_from_object(written, where="Broker shop/mesh")

    assert route.key == ("shop", "broker:mesh")
    assert route.kind == routing.BROKER
    assert route.title == "mesh"
    by_name = {s.name: s for s in route.subscribers}
    assert sorted(by_name) == ["exact", "sql"]
    assert by_name["exact"].subscriber_uri == "http://orders.example/"
    assert by_name["exact"].spec == DeliverySpec(
        retry=2, backoff_delay=0.5, timeout=2.0, dead_letter_uri="http://broker-dead.example/"
    )
    assert by_name["sql"].spec.retry == 7  # the provisioner's default
    exact_filter, sql_filter = by_name["exact"].filter, by_name["sql"].filter
    assert exact_filter is not None
    assert sql_filter is not None
    assert exact_filter({"type": "order.created"})
    assert not exact_filter({"type": "order.paid"})
    assert sql_filter({"amount": "500"})
    assert not sql_filter({"amount": "5"})
    assert sorted(route.paused) == sorted([pending["metadata"]["uid"], broken["metadata"]["uid"]])
    entries = {e["name"]: e for e in written["status"]["triggers"]}
    assert entries["broken"]["ready"] == "False"
    assert "NOPE" in entries["broken"]["message"]
    assert entries["pending"]["ready"] == "Unknown"

    # The Trigger "sql" is deleted: a tombstone, which the dispatcher turns into a deletion.
    again = broker_with_status(written, ccp, [exact, pending, broken])
    assert [t["uid"] for t in again["status"]["deletedTriggers"]] == [sql["metadata"]["uid"]]
    assert broker_from_object(again).deleted == (sql["metadata"]["uid"],)


def test_the_published_address_reaches_the_broker_not_a_channel_of_the_same_name() -> None:
    ccp = provisioner()
    written = broker_with_status(served(make("Broker", "mesh", "shop")), ccp, [])
    url = urlsplit(written["status"]["address"]["url"])
    env = runtime_contract.dispatcher_env("default", ccp["spec"])
    table = RoutingTable(env.get("EVENTWIRE_HOST_SUFFIX"))
    table.upsert(broker_from_object(written))
    table.upsert(channel_from_object(served(make_channel("mesh", "shop"))))

    found = table.lookup(url.netloc, url.path)

    assert url.netloc == "eventwire-dispatcher-default.eventwire-system.svc.cluster.local"
    assert url.path == "/brokers/shop/mesh"
    assert found is not None
    assert found.kind == routing.BROKER
    assert found.title == "mesh"
    channel = table.lookup(url.netloc, "/shop/mesh")
    assert channel is not None
    assert channel.kind == routing.CHANNEL


# -- wire ------------------------------------------------------------------------------------------


def headers(event_id: str, event_type: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/contracts",
        "ce-type": event_type,
        "content-type": "application/json",
    }


async def test_an_event_at_the_published_address_reaches_the_matching_trigger(
    kube: KubeApiFake,  # noqa: F811  (the fixture imported above)
) -> None:
    async with (
        Sink.start() as orders,
        Sink.start() as payments,
        Sink.start() as late,
        aiohttp.ClientSession() as http,
    ):
        ccp = provisioner()
        created = kube.create(make("Broker", "mesh", "shop"))
        triggers = [
            resolved_trigger("orders", orders.url, filter={"attributes": {"type": "order.created"}}),
            resolved_trigger("payments", payments.url, filters=[{"prefix": {"type": "payment."}}]),
        ]
        written = broker_with_status(created, ccp, triggers)
        kube.patch(EVENTING, "Broker", "mesh", {"status": written["status"]}, "shop", subresource="status")
        path = urlsplit(written["status"]["address"]["url"]).path
        async with installed_dispatcher(kube, ccp) as port:
            for event_id, event_type in (("1", "order.created"), ("2", "payment.done"), ("3", "other")):
                async with http.post(
                    f"http://127.0.0.1:{port}{path}", data=b"{}", headers=headers(event_id, event_type)
                ) as resp:
                    assert resp.status == 202, await resp.text()
            (got,) = await orders.wait_for(1)
            (paid,) = await payments.wait_for(1)
            # A Trigger added while running (the watch's MODIFIED event) gets the next events.
            triggers.append(resolved_trigger("late", late.url))
            written = broker_with_status(kube.get(EVENTING, "Broker", "mesh", "shop") or {}, ccp, triggers)
            kube.patch(
                EVENTING, "Broker", "mesh", {"status": written["status"]}, "shop", subresource="status"
            )
            for i in range(100):
                async with http.post(
                    f"http://127.0.0.1:{port}{path}", data=b"{}", headers=headers(f"late-{i}", "other")
                ) as resp:
                    assert resp.status == 202
                if late.received:
                    break
            await late.wait_for(1)
    assert got.headers["ce-id"] == "1"
    assert paid.headers["ce-id"] == "2"
    assert len(orders.received) == 1
    assert len(payments.received) == 1
