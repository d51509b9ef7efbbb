"""Pure pieces of the dispatcher, table-driven: settings, routing table, CloudEvents parsing, codec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventwire_runtime.cloudevents import (
    Event,
    add_extensions,
    event_from_response,
    events_from_request,
    percent_decode,
    percent_encode,
    to_structured,
)
from eventwire_runtime.delivery import ConfigError, DeliverySpec, EventFormatError
from eventwire_runtime.delivery.http_client import header_block
from eventwire_runtime.dispatcher.backends.codec import decode, encode
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable, channel_from_object
from eventwire_runtime.dispatcher.settings import Settings, parse_settings
from eventwire_runtime.dispatcher.sources import parse_routes

# settings


def test_settings_defaults_and_env() -> None:
    s = parse_settings([], {"EVENTWIRE_ROUTES_FILE": "/r.yaml"})
    assert s.routes_source == "file"
    assert s.max_body_bytes > 25 * 1024 * 1024  # GitHub's 25 MB webhook payloads fit
    assert s.backend == "in-memory"
    s = parse_settings(
        ["--port", "9000", "--ack-wait", "PT1M"], {"EVENTWIRE_PORT": "1", "EVENTWIRE_ROUTES_FILE": "f"}
    )
    assert (s.port, s.ack_wait) == (9000, 60.0)
    in_cluster = parse_settings(
        [], {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
    )
    assert in_cluster.routes_source == "kubernetes"
    assert in_cluster.kube_api_url == "https://10.0.0.1:6443"


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        ([], {"EVENTWIRE_PORT": "http", "EVENTWIRE_ROUTES_FILE": "f"}, "EVENTWIRE_PORT must be an integer"),
        (["--port", "70000", "--routes-file", "f"], {}, "--port"),
        (["--backend", "kafka", "--routes-file", "f"], {}, "--backend must be one of"),
        ([], {"EVENTWIRE_ACK_WAIT": "soon", "EVENTWIRE_ROUTES_FILE": "f"}, "EVENTWIRE_ACK_WAIT"),
        ([], {"EVENTWIRE_DELIVERY_TIMEOUT": "0", "EVENTWIRE_ROUTES_FILE": "f"}, "positive"),
        (["--routes-source", "file"], {}, "EVENTWIRE_ROUTES_FILE"),
        (["--bogus", "1"], {}, "unknown argument"),
        ([], {}, "no routing source"),
        (["--kube-api-url", "ftp://x"], {}, "EVENTWIRE_KUBE_API_URL"),
        ([], {"EVENTWIRE_QUEUE_CAPACITY": "0", "EVENTWIRE_ROUTES_FILE": "f"}, "at least 1"),
    ],
)
def test_settings_errors_name_the_setting(argv: list[str], env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_settings(argv, env)


def test_every_setting_is_documented() -> None:
    import eventwire_runtime.dispatcher.settings as module

    for name in Settings.__dataclass_fields__:
        assert f"EVENTWIRE_{name.upper()}" in (module.__doc__ or "")


# routing


@pytest.mark.parametrize(
    ("suffix", "host", "path", "found"),
    [
        (None, "x", "/default/orders", True),
        (None, "orders.default.svc.cluster.local", "/", True),
        (None, "orders.default.svc.cluster.local:8080", "", True),
        (None, "127.0.0.1:8080", "/", False),
        (None, "[::1]:8080", "/", False),
        (None, "orders.other.example.com", "/", False),
        ("ew.example.com", "orders.default.ew.example.com", "/", True),
        ("ew.example.com", "orders.default.other.com", "/", False),
        ("ew.example.com", "x.orders.default.ew.example.com", "/", False),
        (None, "x", "/default/orders/extra", False),
        (None, "x", "/default/orders?q=1", True),
    ],
)
def test_lookup(suffix: str | None, host: str, path: str, found: bool) -> None:
    table = RoutingTable(suffix)
    table.replace_all([ChannelRoute("default", "orders")])
    assert (table.lookup(host, path) is not None) is found


def test_replace_keeps_runtime_state_and_notifies() -> None:
    table = RoutingTable()
    seen: list[int] = []
    table.listeners.append(lambda t, deleted: seen.append(len(t.channels)))
    table.replace_all([ChannelRoute("default", "a")])
    table.channels[("default", "a")].in_flight = 3
    table.replace_all([ChannelRoute("default", "a"), ChannelRoute("default", "b")])
    assert table.channels[("default", "a")].in_flight == 3
    assert seen == [1, 2]


CHANNEL_OBJECT = {
    "apiVersion": "messaging.eventwire.dev/v1",
    "kind": "Channel",
    "metadata": {"name": "orders", "namespace": "shop"},
    "spec": {"provisioner": "memory", "delivery": {"retry": 2}},
    "status": {
        "subscribers": [
            {
                "uid": "u1",
                "subscriberUri": "http://a/",
                "replyUri": "http://r/",
                "deadLetterSinkUri": "http://d/",
                "delivery": {"retry": 5, "backoffDelay": "PT1S"},
                "ready": "True",
            },
            {"uid": "u2", "subscriberUri": "http://b/"},
            {"uid": "u3", "subscriberUri": "http://c/", "ready": "False"},
            {"uid": "u4"},
        ]
    },
}


def test_channel_object_to_route() -> None:
    route = channel_from_object(CHANNEL_OBJECT)
    assert route.key == ("shop", "orders")
    assert [s.uid for s in route.subscribers] == ["u1", "u2"]
    first, second = route.subscribers
    assert first.spec == DeliverySpec(retry=5, backoff_delay=1.0, dead_letter_uri="http://d/")
    assert first.reply_uri == "http://r/"
    assert second.spec == DeliverySpec(retry=2)  # the channel's default


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"channels": [{"subscribers": []}]}, "name"),
        ({"channels": [{"name": "a", "subscribers": [{"subscriberUri": "http://x/"}]}]}, "uid"),
        ({"channels": [{"name": "a", "subscribers": [{"uid": "u", "subscriberUri": "x"}]}]}, "subscriberUri"),
        (
            {
                "channels": [
                    {
                        "name": "a",
                        "subscribers": [
                            {"uid": "u", "subscriberUri": "http://x/", "delivery": {"retry": -1}}
                        ],
                    }
                ]
            },
            "delivery.retry",
        ),
        ({"channels": "nope"}, "channels"),
        (
            {"channels": [{"kind": "Channel", "metadata": ["orders"]}]},
            r"channels\[0\]\.metadata must be a mapping",
        ),
        (
            {"items": [{"kind": "Broker", "metadata": {"name": "b"}, "spec": "x"}]},
            r"items\[0\]\.spec must be a mapping",
        ),
    ],
)
def test_routes_errors(document: Any, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_routes(document)


def test_routes_accepts_channel_lists_and_filters_provisioner() -> None:
    other = {**CHANNEL_OBJECT, "metadata": {"name": "x", "namespace": "y"}, "spec": {"provisioner": "redis"}}
    assert len(parse_routes({"kind": "List", "items": [CHANNEL_OBJECT, other]})) == 2
    assert [r.name for r in parse_routes([CHANNEL_OBJECT, other], provisioner="memory")] == ["orders"]


# CloudEvents HTTP binding


@pytest.mark.parametrize(
    ("text", "encoded"),
    [("plain", "plain"), ("a b", "a%20b"), ('q"', "q%22"), ("100%", "100%25"), ("é€", "%C3%A9%E2%82%AC")],
)
def test_percent_round_trip(text: str, encoded: str) -> None:
    assert percent_encode(text) == encoded
    assert percent_decode(encoded) == text


@pytest.mark.parametrize("bad", ["%", "%4", "%zz", "%C3"])
def test_percent_decode_rejects(bad: str) -> None:
    with pytest.raises(EventFormatError):
        percent_decode(bad)


def test_structured_to_binary_and_back() -> None:
    obj = {
        "specversion": "1.0",
        "id": "1",
        "source": "/s",
        "type": "t",
        "flag": True,
        "n": 3,
        "datacontenttype": "application/json",
        "data": {"a": [1, 2]},
    }
    [event] = events_from_request(
        [("content-type", "application/cloudevents+json"), ("traceparent", "tp")], json.dumps(obj).encode()
    )
    assert ("ce-flag", "true") in event.headers
    assert ("traceparent", "tp") in event.headers
    headers, body = to_structured(event)
    back = json.loads(body)
    assert back["data"] == {"a": [1, 2]}
    assert back["flag"] is True  # extensions keep their JSON type through binary form
    assert back["n"] == 3
    assert ("traceparent", "tp") in headers


@pytest.mark.parametrize(
    ("content_type", "body", "field", "value"),
    [
        ("application/octet-stream", b"\x00\x01", "data_base64", "AAE="),
        ("text/plain", "héllo".encode(), "data", "héllo"),
        ("application/json", b"not json", "data_base64", "bm90IGpzb24="),
    ],
)
def test_to_structured_data_forms(content_type: str, body: bytes, field: str, value: str) -> None:
    event = Event([("ce-id", "1"), ("content-type", content_type)], body)
    assert json.loads(to_structured(event)[1])[field] == value


def test_structured_data_base64_and_text_data() -> None:
    base = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
    [e1] = events_from_request(
        [("content-type", "application/cloudevents+json")],
        json.dumps({**base, "data_base64": "AAE="}).encode(),
    )
    assert e1.body == b"\x00\x01"
    [e2] = events_from_request(
        [("content-type", "application/cloudevents+json")],
        json.dumps({**base, "datacontenttype": "text/plain", "data": "hi"}).encode(),
    )
    assert e2.body == b"hi"
    assert e2.attribute("datacontenttype") == "text/plain"


def test_reply_detection_and_extensions() -> None:
    assert event_from_response({"content-type": "application/json"}, b"{}") is None
    reply = event_from_response(
        {"ce-specversion": "1.0", "ce-id": "r", "ce-source": "/s", "ce-type": "t"}, b"x"
    )
    assert reply is not None
    assert reply.attribute("id") == "r"
    with pytest.raises(EventFormatError):
        event_from_response({"ce-id": "r"}, b"")
    extended = add_extensions(reply, {"knativeerrordest": "http://a b/"})
    assert extended.attribute("knativeerrordest") == "http://a b/"
    assert ("ce-knativeerrordest", "http://a%20b/") in extended.headers


def test_codec_round_trip() -> None:
    event = Event([("ce-id", "1"), ("ce-subject", "a%20b"), ("content-type", "x/y")], b"\r\n\r\nbody")
    back, accepted = decode(encode(event, 12.5))
    assert back == event
    assert accepted == 12.5
    empty, _ = decode(encode(Event([], b""), 1.0))
    assert empty == Event([], b"")
    with pytest.raises(ValueError, match="terminator"):
        decode(b"garbage")


def test_batch_events_carry_the_request_trace_context() -> None:
    base = {"specversion": "1.0", "source": "/s", "type": "t"}
    batch = json.dumps([{**base, "id": "1"}, {**base, "id": "2", "traceparent": "own"}]).encode()
    headers = [
        ("content-type", "application/cloudevents-batch+json"),
        ("traceparent", "tp"),
        ("tracestate", "ts"),
    ]
    first, second = events_from_request(headers, batch)
    assert ("traceparent", "tp") in first.headers
    assert ("tracestate", "ts") in first.headers
    assert ("ce-traceparent", "own") in second.headers


# issue 10: typed extensions survive the broker codec; outgoing headers never carry a line break


def test_codec_keeps_extension_types() -> None:
    [event] = events_from_request(
        [("content-type", "application/cloudevents+json")],
        json.dumps(
            {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "n": 7, "ok": False}
        ).encode(),
    )
    back, _ = decode(encode(event, 1.0))
    assert back.headers == event.headers
    assert back.types == {"n": "integer", "ok": "boolean"}
    obj = json.loads(to_structured(back)[1])
    assert obj["n"] == 7
    assert obj["ok"] is False


def test_header_block_percent_encodes_a_line_break_that_slipped_through() -> None:
    block = header_block([("ce-id", "1"), ("ce-subject", "a\r\nx-evil: 1"), ("ce-x", "b\nc")])
    assert block == b"ce-id: 1\r\nce-subject: a%0D%0Ax-evil: 1\r\nce-x: b%0Ac\r\n"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2018-04-05T03:56:24Z", True),
        ("2018-04-05t03:56:24.5z", True),
        ("2024-02-29T00:00:00+14:00", True),
        ("2016-12-31T23:59:60Z", True),
        ("2023-02-29T00:00:00Z", False),
        ("2018-04-31T00:00:00Z", False),
        ("2018-04-05 03:56:24Z", False),
        ("2018-04-05T03:56:24", False),
        ("2018-04-05T24:00:00Z", False),
        ("20180405T035624Z", False),
        ("yesterday", False),
    ],
)
def test_timestamps_are_rfc3339(value: str, ok: bool) -> None:
    headers = [("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", "t")]
    headers.append(("ce-time", percent_encode(value)))
    if ok:
        events_from_request(headers, b"")
    else:
        with pytest.raises(EventFormatError, match="RFC 3339"):
            events_from_request(headers, b"")


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("/a/b", True),
        ("https://example.com/x?y=1#z", True),
        ("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", True),
        ("a%20b", True),
        ("a b", False),
        ("a%2", False),
        ("1abc:x", False),
        ("a#b#c", False),
        ("", False),
    ],
)
def test_source_is_a_uri_reference(source: str, ok: bool) -> None:
    obj = {"specversion": "1.0", "id": "1", "source": source, "type": "t"}
    body = json.dumps(obj).encode()
    if ok:
        events_from_request([("content-type", "application/cloudevents+json")], body)
    else:
        with pytest.raises(EventFormatError, match="source"):
            events_from_request([("content-type", "application/cloudevents+json")], body)


def test_server_limits_settings() -> None:
    s = parse_settings(
        ["--max-header-bytes", "2048", "--idle-timeout", "PT5S"],
        {"EVENTWIRE_ROUTES_FILE": "/r.yaml", "EVENTWIRE_MAX_CONNECTIONS": "10"},
    )
    assert (s.max_header_bytes, s.idle_timeout, s.max_connections) == (2048, 5.0, 10)
    assert (s.max_request_line_bytes, s.header_timeout, s.body_timeout) == (8192, 10.0, 60.0)
    with pytest.raises(ConfigError, match="EVENTWIRE_HEADER_TIMEOUT"):
        parse_settings([], {"EVENTWIRE_ROUTES_FILE": "/r.yaml", "EVENTWIRE_HEADER_TIMEOUT": "0"})
