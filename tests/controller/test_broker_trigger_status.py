"""Broker and Trigger status builders as table cases: conditions from the provisioner, the
Broker's table of Triggers (paused entries, tombstones), the Trigger's resolved addresses and its
filter problems; plus the cache's Broker indexes that destinations resolve through."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire_runtime.controller.broker.status import make_status as broker_status
from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.destinations import Resolution, TargetKey, resolve
from eventwire_runtime.controller.provisioner.resources import make_status as provisioner_status
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.trigger.resources import make_status as trigger_status
from eventwire_runtime.controller.trigger.resources import reflects_broker
from tests.controller.factories import (
    EVENTING,
    condition,
    make_broker,
    make_provisioner,
    make_source,
    make_subscription,
    make_trigger,
    served,
)

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:05:00Z"
DISPATCHER = "http://eventwire-dispatcher-default.eventwire-system.svc.cluster.local"


def ready_provisioner(dispatcher_exists: bool = True) -> dict[str, Any]:
    ccp = served(make_provisioner("default", default=True))
    ccp["status"] = provisioner_status(ccp, dispatcher_exists, ControllerSettings(), NOW)
    return ccp


def resolved_trigger(name: str, **spec: Any) -> dict[str, Any]:
    """A Trigger of `mesh` with the status its reconciler writes before the Broker lists it."""
    trigger = served(make_trigger(name, "shop", "mesh", **spec))
    trigger["status"] = trigger_status(trigger, None, Resolution(uri=f"http://{name}.example/"), None, NOW)
    return trigger


def statuses(obj_status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in obj_status["conditions"]}


def test_a_broker_on_a_ready_provisioner_is_addressable_and_ready() -> None:
    broker = served(make_broker("mesh", "shop"))
    status = broker_status(broker, "default", ready_provisioner(), "", None, [], NOW)
    assert status["address"] == {"name": "http", "url": f"{DISPATCHER}/brokers/shop/mesh"}
    assert status["provisioner"] == "default"
    assert status["observedGeneration"] == 1
    assert status["triggers"] == []
    assert statuses(status) == dict.fromkeys(
        (
            "Addressable",
            "DeadLetterSinkResolved",
            "FilterReady",
            "IngressReady",
            "Ready",
            "TriggerChannelReady",
        ),
        "True",
    )


@pytest.mark.parametrize(
    ("name", "provisioner", "problem", "reason"),
    [
        (None, None, "no ClusterChannelProvisioner is marked default", "NoDefaultProvisioner"),
        ("gone", None, "", "ProvisionerNotFound"),
        ("default", "no-dispatcher", "", "ProvisionerNotReady"),
    ],
)
def test_a_broker_without_a_working_provisioner_is_not_ready(
    name: str | None, provisioner: str | None, problem: str, reason: str
) -> None:
    ccp = ready_provisioner(dispatcher_exists=False) if provisioner else None
    status = broker_status(served(make_broker("mesh", "shop")), name, ccp, problem, None, [], NOW)
    ready = condition({"status": status})
    assert (ready["status"], ready["reason"]) == ("False", reason)
    if problem:
        assert ready["message"] == problem
    if provisioner:  # its settings are valid: only the dispatcher is missing
        assert statuses(status)["TriggerChannelReady"] == "True"
        assert statuses(status)["IngressReady"] == "False"
        assert "DispatcherServiceMissing" not in ready["message"]
        assert "does not exist" in ready["message"]


def test_a_broker_dead_letter_sink_that_does_not_resolve_is_reported() -> None:
    broker = served(make_broker("mesh", "shop"))
    failed = Resolution(reason="NotFound", message="Service shop/dead (v1) does not exist")
    status = broker_status(broker, "default", ready_provisioner(), "", failed, [], NOW)
    dls = condition({"status": status}, "DeadLetterSinkResolved")
    assert (dls["status"], dls["reason"], dls["message"]) == ("False", "NotFound", failed.message)
    assert status["deadLetterSinkUri"] is None
    ok = broker_status(broker, "default", ready_provisioner(), "", Resolution(uri="http://dead/"), [], NOW)
    assert ok["deadLetterSinkUri"] == "http://dead/"


def test_the_broker_lists_ready_and_paused_triggers_and_tombstones_deleted_ones() -> None:
    ccp = ready_provisioner()
    broker = served(make_broker("mesh", "shop", delivery={"retry": 3}))
    ready = resolved_trigger("ready", filter={"attributes": {"type": "order.created"}})
    unresolved = served(make_trigger("unresolved", "shop", "mesh"))
    unresolved["status"] = trigger_status(
        unresolved,
        None,
        Resolution(reason="NotFound", message="Service shop/late (v1) does not exist"),
        None,
        NOW,
    )
    bad = resolved_trigger("bad-sql", filters=[{"cesql": "type = "}])
    other = served(make_trigger("elsewhere", "shop", "other-broker"))
    first = broker_status(broker, "default", ccp, "", None, [ready, unresolved, bad, other], NOW)
    by_name = {entry["name"]: entry for entry in first["triggers"]}
    assert sorted(by_name) == ["bad-sql", "ready", "unresolved"]
    assert by_name["ready"] == {
        "uid": ready["metadata"]["uid"],
        "name": "ready",
        "generation": 1,
        "subscriberUri": "http://ready.example/",
        "delivery": {"retry": 3},
        "filter": {"attributes": {"type": "order.created"}},
        "ready": "True",
    }
    assert by_name["unresolved"]["ready"] == "False"  # paused, its durable position kept
    assert "does not exist" in by_name["unresolved"]["message"]
    assert by_name["bad-sql"]["ready"] == "False"
    assert "CloudEvents SQL does not parse" in by_name["bad-sql"]["message"]
    assert "deletedTriggers" not in first

    # `ready` is deleted: gone from the index, it gets a tombstone; the others stay listed.
    broker["status"] = first
    second = broker_status(broker, "default", ccp, "", None, [unresolved, bad], LATER)
    assert [e["name"] for e in second["triggers"]] == ["bad-sql", "unresolved"]
    assert second["deletedTriggers"] == [
        {"uid": ready["metadata"]["uid"], "name": "ready", "deletedAt": LATER}
    ]


def test_a_trigger_listed_by_a_ready_broker_is_ready() -> None:
    ccp = ready_provisioner()
    trigger = resolved_trigger("t")
    broker = served(make_broker("mesh", "shop"))
    broker["status"] = broker_status(broker, "default", ccp, "", None, [trigger], NOW)
    status = trigger_status(trigger, broker, Resolution(uri="http://t.example/"), None, LATER)
    assert statuses(status) == dict.fromkeys(
        (
            "BrokerReady",
            "DeadLetterSinkResolved",
            "DependencyReady",  # no dependency annotation
            "Ready",
            "SubscriberResolved",
            "SubscriptionReady",
        ),
        "True",
    )
    assert status["subscriberUri"] == "http://t.example/"
    assert reflects_broker({**trigger, "status": status}, broker)
    # The Broker no longer lists it (e.g. a newer generation not routed yet): the Trigger must follow.
    assert not reflects_broker(
        {**trigger, "status": status}, {**broker, "status": {**broker["status"], "triggers": []}}
    )


def test_a_trigger_whose_broker_is_missing_or_not_ready() -> None:
    trigger = served(make_trigger("t", "shop", "mesh"))
    missing = trigger_status(trigger, None, Resolution(uri="http://t.example/"), None, NOW)
    broker_ready = condition({"status": missing}, "BrokerReady")
    assert (broker_ready["status"], broker_ready["reason"]) == ("False", "BrokerDoesNotExist")
    assert condition({"status": missing})["status"] == "False"
    unready = served(make_broker("mesh", "shop"))
    unready["status"] = broker_status(
        unready, None, None, "no ClusterChannelProvisioner is marked default", None, [], NOW
    )
    status = trigger_status(trigger, unready, Resolution(uri="http://t.example/"), None, NOW)
    cond = condition({"status": status}, "BrokerReady")
    assert (cond["status"], cond["reason"]) == ("Unknown", "BrokerNotReady")
    assert "no ClusterChannelProvisioner is marked default" in cond["message"]


def test_a_trigger_with_an_unparsable_cesql_expression_is_not_ready_and_says_why() -> None:
    trigger = served(
        make_trigger("t", "shop", "mesh", filters=[{"exact": {"type": "a"}}, {"cesql": "type = "}])
    )
    broker = served(make_broker("mesh", "shop"))
    broker["status"] = broker_status(broker, "default", ready_provisioner(), "", None, [trigger], NOW)
    status = trigger_status(trigger, broker, Resolution(uri="http://t.example/"), None, NOW)
    ready = condition({"status": status})
    assert (ready["status"], ready["reason"]) == ("False", "InvalidFilters")
    assert ready["message"].startswith("filters[1].cesql: CloudEvents SQL does not parse")
    assert statuses(status)["SubscriberResolved"] == "True"


def test_a_trigger_dead_letter_sink_its_own_else_the_brokers() -> None:
    broker = served(make_broker("mesh", "shop"))
    broker["status"] = {"deadLetterSinkUri": "http://broker-dead/"}
    trigger = served(make_trigger("t", "shop", "mesh"))
    inherited = trigger_status(trigger, broker, Resolution(uri="http://t.example/"), None, NOW)
    assert inherited["deadLetterSinkUri"] == "http://broker-dead/"
    own = trigger_status(
        trigger, broker, Resolution(uri="http://t/"), Resolution(uri="http://own-dead/"), NOW
    )
    assert own["deadLetterSinkUri"] == "http://own-dead/"
    failed = trigger_status(
        trigger, broker, Resolution(uri="http://t/"), Resolution(reason="NotFound", message="gone"), NOW
    )
    cond = condition({"status": failed}, "DeadLetterSinkResolved")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        "DeadLetterSinkResolveFailed",
        "deadLetterSink: gone",
    )


def test_an_unchanged_trigger_status_keeps_its_transition_times() -> None:
    trigger = served(make_trigger("t", "shop", "mesh"))
    first = trigger_status(trigger, None, Resolution(uri="http://t.example/"), None, NOW)
    again = trigger_status(
        {**trigger, "status": first}, None, Resolution(uri="http://t.example/"), None, LATER
    )
    assert again == first


async def test_sources_and_subscriptions_resolve_a_broker_from_the_index() -> None:
    broker = served(make_broker("mesh", "shop"))
    broker["status"] = broker_status(broker, "default", ready_provisioner(), "", None, [], NOW)
    ref = {"ref": {"apiVersion": EVENTING, "kind": "Broker", "name": "mesh"}}
    source = served(make_source("PingSource", "ping", "shop", sink=ref))
    subscription = served(
        make_subscription("s", "shop", "orders", subscriber={"uri": "http://x/"}, reply=ref)
    )
    trigger = served(make_trigger("t", "shop", "other", subscriber=ref))
    cache = Cache.from_objects([broker, source, subscription, trigger])  # no fetcher: the index alone
    resolved = await resolve(ref, "shop", cache, "cluster.local")
    assert resolved.uri == f"{DISPATCHER}/brokers/shop/mesh"
    assert await resolve(
        {"ref": {**ref["ref"], "name": "missing"}}, "shop", cache, "cluster.local"
    ) == Resolution(reason="NotFound", message=f"Broker shop/missing ({EVENTING}) does not exist")
    # Late binding: every object naming the Broker is its referrer, so its events reach them.
    assert sorted(cache.referrers(TargetKey("eventing.eventwire.dev", "Broker", "shop", "mesh"))) == [
        ("PingSource", "shop", "ping"),
        ("Subscription", "shop", "s"),
        ("Trigger", "shop", "t"),
    ]
    assert [t["metadata"]["name"] for t in cache.triggers_of("shop", "other")] == ["t"]
    assert cache.brokers_served_by("") == [("shop", "mesh")]
