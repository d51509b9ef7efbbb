"""Pure functions of the provisioner, Channel and Subscription reconcilers: object in, status out."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire.api import validate_resource
from eventwire_runtime.controller.channel import names as channel_names
from eventwire_runtime.controller.channel import resources as channel
from eventwire_runtime.controller.conditions import ConditionSet
from eventwire_runtime.controller.destinations import Resolution
from eventwire_runtime.controller.provisioner import resources as provisioner
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.subscription import resources as subscription
from eventwire_runtime.dispatcher.routing import channel_from_object
from tests.controller.factories import make_channel, make_provisioner, make_subscription, served

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:05:00Z"
SETTINGS = ControllerSettings(system_namespace="eventwire-system")
HOST = "eventwire-dispatcher-default.eventwire-system.svc.cluster.local"


def cond(
    type_: str, status: str = "True", reason: str = "", message: str = "", generation: int = 1
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "status": status}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return {**out, "lastTransitionTime": NOW}


# -- conditions -------------------------------------------------------------------------------------


def test_ready_is_false_with_the_first_failing_dependent() -> None:
    conds = ConditionSet(("A", "B")).manage([], 3, NOW)
    conds.mark_true("A")
    conds.mark_false("B", "Broken", "b is broken")
    assert conds.result() == [
        cond("A", generation=3),
        cond("B", "False", "Broken", "b is broken", 3),
        cond("Ready", "False", "Broken", "b is broken", 3),
    ]


def test_unmarked_dependents_are_unknown() -> None:
    conds = ConditionSet(("A",)).manage([], 1, NOW)
    assert conds.result()[-1] == cond("Ready", "Unknown", "Pending", "not reconciled yet")


def test_transition_time_moves_only_when_the_status_changes() -> None:
    old = [cond("A"), cond("Ready")]
    conds = ConditionSet(("A",)).manage(old, 1, LATER)
    conds.mark_true("A")
    assert conds.result() == old  # nothing new: identical, so no write and no flapping
    conds = ConditionSet(("A",)).manage(old, 1, LATER)
    conds.mark_false("A", "Gone", "a went away")
    result = {c["type"]: c for c in conds.result()}
    assert result["A"]["lastTransitionTime"] == LATER


# -- ClusterChannelProvisioner ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "errors"),
    [
        ({"type": "in-memory"}, []),
        ({"type": "redis", "redis": {"url": "redis://r:6379/0"}}, []),
        ({"type": "redis"}, ["spec.redis.url is required for type redis"]),
        (
            {"type": "jetstream", "jetstream": {"url": "http://nats"}},
            ["spec.jetstream.url 'http://nats' must start with one of nats://, tls://, ws://, wss://"],
        ),
        (
            {"type": "in-memory", "redis": {"url": "redis://r"}},
            ["spec.redis is set but spec.type is in-memory"],
        ),
        ({"type": "kafka"}, ["spec.type must be one of in-memory, jetstream, redis, got 'kafka'"]),
    ],
)
def test_provisioner_settings_errors(spec: dict[str, Any], errors: list[str]) -> None:
    assert provisioner.settings_errors(spec) == errors


def test_provisioner_status_with_its_dispatcher() -> None:
    ccp = served(make_provisioner("default", default=True))
    assert provisioner.make_status(ccp, True, SETTINGS, NOW) == {
        "observedGeneration": 1,
        "address": {"url": f"http://{HOST}"},
        "hostSuffix": None,  # no explicit suffix: channels are path-routed (removed by the merge patch)
        "conditions": [cond("DispatcherReady"), cond("Ready"), cond("SettingsValid")],
    }


def test_provisioner_host_suffix_from_spec_and_missing_dispatcher() -> None:
    ccp = served(make_provisioner("default", dispatcher={"hostSuffix": "channels.example.com"}))
    status = provisioner.make_status(ccp, False, SETTINGS, NOW)
    assert status["hostSuffix"] == "channels.example.com"
    assert status["conditions"][1]["reason"] == "DispatcherServiceMissing"
    assert status["conditions"][1]["status"] == "False"


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        (["a"], ("a", "")),
        ([], (None, "no ClusterChannelProvisioner is marked default")),
        (["b", "a"], (None, "several ClusterChannelProvisioners are marked default: a, b")),
    ],
)
def test_default_provisioner(defaults: list[str], expected: tuple[str | None, str]) -> None:
    objects = [make_provisioner(n, default=True) for n in defaults] + [make_provisioner("other")]
    assert provisioner.default_provisioner(objects) == expected


# -- Channel ------------------------------------------------------------------------------------------


def ready_provisioner() -> dict[str, Any]:
    ccp = served(make_provisioner("default", default=True))
    ccp["status"] = provisioner.make_status(ccp, True, SETTINGS, NOW)
    return ccp


def resolved_subscription(name: str, generation: int = 1, **spec: Any) -> dict[str, Any]:
    sub = served(make_subscription(name, "ns", "orders", **spec), generation)
    resolutions = {
        key: Resolution(uri=dest["uri"]) for key, dest in subscription.destinations(sub["spec"]).items()
    }
    sub["status"] = subscription.make_status(sub, None, resolutions, NOW)
    return sub


def test_routing_table_entries_in_the_design_format() -> None:
    ch = served(make_channel("orders", "ns", delivery={"retry": 5, "backoffPolicy": "linear"}))
    subs = [
        resolved_subscription(
            "b",
            subscriber={"uri": "http://b.example"},
            reply={"uri": "http://reply.example"},
            delivery={"retry": 1, "timeout": "PT2S", "deadLetterSink": {"uri": "http://dead.example"}},
        ),
        resolved_subscription("a", 2, subscriber={"uri": "http://a.example"}),
        served(make_subscription("other", "ns", "another-channel", subscriber={"uri": "http://o.example"})),
    ]
    assert channel.routing_table(ch, subs) == [
        {
            "uid": subs[1]["metadata"]["uid"],
            "name": "a",
            "generation": 2,
            "subscriberUri": "http://a.example",
            "delivery": {"retry": 5, "backoffPolicy": "linear"},
            "ready": "True",
        },
        {
            "uid": subs[0]["metadata"]["uid"],
            "name": "b",
            "generation": 1,
            "subscriberUri": "http://b.example",
            "replyUri": "http://reply.example",
            "deadLetterSinkUri": "http://dead.example",
            "delivery": {"retry": 1, "backoffPolicy": "linear", "timeout": "PT2S"},
            "ready": "True",
        },
    ]


def test_unresolved_and_deleting_subscriptions() -> None:
    ch = served(make_channel("orders", "ns"))
    pending = served(make_subscription("pending", "ns", "orders", subscriber={"uri": "http://p.example"}))
    deleting = resolved_subscription("deleting", subscriber={"uri": "http://d.example"})
    deleting["metadata"]["deletionTimestamp"] = NOW
    assert channel.routing_table(ch, [pending, deleting]) == [
        {
            "uid": pending["metadata"]["uid"],
            "name": "pending",
            "generation": 1,
            "ready": "Unknown",
            "message": "the subscription's references are not resolved yet",
        }
    ]


def test_channel_status_and_the_dispatcher_agree() -> None:
    """The dispatcher reads exactly what the controller writes (routing.channel_from_object)."""
    ch = served(
        make_channel("orders", "ns", delivery={"deadLetterSink": {"uri": "http://channel-dead.example"}})
    )
    subs = [
        resolved_subscription(
            "a", subscriber={"uri": "http://a.example"}, delivery={"retry": 2, "backoffDelay": "PT1S"}
        ),
        resolved_subscription("b", subscriber={"uri": "http://b.example"}, reply={"uri": "http://r.example"}),
    ]
    status = channel.make_status(
        ch, "default", ready_provisioner(), "", Resolution(uri="http://channel-dead.example"), subs, NOW
    )
    ch["status"] = status
    validate_resource(ch)  # the status fits the Channel CRD's schema
    route = channel_from_object(ch)
    assert route.key == ("ns", "orders")
    assert [(s.uid, s.subscriber_uri, s.reply_uri) for s in route.subscribers] == [
        (subs[0]["metadata"]["uid"], "http://a.example", None),
        (subs[1]["metadata"]["uid"], "http://b.example", "http://r.example"),
    ]
    first = route.subscribers[0].spec
    assert first.retry == 2
    assert first.dead_letter_uri == "http://channel-dead.example"


def test_channel_status_whole() -> None:
    ch = served(make_channel("orders", "ns"))
    assert channel.make_status(ch, "default", ready_provisioner(), "", None, [], NOW) == {
        "observedGeneration": 1,
        "provisioner": "default",
        "address": {"name": "http", "url": f"http://{HOST}/ns/orders"},
        "deadLetterSinkUri": None,
        "subscribers": [],
        "conditions": [
            cond("Addressable"),
            cond("DeadLetterSinkResolved", reason="NoDeadLetterSink"),
            cond("ProvisionerReady"),
            cond("Ready"),
        ],
    }


@pytest.mark.parametrize(
    ("name", "ccp", "problem", "reason"),
    [
        (None, None, "no ClusterChannelProvisioner is marked default", "NoDefaultProvisioner"),
        ("gone", None, "", "ProvisionerNotFound"),
        ("default", served(make_provisioner("default")), "", "ProvisionerNotReady"),
    ],
)
def test_channel_without_a_ready_provisioner(name: str | None, ccp: Any, problem: str, reason: str) -> None:
    status = channel.make_status(served(make_channel("orders", "ns")), name, ccp, problem, None, [], NOW)
    ready = status["conditions"][-1]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", reason)
    assert status["address"] is None  # no dispatcher address: none (removed by the merge patch)


@pytest.mark.parametrize(
    ("dispatcher", "provisioner_status", "url"),
    [
        # Default: path-routed on the dispatcher Service, resolvable by stock cluster DNS.
        ({}, {"address": {"url": f"http://{HOST}"}}, f"http://{HOST}/ns/orders"),
        ({}, {"address": {"url": f"http://{HOST}/"}}, f"http://{HOST}/ns/orders"),
        # An explicit host suffix (the operator has wildcard DNS for it): host-style.
        (
            {"hostSuffix": "channels.example.com"},
            {"address": {"url": f"http://{HOST}"}},
            "http://orders.ns.channels.example.com",
        ),
        ({"hostSuffix": "channels.example.com"}, {}, "http://orders.ns.channels.example.com"),
        # Nothing published yet and no suffix: no address.
        ({}, {}, None),
    ],
)
def test_channel_address_styles(
    dispatcher: dict[str, Any], provisioner_status: dict[str, Any], url: str | None
) -> None:
    ccp = served(make_provisioner("default", default=True, dispatcher=dispatcher))
    ccp["status"] = provisioner_status
    assert channel_names.channel_address("orders", "ns", ccp) == url


def test_channel_address_from_the_provisioner_status_builder() -> None:
    """The provisioner builder's status feeds the channel builder: both styles end to end."""
    for dispatcher, url in (
        ({}, f"http://{HOST}/ns/orders"),
        ({"hostSuffix": "channels.example.com"}, "http://orders.ns.channels.example.com"),
    ):
        ccp = served(make_provisioner("default", default=True, dispatcher=dispatcher))
        ccp["status"] = provisioner.make_status(ccp, True, SETTINGS, NOW)
        status = channel.make_status(served(make_channel("orders", "ns")), "default", ccp, "", None, [], NOW)
        assert status["address"] == {"name": "http", "url": url}


# -- Subscription -------------------------------------------------------------------------------------


def test_subscription_status_resolved_and_listed() -> None:
    sub = served(make_subscription("s", "ns", "orders", subscriber={"uri": "http://a.example"}))
    ch = served(make_channel("orders", "ns"))
    ch["status"] = {
        "conditions": [cond("Ready")],
        "deadLetterSinkUri": "http://channel-dead.example",
        "subscribers": [
            {"uid": sub["metadata"]["uid"], "generation": 1, "subscriberUri": "http://a.example"}
        ],
    }
    status = subscription.make_status(sub, ch, {"subscriber": Resolution(uri="http://a.example")}, NOW)
    assert status == {
        "observedGeneration": 1,
        "physicalSubscription": {
            "subscriberUri": "http://a.example",
            "replyUri": None,
            "deadLetterSinkUri": "http://channel-dead.example",
        },
        "conditions": [
            cond("AddedToChannel"),
            cond("ChannelReady"),
            cond("Ready"),
            cond("ReferencesResolved"),
        ],
    }


def test_subscription_with_unresolved_reply_and_missing_channel() -> None:
    sub = served(make_subscription("s", "ns", "orders", subscriber={"uri": "http://a.example"}))
    resolutions = {
        "subscriber": Resolution(uri="http://a.example"),
        "reply": Resolution(reason="NotFound", message="Service ns/r (v1) does not exist"),
    }
    status = subscription.make_status(sub, None, resolutions, NOW)
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["ReferencesResolved"] == cond(
        "ReferencesResolved", "False", "ReplyResolveFailed", "reply: Service ns/r (v1) does not exist"
    )
    assert by_type["ChannelReady"]["reason"] == "ChannelNotFound"
    assert by_type["Ready"]["status"] == "False"
    assert status["physicalSubscription"]["subscriberUri"] == "http://a.example"


def test_subscription_not_listed_for_its_new_generation() -> None:
    sub = served(make_subscription("s", "ns", "orders", subscriber={"uri": "http://a.example"}), generation=2)
    ch = served(make_channel("orders", "ns"))
    ch["status"] = {
        "conditions": [cond("Ready")],
        "subscribers": [{"uid": sub["metadata"]["uid"], "generation": 1}],
    }
    status = subscription.make_status(sub, ch, {"subscriber": Resolution(uri="http://a.example")}, NOW)
    added = next(c for c in status["conditions"] if c["type"] == "AddedToChannel")
    assert (added["status"], added["reason"]) == ("Unknown", "NotAddedYet")


def test_subscription_not_added_while_the_channel_lists_stale_addresses() -> None:
    sub = served(make_subscription("s", "ns", "orders", subscriber={"uri": "http://new.example"}))
    ch = served(make_channel("orders", "ns"))
    entry = {"uid": sub["metadata"]["uid"], "generation": 1, "subscriberUri": "http://old.example"}
    ch["status"] = {"conditions": [cond("Ready")], "subscribers": [entry]}
    status = subscription.make_status(sub, ch, {"subscriber": Resolution(uri="http://new.example")}, NOW)
    added = next(c for c in status["conditions"] if c["type"] == "AddedToChannel")
    assert (added["status"], added["reason"]) == ("Unknown", "NotAddedYet")


def _listed_channel(sub: dict[str, Any], ready: bool = True, dead_letter: str = "") -> dict[str, Any]:
    ch = served(make_channel("orders", "ns"))
    entry = {"uid": sub["metadata"]["uid"], "generation": 1, "subscriberUri": "http://a.example"}
    ch["status"] = {"conditions": [cond("Ready", "True" if ready else "False")], "subscribers": [entry]}
    if dead_letter:
        ch["status"]["deadLetterSinkUri"] = dead_letter
    return ch


@pytest.mark.parametrize(
    ("channel_ready", "listed", "dead_letter", "reflects"),
    [
        (True, True, "", True),  # nothing the subscription shows would change
        (False, True, "", False),  # ChannelReady moves
        (True, False, "", False),  # AddedToChannel moves
        (True, True, "http://dead.example", False),  # the channel's dead-letter sink stands in
    ],
)
def test_a_channel_event_reconciles_a_subscription_only_when_its_status_would_change(
    channel_ready: bool, listed: bool, dead_letter: str, reflects: bool
) -> None:
    sub = served(make_subscription("s", "ns", "orders", subscriber={"uri": "http://a.example"}))
    resolved = {"subscriber": Resolution(uri="http://a.example")}
    sub["status"] = subscription.make_status(sub, _listed_channel(sub), resolved, NOW)
    ch = _listed_channel(sub, channel_ready, dead_letter)
    if not listed:
        ch["status"]["subscribers"] = []
    assert subscription.reflects_channel(sub, ch) is reflects
    assert subscription.reflects_channel(sub, None) is False  # the channel went
    # What the check predicts is what a reconcile writes.
    after = subscription.make_status(sub, ch, resolved, NOW)
    assert (after == sub["status"]) is reflects
