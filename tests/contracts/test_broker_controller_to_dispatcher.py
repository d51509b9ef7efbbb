"""The Broker contract end to end, with both real processes: the controller writes a Broker's
status from its Triggers, and the dispatcher routes an event POSTed to the address that status
publishes to the subscriber of the one Trigger whose filter matches."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from tests.contracts.test_broker_routing import headers
from tests.contracts.test_routing import installed_dispatcher, kube  # noqa: F401  (the fixture)
from tests.controller.conftest import SYSTEM_NAMESPACE, running_operator
from tests.controller.factories import (
    EVENTING,
    MESSAGING,
    apply,
    condition,
    make_broker,
    make_provisioner,
    make_service,
    make_trigger,
)
from tests.support.kube import KubeApiFake
from tests.support.sink import Sink
from tests.support.waiting import eventually

TIMEOUT = 15.0


async def test_the_controllers_broker_status_routes_events_to_the_matching_trigger(
    kube: KubeApiFake,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    async with Sink.start() as orders, Sink.start() as payments, aiohttp.ClientSession() as http:
        kube.create(make_service("eventwire-dispatcher-default", SYSTEM_NAMESPACE))
        apply(kube, make_provisioner("default", default=True))
        apply(kube, make_broker("mesh", "shop"))
        apply(
            kube,
            make_trigger(
                "orders",
                "shop",
                "mesh",
                subscriber={"uri": orders.url},
                filter={"attributes": {"type": "order.created"}},
            ),
        )
        apply(
            kube,
            make_trigger(
                "payments",
                "shop",
                "mesh",
                subscriber={"uri": payments.url},
                filters=[{"cesql": "type LIKE 'payment.%'"}],
            ),
        )
        with running_operator(kube, tmp_path) as operator:

            def routed() -> bool:
                triggers = [kube.get(EVENTING, "Trigger", n, "shop") for n in ("orders", "payments")]
                return all(condition(t).get("status") == "True" for t in triggers)

            try:
                eventually(routed, TIMEOUT, "both Triggers Ready (listed by their Broker)")
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}\n--- operator output ---\n{operator.output()[-5000:]}") from None
            broker = kube.get(EVENTING, "Broker", "mesh", "shop") or {}
            path = urlsplit(broker["status"]["address"]["url"]).path
            assert path == "/brokers/shop/mesh"
            ccp = kube.get(MESSAGING, "ClusterChannelProvisioner", "default") or {}
            async with installed_dispatcher(kube, ccp) as port:
                for event_id, event_type in (("1", "order.created"), ("2", "payment.done"), ("3", "other")):
                    async with http.post(
                        f"http://127.0.0.1:{port}{path}", data=b"{}", headers=headers(event_id, event_type)
                    ) as resp:
                        assert resp.status == 202, await resp.text()
                (got,) = await orders.wait_for(1)
                (paid,) = await payments.wait_for(1)
    assert got.headers["ce-id"] == "1"
    assert paid.headers["ce-id"] == "2"
    assert len(orders.received) == len(payments.received) == 1
