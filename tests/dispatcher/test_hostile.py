"""Hostile clients against a real dispatcher process: header injection, oversized heads, slow and idle
connections, connection floods, `Expect: 100-continue`, HEAD and long URLs.

Every wait is bounded; the timeouts under test are set short (about a second) so that a closed
connection is expected within a generous multiple of them, not within a tight window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator

from tests.dispatcher import rawhttp
from tests.dispatcher.conftest import (
    Routes,
    RunningDispatcher,
    binary_and_structured,
    binary_headers,
    channel,
    dispatcher_process,
    run_dispatcher,
    subscriber,
)
from tests.support.processes import free_port
from tests.support.sink import Sink
from tests.support.waiting import eventually_async

EVENT = {"specversion": "1.0", "id": "h-1", "source": "/hostile", "type": "t.hostile"}
STRUCTURED = [("Content-Type", "application/cloudevents+json")]
BATCH = [("Content-Type", "application/cloudevents-batch+json")]

# Each of these smuggles a line break (or a whole second request) into the outgoing headers.
INJECTIONS: list[tuple[str, list[tuple[str, str]], bytes]] = [
    ("structured attribute", STRUCTURED, json.dumps({**EVENT, "subject": "a\r\nx-evil: 1"}).encode()),
    (
        "structured extension",
        STRUCTURED,
        json.dumps({**EVENT, "ext": "a\r\n\r\nPOST /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"}).encode(),
    ),
    ("structured attribute name", STRUCTURED, json.dumps({**EVENT, "ext\r\nx-evil": "1"}).encode()),
    (
        "structured datacontenttype",
        STRUCTURED,
        json.dumps({**EVENT, "datacontenttype": "text/plain\r\nx-evil: 1", "data": "x"}).encode(),
    ),
    ("batch attribute", BATCH, json.dumps([EVENT, {**EVENT, "id": "h-2", "type": "t\nx-evil: 1"}]).encode()),
    ("binary percent-encoded", [*binary_headers("h-3").items(), ("ce-subject", "a%0D%0Ax-evil:%201")], b"{}"),
    ("binary lone LF percent-encoded", [*binary_headers("h-4").items(), ("ce-ext", "%0A")], b"{}"),
]


async def test_line_breaks_in_attributes_are_refused_on_every_backend(
    routes: Routes, any_backend: dict[str, str]
) -> None:
    async with Sink.start() as sink, Sink.start() as structured:
        routes.write([binary_and_structured("orders", sink.url, structured.url)])
        async with run_dispatcher(routes, **any_backend) as d:
            for name, headers, body in INJECTIONS:
                answer = await rawhttp.send(d.port, "POST", "/default/orders", headers, body)
                assert answer.status == 400, (name, answer.raw[:300])
                assert b"not allowed" in answer.body or b"invalid" in answer.body, name
            # Valid events afterwards are the only ones delivered, intact, in both modes (sent
            # until one arrives: a persistent backend's consumers may still be starting).
            for i in range(40):
                marker = json.dumps({**EVENT, "id": f"marker-{i}", "subject": "fine"}).encode()
                answer = await rawhttp.send(d.port, "POST", "/default/orders", STRUCTURED, marker)
                assert answer.status == 202, answer.raw
                with contextlib.suppress(TimeoutError):
                    await sink.wait_for(1, within=0.5)
                    await structured.wait_for(1, within=10)
                    break
            assert d.proc.alive()
    assert sink.received
    assert structured.received
    for got in sink.received:
        assert got.headers["ce-id"].startswith("marker-")
        assert got.headers["ce-subject"] == "fine"
        assert "x-evil" not in got.headers
    for got in structured.received:
        assert json.loads(got.body)["id"].startswith("marker-")


@contextlib.asynccontextmanager
async def hostile_target(routes: Routes, **settings: str) -> AsyncIterator[RunningDispatcher]:
    """A dispatcher with one channel whose subscriber accepts everything."""
    async with Sink.start() as sink:
        routes.write([channel("orders", subscriber("s", sink.url))])
        async with run_dispatcher(routes, **settings) as d:
            yield d
            assert d.proc.alive(), d.proc.output()


async def _serves_now(d: RunningDispatcher) -> bool:
    """Whether `_still_serves` passes now (a cut-off or refused answer is a no)."""
    try:
        await _still_serves(d)
    except (AssertionError, ValueError, asyncio.IncompleteReadError):
        return False
    return True


async def _still_serves(d: RunningDispatcher) -> None:
    answer = await rawhttp.send(
        d.port, "POST", "/default/orders", list(binary_headers("after").items()), b"{}"
    )
    assert answer.status == 202, answer.raw
    ready = await rawhttp.send(d.port, "GET", "/readyz", [])
    assert ready.status == 200


async def test_oversized_request_line_gets_414(routes: Routes) -> None:
    async with hostile_target(routes) as d:
        answer = await rawhttp.send(d.port, "POST", "/default/" + "a" * 9000, [], b"")
        assert answer.status == 414
        # Streamed without end, it is cut off after about the limit, not read to the end.
        answer, sent = await rawhttp.stream_until_answered(
            d.port, b"POST /", b"a" * 65536, most=200 * 1024 * 1024
        )
        assert answer.status == 414
        assert sent < 4 * 1024 * 1024
        await _still_serves(d)


async def test_oversized_headers_get_431_as_they_stream(routes: Routes) -> None:
    async with hostile_target(routes, max_header_bytes="65536") as d:
        many = [(f"x-h{i}", "v" * 60) for i in range(2000)]
        answer = await rawhttp.send(d.port, "POST", "/default/orders", many, b"")
        assert answer.status == 431
        # One header that never ends: 200 MB on offer, answered after a bounded amount.
        answer, sent = await rawhttp.stream_until_answered(
            d.port,
            b"POST /default/orders HTTP/1.1\r\nHost: x\r\nx-big: ",
            b"a" * 65536,
            most=200 * 1024 * 1024,
        )
        assert answer.status == 431
        assert b"65536" in answer.body
        assert sent < 4 * 1024 * 1024
        # Small chunks (the case that used to cost quadratic time) are cut off just the same.
        answer, sent = await rawhttp.stream_until_answered(
            d.port, b"POST /default/orders HTTP/1.1\r\nHost: x\r\nx-big: ", b"a" * 512, most=16 * 1024 * 1024
        )
        assert answer.status == 431
        await _still_serves(d)


SHORT = {"header_timeout": "1", "body_timeout": "1", "idle_timeout": "1"}


async def test_slow_headers_get_408_and_close(routes: Routes) -> None:
    async with hostile_target(routes, **SHORT) as d:
        data = await rawhttp.trickled(d.port, b"POST /default/orders HTTP/1.1\r\nHost: x\r\n", b"x")
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        await _still_serves(d)


async def test_trickled_chunked_body_gets_408_and_close(routes: Routes) -> None:
    async with hostile_target(routes, **SHORT) as d:
        head = [f"{k}: {v}" for k, v in binary_headers("slow").items()]
        start = "POST /default/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        data = await rawhttp.trickled(
            d.port, (start + "\r\n".join(head) + "\r\n\r\n").encode(), b"1\r\nx\r\n"
        )
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        assert b"body" in data


async def test_idle_keep_alive_connection_is_closed(routes: Routes) -> None:
    async with hostile_target(routes, **SHORT) as d:
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        writer.write(rawhttp.request_bytes("GET", "/healthz", [], b""))
        answer = await rawhttp.read_answer(reader)
        assert answer.status == 200
        assert await rawhttp.closed_within(reader, 15) == b""
        await rawhttp.close(writer)
        # A connection that never sends anything is closed too.
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        assert await rawhttp.closed_within(reader, 15) == b""
        await rawhttp.close(writer)


async def test_idle_connections_cannot_lock_out_new_clients_at_the_fd_limit(routes: Routes) -> None:
    """300 idle connections against a 256-descriptor process: newcomers are still served."""
    async with Sink.start() as sink:
        routes.write([channel("orders", subscriber("s", sink.url))])
        port = free_port()
        env = {"EVENTWIRE_ROUTES_FILE": str(routes.path), "EVENTWIRE_PORT": str(port)}
        argv = ["prlimit", "--nofile=256:256", sys.executable, "-m", "eventwire_runtime", "dispatcher"]
        async with dispatcher_process(env, port, argv=argv) as proc:
            idle = []
            try:
                for _ in range(300):
                    idle.append(await asyncio.open_connection("127.0.0.1", port))
                for i in range(5):
                    answer = await rawhttp.send(
                        port, "POST", "/default/orders", list(binary_headers(f"n{i}").items()), b"{}"
                    )
                    assert answer.status == 202, answer.raw
                await sink.wait_for(5)
            finally:
                for _, writer in idle:
                    await rawhttp.close(writer)
            assert proc.alive()


async def test_connection_limit_answers_503_when_no_connection_is_idle(routes: Routes) -> None:
    async with hostile_target(routes, max_connections="3") as d:
        held = []
        try:
            for i in range(3):  # each mid-request, so none may be closed to make room
                headers = [*binary_headers(f"held-{i}").items(), ("Expect", "100-continue")]
                request = rawhttp.request_bytes("POST", "/default/orders", headers, b"{}")
                head = request.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"  # the head, no body
                held.append((await rawhttp.hold_mid_request(d.port, head))[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
            data = await rawhttp.closed_within(reader, 10)
            await rawhttp.close(writer)
            assert data.startswith(b"HTTP/1.1 503"), data
            assert b"too many connections" in data
        finally:
            for w in held:
                await rawhttp.close(w)
        # Once they are gone, clients are served again.
        await eventually_async(lambda: _serves_now(d), what="served after the held connections closed")


async def test_expect_100_continue(routes: Routes) -> None:
    async with hostile_target(routes) as d:
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        headers = [*binary_headers("e-1").items(), ("Expect", "100-continue")]
        request = rawhttp.request_bytes("POST", "/default/orders", headers, b"{}")
        head, body = request.split(b"\r\n\r\n", 1)
        writer.write(head + b"\r\n\r\n")
        async with asyncio.timeout(5):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        answer = await rawhttp.read_answer(reader)
        assert answer.status == 202
        await rawhttp.close(writer)
        # Refused whatever the body: the final answer comes at once, the body is not awaited.
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        request = rawhttp.request_bytes("POST", "/default/nowhere", headers, b"{}")
        writer.write(request.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        answer = await rawhttp.read_answer(reader, within=5)
        assert answer.status == 404
        await rawhttp.close(writer)
        big = [*binary_headers("e-2").items(), ("Expect", "100-continue")]
        request = rawhttp.request_bytes("POST", "/default/orders", big, b"")
        request = request.replace(b"Content-Length: 0", b"Content-Length: 999999999999")
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        writer.write(request)
        answer = await rawhttp.read_answer(reader, within=5)
        assert answer.status == 413
        await rawhttp.close(writer)


async def test_head_has_no_body(routes: Routes) -> None:
    async with hostile_target(routes) as d:
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        writer.write(
            rawhttp.request_bytes("HEAD", "/healthz", [], b"")
            + rawhttp.request_bytes("HEAD", "/default/orders", [], b"")
            + rawhttp.request_bytes("GET", "/healthz", [], b"")
        )
        async with asyncio.timeout(10):
            first = await reader.readuntil(b"\r\n\r\n")
            second = await reader.readuntil(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200")
        assert second.startswith(b"HTTP/1.1 405")  # straight after the first head: no body between
        third = await rawhttp.read_answer(reader)
        assert third.status == 200
        assert third.body == b"ok\n"
        await rawhttp.close(writer)


async def test_404_does_not_echo_a_long_url(routes: Routes) -> None:
    async with hostile_target(routes) as d:
        answer = await rawhttp.send(d.port, "POST", "/default/" + "x" * 7000, [], b"")
        assert answer.status == 404
        assert len(answer.body) < 400
        assert b"7009 characters" in answer.body


async def test_large_headers_under_the_limit_are_accepted_in_pieces(routes: Routes) -> None:
    """48 KB of headers (under 64 KB) arriving in several reads: counted once, accepted."""
    async with hostile_target(routes) as d:
        headers = [*binary_headers("pieces").items(), *((f"x-h{i}", "v" * 1000) for i in range(48))]
        request = rawhttp.request_bytes("POST", "/default/orders", headers, b"{}")
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        for at in range(0, len(request), 8192):
            writer.write(request[at : at + 8192])
            await writer.drain()
            await asyncio.sleep(0.05)  # separate reads on the server (not asserted: a merge is fine)
        answer = await rawhttp.read_answer(reader)
        await rawhttp.close(writer)
        assert answer.status == 202, answer.raw
