"""The shared env contract and binary-mode event building (no network)."""

from __future__ import annotations

import datetime as dt

import pytest

from eventwire_runtime.adapters.env import AdapterEnv, env_bool, env_int, env_seconds
from eventwire_runtime.adapters.events import SourceEvent, binary_message
from eventwire_runtime.cloudevents import events_from_request
from eventwire_runtime.delivery.errors import ConfigError


def test_defaults_when_only_sink_is_set() -> None:
    env = AdapterEnv.from_environ("pingsource", {"K_SINK": "http://sink.ns.svc.cluster.local"})
    assert env.name == "pingsource"
    assert env.namespace == "default"
    assert env.ce_overrides == {}
    assert env.delivery.retry == 3
    assert env.delivery.backoff_policy == "exponential"
    assert env.delivery.backoff_delay == pytest.approx(0.2)
    assert env.delivery.backoff_max == pytest.approx(5.0)
    assert env.delivery.timeout == pytest.approx(30.0)
    assert env.delivery.dead_letter_uri is None
    assert env.max_in_flight == 64
    assert env.metrics_port == 9090


def test_full_contract() -> None:
    env = AdapterEnv.from_environ(
        "githubsource",
        {
            "K_SINK": "https://sink.example/",
            "K_CE_OVERRIDES": '{"extensions": {"team": "blue", "tier": 2}}',
            "NAME": "gh",
            "NAMESPACE": "dev",
            "K_DELIVERY": '{"retry": 7, "backoffPolicy": "linear", "backoffDelay": "PT1S",'
            ' "deadLetterSink": {"uri": "http://dls.dev.svc"}}',
            "K_MAX_IN_FLIGHT": "8",
            "METRICS_PORT": "9100",
            "K_SHUTDOWN_TIMEOUT": "PT15S",
        },
    )
    assert env.ce_overrides == {"team": "blue", "tier": "2"}
    assert (env.name, env.namespace) == ("gh", "dev")
    assert env.delivery.retry == 7
    assert env.delivery.backoff_policy == "linear"
    assert env.delivery.backoff_delay == 1.0
    assert env.delivery.backoff_max == 5.0  # the adapter default for keys left out
    assert env.delivery.dead_letter_uri == "http://dls.dev.svc"
    assert env.max_in_flight == 8
    assert env.metrics_port == 9100
    assert env.shutdown_timeout == 15.0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "K_SINK is required"),
        ({"K_SINK": "ftp://x"}, "K_SINK must be an http(s) URL"),
        ({"K_SINK": "http://x", "K_CE_OVERRIDES": "{"}, "K_CE_OVERRIDES is not valid JSON"),
        ({"K_SINK": "http://x", "K_CE_OVERRIDES": "[]"}, "K_CE_OVERRIDES must be a JSON object"),
        ({"K_SINK": "http://x", "K_CE_OVERRIDES": '{"extensions": {"Bad-Name": "v"}}'}, "'Bad-Name'"),
        ({"K_SINK": "http://x", "K_CE_OVERRIDES": '{"extensions": {"id": "v"}}'}, "'id' is not a valid"),
        (
            {"K_SINK": "http://x", "K_CE_OVERRIDES": '{"extensions": {"a": {}}}'},
            "extensions.a must be a string",
        ),
        ({"K_SINK": "http://x", "K_DELIVERY": '{"retry": -1}'}, "K_DELIVERY: delivery.retry"),
        ({"K_SINK": "http://x", "K_DELIVERY": '{"backoffDelay": "soon"}'}, "delivery.backoffDelay"),
        ({"K_SINK": "http://x", "K_MAX_IN_FLIGHT": "0"}, "K_MAX_IN_FLIGHT must be at least 1"),
        ({"K_SINK": "http://x", "METRICS_PORT": "http"}, "METRICS_PORT must be an integer"),
        ({"K_SINK": "http://x", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_bad_configuration_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AdapterEnv.from_environ("pingsource", environ)


def test_typed_helpers() -> None:
    environ = {"A": "5", "B": "PT1M", "C": "2.5", "D": "yes", "E": "nope"}
    assert env_int(environ, "A", 1, minimum=1, maximum=10) == 5
    assert env_seconds(environ, "B", 0) == 60.0
    assert env_seconds(environ, "C", 0) == 2.5
    assert env_seconds(environ, "missing", 3.0) == 3.0
    assert env_bool(environ, "D", False) is True
    with pytest.raises(ConfigError, match="E must be true or false"):
        env_bool(environ, "E", False)


def test_binary_message_encodes_attributes_and_overrides_win() -> None:
    event = SourceEvent(
        type="com.example.thing",
        source="/x/y",
        id="id 1",
        data=b"{}",
        datacontenttype="application/json",
        subject="caf\u00e9",
        time=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        extensions={"team": "red", "own": "kept"},
    )
    headers, body = binary_message(event, {"team": "blue"})
    as_dict = dict(headers)
    assert body == b"{}"
    assert as_dict["ce-specversion"] == "1.0"
    assert as_dict["ce-id"] == "id%201"
    assert as_dict["ce-source"] == "/x/y"
    assert as_dict["ce-type"] == "com.example.thing"
    assert as_dict["ce-time"] == "2026-01-02T03:04:05Z"
    assert as_dict["ce-subject"] == "caf%C3%A9"
    assert as_dict["ce-team"] == "blue"
    assert as_dict["ce-own"] == "kept"
    assert as_dict["content-type"] == "application/json"
    assert len(headers) == len(as_dict), "no attribute may appear twice"


def test_emitted_events_parse_as_valid_binary_cloudevents() -> None:
    event = SourceEvent(
        type="dev.knative.sources.ping",
        source="/apis/v1/namespaces/ns/pingsources/p",
        subject="a b\u00e9",
        data=b'{"x": 1}',
        datacontenttype="application/json",
        extensions={"githubaction": "opened"},
    )
    headers, body = binary_message(event, {"team": "q\u00fc"})
    [parsed] = events_from_request(headers, body)
    assert parsed.attribute("type") == "dev.knative.sources.ping"
    assert parsed.attribute("subject") == "a b\u00e9"
    assert parsed.attribute("team") == "q\u00fc"
    assert parsed.attribute("datacontenttype") == "application/json"
    assert parsed.body == b'{"x": 1}'
