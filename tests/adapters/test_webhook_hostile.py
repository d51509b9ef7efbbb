"""Hostile clients against a real GitHubSource adapter process: slow and oversized requests, idle
connections, connection floods under a low descriptor limit, `Expect: 100-continue` and HEAD.

The timeouts under test are set to one second, and every wait allows a generous multiple of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from tests.adapters import github_payloads as gh
from tests.dispatcher import rawhttp
from tests.support.processes import ManagedProcess, free_port, port_open
from tests.support.sink import Sink
from tests.support.waiting import eventually_async

SHORT = {"HTTP_HEADER_TIMEOUT": "1", "HTTP_BODY_TIMEOUT": "1", "HTTP_IDLE_TIMEOUT": "1"}


@dataclass
class RunningAdapter:
    proc: ManagedProcess
    port: int
    admin: int
    sink: Sink


@contextlib.asynccontextmanager
async def github_adapter(prefix: Sequence[str] = (), **settings: str) -> AsyncIterator[RunningAdapter]:
    """`eventwire-runtime adapter githubsource` (under `prefix`, e.g. prlimit) delivering to a sink."""
    port, admin = free_port(), free_port()
    async with Sink.start() as sink:
        env = {
            "K_SINK": sink.url,
            "GITHUB_OWNER_REPO": "acme/widgets",
            "PORT": str(port),
            "METRICS_PORT": str(admin),
            "K_DELIVERY": '{"retry": 0, "timeout": "PT5S"}',
            **settings,
        }
        proc = ManagedProcess(
            [*prefix, sys.executable, "-m", "eventwire_runtime", "adapter", "githubsource"], env
        )
        try:
            await asyncio.to_thread(proc.wait_port, port, 30)
            yield RunningAdapter(proc, port, admin, sink)
            assert proc.alive(), proc.output()
        finally:
            await asyncio.to_thread(proc.stop)


def _push(delivery: str) -> tuple[list[tuple[str, str]], bytes]:
    body = gh.encode(gh.push())
    headers = [(k, v) for k, v in gh.headers("push", delivery).items() if k != "Content-Length"]
    return headers, body


async def _delivers(a: RunningAdapter, delivery: str) -> None:
    headers, body = _push(delivery)
    answer = await rawhttp.send(a.port, "POST", "/", headers, body, within=20)
    assert answer.status == 202, answer.raw


async def _served(a: RunningAdapter, delivery: str) -> bool:
    """Whether a delivery is accepted now (a refused or cut-off connection is a no)."""
    try:
        await _delivers(a, delivery)
    except (AssertionError, ValueError, ConnectionError, asyncio.IncompleteReadError):
        return False
    return True


async def test_slow_headers_get_408_and_close() -> None:
    async with github_adapter(**SHORT) as a:
        data = await rawhttp.trickled(a.port, b"POST / HTTP/1.1\r\nHost: x\r\n", b"x", reset_ok=True)
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        assert b"headers" in data
        await _delivers(a, "after-slow-headers")


async def test_trickled_chunked_body_gets_408_and_close() -> None:
    async with github_adapter(**SHORT) as a:
        headers, _ = _push("slow-body")
        head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        start = f"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{head}\r\n".encode()
        data = await rawhttp.trickled(a.port, start, b"1\r\nx\r\n", reset_ok=True)
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        assert b"body" in data
        assert a.sink.received == []
        await _delivers(a, "after-slow-body")


async def test_idle_connections_are_closed() -> None:
    async with github_adapter(**SHORT) as a:
        # After a request on a keep-alive connection...
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        headers, body = _push("keep-alive")
        writer.write(rawhttp.request_bytes("POST", "/", headers, body))
        answer = await rawhttp.read_answer(reader, within=20)
        assert answer.status == 202
        assert await rawhttp.closed_within(reader, 15, reset_ok=True) == b""
        await rawhttp.close(writer)
        # ...and a connection that never sends anything, on both servers.
        for port in (a.port, a.admin):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await rawhttp.closed_within(reader, 15, reset_ok=True) == b""
            await rawhttp.close(writer)


async def test_idle_connections_cannot_lock_out_new_clients_at_the_fd_limit() -> None:
    """300 idle connections against a 256-descriptor process: newcomers are still served."""
    async with github_adapter(prefix=["prlimit", "--nofile=256:256"]) as a:
        idle = []
        try:
            for _ in range(300):
                idle.append(await asyncio.open_connection("127.0.0.1", a.port))
            for i in range(5):
                await _delivers(a, f"newcomer-{i}")
        finally:
            for _, writer in idle:
                await rawhttp.close(writer)
        assert len(a.sink.received) == 5


async def test_connection_limit_answers_503_when_no_connection_is_idle() -> None:
    async with github_adapter(HTTP_MAX_CONNECTIONS="3") as a:
        held = []
        try:
            headers, _ = _push("held")
            head = rawhttp.request_bytes("POST", "/", [*headers, ("Expect", "100-continue")], b"")
            head = head.replace(b"Content-Length: 0", b"Content-Length: 10")
            for _ in range(3):  # each mid-request (waiting for its body), so none may be closed
                held.append((await rawhttp.hold_mid_request(a.port, head))[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
            data = await rawhttp.closed_within(reader, 10, reset_ok=True)
            await rawhttp.close(writer)
            assert data.startswith(b"HTTP/1.1 503"), data
            assert b"too many connections" in data
        finally:
            for w in held:
                await rawhttp.close(w)
        # Once they are gone, clients are served again.
        await eventually_async(lambda: _served(a, "after-the-flood"), what="served after the flood")


async def test_oversized_request_line_gets_414() -> None:
    async with github_adapter() as a:
        answer = await rawhttp.send(a.port, "POST", "/" + "a" * 9000, [], b"")
        assert answer.status == 414, answer.raw
        answer, sent = await rawhttp.stream_until_answered(
            a.port, b"POST /", b"a" * 65536, most=200 * 1024 * 1024
        )
        assert answer.status == 414
        assert sent < 4 * 1024 * 1024
        await _delivers(a, "after-long-line")


async def test_oversized_headers_get_431() -> None:
    async with github_adapter(HTTP_MAX_HEADER_BYTES="16384") as a:
        many = [(f"x-h{i}", "v" * 60) for i in range(400)]  # small headers, 26 KB in all
        answer = await rawhttp.send(a.port, "POST", "/", many, b"")
        assert answer.status == 431, answer.raw
        assert b"16384" in answer.body
        # One header that never ends: answered after a bounded amount, in large and small pieces.
        for piece, most in ((b"a" * 65536, 200 * 1024 * 1024), (b"a" * 512, 16 * 1024 * 1024)):
            answer, sent = await rawhttp.stream_until_answered(
                a.port, b"POST / HTTP/1.1\r\nHost: x\r\nx-big: ", piece, most=most
            )
            assert answer.status == 431
            assert sent < 4 * 1024 * 1024
        # Under the limit, in several reads: accepted.
        headers, body = _push("big-but-fine")
        headers += [(f"x-h{i}", "v" * 1000) for i in range(12)]
        request = rawhttp.request_bytes("POST", "/", headers, body)
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        for at in range(0, len(request), 4096):
            writer.write(request[at : at + 4096])
            await writer.drain()
            await asyncio.sleep(0.02)  # separate reads on the server (not asserted: a merge is fine)
        answer = await rawhttp.read_answer(reader, within=20)
        await rawhttp.close(writer)
        assert answer.status == 202, answer.raw


async def test_oversized_body_gets_413_at_once() -> None:
    """A Content-Length over GITHUB_MAX_PAYLOAD_BYTES is answered before the body is sent."""
    async with github_adapter(GITHUB_MAX_PAYLOAD_BYTES="65536") as a:
        headers, _ = _push("too-big")
        for expect in ([], [("Expect", "100-continue")]):
            head = rawhttp.request_bytes("POST", "/", headers + expect, b"").replace(
                b"Content-Length: 0", b"Content-Length: 10000000"
            )
            reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
            writer.write(head)
            answer = await rawhttp.read_answer(reader, within=5)
            await rawhttp.close(writer)
            assert answer.status == 413, answer.raw
            assert b"65536" in answer.body
        # A chunked body that grows past the limit is cut off too.
        start = f"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{''.join(f'{k}: {v}' + chr(13) + chr(10) for k, v in headers)}\r\n"
        answer, sent = await rawhttp.stream_until_answered(
            a.port, start.encode(), b"4000\r\n" + b"a" * 0x4000 + b"\r\n", most=64 * 1024 * 1024
        )
        assert answer.status == 413
        assert sent < 8 * 1024 * 1024
        assert a.sink.received == []


async def test_expect_100_continue_and_head() -> None:
    async with github_adapter() as a:
        headers, body = _push("expect")
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        head = rawhttp.request_bytes("POST", "/", [*headers, ("Expect", "100-continue")], body)
        head_part, body_part = head.split(b"\r\n\r\n", 1)
        writer.write(head_part + b"\r\n\r\n")
        async with asyncio.timeout(5):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        writer.write(body_part)
        answer = await rawhttp.read_answer(reader, within=20)
        assert answer.status == 202
        # HEAD answers carry no body: the next response follows the head directly.
        writer.write(rawhttp.request_bytes("HEAD", "/", [], b"") + rawhttp.request_bytes("GET", "/", [], b""))
        async with asyncio.timeout(10):
            first = await reader.readuntil(b"\r\n\r\n")
            second = await reader.readuntil(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 405"), first
        assert second.startswith(b"HTTP/1.1 405"), second
        await rawhttp.close(writer)
        reader, writer = await asyncio.open_connection("127.0.0.1", a.admin)
        writer.write(
            rawhttp.request_bytes("HEAD", "/healthz", [], b"")
            + rawhttp.request_bytes("GET", "/healthz", [], b"")
        )
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            then = await rawhttp.read_answer(reader)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert then.body == b"ok"
        await rawhttp.close(writer)
        assert port_open(a.port)
