"""A minimal HTTP/1.1 server on asyncio protocols and the httptools parser.

Why hand-written: ingress is half of the dispatcher's hot path. On the project's 2-core machine a
forwarder on aiohttp reaches 0.10 of nginx proxy_pass and one on raw asyncio protocols with
httptools 0.63; no maintained Python server gets close to the latter with the small surface we
need. It supports keep-alive, pipelined requests (answered in order), Content-Length and chunked
request bodies with an early 413 above `max_body`, `Expect: 100-continue`, HEAD, and handlers
that answer synchronously (no task per request on the fast path), with a `Deferred` (callbacks,
no task) or with an awaitable. No TLS, no HTTP/2, no streaming bodies.

Hostile clients meet `Limits`: a request line over `max_request_line` gets 414, headers over
`max_header_bytes` 431 (counted as bytes arrive, so a header streamed forever costs linear time
and bounded memory), a request whose headers or body do not arrive in time 408, an idle
keep-alive connection is closed, and past `max_connections` an idle connection is closed to make
room or the newcomer is told 503.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import cast

import httptools

from eventwire_runtime.dispatcher import guards
from eventwire_runtime.dispatcher.deferred import Deferred

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Request:
    method: str
    url: str
    headers: list[tuple[str, str]]  # lower-case names, latin-1 decoded
    body: bytes
    host: str


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may cost the server; sizes in bytes, times in seconds."""

    max_body: int = 32 * 1024 * 1024
    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_connections: int = 4096


# A handler answers with the response bytes, a Deferred of them (resolved by callbacks), or an
# awaitable (run as a task).
Handler = Callable[[Request], "bytes | Deferred[bytes] | Awaitable[bytes]"]
# Given (method, url, host) once the headers are in, the final answer when the request will be
# refused whatever its body (404, 405), else None; used to answer `Expect: 100-continue` early.
Precheck = Callable[[str, str, str], "bytes | None"]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
SWEEP_INTERVAL = 0.25  # seconds between timeout checks (one timer for all connections)

# Where a connection is between requests: waiting for one, reading its head, reading its body.
_IDLE, _HEAD, _BODY = 0, 1, 2


def response(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A serialised HTTP/1.1 response with Content-Length."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    head = [f"HTTP/1.1 {status} {reason}\r\ncontent-length: {len(body)}\r\n"]
    head.extend(f"{name}: {value}\r\n" for name, value in headers)
    head.append("\r\n")
    return "".join(head).encode("latin-1") + body


def text_response(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    return response(
        status, message.encode() + b"\n", (("content-type", "text/plain; charset=utf-8"), *headers)
    )


def without_body(data: bytes) -> bytes:
    """The response `data` cut after its head (for HEAD; Content-Length stays as for GET)."""
    return data[: data.find(b"\r\n\r\n") + 4]


def with_close(data: bytes) -> bytes:
    """The response `data` with a `connection: close` header added after its status line."""
    return data[:9] + data[9:].replace(b"\r\n", b"\r\nconnection: close\r\n", 1)


class _Clock:
    """Loop time refreshed by the sweeper: connections read it instead of calling loop.time()."""

    now = 0.0


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        connections: set[HttpProtocol],
        clock: _Clock,
        precheck: Precheck | None = None,
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.max_body = limits.max_body
        self.connections = connections
        self.clock = clock
        self.precheck = precheck
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: collections.deque[tuple[Request, bool]] = collections.deque()
        self.busy = False
        self.rejected = False
        self.phase = _IDLE
        self.deadline = clock.now + limits.idle_timeout
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._head_size = 0  # bytes of chunks read wholly inside an unfinished head
        self._chunk = 0  # length of the chunk being parsed
        self._begin_chunk = 0  # length of the chunk in which the current request began
        self._heads_done = 0
        self._host = ""
        self._length: str | None = None
        self._expect: str | None = None
        self._paused = False

    @property
    def idle(self) -> bool:
        """No request in progress: closing it loses nothing (the client reconnects)."""
        return self.phase == _IDLE and not self.busy and not self.queue and not self.rejected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        if len(self.connections) >= self.limits.max_connections and not self._evict_idle():
            self.rejected = True  # input is dropped until the close
            self.transport.write(
                text_response(503, "too many connections, retry later", (("connection", "close"),))
            )
            asyncio.get_running_loop().call_later(0.2, self.transport.close)
            return
        self.connections.add(self)

    def _evict_idle(self) -> bool:
        for conn in self.connections:
            if conn.idle and conn.transport is not None:
                conn.transport.close()
                self.connections.discard(conn)
                return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.rejected:
            return
        in_head = self.phase == _HEAD
        heads_done = self._heads_done
        self._chunk = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # Upgrade offers are ignored (the channel contract says so); the request was handled
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed HTTP request: {exc}")
            return
        if self.phase == _HEAD and in_head and heads_done == self._heads_done:
            # The whole chunk belonged to an unfinished head: count it before httptools holds
            # more (it keeps a header's partial value until the header ends).
            self._head_size += len(data)
            if self._head_size > self.limits.max_request_line + self.limits.max_header_bytes:
                self._too_large_head()

    def _too_large_head(self) -> None:
        if len(self._url) > self.limits.max_request_line:
            self._reject(414, f"request line longer than {self.limits.max_request_line} bytes")
        else:
            self._reject(431, f"request headers larger than {self.limits.max_header_bytes} bytes")

    def _reject(self, status: int, message: str) -> None:
        """Answer and close: the rest of the stream cannot be trusted.

        Further input is read and dropped for a moment before closing, so a client still sending
        a large body sees the answer rather than a connection reset.
        """
        if self.rejected:
            return
        self.rejected = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(text_response(status, message, (("connection", "close"),)))
            asyncio.get_running_loop().call_later(1.0, transport.close)

    def expire(self) -> None:
        """The current phase ran past its deadline (checked by the server's sweeper)."""
        if self.phase == _HEAD:
            self._reject(408, f"request headers not received within {self.limits.header_timeout:g}s")
        elif self.phase == _BODY:
            self._reject(408, f"request body not received within {self.limits.body_timeout:g}s")
        elif self.transport is not None:
            self.transport.close()  # idle keep-alive connection

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.phase = _HEAD
        self.deadline = self.clock.now + self.limits.header_timeout
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0
        self._head_size = 0
        self._begin_chunk = self._chunk
        self._host = ""
        self._length = None
        self._expect = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.limits.max_request_line:
            self._reject(414, f"request line longer than {self.limits.max_request_line} bytes")
            raise httptools.HttpParserError("request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "host":
            self._host = text
        elif key == "content-length" and self._length is None:
            self._length = text
        elif key == "expect":
            self._expect = text
        self._headers.append((key, text))

    def on_headers_complete(self) -> None:
        if self._head_size + self._begin_chunk + self._chunk > self.limits.max_header_bytes:
            # The head may be over the limit (it came in large reads): measure it exactly. Small
            # reads, nearly every request, never get here: no per-header counting on the hot path.
            size = sum(len(k) + len(v) + 4 for k, v in self._headers)
            if size > self.limits.max_header_bytes:
                self._reject(431, f"request headers larger than {self.limits.max_header_bytes} bytes")
                raise httptools.HttpParserError("headers too large")
        self._heads_done += 1
        self.phase = _BODY
        self.deadline = self.clock.now + self.limits.body_timeout
        if self._length is not None:
            try:
                too_large = int(self._length) > self.max_body
            except ValueError:
                too_large = False
            if too_large:
                self._reject(413, f"request body larger than the {self.max_body}-byte limit")
                raise httptools.HttpParserError("body too large")
        if self._expect is not None:
            self._answer_expect(self._expect)

    def _answer_expect(self, expect: str) -> None:
        if self.parser.get_http_version() != "1.1":
            return  # HTTP/1.0 clients' Expect is ignored (RFC 9110 10.1.1)
        if expect.strip().lower() != "100-continue":
            self._reject(417, f"unsupported expectation {expect[:40]!r} (only 100-continue)")
            raise httptools.HttpParserError("unsupported expectation")
        if self.precheck is not None:
            method = self.parser.get_method().decode("latin-1")
            refused = self.precheck(method, self._url.decode("latin-1"), self._host)
            if refused is not None:
                if self.transport is not None and not self.busy and not self.queue:
                    self.rejected = True  # the body will not be read: answer and close
                    self.transport.write(with_close(refused))
                    self.transport.close()
                    raise httptools.HttpParserError("request refused before its body")
                return
        if self.transport is not None and not self.busy and not self.queue:
            # An interim answer while earlier pipelined responses are pending would come out of
            # order; such clients send the body after their own short wait instead.
            self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self.rejected:
            return
        self._size += len(body)
        if self._size > self.max_body:
            self._reject(413, f"request body larger than the {self.max_body}-byte limit")
            raise httptools.HttpParserError("body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.phase = _IDLE
        if self.rejected:
            return
        method = self.parser.get_method().decode("latin-1")
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(method, self._url.decode("latin-1"), self._headers, body, self._host)
        keep_alive = self.parser.should_keep_alive()
        if self.busy:
            self.queue.append((request, keep_alive))
            if len(self.queue) > 64 and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            return
        self._run(request, keep_alive)

    def _run(self, request: Request, keep_alive: bool) -> None:
        head = request.method == "HEAD"
        try:
            result = self.handler(request)
        except Exception:  # task boundary: a bug in the handler still answers 500, the connection lives on
            guards.caught("ingress_handler", log, "ingress handler failed")
            result = text_response(500, "internal error")
        if isinstance(result, bytes):
            self._write(result, keep_alive, head)
            return
        self.busy = True
        if isinstance(result, Deferred):
            result.then(lambda data: self._answered(data, keep_alive, head))
            return
        task = asyncio.ensure_future(result)
        task.add_done_callback(lambda t: self._finished(t, keep_alive, head))

    def _finished(self, task: asyncio.Future[bytes], keep_alive: bool, head: bool) -> None:
        if task.cancelled():
            data = text_response(503, "shutting down")
        elif (error := task.exception()) is not None:
            guards.caught("ingress_handler", log, "ingress handler failed", error=error)
            data = text_response(500, "internal error")
        else:
            data = task.result()
        self._answered(data, keep_alive, head)

    def _answered(self, data: bytes, keep_alive: bool, head: bool) -> None:
        self.busy = False
        self._write(data, keep_alive, head)
        while self.queue and not self.busy:
            request, keep = self.queue.popleft()
            self._run(request, keep)
        if self._paused and len(self.queue) < 16 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def _write(self, data: bytes, keep_alive: bool, head: bool = False) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if head:
            data = without_body(data)
        if self.phase == _IDLE and not self.busy:
            self.deadline = self.clock.now + self.limits.idle_timeout
        if keep_alive:
            transport.write(data)
        else:
            transport.write(with_close(data))
            transport.close()

    def close_if_idle(self) -> None:
        if not self.busy and not self.queue and self.transport is not None:
            self.transport.close()


def connection_ceiling(wanted: int) -> int:
    """`wanted`, capped at half the process's file-descriptor limit.

    The other half stays for outbound delivery connections, broker clients and files, so a flood
    of inbound connections cannot starve deliveries or make accept() fail.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, max(16, soft // 2))


class HttpServer:
    """Listens on host:port and runs `handler` for every request."""

    def __init__(
        self,
        handler: Handler,
        max_body: int | None = None,
        limits: Limits | None = None,
        precheck: Precheck | None = None,
    ) -> None:
        limits = limits or Limits()
        if max_body is not None:
            limits = replace(limits, max_body=max_body)
        self.handler = handler
        self.limits = replace(limits, max_connections=connection_ceiling(limits.max_connections))
        self.max_body = self.limits.max_body
        self.precheck = precheck
        self.connections: set[HttpProtocol] = set()
        self.clock = _Clock()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.clock.now = loop.time()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.handler, self.limits, self.connections, self.clock, self.precheck),
            host,
            port,
            backlog=2048,
        )
        self._sweeper = loop.create_task(self._sweep(), name="http-timeouts")

    async def _sweep(self) -> None:
        """Expire connections past their deadline; one timer for all of them."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = self.clock.now = loop.time()
            for conn in [c for c in self.connections if c.deadline <= now and not c.busy and not c.queue]:
                conn.expire()

    async def close(self, grace: float) -> None:
        """Stop accepting connections, let busy ones finish for up to `grace` s, then close all."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for conn in list(self.connections):
            conn.close_if_idle()
        for _ in range(int(grace / 0.05) + 1):
            if not any(c.busy for c in self.connections) or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
