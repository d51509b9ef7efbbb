"""End to end: the real operator against the Kubernetes API fake — Brokers and Triggers (address,
routing table, late binding of a missing subscriber, tombstones, CESQL problems, Brokers as
destinations of Subscriptions and sources)."""

from __future__ import annotations

from typing import Any

from tests.controller.factories import (
    EVENTING,
    MESSAGING,
    SOURCES,
    apply,
    condition,
    make_broker,
    make_channel,
    make_service,
    make_source,
    make_subscription,
    make_trigger,
    requests_outside_rbac,
    service_ref,
)
from tests.support.kube import KubeApiFake
from tests.support.waiting import eventually

TIMEOUT = 10.0
DISPATCHER = "http://eventwire-dispatcher-default.eventwire-system.svc.cluster.local"


def get(kube: KubeApiFake, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    api = {"Broker": EVENTING, "Trigger": EVENTING, "PingSource": SOURCES}.get(kind, MESSAGING)
    return kube.get(api, kind, name, namespace)


def ready(kube: KubeApiFake, kind: str, name: str, namespace: str) -> str:
    return str(condition(get(kube, kind, name, namespace)).get("status", ""))


def status_of(kube: KubeApiFake, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return dict((get(kube, kind, name, namespace) or {}).get("status") or {})


def paused(kube: KubeApiFake, namespace: str) -> list[tuple[str, str]]:
    """(name, ready) of the entries of Broker `mesh`: a Trigger the dispatcher must pause keeps its
    entry (and durable position) with ready False."""
    entries = status_of(kube, "Broker", "mesh", namespace).get("triggers") or []
    return [(e["name"], e["ready"]) for e in entries]


def test_a_broker_gets_an_address_and_lists_its_triggers(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace, delivery={"retry": 4}))
    apply(kube, make_trigger("orders", namespace, "mesh", filter={"attributes": {"type": "order.created"}}))
    eventually(lambda: ready(kube, "Broker", "mesh", namespace) == "True", TIMEOUT, "the Broker Ready")
    assert status_of(kube, "Broker", "mesh", namespace)["address"]["url"] == (
        f"{DISPATCHER}/brokers/{namespace}/mesh"
    )
    eventually(lambda: ready(kube, "Trigger", "orders", namespace) == "True", TIMEOUT, "the Trigger Ready")
    uid = (get(kube, "Trigger", "orders", namespace) or {})["metadata"]["uid"]
    assert status_of(kube, "Broker", "mesh", namespace)["triggers"] == [
        {
            "uid": uid,
            "name": "orders",
            "generation": 1,
            "subscriberUri": "http://orders.example/",
            "delivery": {"retry": 4},
            "filter": {"attributes": {"type": "order.created"}},
            "ready": "True",
        }
    ]
    trigger = status_of(kube, "Trigger", "orders", namespace)
    assert trigger["subscriberUri"] == "http://orders.example/"
    assert trigger["observedGeneration"] == 1


def test_a_trigger_to_a_missing_subscriber_becomes_ready_when_it_appears(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace))
    apply(kube, make_trigger("late", namespace, "mesh", subscriber=service_ref("not-yet")))
    eventually(lambda: ready(kube, "Trigger", "late", namespace) == "False", TIMEOUT, "Ready=False")
    cond = condition(get(kube, "Trigger", "late", namespace), "SubscriberResolved")
    assert cond["reason"] == "SubscriberResolveFailed"
    assert "does not exist" in cond["message"]
    # Listed, paused: the dispatcher keeps its durable position.
    eventually(lambda: paused(kube, namespace) == [("late", "False")], TIMEOUT, "a paused entry")

    apply(kube, make_service("not-yet", namespace))  # the watch on Services reacts: no restart, no poll
    eventually(lambda: ready(kube, "Trigger", "late", namespace) == "True", TIMEOUT, "Ready=True")
    entries = status_of(kube, "Broker", "mesh", namespace)["triggers"]
    assert [(e["subscriberUri"], e["ready"]) for e in entries] == [
        (f"http://not-yet.{namespace}.svc.cluster.local", "True")
    ]


def test_a_trigger_created_before_its_broker(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_trigger("early", namespace, "later"))
    eventually(
        lambda: (
            condition(get(kube, "Trigger", "early", namespace), "BrokerReady").get("reason")
            == "BrokerDoesNotExist"
        ),
        TIMEOUT,
        "BrokerDoesNotExist",
    )
    apply(kube, make_broker("later", namespace))
    eventually(lambda: ready(kube, "Trigger", "early", namespace) == "True", TIMEOUT, "Ready=True")


def test_deleting_a_trigger_leaves_a_tombstone(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace))
    for name in ("a", "b"):
        apply(kube, make_trigger(name, namespace, "mesh"))

    def names() -> list[str]:
        return [t["name"] for t in status_of(kube, "Broker", "mesh", namespace).get("triggers") or []]

    eventually(lambda: names() == ["a", "b"], TIMEOUT, "both listed")
    uid = (get(kube, "Trigger", "a", namespace) or {})["metadata"]["uid"]
    kube.delete(EVENTING, "Trigger", "a", namespace)
    eventually(lambda: names() == ["b"], TIMEOUT, "only b listed")
    stones = status_of(kube, "Broker", "mesh", namespace).get("deletedTriggers") or []
    assert [(t["uid"], t["name"]) for t in stones] == [(uid, "a")]


def test_a_cesql_parse_error_is_reported_in_the_trigger_status(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace))
    # `eventwire validate` refuses it, the API server (its CRD schema) accepts it: kubectl apply.
    kube.create(make_trigger("sql", namespace, "mesh", filters=[{"cesql": "type = 'a' AND"}]))
    eventually(lambda: ready(kube, "Trigger", "sql", namespace) == "False", TIMEOUT, "Ready=False")
    cond = condition(get(kube, "Trigger", "sql", namespace))
    assert cond["reason"] == "InvalidFilters"
    assert cond["message"].startswith("filters[0].cesql: CloudEvents SQL does not parse")
    eventually(lambda: paused(kube, namespace) == [("sql", "False")], TIMEOUT, "a paused entry")
    # Fixed in place: the new generation is routed and the Trigger becomes Ready.
    kube.patch(EVENTING, "Trigger", "sql", {"spec": {"filters": [{"cesql": "type = 'a'"}]}}, namespace)
    eventually(lambda: ready(kube, "Trigger", "sql", namespace) == "True", TIMEOUT, "Ready=True")
    entries = status_of(kube, "Broker", "mesh", namespace)["triggers"]
    assert [(e["generation"], e["ready"], e["filters"]) for e in entries] == [
        (2, "True", [{"cesql": "type = 'a'"}])
    ]


def test_a_broker_dead_letter_sink_resolves_when_it_appears_and_reaches_its_triggers(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace, delivery={"deadLetterSink": service_ref("dead")}))
    apply(kube, make_trigger("t", namespace, "mesh"))
    eventually(
        lambda: (
            condition(get(kube, "Broker", "mesh", namespace), "DeadLetterSinkResolved").get("status")
            == "False"
        ),
        TIMEOUT,
        "DeadLetterSinkResolved=False",
    )
    apply(kube, make_service("dead", namespace))
    dead = f"http://dead.{namespace}.svc.cluster.local"
    eventually(lambda: ready(kube, "Broker", "mesh", namespace) == "True", TIMEOUT, "the Broker Ready")
    eventually(
        lambda: status_of(kube, "Trigger", "t", namespace).get("deadLetterSinkUri") == dead,
        TIMEOUT,
        "the Broker's dead-letter sink in the Trigger's status",
    )
    eventually(
        lambda: (
            [e.get("deadLetterSinkUri") for e in status_of(kube, "Broker", "mesh", namespace)["triggers"]]
            == [dead]
        ),
        TIMEOUT,
        "the Broker's dead-letter sink in the Trigger's entry",
    )


def test_deleting_a_broker_makes_its_triggers_not_ready(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace))
    apply(kube, make_trigger("t", namespace, "mesh"))
    eventually(lambda: ready(kube, "Trigger", "t", namespace) == "True", TIMEOUT, "Ready=True")
    kube.delete(EVENTING, "Broker", "mesh", namespace)
    eventually(
        lambda: (
            condition(get(kube, "Trigger", "t", namespace), "BrokerReady").get("reason")
            == "BrokerDoesNotExist"
        ),
        TIMEOUT,
        "BrokerDoesNotExist",
    )
    assert ready(kube, "Trigger", "t", namespace) == "False"


def test_subscriptions_and_sources_send_to_a_broker(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    broker_ref = {"ref": {"apiVersion": EVENTING, "kind": "Broker", "name": "mesh"}}
    apply(kube, make_channel("orders", namespace))
    apply(kube, make_subscription("into-mesh", namespace, "orders", subscriber=broker_ref))
    apply(kube, make_source("PingSource", "tick", namespace, sink=broker_ref))
    eventually(
        lambda: ready(kube, "Subscription", "into-mesh", namespace) == "False", TIMEOUT, "not resolved"
    )
    apply(kube, make_broker("mesh", namespace))  # late binding through the Broker's watch events
    url = f"{DISPATCHER}/brokers/{namespace}/mesh"
    eventually(lambda: ready(kube, "Subscription", "into-mesh", namespace) == "True", TIMEOUT, "Ready=True")
    physical = status_of(kube, "Subscription", "into-mesh", namespace)["physicalSubscription"]
    assert physical["subscriberUri"] == url
    eventually(lambda: status_of(kube, "PingSource", "tick", namespace).get("sinkUri") == url, TIMEOUT, url)


def test_a_converged_broker_and_its_triggers_are_quiet(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace))
    for name in ("a", "b", "c"):
        apply(kube, make_trigger(name, namespace, "mesh"))
    for name in ("a", "b", "c"):
        eventually(lambda name=name: ready(kube, "Trigger", name, namespace) == "True", TIMEOUT, name)
    eventually(lambda: ready(kube, "Broker", "mesh", namespace) == "True", TIMEOUT, "Broker Ready")
    mark = len(kube.requests)
    # A barrier instead of a pause (see the messaging module's quiet test).
    other = f"{namespace}-barrier"
    apply(kube, make_broker("barrier", other))
    apply(kube, make_trigger("t", other, "barrier"))
    eventually(lambda: ready(kube, "Trigger", "t", other) == "True", TIMEOUT, "the barrier converged")
    touched = [path for _, path in kube.requests[mark:] if f"/namespaces/{namespace}/" in path]
    assert touched == []


def test_the_eventing_reconcilers_read_only_from_their_watches(cluster: KubeApiFake) -> None:
    """Runs after the tests above: Brokers and Triggers were read through watches only."""
    reads = [
        path.split("?")[0]
        for method, path in list(cluster.requests)
        if method == "GET"
        and "watch=true" not in path
        and any(f"/{p}" in path for p in ("brokers", "triggers"))
    ]
    assert len(reads) == len(set(reads))
    assert all(path.endswith(("brokers", "triggers")) for path in reads)


def test_every_request_of_the_controller_is_allowed_by_its_cluster_role(cluster: KubeApiFake) -> None:
    """Runs last in this module: Broker and Trigger requests included."""
    requests = list(cluster.requests)
    assert any("/brokers/" in path and "/status" in path for method, path in requests if method == "PATCH")
    assert any("/triggers/" in path and "/status" in path for method, path in requests if method == "PATCH")
    assert requests_outside_rbac(requests) == []
