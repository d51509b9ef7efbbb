"""Serve an aiohttp app so that hostile clients cannot hold it: the adapters' webhook and admin servers.

aiohttp caps single lines (`max_line_size`, `max_field_size`) and the header count, but it has no
limit on a head's total size, no header- or body-read timeout (its keep-alive timer is the only
clock, and a slowloris head that trickles in is never answered), no connection limit, and it
answers oversized heads with 400. So each connection's asyncio protocol is wrapped
(`GuardedConnection`, which delegates everything to aiohttp's own `RequestHandler` and uses only
the public asyncio protocol API) and a middleware covers the body:

- a request line over `max_request_line` gets 414, headers over `max_header_bytes` 431, counted as
  bytes arrive (linear time, bounded memory), before aiohttp's parser sees them;
- a head not complete within `header_timeout` gets 408 and the connection is closed;
- a body not read within `body_timeout` (the middleware reads it before the handler runs) gets 408
  and the connection is closed; a declared Content-Length over the body limit gets 413 at once
  (also in answer to `Expect: 100-continue`, see `expect_handler`), a chunked body that grows past
  it 413 as soon as it does;
- a connection waiting for its next request longer than `idle_timeout` is closed;
- past `max_connections` (at most half the descriptor limit; counted over every guarded server of
  the process, since descriptors are a per-process budget) an idle connection is closed to make
  room, else the newcomer gets 503.

HEAD (no body in the answer) and `Expect: 100-continue` (100 Continue before the body) are
aiohttp's own handling, which is correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from eventwire_runtime.adapters.env import HttpLimits

log = logging.getLogger(__name__)

MAX_BODY = web.AppKey("eventwire_max_body", int)
BODY_TIMEOUT = web.AppKey("eventwire_body_timeout", float)
# Seconds a refused connection is kept reading (and dropping) input before it is closed, so a
# client still sending sees the answer rather than a connection reset.
_CLOSE_DELAY = 1.0

# Where a connection is: waiting for a request, reading a head, busy with a request (the
# middleware bounds the body), or letting aiohttp drop the rest of a body it did not need.
_IDLE, _HEAD, _BUSY, _DRAIN = "idle", "head", "busy", "drain"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def descriptor_budget(limit: int) -> int:
    """`limit`, but at most half the process's descriptor limit (the rest: sink connections, files)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limit
    return max(1, min(limit, soft // 2))


def _answer(status: int, message: str) -> bytes:
    body = message.encode() + b"\n"
    return (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("latin-1") + body


class GuardedConnection(asyncio.Protocol):
    """One client connection: the limits above, around aiohttp's protocol `inner`."""

    def __init__(self, inner: asyncio.Protocol, limits: HttpLimits, table: set[GuardedConnection]) -> None:
        self.inner = inner
        self.limits = limits
        self.max_connections = descriptor_budget(limits.max_connections)
        self.table = table
        self.transport: asyncio.Transport | None = None
        self.phase = _IDLE
        self.refused = False  # answered and closing: input is dropped
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # bytes of the current head seen so far
        self._line_bytes = -1  # length of its request line, once its end is seen
        self._tail = b""  # the last bytes of the head so far, to find a `\r\n\r\n` split over reads

    @property
    def idle(self) -> bool:
        """No request in progress: closing it loses nothing (a client reconnects)."""
        return self.phase == _IDLE and not self.refused

    # asyncio.Protocol, delegated to aiohttp after the checks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses
        if len(self.table) >= self.max_connections and not self._evict_idle():
            self.refused = True
            self._write_and_close(_answer(503, "too many connections, retry later"))
            return
        self.table.add(self)
        self.inner.connection_made(transport)
        self._expect(_IDLE, self.limits.idle_timeout)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        if self.phase == _IDLE:
            self.phase = _HEAD
            self._head_bytes, self._line_bytes, self._tail = 0, -1, b""
            self._expect(_HEAD, self.limits.header_timeout)
        if self.phase == _HEAD and not self._count_head(data):
            return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.refused else self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self in self.table:
            self.table.discard(self)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # called by the middleware

    def request_started(self) -> None:
        self.phase = _BUSY
        self._cancel_timer()

    def request_done(self, body_left: bool) -> None:
        """The handler answered; with `body_left`, aiohttp drops the rest of the body, then closes."""
        if self.refused:
            return
        self.phase = _DRAIN if body_left else _IDLE
        self._expect(self.phase, self.limits.idle_timeout)

    def refuse(self, status: int, message: str) -> None:
        """Answer `status` and close: the rest of the stream cannot be trusted."""
        if self.refused:
            return
        self.refused = True
        self._cancel_timer()
        self._write_and_close(_answer(status, message))

    # internals

    def _count_head(self, data: bytes) -> bool:
        """Count a read that belongs to the current head; False when the head is refused."""
        start = self._head_bytes - len(self._tail)
        window = self._tail + data
        end = window.find(b"\r\n\r\n")
        self._head_bytes += len(data)
        if self._line_bytes < 0:
            newline = data.find(b"\n")
            if newline >= 0:
                self._line_bytes = self._head_bytes - len(data) + newline
            elif self._head_bytes > self.limits.max_request_line:
                self._line_bytes = self._head_bytes
        if self._line_bytes > self.limits.max_request_line:
            self.refuse(414, f"request line longer than {self.limits.max_request_line} bytes")
            return False
        head = start + end + 4 if end >= 0 else self._head_bytes
        if self._line_bytes >= 0 and head - self._line_bytes > self.limits.max_header_bytes:
            self.refuse(431, f"request headers larger than {self.limits.max_header_bytes} bytes")
            return False
        if end >= 0:
            self.request_started()  # the head is complete; the middleware bounds the body
        else:
            self._tail = window[-3:]
        return True

    def _expect(self, phase: str, seconds: float) -> None:
        """Arm the timer for `phase`: when it fires still in that phase, `_expire` acts."""
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(seconds, self._expire, phase)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, phase: str) -> None:
        self._timer = None
        if phase != self.phase or self.refused:
            return
        if phase == _HEAD:
            self.refuse(408, f"request headers not received within {self.limits.header_timeout:g}s")
        elif self.transport is not None:
            self.transport.close()  # idle keep-alive connection, or a drain that ran too long

    def _evict_idle(self) -> bool:
        for conn in self.table:
            if conn.idle and conn.transport is not None:
                conn.transport.close()
                return True
        return False

    def _write_and_close(self, answer: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(answer)
            asyncio.get_running_loop().call_later(_CLOSE_DELAY, transport.close)


def _connection(request: web.Request) -> GuardedConnection | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, GuardedConnection) else None


def _too_large(max_body: int) -> web.Response:
    return web.Response(status=413, text=f"request body larger than {max_body} bytes")


@web.middleware
async def _bounded_body(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Read the body within the body timeout and size limit before the handler runs."""
    conn = _connection(request)
    if conn is not None:
        conn.request_started()
    try:
        max_body = request.app[MAX_BODY]
        if request.content_length is not None and request.content_length > max_body:
            return _too_large(max_body)
        timeout = request.app[BODY_TIMEOUT]
        try:
            async with asyncio.timeout(timeout):
                await request.read()
        except TimeoutError:
            if conn is not None:
                conn.refuse(408, f"request body not received within {timeout:g}s")
            return web.Response(status=408, text=f"request body not received within {timeout:g}s")
        except web.HTTPRequestEntityTooLarge:
            return _too_large(max_body)
        return await handler(request)
    finally:
        if conn is not None:
            conn.request_done(body_left=not request.content.is_eof())


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: the final 413 at once when the declared body is too large, else
    aiohttp's own answer (100 Continue). Pass it as a route's `expect_handler`."""
    max_body = request.app[MAX_BODY]
    if request.content_length is not None and request.content_length > max_body:
        return _too_large(max_body)
    await _continue(request)
    return None


async def _continue(request: web.Request) -> None:
    # aiohttp's default expect handler, whose name is private; repeated (five lines) to add the 413.
    expect = request.headers.get("Expect", "")
    if request.version != (1, 1):
        return
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"unknown Expect: {expect[:80]}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0


def guarded_app(limits: HttpLimits, max_body: int = 1024 * 1024) -> web.Application:
    """An aiohttp app whose requests' bodies are bounded by `max_body` bytes and the body timeout."""
    app = web.Application(client_max_size=max_body, middlewares=[_bounded_body])
    app[MAX_BODY] = max_body
    app[BODY_TIMEOUT] = limits.body_timeout
    return app


# One table per process: descriptors are a per-process budget shared by all its servers.
_CONNECTIONS: set[GuardedConnection] = set()


class GuardedServer:
    """`app` (from `guarded_app`) listening behind `limits`.

    Args:
        app: the application.
        limits: sizes, timeouts and the connection limit.
        shutdown_timeout: seconds requests in progress may take to finish on `close()`.
    """

    def __init__(self, app: web.Application, limits: HttpLimits, shutdown_timeout: float = 10.0) -> None:
        self.limits = limits
        # aiohttp's own line limits sit at ours, so `GuardedConnection` answers first (414/431);
        # its keep-alive timer is only a backstop behind the idle and header timeouts.
        self.runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=shutdown_timeout,
            max_line_size=limits.max_request_line,
            max_field_size=limits.max_header_bytes,
            max_headers=limits.max_header_bytes // 4 + 1,
            keepalive_timeout=limits.idle_timeout + limits.header_timeout + 1,
        )
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on `host:port` (0: any free port); returns the bound port."""
        await self.runner.setup()
        factory: Any = self.runner.server
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: GuardedConnection(factory(), self.limits, _CONNECTIONS), host, port
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        """Stop listening, let requests in progress finish (up to the shutdown timeout), close."""
        if self.runner.server is None:
            return  # never started
        if self._server is not None:
            self._server.close()
        await self.runner.cleanup()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await self._server.wait_closed()
