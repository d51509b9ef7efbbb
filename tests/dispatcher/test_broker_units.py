"""Broker routing and hop counting as pure functions (dispatcher/broker.py, routing.py, sources.py)."""

from __future__ import annotations

import pytest

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher import broker
from eventwire_runtime.dispatcher.routing import BROKER, CHANNEL, RoutingTable
from eventwire_runtime.dispatcher.sources import parse_routes
from eventwire_spec.filters import compile_trigger_filter, required_type


def event(event_type: str = "t", **extensions: str) -> Event:
    headers = [("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", event_type)]
    headers.extend(("ce-" + k, v) for k, v in extensions.items())
    return Event(headers, b"")


def test_ingress_stamps_the_default_ttl_counts_a_hop_and_refuses_an_exhausted_or_bad_one() -> None:
    fresh = event()
    assert broker.admit([fresh]) is None
    assert fresh.attribute("knativebrokerttl") == "255"
    counted = event(knativebrokerttl="7")
    assert broker.admit([counted]) is None
    assert counted.attribute("knativebrokerttl") == "6"
    for exhausted in ("1", "0", "-5"):
        assert "hop limit" in (broker.admit([event(knativebrokerttl=exhausted)]) or ""), exhausted
    for bad in ("many", " 7", "7.0", "+7", "1_000", "2147483648", "-2147483649"):
        assert "must be a 32-bit integer" in (broker.admit([event(knativebrokerttl=bad)]) or ""), bad
    assert broker.admit([event(knativebrokerttl="2147483647")]) is None


def test_a_reply_carries_the_answered_events_count_whatever_it_says_itself() -> None:
    reply = broker.reply_event(event(knativebrokerttl="5"), event("r", knativebrokerttl="200"))
    assert reply.attribute("knativebrokerttl") == "5"
    assert broker.admit([reply]) is None  # re-entering counts the hop
    assert reply.attribute("knativebrokerttl") == "4"
    assert "hop limit" in (broker.admit([broker.reply_event(event(knativebrokerttl="1"), event("r"))]) or "")


def test_subscribers_get_the_event_without_the_hop_count() -> None:
    stored = event(knativebrokerttl="9", other="x")
    stored.types["knativebrokerttl"] = "integer"
    sent = broker.for_subscriber(stored)
    assert sent.attribute("knativebrokerttl") is None
    assert "knativebrokerttl" not in sent.types
    assert sent.attribute("other") == "x"
    assert stored.attribute("knativebrokerttl") == "9"  # the stored event keeps it for the reply


def test_attributes_are_decoded_and_include_the_content_type() -> None:
    ev = Event([("ce-type", "a%20b"), ("ce-source", "/x"), ("content-type", "text/plain")], b"")
    assert broker.attributes(ev) == {"type": "a b", "source": "/x", "datacontenttype": "text/plain"}


def test_triggers_with_invalid_filters_are_paused_not_dropped() -> None:
    route = broker.broker_from_object(
        {
            "name": "mesh",
            "triggers": [
                {"uid": "good", "subscriberUri": "http://a/", "filter": {"attributes": {"type": "x"}}},
                {"uid": "bad", "subscriberUri": "http://b/", "filters": [{"cesql": "NOPE(type)"}]},
                {"uid": "waiting"},
            ],
            "deletedTriggers": [{"uid": "gone"}, {"uid": "good"}],
        }
    )
    assert route.kind == BROKER
    assert route.key == ("default", "broker:mesh")
    assert [s.uid for s in route.subscribers] == ["good"]
    assert route.paused == ("bad", "waiting")
    assert route.deleted == ("gone",)  # a tombstone of a live uid is ignored, as for channels


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({"triggers": []}, "name must be a non-empty string"),
        ({"name": "b", "triggers": {"a": 1}}, "triggers must be a list"),
        ({"name": "b", "triggers": [{"subscriberUri": "http://a/"}]}, "uid must be a non-empty string"),
        ({"name": "b", "triggers": [{"uid": "u", "subscriberUri": "ftp://a/"}]}, "must be an http(s) URL"),
        ({"name": "b", "deletedTriggers": "x"}, "deletedTriggers must be a list"),
    ],
)
def test_invalid_broker_entries_are_refused_naming_the_field(obj: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        broker.broker_from_object(obj)


def test_the_routes_file_takes_brokers_beside_channels_and_as_objects() -> None:
    routes = parse_routes(
        {
            "channels": [{"name": "mesh", "subscribers": []}],
            "brokers": [{"name": "mesh", "namespace": "ns", "triggers": []}],
        }
    )
    assert sorted(r.key for r in routes) == [("default", "mesh"), ("ns", "broker:mesh")]
    listed = parse_routes(
        {"kind": "List", "items": [{"kind": "Broker", "metadata": {"name": "b", "namespace": "n"}}]}
    )
    assert [r.key for r in listed] == [("n", "broker:b")]
    assert [r.key for r in parse_routes({"brokers": [{"name": "only"}]})] == [("default", "broker:only")]


def test_a_kind_scoped_replace_keeps_the_other_kind() -> None:
    table = RoutingTable()
    table.replace_all(parse_routes({"channels": [{"name": "c"}], "brokers": [{"name": "b"}]}))
    table.replace_all([], BROKER)
    assert list(table.channels) == [("default", "c")]
    assert table.lookup("h", "/brokers/default/b") is None
    assert table.lookup("h", "/default/c") is not None


def test_the_table_is_loaded_once_channels_and_brokers_were_each_listed() -> None:
    table = RoutingTable()
    table.replace_all([], CHANNEL)  # the Channel watch listed first
    assert not table.loaded
    assert table.unloaded() == [BROKER]
    table.replace_all([], BROKER)
    assert table.loaded
    from_file = RoutingTable()
    from_file.replace_all([])  # a routes file holds both kinds
    assert from_file.loaded


def test_any_event_type_is_one_nats_subject_token() -> None:
    from eventwire_runtime.dispatcher.backends.jetstream import subject_token

    assert subject_token("dev.eventwire.bench") == "dev%2Eeventwire%2Ebench"
    assert subject_token("a b*>%é") == "a%20b%2A%3E%25%C3%A9"
    assert subject_token("plain-Type_1/x") == "plain-Type_1/x"


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        ({"filter": {"attributes": {"type": "x", "source": "s"}}}, "x"),
        ({"filter": {"attributes": {"type": ""}}}, None),
        ({"filters": [{"prefix": {"type": "x"}}, {"exact": {"type": "y"}}]}, "y"),
        ({"filters": [{"any": [{"exact": {"type": "y"}}]}], "filter": {"attributes": {"type": "x"}}}, None),
        ({}, None),
        ({"filters": [{"all": [{"prefix": {"source": "/s"}}, {"exact": {"type": "z"}}]}]}, "z"),
        ({"filters": [{"cesql": "type = 'c' AND source LIKE '/s/%'"}]}, "c"),
        ({"filters": [{"cesql": "EXISTS x AND ('c' = type AND x = 'y')"}]}, "c"),
        ({"filters": [{"cesql": "type = 'c' OR source = 's'"}]}, None),
        ({"filters": [{"cesql": "NOT (type = 'c')"}]}, None),
        ({"filters": [{"cesql": "type = 1"}]}, None),  # an Integer: compared after a cast
        ({"filters": [{"cesql": "type = ''"}]}, None),
        ({"filters": [{"cesql": "source = 'c'"}]}, None),
        ({"filters": [{"cesql": "type = "}]}, None),  # does not parse: the Trigger is paused
    ],
)
def test_the_type_a_filter_requires(spec: dict[str, object], wanted: str | None) -> None:
    assert required_type(spec) == wanted


@pytest.mark.parametrize(
    "expression",
    [
        "type = 'c' AND source LIKE '/s/%'",
        "EXISTS x AND ('c' = type AND x = 'y')",
        "INT(x) > 1 AND type = 'c'",
    ],
)
def test_a_cesql_filter_requiring_a_type_never_passes_another_type(expression: str) -> None:
    """What lets the jetstream backend keep other types away from such a Trigger's consumer."""
    predicate = compile_trigger_filter({"filters": [{"cesql": expression}]})
    for event_type in ("c", "C", "c ", "d", "other.c"):
        for extra in ({}, {"x": "y"}, {"x": "2"}, {"source": "/s/1"}):
            attributes = {"type": event_type, "source": "/s/x", **extra}
            assert not predicate(attributes) or event_type == "c"


@pytest.mark.parametrize(
    ("filters", "type_key"),
    [
        ([{"exact": {"type": "a b"}}], "a b"),
        ([{"cesql": "type = 'a b' AND source LIKE '/s%'"}], "a b"),
        ([{"cesql": "source = '/s' AND datacontenttype = 'text/plain'"}], None),
        ([{"prefix": {"amount": "1"}}], None),
    ],
)
def test_a_stored_event_is_filtered_on_its_headers_as_the_decoded_event_is(
    filters: list[dict[str, object]], type_key: str | None
) -> None:
    from eventwire_runtime.dispatcher.backends import codec

    route = broker.broker_from_object(
        {"name": "b", "triggers": [{"uid": "u", "subscriberUri": "http://a/", "filters": filters}]}
    )
    trigger = route.subscribers[0]
    assert route.type_keys["u"] == type_key
    for event_type in ("a%20b", "a b", "a", "x"):
        for amount in ("1", "2"):
            ev = Event(
                [
                    ("ce-specversion", "1.0"),
                    ("ce-id", "1"),
                    ("ce-source", "/s"),
                    ("ce-type", event_type),
                    ("ce-amount", amount),
                    ("content-type", "text/plain"),
                ],
                b"ce-type: a b\r\n\r\nbody",  # a body that looks like headers is never read
                {"amount": "integer"},
            )
            stored = codec.encode(ev, 1.0)
            assert codec.stored_headers(stored) == ev.headers
            expected = trigger.filter is not None and trigger.filter(broker.attributes(ev))
            verdict = broker.prefilter(trigger, type_key, stored)
            if type_key is None:
                assert verdict is expected
            else:  # only the type is read: False when it differs, else the decoded event decides
                assert verdict is (False if event_type in ("a", "x") else None)
