"""End to end: the real operator against the Kubernetes API fake — provisioners, Channels and
Subscriptions (routing table, late binding, deletion)."""

from __future__ import annotations

from typing import Any

from tests.controller.factories import (
    MESSAGING,
    apply,
    condition,
    make_channel,
    make_provisioner,
    make_service,
    make_subscription,
    requests_outside_rbac,
    service_ref,
)
from tests.support.kube import KNATIVE_SERVICE, KubeApiFake
from tests.support.waiting import eventually

TIMEOUT = 10.0


def get(kube: KubeApiFake, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    return kube.get(MESSAGING, kind, name, namespace)


def ready(kube: KubeApiFake, kind: str, name: str, namespace: str | None = None) -> str:
    return str(condition(get(kube, kind, name, namespace)).get("status", ""))


def test_channel_lists_its_subscriptions_and_becomes_ready(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_channel("orders", namespace, delivery={"retry": 5, "backoffDelay": "PT0.5S"}))
    apply(kube, make_service("billing", namespace))
    apply(kube, make_subscription("to-billing", namespace, "orders", subscriber=service_ref("billing")))
    apply(
        kube,
        make_subscription(
            "to-audit",
            namespace,
            "orders",
            subscriber={"uri": "http://audit.example/events"},
            reply={"uri": "http://replies.example/"},
            delivery={"retry": 1, "deadLetterSink": {"uri": "http://dead.example/"}},
        ),
    )

    def routed() -> list[dict[str, Any]] | None:
        status = (get(kube, "Channel", "orders", namespace) or {}).get("status") or {}
        subscribers = status.get("subscribers") or []
        return (
            subscribers if len(subscribers) == 2 and all(s["ready"] == "True" for s in subscribers) else None
        )

    subscribers = eventually(routed, TIMEOUT, "both subscribers in the channel's routing table")
    uids = {
        name: get(kube, "Subscription", name, namespace)["metadata"]["uid"]  # type: ignore[index]
        for name in ("to-audit", "to-billing")
    }
    assert subscribers == [
        {
            "uid": uids["to-audit"],
            "name": "to-audit",
            "generation": 1,
            "subscriberUri": "http://audit.example/events",
            "replyUri": "http://replies.example/",
            "deadLetterSinkUri": "http://dead.example/",
            "delivery": {"retry": 1, "backoffDelay": "PT0.5S"},
            "ready": "True",
        },
        {
            "uid": uids["to-billing"],
            "name": "to-billing",
            "generation": 1,
            "subscriberUri": f"http://billing.{namespace}.svc.cluster.local",
            "delivery": {"retry": 5, "backoffDelay": "PT0.5S"},
            "ready": "True",
        },
    ]
    channel = get(kube, "Channel", "orders", namespace)
    assert channel is not None
    # Path-routed on the dispatcher Service: stock cluster DNS resolves it.
    assert channel["status"]["address"]["url"] == (
        f"http://eventwire-dispatcher-default.eventwire-system.svc.cluster.local/{namespace}/orders"
    )
    assert channel["status"]["provisioner"] == "default"
    eventually(lambda: ready(kube, "Channel", "orders", namespace) == "True", TIMEOUT, "channel Ready")
    for name in uids:
        eventually(lambda name=name: ready(kube, "Subscription", name, namespace) == "True", TIMEOUT, name)
    sub = get(kube, "Subscription", "to-audit", namespace)
    assert sub is not None
    assert sub["status"]["physicalSubscription"] == {
        "subscriberUri": "http://audit.example/events",
        "replyUri": "http://replies.example/",
        "deadLetterSinkUri": "http://dead.example/",
    }
    assert sub["status"]["observedGeneration"] == 1


def test_subscription_to_missing_subscriber_becomes_ready_when_it_appears(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    apply(kube, make_channel("orders", namespace))
    apply(kube, make_subscription("late", namespace, "orders", subscriber=service_ref("not-yet")))
    eventually(lambda: ready(kube, "Subscription", "late", namespace) == "False", TIMEOUT, "Ready=False")
    cond = condition(get(kube, "Subscription", "late", namespace), "ReferencesResolved")
    assert cond["reason"] == "SubscriberResolveFailed"
    assert "does not exist" in cond["message"]

    def warned() -> bool:
        events = kube.list("v1", "Event", namespace)
        return any(
            e["involvedObject"]["name"] == "late"
            and e["reason"] == "SubscriberResolveFailed"
            and e["type"] == "Warning"
            for e in events
        )

    eventually(warned, TIMEOUT, "a Warning event on the subscription")

    apply(kube, make_service("not-yet", namespace))  # no operator restart: the watch on Services reacts
    eventually(lambda: ready(kube, "Subscription", "late", namespace) == "True", TIMEOUT, "Ready=True")
    channel = get(kube, "Channel", "orders", namespace)
    assert channel is not None
    assert [s["subscriberUri"] for s in channel["status"]["subscribers"]] == [
        f"http://not-yet.{namespace}.svc.cluster.local"
    ]


def test_subscription_created_before_its_channel(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_subscription("early", namespace, "later", subscriber={"uri": "http://x.example/"}))
    eventually(
        lambda: (
            condition(get(kube, "Subscription", "early", namespace), "ChannelReady").get("reason")
            == "ChannelNotFound"
        ),
        TIMEOUT,
        "ChannelNotFound",
    )
    apply(kube, make_channel("later", namespace))
    eventually(lambda: ready(kube, "Subscription", "early", namespace) == "True", TIMEOUT, "Ready=True")


def test_knative_service_subscriber_resolves_to_its_address(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_channel("orders", namespace))
    ksvc_ref = {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "fn"},
        "uri": "/hook",
    }
    apply(kube, make_subscription("to-fn", namespace, "orders", subscriber=ksvc_ref))
    eventually(lambda: ready(kube, "Subscription", "to-fn", namespace) == "False", TIMEOUT, "Ready=False")
    kube.create(
        {
            "apiVersion": KNATIVE_SERVICE.api_version,
            "kind": "Service",
            "metadata": {"name": "fn", "namespace": namespace},
        }
    )
    eventually(
        lambda: (
            "no status.address.url"
            in condition(get(kube, "Subscription", "to-fn", namespace), "ReferencesResolved").get(
                "message", ""
            )
        ),
        TIMEOUT,
        "not addressable yet",
    )
    kube.patch(
        KNATIVE_SERVICE.api_version,
        "Service",
        "fn",
        {"status": {"address": {"url": f"http://fn.{namespace}.svc.cluster.local"}}},
        namespace,
        subresource="status",
    )
    eventually(lambda: ready(kube, "Subscription", "to-fn", namespace) == "True", TIMEOUT, "Ready=True")
    sub = get(kube, "Subscription", "to-fn", namespace)
    assert sub is not None
    assert (
        sub["status"]["physicalSubscription"]["subscriberUri"]
        == f"http://fn.{namespace}.svc.cluster.local/hook"
    )


def test_deleting_a_subscription_removes_it_from_the_channel(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_channel("orders", namespace))
    for name in ("a", "b"):
        apply(
            kube, make_subscription(name, namespace, "orders", subscriber={"uri": f"http://{name}.example/"})
        )

    def names() -> list[str]:
        status = (get(kube, "Channel", "orders", namespace) or {}).get("status") or {}
        return [s["name"] for s in status.get("subscribers") or []]

    eventually(lambda: names() == ["a", "b"], TIMEOUT, "both listed")
    uid = (get(kube, "Subscription", "a", namespace) or {})["metadata"]["uid"]
    kube.delete(MESSAGING, "Subscription", "a", namespace)
    eventually(lambda: get(kube, "Subscription", "a", namespace) is None, TIMEOUT, "subscription gone")
    eventually(lambda: names() == ["b"], TIMEOUT, "only b listed")
    # The Channel's reconciler says so explicitly: the tombstone the dispatcher deletes durable
    # state for (from the index of the Channel's Subscriptions, which no longer holds it).
    status = (get(kube, "Channel", "orders", namespace) or {}).get("status") or {}
    assert [(t["uid"], t["name"]) for t in status.get("deletedSubscribers") or []] == [(uid, "a")]


def test_channel_without_a_ready_provisioner_is_not_ready(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_provisioner("redis-main", type="redis", redis={"url": "redis://redis.example:6379/0"}))
    apply(kube, make_channel("orders", namespace, provisioner="redis-main"))
    eventually(lambda: ready(kube, "Channel", "orders", namespace) == "False", TIMEOUT, "Ready=False")
    assert (
        condition(get(kube, "Channel", "orders", namespace), "ProvisionerReady")["reason"]
        == "ProvisionerNotReady"
    )
    eventually(
        lambda: (
            condition(get(kube, "ClusterChannelProvisioner", "redis-main"), "DispatcherReady").get("reason")
            == "DispatcherServiceMissing"
        ),
        TIMEOUT,
        "DispatcherServiceMissing",
    )
    # The install creates the dispatcher Service: provisioner, then channel become Ready.
    kube.create(make_service("eventwire-dispatcher-redis-main", "eventwire-system"))
    eventually(lambda: ready(kube, "Channel", "orders", namespace) == "True", TIMEOUT, "Ready=True")
    channel = get(kube, "Channel", "orders", namespace)
    assert channel is not None
    assert channel["status"]["provisioner"] == "redis-main"
    assert channel["status"]["address"]["url"] == (
        f"http://eventwire-dispatcher-redis-main.eventwire-system.svc.cluster.local/{namespace}/orders"
    )


def test_channel_address_follows_the_provisioners_host_suffix(cluster: KubeApiFake, namespace: str) -> None:
    """Host-style only while the provisioner sets spec.dispatcher.hostSuffix; path-routed otherwise."""
    kube = cluster
    name = f"edge-{namespace}"
    kube.create(make_service(f"eventwire-dispatcher-{name}", "eventwire-system"))
    apply(kube, make_provisioner(name, dispatcher={"hostSuffix": "channels.example.com"}))
    apply(kube, make_channel("orders", namespace, provisioner=name))

    def url() -> str:
        status = (get(kube, "Channel", "orders", namespace) or {}).get("status") or {}
        return str((status.get("address") or {}).get("url", ""))

    host_style = f"http://orders.{namespace}.channels.example.com"
    eventually(lambda: url() == host_style, TIMEOUT, host_style)

    def status_suffix() -> object:
        return ((get(kube, "ClusterChannelProvisioner", name) or {}).get("status") or {}).get("hostSuffix")

    eventually(lambda: status_suffix() == "channels.example.com", TIMEOUT, "status.hostSuffix")
    # The operator drops the suffix: the channel moves to the dispatcher Service's path.
    kube.patch(MESSAGING, "ClusterChannelProvisioner", name, {"spec": {"dispatcher": {"hostSuffix": None}}})
    path_style = f"http://eventwire-dispatcher-{name}.eventwire-system.svc.cluster.local/{namespace}/orders"
    eventually(lambda: url() == path_style, TIMEOUT, path_style)
    eventually(lambda: status_suffix() is None, TIMEOUT, "the provisioner's status without hostSuffix")


def test_channel_dead_letter_sink_resolves_when_it_appears(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_channel("orders", namespace, delivery={"deadLetterSink": service_ref("dead")}))
    apply(kube, make_subscription("s", namespace, "orders", subscriber={"uri": "http://s.example/"}))
    eventually(
        lambda: (
            condition(get(kube, "Channel", "orders", namespace), "DeadLetterSinkResolved").get("status")
            == "False"
        ),
        TIMEOUT,
        "DeadLetterSinkResolved=False",
    )
    apply(kube, make_service("dead", namespace))
    eventually(lambda: ready(kube, "Channel", "orders", namespace) == "True", TIMEOUT, "channel Ready")
    dead = f"http://dead.{namespace}.svc.cluster.local"

    def entry() -> dict[str, Any]:
        status = (get(kube, "Channel", "orders", namespace) or {}).get("status") or {}
        return dict((status.get("subscribers") or [{}])[0])

    eventually(lambda: entry().get("deadLetterSinkUri") == dead, TIMEOUT, "the channel's DLS in the entry")


def test_subscriber_in_another_namespace(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    other = f"{namespace}-other"
    apply(kube, make_channel("orders", namespace))
    ref = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "handler", "namespace": other}}
    apply(kube, make_subscription("cross", namespace, "orders", subscriber=ref))
    eventually(lambda: ready(kube, "Subscription", "cross", namespace) == "False", TIMEOUT, "Ready=False")
    apply(kube, make_service("handler", other))
    eventually(lambda: ready(kube, "Subscription", "cross", namespace) == "True", TIMEOUT, "Ready=True")


def test_a_finalizer_left_by_an_earlier_version_does_not_block_deletion(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    channel = make_channel("old", namespace)
    channel["metadata"]["finalizers"] = ["eventwire.dev/finalizer"]
    apply(kube, channel)
    kube.delete(MESSAGING, "Channel", "old", namespace)
    eventually(lambda: get(kube, "Channel", "old", namespace) is None, TIMEOUT, "the channel gone")


def test_a_converged_channel_and_its_subscriptions_are_quiet(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_channel("orders", namespace))
    for name in ("a", "b", "c"):
        apply(
            kube, make_subscription(name, namespace, "orders", subscriber={"uri": f"http://{name}.example/"})
        )
    for name in ("a", "b", "c"):
        eventually(lambda name=name: ready(kube, "Subscription", name, namespace) == "True", TIMEOUT, name)
    eventually(lambda: ready(kube, "Channel", "orders", namespace) == "True", TIMEOUT, "channel Ready")
    mark = len(kube.requests)
    # A barrier instead of a pause: the operator must notice and converge another Channel; what it
    # did meanwhile is all it did, and none of it touched the converged namespace.
    other = f"{namespace}-barrier"
    apply(kube, make_channel("barrier", other))
    apply(kube, make_subscription("s", other, "barrier", subscriber={"uri": "http://s.example/"}))
    eventually(lambda: ready(kube, "Subscription", "s", other) == "True", TIMEOUT, "the barrier converged")
    touched = [path for _, path in kube.requests[mark:] if f"/namespaces/{namespace}/" in path]
    assert touched == []


def test_the_messaging_reconcilers_read_only_from_their_watches(cluster: KubeApiFake) -> None:
    """Runs after the tests above: provisioners, Channels, Subscriptions and the Services they
    point at were read through watches (kopf's indexes) only, never by GET or LIST."""
    plurals = ("clusterchannelprovisioners", "channels", "subscriptions", "services")
    reads = [
        path.split("?")[0]
        for method, path in list(cluster.requests)
        if method == "GET" and "watch=true" not in path and any(f"/{p}" in path for p in plurals)
    ]
    # What remains is each watch's initial list (kopf lists, then watches from that version),
    # once per kind: no reconcile read a single object or listed a namespace.
    assert len(reads) == len(set(reads))
    assert all(path.endswith(plurals) for path in reads)


def test_every_request_of_the_controller_is_allowed_by_its_cluster_role(cluster: KubeApiFake) -> None:
    """Runs last in this module: checks what the operator did in all the tests above."""
    assert requests_outside_rbac(list(cluster.requests)) == []
