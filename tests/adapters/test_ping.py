"""PingSource against a real loopback sink, on a per-second schedule."""

from __future__ import annotations

import base64
import datetime as dt
import itertools

import pytest

from eventwire_runtime.adapters.ping import PingAdapter
from eventwire_runtime.delivery.errors import ConfigError
from tests.adapters.conftest import make_env, metered_sender, running
from tests.support.sink import Reply, Sink


async def test_each_tick_sends_one_event_with_knative_attributes() -> None:
    async with Sink.start() as sink:
        env = make_env(
            "pingsource",
            sink.url,
            PING_SCHEDULE="* * * * * *",
            PING_DATA='{"msg": "hi"}',
            PING_CONTENT_TYPE="application/json",
            K_CE_OVERRIDES='{"extensions": {"team": "blue"}}',
        )
        async with metered_sender(env) as (sender, _):
            adapter = PingAdapter(env, sender)
            async with running(adapter):
                received = await sink.wait_for(3, within=6)
    first = received[0]
    assert first.method == "POST"
    assert first.headers["ce-type"] == "dev.knative.sources.ping"
    assert first.headers["ce-source"] == "/apis/v1/namespaces/ns1/pingsources/src"
    assert first.headers["ce-specversion"] == "1.0"
    assert first.headers["ce-team"] == "blue"
    assert first.headers["content-type"] == "application/json"
    assert first.body == b'{"msg": "hi"}'
    times = [dt.datetime.fromisoformat(r.headers["ce-time"]) for r in received[:3]]
    assert all(t.microsecond == 0 for t in times), "time is the scheduled instant"
    assert [int((b - a).total_seconds()) for a, b in itertools.pairwise(times)] == [1, 1]
    assert len({r.headers["ce-id"] for r in received}) == len(received)


async def test_binary_data_and_jitter() -> None:
    payload = bytes(range(256))
    async with Sink.start() as sink:
        env = make_env(
            "pingsource",
            sink.url,
            PING_SCHEDULE="* * * * * *",
            PING_DATA_BASE64=base64.b64encode(payload).decode(),
            PING_CONTENT_TYPE="application/octet-stream",
            PING_JITTER="0.2",
        )
        async with metered_sender(env) as (sender, _), running(PingAdapter(env, sender)):
            [event, *_] = await sink.wait_for(1, within=4)
    assert event.body == payload
    assert event.headers["content-type"] == "application/octet-stream"


async def test_a_failing_sink_does_not_delay_the_next_tick() -> None:
    # The first tick's delivery is retried for ~1.5 s; later ticks still go out each second.
    def first_fails(index: int, request: object) -> Reply:
        return Reply(503) if index < 3 else Reply(202)

    async with Sink.start(first_fails) as sink:
        delivery = {"retry": 3, "backoffDelay": "PT0.5S"}
        env = make_env("pingsource", sink.url, delivery=delivery, PING_SCHEDULE="* * * * * *")
        async with metered_sender(env) as (sender, _), running(PingAdapter(env, sender)):
            received = await sink.wait_for(5, within=8)
    ids = [r.headers["ce-id"] for r in received]
    assert ids.count(ids[0]) >= 3, "the first tick was retried"
    assert len(set(ids)) >= 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "PING_SCHEDULE is required"),
        ({"PING_SCHEDULE": "every minute"}, "invalid cron schedule"),
        ({"PING_SCHEDULE": "@hourly", "PING_TIMEZONE": "Nowhere/Land"}, "unknown IANA time zone"),
        ({"PING_SCHEDULE": "@hourly", "PING_DATA": "a", "PING_DATA_BASE64": "YQ=="}, "not both"),
        ({"PING_SCHEDULE": "@hourly", "PING_DATA_BASE64": "%%%"}, "not valid base64"),
        ({"PING_SCHEDULE": "@hourly", "PING_JITTER": "lots"}, "PING_JITTER"),
    ],
)
async def test_bad_settings_fail_at_construction(settings: dict[str, str], message: str) -> None:
    env = make_env("pingsource", "http://127.0.0.1:9/", extra=settings)
    async with metered_sender(env) as (sender, _):
        with pytest.raises(ConfigError, match=message):
            PingAdapter(env, sender)
