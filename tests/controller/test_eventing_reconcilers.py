"""Named reconciler cases for Brokers and Triggers: the reconcile functions run directly
(without kopf) against the API fake, so each case sees exactly the requests it causes."""

from __future__ import annotations

from eventwire_runtime.controller.broker import handlers as brokers
from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.trigger import handlers as triggers
from tests.controller.factories import (
    EVENTING,
    MESSAGING,
    condition,
    make_broker,
    make_provisioner,
    make_service,
    make_trigger,
    service_ref,
)
from tests.controller.test_reconcilers import Harness, harness  # noqa: F401  (the fixture)

BROKER_STATUS = "/apis/eventing.eventwire.dev/v1/namespaces/ns/brokers/mesh/status"
TRIGGER_STATUS = "/apis/eventing.eventwire.dev/v1/namespaces/ns/triggers/t/status"


def requests(harness: Harness) -> list[tuple[str, str]]:  # noqa: F811
    """The requests since the last clear, without the client's one-off discovery of a group version."""
    return [(m, p) for m, p in harness.kube.requests if not (m == "GET" and p.count("/") == 3)]


def cache_now(harness: Harness) -> None:  # noqa: F811
    """The context's cache as kopf's indexes hold the fake's objects once their events arrived."""
    objects = [
        *harness.kube.list(MESSAGING, "ClusterChannelProvisioner"),
        *harness.kube.list(EVENTING, "Broker"),
        *harness.kube.list(EVENTING, "Trigger"),
        *harness.kube.list("v1", "Service"),
    ]
    harness.ctx.cache = Cache.from_objects(objects)


async def test_broker_and_trigger_converge_then_write_nothing(harness: Harness) -> None:  # noqa: F811
    kube = harness.kube
    kube.create(make_service("eventwire-dispatcher-default", "eventwire-system"))
    ccp = kube.create(make_provisioner("default", default=True))
    kube.patch(
        MESSAGING,
        "ClusterChannelProvisioner",
        "default",
        {
            "status": {
                "address": {"url": "http://dispatcher.example"},
                "conditions": [
                    {"type": t, "status": "True"} for t in ("Ready", "SettingsValid", "DispatcherReady")
                ],
            }
        },
        subresource="status",
    )
    assert ccp is not None
    kube.create(make_broker("mesh", "ns"))
    trigger = kube.create(make_trigger("t", "ns", "mesh"))
    cache_now(harness)
    kube.requests.clear()

    # The Trigger resolves its subscriber; its Broker does not list it yet.
    await triggers.reconcile(harness.ctx, trigger)
    assert requests(harness) == [("PATCH", TRIGGER_STATUS)]  # no GET, no LIST
    after = kube.get(EVENTING, "Trigger", "t", "ns")
    assert condition(after, "SubscriberResolved")["status"] == "True"
    assert condition(after, "SubscriptionReady")["reason"] == "NotRoutedYet"

    # The Broker's reconciler builds its table from the cached Triggers.
    cache_now(harness)
    kube.requests.clear()
    await brokers.reconcile(harness.ctx, harness.ctx.cache.broker("ns", "mesh") or {})
    assert requests(harness) == [("PATCH", BROKER_STATUS)]
    broker = kube.get(EVENTING, "Broker", "mesh", "ns") or {}
    assert broker["status"]["address"]["url"] == "http://dispatcher.example/brokers/ns/mesh"
    assert [(e["uid"], e["ready"]) for e in broker["status"]["triggers"]] == [
        (trigger["metadata"]["uid"], "True")
    ]
    assert condition(broker)["status"] == "True"

    # The Trigger sees itself routed; then nothing is left to write.
    cache_now(harness)
    await triggers.reconcile(harness.ctx, harness.ctx.cache.trigger("ns", "t") or {})
    assert condition(kube.get(EVENTING, "Trigger", "t", "ns"))["status"] == "True"
    cache_now(harness)
    kube.requests.clear()
    await triggers.reconcile(harness.ctx, harness.ctx.cache.trigger("ns", "t") or {})
    await brokers.reconcile(harness.ctx, harness.ctx.cache.broker("ns", "mesh") or {})
    assert requests(harness) == []
    assert harness.events == []


async def test_a_trigger_to_a_missing_subscriber_warns_once(harness: Harness) -> None:  # noqa: F811
    kube = harness.kube
    kube.create(make_broker("mesh", "ns"))
    kube.create(make_trigger("t", "ns", "mesh", subscriber=service_ref("gone")))
    for _ in range(2):
        cache_now(harness)
        await triggers.reconcile(harness.ctx, harness.ctx.cache.trigger("ns", "t") or {})
    after = kube.get(EVENTING, "Trigger", "t", "ns")
    assert condition(after)["status"] == "False"
    assert [(name, reason) for name, reason, _ in harness.events] == [("t", "SubscriberResolveFailed")]
    assert "subscriberUri" not in (after or {})["status"]
