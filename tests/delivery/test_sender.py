"""The Sender against real HTTP servers on loopback: retries, their waits (an injected clock), dead letter."""

from __future__ import annotations

import asyncio
import base64

import pytest

from eventwire_runtime.delivery import DeliverySpec, HttpClient, Response, Sender
from eventwire_runtime.delivery.sender import Refusal
from tests.support.processes import free_port
from tests.support.sink import Received, Reply, Sink

EVENT = {
    "ce-specversion": "1.0",
    "ce-id": "e-1",
    "ce-source": "/test",
    "ce-type": "t.test",
    "content-type": "application/json",
}
BODY = b'{"hello":"world"}'


def fail_first(n: int, status: int = 503, body: bytes = b"") -> object:
    def responder(index: int, _: Received) -> Reply:
        return Reply(status, body=body) if index < n else Reply(202)

    return responder


async def test_delivers_once_on_success() -> None:
    async with Sink.start() as sink:
        sender = Sender()
        try:
            result = await sender.send(sink.url, EVENT, BODY, DeliverySpec(retry=3))
        finally:
            await sender.close()
    assert result.delivered
    assert (result.status, result.attempts, result.dead_lettered) == (202, 1, False)
    [got] = sink.received
    assert got.body == BODY
    assert {k: got.headers[k] for k in EVENT} == EVENT


class RecordedPauses:
    """The Sender's injected clock: records each wait it asks for, yields once, sleeps no time."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)  # the loop keeps turning; the wall clock is not the behaviour


@pytest.mark.parametrize(
    ("policy", "expected_waits"),
    [("exponential", [0.1, 0.2, 0.4]), ("linear", [0.1, 0.2, 0.3])],
)
async def test_retry_delays_follow_the_policy(policy: str, expected_waits: list[float]) -> None:
    spec = DeliverySpec(retry=3, backoff_policy=policy, backoff_delay=0.1)  # type: ignore[arg-type]
    pauses = RecordedPauses()
    async with Sink.start(fail_first(3)) as sink:  # type: ignore[arg-type]
        sender = Sender(jitter=0)  # the exact formula
        try:
            result = await sender.send(sink.url, EVENT, BODY, spec, pause=pauses)
        finally:
            await sender.close()
    assert result.delivered
    assert result.attempts == len(sink.received) == 4
    assert pauses.waits == pytest.approx(expected_waits)


async def test_backoff_max_caps_waits() -> None:
    spec = DeliverySpec(retry=3, backoff_delay=0.1, backoff_max=0.15)
    pauses = RecordedPauses()
    async with Sink.start(fail_first(3)) as sink:  # type: ignore[arg-type]
        sender = Sender(jitter=0)
        try:
            await sender.send(sink.url, EVENT, BODY, spec, pause=pauses)
        finally:
            await sender.close()
    assert len(sink.received) == 4
    assert pauses.waits == pytest.approx([0.1, 0.15, 0.15])


async def test_retry_after_is_honoured_and_capped() -> None:
    def responder(index: int, _: Received) -> Reply:
        return Reply(429, headers={"Retry-After": "5"}) if index == 0 else Reply(202)

    spec = DeliverySpec(retry=1, backoff_delay=0.01, retry_after_max=0.3)
    pauses = RecordedPauses()
    async with Sink.start(responder) as sink:
        sender = Sender()
        try:
            result = await sender.send(sink.url, EVENT, BODY, spec, pause=pauses)
        finally:
            await sender.close()
    assert result.delivered
    assert len(sink.received) == 2
    assert pauses.waits == pytest.approx([0.3])  # Retry-After's 5 s, capped


@pytest.mark.parametrize(
    ("status", "attempts"), [(400, 1), (403, 1), (404, 3), (408, 3), (409, 3), (429, 3), (500, 3)]
)
async def test_which_statuses_are_retried(status: int, attempts: int) -> None:
    async with Sink.start(lambda i, r: Reply(status)) as sink:
        sender = Sender()
        try:
            result = await sender.send(sink.url, EVENT, BODY, DeliverySpec(retry=2, backoff_delay=0.01))
        finally:
            await sender.close()
    assert not result.delivered
    assert (result.status, result.attempts, len(sink.received)) == (status, attempts, attempts)


async def test_dead_letter_gets_original_event_with_error_extensions() -> None:
    error_body = b"x" * 2000
    async with Sink.start(lambda i, r: Reply(500, body=error_body)) as subscriber, Sink.start() as dls:
        spec = DeliverySpec(retry=1, backoff_delay=0.01, dead_letter_uri=dls.url)
        sender = Sender(error_data_limit=100)
        try:
            result = await sender.send(subscriber.url, EVENT, BODY, spec)
        finally:
            await sender.close()
    assert result.dead_lettered
    assert not result.delivered
    assert result.attempts == 2
    [dead] = dls.received
    assert dead.body == BODY
    assert {k: dead.headers[k] for k in EVENT} == EVENT
    assert dead.headers["ce-knativeerrordest"] == subscriber.url
    assert dead.headers["ce-knativeerrorcode"] == "500"
    assert base64.b64decode(dead.headers["ce-knativeerrordata"]) == error_body[:100]


async def test_dead_letter_structured_event_gets_attributes_in_json() -> None:
    import json

    headers = {"content-type": "application/cloudevents+json"}
    body = json.dumps({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}).encode()
    async with Sink.start(lambda i, r: Reply(400)) as subscriber, Sink.start() as dls:
        sender = Sender()
        try:
            result = await sender.send(subscriber.url, headers, body, DeliverySpec(dead_letter_uri=dls.url))
        finally:
            await sender.close()
    assert result.dead_lettered
    obj = json.loads(dls.received[0].body)
    assert obj["knativeerrordest"] == subscriber.url
    assert obj["knativeerrorcode"] == "400"
    assert "knativeerrordata" not in obj
    assert obj["id"] == "1"


async def test_transport_error_is_retried_then_dead_lettered() -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/"
    async with Sink.start() as dls:
        sender = Sender()
        try:
            spec = DeliverySpec(retry=2, backoff_delay=0.01, dead_letter_uri=dls.url)
            result = await sender.send(dead_url, EVENT, BODY, spec)
        finally:
            await sender.close()
    assert result.status is None
    assert result.attempts == 3
    assert result.dead_lettered
    assert "ce-knativeerrorcode" not in dls.received[0].headers
    assert dls.received[0].headers["ce-knativeerrordest"] == dead_url


async def test_per_attempt_timeout() -> None:
    async with Sink.start(lambda i, r: Reply(202, delay=1.0 if i == 0 else 0)) as sink:
        sender = Sender()
        try:
            result = await sender.send(
                sink.url, EVENT, BODY, DeliverySpec(retry=1, backoff_delay=0.01, timeout=0.2)
            )
        finally:
            await sender.close()
    assert result.delivered
    assert result.attempts == 2


async def test_failed_success_hook_retries_the_whole_delivery() -> None:
    calls: list[int] = []

    async def hook(response: Response) -> str | None:
        calls.append(response.status)
        return "reply delivery failed" if len(calls) == 1 else None

    async with Sink.start(lambda i, r: Reply(200, body=b"ok")) as sink:
        sender = Sender()
        try:
            result = await sender.send(
                sink.url, EVENT, BODY, DeliverySpec(retry=2, backoff_delay=0.01), on_success=hook
            )
        finally:
            await sender.close()
    assert result.delivered
    assert result.attempts == 2
    assert len(sink.received) == 2
    assert result.body == b"ok"


@pytest.mark.parametrize(("status", "attempts"), [(400, 1), (503, 3)])
async def test_a_refused_follow_up_fails_with_its_status_retried_only_if_retryable(
    status: int, attempts: int
) -> None:
    async def hook(_: Response) -> Refusal:
        return Refusal(f"reply refused with {status}", status)

    async with Sink.start(lambda i, r: Reply(200, body=b"reply")) as sink, Sink.start() as dls:
        spec = DeliverySpec(retry=2, backoff_delay=0.01, dead_letter_uri=dls.url)
        sender = Sender()
        try:
            result = await sender.send(sink.url, EVENT, BODY, spec, on_success=hook)
        finally:
            await sender.close()
    assert (result.attempts, result.dead_lettered) == (attempts, True)
    assert len(sink.received) == attempts
    [dead] = dls.received
    assert dead.headers["ce-knativeerrorcode"] == str(status)


async def test_client_reuses_connections_and_survives_server_closing_them() -> None:
    client = HttpClient()
    try:
        async with Sink.start() as sink:
            for _ in range(5):
                response = await client.post(sink.url, [("x-a", "b")], b"1", 5)
                assert response.status == 202
        async with Sink.start() as sink2:
            response = await client.post(sink2.url, [], b"", 5)
            assert response.status == 202
    finally:
        await client.close()


async def test_client_rejects_non_http_url() -> None:
    client = HttpClient()
    try:
        with pytest.raises(ValueError, match="http"):
            await client.post("ftp://x/", [], b"", 1)
    finally:
        await client.close()


async def test_retry_after_without_retry_after_max_is_ignored() -> None:
    answers = lambda i, r: Reply(503, headers={"Retry-After": "999999"}) if i == 0 else Reply(202)  # noqa: E731
    spec = DeliverySpec(retry=1, backoff_delay=0.01)
    pauses = RecordedPauses()
    async with Sink.start(answers) as sink:
        sender = Sender()
        try:
            result = await sender.send(sink.url, EVENT, BODY, spec, pause=pauses)
        finally:
            await sender.close()
    assert result.delivered
    assert len(pauses.waits) == 1
    assert pauses.waits[0] < 1  # the backoff (0.01 s with jitter), not 999999 s


async def test_retry_window_bounds_the_whole_sequence() -> None:
    # The window is measured on the loop's clock, so these waits are real. Waits of 0.2, 0.4
    # and 0.6 s (1.2 s) fit in the 1.6 s window, a fourth (0.8 s) would end past it: at most four
    # attempts however slow the machine, and the sequence ends on the window, not on `retry`.
    spec = DeliverySpec(retry=100, backoff_policy="linear", backoff_delay=0.2, retry_window=1.6)
    async with Sink.start(lambda i, r: Reply(503)) as sink:
        sender = Sender(jitter=0)
        try:
            result = await sender.send(sink.url, EVENT, BODY, spec)
        finally:
            await sender.close()
    assert not result.delivered
    assert 2 <= result.attempts == len(sink.received) <= 4
    assert result.error is not None
    assert "retryWindow" in result.error


async def test_a_hundred_exponential_retries_wait_at_most_backoff_max_each() -> None:
    pauses = RecordedPauses()
    async with Sink.start(lambda i, r: Reply(503)) as sink:
        sender = Sender()
        try:
            await sender.send(sink.url, EVENT, BODY, DeliverySpec(retry=100, retry_window=1e9), pause=pauses)
        finally:
            await sender.close()
    waits = pauses.waits
    assert len(waits) == 100
    assert max(waits) <= 60 * 1.1  # the default backoffMax, with the default jitter
    assert len(set(waits[-10:])) > 1  # jitter is on by default
