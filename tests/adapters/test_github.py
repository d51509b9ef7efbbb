"""GitHubSource: real webhook requests in GitHub's format against the adapter and a real sink."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest

from eventwire_runtime.adapters.github import GitHubAdapter
from eventwire_runtime.adapters.github_attributes import subject_and_extensions
from eventwire_runtime.adapters.github_events import sign
from eventwire_runtime.delivery.errors import ConfigError
from tests.adapters import github_payloads as gh
from tests.adapters.conftest import make_env, metered_sender, running, wait_for
from tests.support.sink import Reply, Responder, Sink

SECRET = "It's a Secret to Everybody"


@contextlib.asynccontextmanager
async def webhook(
    responder: Responder | None = None, delivery: dict[str, object] | None = None, **settings: str
) -> AsyncIterator[tuple[str, Sink]]:
    """A running GitHub adapter (URL) delivering to a real sink."""
    async with Sink.start(responder) as sink:
        env = make_env(
            "githubsource", sink.url, delivery, extra=settings, GITHUB_OWNER_REPO="acme/widgets", PORT="0"
        )
        async with metered_sender(env) as (sender, _):
            adapter = GitHubAdapter(env, sender)
            async with running(adapter):
                await wait_for(lambda: adapter.ready, within=5)
                yield f"http://127.0.0.1:{adapter.bound_port}/", sink


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    data = io.BytesIO(body)  # aiohttp warns about large raw-bytes bodies
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers) as response:
        return response.status, await response.text()


async def test_signed_push_is_forwarded_and_answered_202() -> None:
    body = gh.encode(gh.push())
    async with webhook(GITHUB_SECRET_TOKEN=SECRET) as (url, sink):
        status, _ = await _post(url, body, gh.headers("push", "d-1", sign(SECRET.encode(), body)))
        assert status == 202
    [event] = sink.received
    assert event.headers["ce-type"] == "dev.knative.source.github.push"
    assert event.headers["ce-source"] == "https://github.com/acme/widgets"
    assert event.headers["ce-id"] == "d-1"
    assert event.headers["ce-subject"] == "9a1f3b7c2d4e...0d1e2f3a4b5c"  # Knative: the compare range
    assert event.headers["ce-repository"] == "widgets"
    assert event.headers["ce-ref"] == "refs/heads/main"
    assert "ce-action" not in event.headers
    assert event.headers["content-type"] == "application/json"
    assert event.body == body, "data is the payload byte for byte"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing X-Hub-Signature-256"),
        ("sha256=" + "0" * 64, "does not match"),
        (sign(b"another secret", gh.encode(gh.push())), "does not match"),
        ("sha1=0123456789abcdef0123456789abcdef01234567", "must start with 'sha256='"),
    ],
)
async def test_missing_or_bad_signature_gets_401_and_emits_nothing(
    signature: str | None, reason: str
) -> None:
    body = gh.encode(gh.push())
    async with webhook(GITHUB_SECRET_TOKEN=SECRET) as (url, sink):
        status, text = await _post(url, body, gh.headers("push", "d-2", signature))
    assert status == 401
    assert reason in text
    assert sink.received == []


async def test_signature_over_a_tampered_body_is_rejected() -> None:
    body = gh.encode(gh.push())
    signature = sign(SECRET.encode(), body)
    tampered = body.replace(b"sprocket", b"sprockit")
    async with webhook(GITHUB_SECRET_TOKEN=SECRET) as (url, sink):
        status, _ = await _post(url, tampered, gh.headers("push", "d-3", signature))
    assert status == 401
    assert sink.received == []


async def test_subject_and_extensions_per_event() -> None:
    cases = [
        ("pull_request", gh.pull_request("opened", 42), "42", "opened"),
        ("issues", gh.issues("closed", 7), "7", "closed"),
        ("release", gh.release("v1.2.0"), "v1.2.0", "published"),
    ]
    async with webhook(GITHUB_SECRET_TOKEN=SECRET) as (url, sink):
        for index, (name, payload, _, _) in enumerate(cases):
            body = gh.encode(payload)
            status, _ = await _post(url, body, gh.headers(name, f"d-{index}", sign(SECRET.encode(), body)))
            assert status == 202
    for event, (name, _, subject, action) in zip(sink.received, cases, strict=True):
        assert event.headers["ce-type"] == f"dev.knative.source.github.{name}"
        assert event.headers["ce-subject"] == subject
        assert event.headers["ce-action"] == action


async def test_only_configured_event_types_pass_and_ping_is_answered() -> None:
    async with webhook(GITHUB_EVENT_TYPES="pull_request") as (url, sink):
        status, text = await _post(url, gh.encode(gh.ping()), gh.headers("ping", "p-1"))
        assert (status, text) == (200, "pong")
        status, _ = await _post(url, gh.encode(gh.push()), gh.headers("push", "d-1"))
        assert status == 200
        status, _ = await _post(url, gh.encode(gh.pull_request()), gh.headers("pull_request", "d-2"))
        assert status == 202
    assert [e.headers["ce-id"] for e in sink.received] == ["d-2"]


async def test_ping_is_forwarded_when_subscribed() -> None:
    async with webhook(GITHUB_EVENT_TYPES="ping,push") as (url, sink):
        status, _ = await _post(url, gh.encode(gh.ping()), gh.headers("ping", "p-1"))
    assert status == 202
    assert sink.received[0].headers["ce-type"] == "dev.knative.source.github.ping"


async def test_form_encoded_delivery_is_verified_over_the_raw_body() -> None:
    payload = gh.encode(gh.issues())
    body = urlencode({"payload": payload.decode()}).encode()
    headers = gh.headers("issues", "f-1", sign(SECRET.encode(), body))
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with webhook(GITHUB_SECRET_TOKEN=SECRET) as (url, sink):
        status, _ = await _post(url, body, headers)
    assert status == 202
    assert json.loads(sink.received[0].body) == gh.issues()


async def test_202_only_after_the_sink_accepted() -> None:
    # The sink fails every attempt: GitHub gets 502 so it can redeliver; later it recovers.
    failing = True

    def sink_state(_: int, __: object) -> Reply:
        return Reply(503) if failing else Reply(202)

    body = gh.encode(gh.push())
    async with webhook(sink_state, delivery={"retry": 1, "backoffDelay": "PT0.01S"}) as (url, sink):
        status, _ = await _post(url, body, gh.headers("push", "r-1"))
        assert status == 502
        assert len(sink.received) == 2
        failing = False
        status, _ = await _post(url, body, gh.headers("push", "r-1"))
        assert status == 202


async def test_malformed_deliveries_get_400() -> None:
    async with webhook() as (url, sink):
        headers = gh.headers("push", "x-1")
        del headers["X-GitHub-Event"]
        assert (await _post(url, b"{}", headers))[0] == 400
        headers = gh.headers("push", "x-1")
        del headers["X-GitHub-Delivery"]
        assert (await _post(url, b"{}", headers))[0] == 400
        assert (await _post(url, b"{not json", gh.headers("push", "x-2")))[0] == 400
    assert sink.received == []


async def test_large_payload_up_to_the_limit_passes_and_beyond_gets_413() -> None:
    big = gh.push()
    big["commits"][0]["message"] = "x" * (3 * 1024 * 1024)
    body = gh.encode(big)
    async with webhook(GITHUB_MAX_PAYLOAD_BYTES=str(len(body))) as (url, sink):
        assert (await _post(url, body, gh.headers("push", "big-1")))[0] == 202
        assert (await _post(url, body + b" ", gh.headers("push", "big-2")))[0] == 413
    assert len(sink.received) == 1
    assert sink.received[0].body == body


async def test_payload_near_githubs_25mb_cap_is_accepted() -> None:
    big = gh.push()
    big["commits"][0]["message"] = "y" * (24 * 1024 * 1024)
    body = gh.encode(big)
    async with webhook(GITHUB_SECRET_TOKEN=SECRET) as (url, sink):
        status, _ = await _post(url, body, gh.headers("push", "big-3", sign(SECRET.encode(), body)))
    assert status == 202
    assert len(sink.received[0].body) == len(body)


@pytest.mark.parametrize(
    ("event", "payload", "subject", "extensions"),
    [
        ("gollum", {"pages": []}, None, {}),
        ("gollum", {"pages": [{"page_name": "Home"}, {"title": "no name"}]}, "Home", {}),
        ("push", {"compare": "no-slash", "ref": {"not": "a string"}}, None, {}),
        ("pull_request", {"pull_request": {"number": 5}, "label": None, "number": 5}, "5", {"number": "5"}),
        ("issues", {"issue": {}, "repository": {"name": "w"}}, None, {"repository": "w"}),
        ("status", {"sha": "", "state": "pending"}, None, {"state": "pending"}),
        (
            "a_future_event",
            {"action": "done", "organization": {"login": "acme"}},
            None,
            {"owner": "acme", "action": "done"},
        ),
        ("ping", ["not", "an", "object"], None, {}),
    ],
)
def test_absent_or_unusable_fields_set_no_attribute(
    event: str, payload: object, subject: str | None, extensions: dict[str, str]
) -> None:
    assert subject_and_extensions(event, payload) == (subject, extensions)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "GITHUB_OWNER_REPO is required"),
        ({"GITHUB_OWNER_REPO": "a/b/c"}, "must be 'owner/repo'"),
        ({"GITHUB_OWNER_REPO": "a/b", "PORT": "http"}, "PORT must be an integer"),
    ],
)
async def test_bad_settings_fail_at_construction(settings: dict[str, str], message: str) -> None:
    env = make_env("githubsource", "http://127.0.0.1:9/", extra=settings)
    async with metered_sender(env) as (sender, _):
        with pytest.raises(ConfigError, match=message):
            GitHubAdapter(env, sender)


async def test_shutdown_answers_requests_in_flight_before_exiting() -> None:
    async def slow(_: int, __: object) -> Reply:
        return Reply(202, delay=0.5)

    body = gh.encode(gh.push())
    async with Sink.start(slow) as sink:
        env = make_env("githubsource", sink.url, extra={"GITHUB_OWNER_REPO": "acme/widgets", "PORT": "0"})
        async with metered_sender(env) as (sender, _):
            adapter = GitHubAdapter(env, sender)
            task = asyncio.create_task(adapter.run())
            await wait_for(lambda: adapter.ready, within=5)
            url = f"http://127.0.0.1:{adapter.bound_port}/"
            request = asyncio.create_task(_post(url, body, gh.headers("push", "late-1")))
            await sink.wait_for(1)
            adapter.stop()  # the sink still holds the event
            status, _ = await request
            async with asyncio.timeout(10):
                await task
    assert status == 202
