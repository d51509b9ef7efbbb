"""A minimal HTTP/1.1 server on asyncio protocols and the httptools parser.

Why hand-written: ingress is half of the dispatcher's hot path. On the project's 2-core machine a
forwarder on aiohttp reaches 0.10 of nginx proxy_pass and one on raw asyncio protocols with
httptools 0.63; no maintained Python server gets close to the latter with the small surface we
need. It supports keep-alive, pipelined requests (answered in order), Content-Length and chunked
request bodies with an early 413 above `max_body`, and handlers that answer synchronously (no task
per request on the fast path), with a `Deferred` (callbacks, no task) or with an awaitable. No TLS, no HTTP/2, no streaming bodies.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

import httptools

from eventwire_runtime.dispatcher.deferred import Deferred

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Request:
    method: str
    url: str
    headers: list[tuple[str, str]]  # lower-case names, latin-1 decoded
    body: bytes
    host: str


# A handler answers with the response bytes, a Deferred of them (resolved by callbacks), or an
# awaitable (run as a task).
Handler = Callable[[Request], "bytes | Deferred[bytes] | Awaitable[bytes]"]


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


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, handler: Handler, max_body: int, connections: set[HttpProtocol]) -> None:
        self.handler = handler
        self.max_body = max_body
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: collections.deque[tuple[Request, bool]] = collections.deque()
        self.busy = False
        self.rejected = False
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._host = ""
        self._length: str | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.rejected:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # Upgrade offers are ignored (the channel contract says so); the request was handled
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed HTTP request: {exc}")

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

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0
        self._host = ""
        self._length = None

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "host":
            self._host = text
        elif key == "content-length" and self._length is None:
            self._length = text
        self._headers.append((key, text))

    def on_headers_complete(self) -> None:
        if self._length is not None:
            try:
                too_large = int(self._length) > self.max_body
            except ValueError:
                too_large = False
            if too_large:
                self._reject(413, f"request body larger than the {self.max_body}-byte limit")
                raise httptools.HttpParserError("body too large")

    def on_body(self, body: bytes) -> None:
        if self.rejected:
            return
        self._size += len(body)
        if self._size > self.max_body:
            self._reject(413, f"request body larger than the {self.max_body}-byte limit")
            raise httptools.HttpParserError("body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
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
        try:
            result = self.handler(request)
        except Exception:
            log.exception("ingress handler failed")
            result = text_response(500, "internal error")
        if isinstance(result, bytes):
            self._write(result, keep_alive)
            return
        self.busy = True
        if isinstance(result, Deferred):
            result.then(lambda data: self._answered(data, keep_alive))
            return
        task = asyncio.ensure_future(result)
        task.add_done_callback(lambda t: self._finished(t, keep_alive))

    def _finished(self, task: asyncio.Future[bytes], keep_alive: bool) -> None:
        if task.cancelled():
            data = text_response(503, "shutting down")
        elif task.exception() is not None:
            log.error("ingress handler failed", exc_info=task.exception())
            data = text_response(500, "internal error")
        else:
            data = task.result()
        self._answered(data, keep_alive)

    def _answered(self, data: bytes, keep_alive: bool) -> None:
        self.busy = False
        self._write(data, keep_alive)
        while self.queue and not self.busy:
            request, keep = self.queue.popleft()
            self._run(request, keep)
        if self._paused and len(self.queue) < 16 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def _write(self, data: bytes, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if keep_alive:
            transport.write(data)
        else:
            transport.write(data[:9] + data[9:].replace(b"\r\n", b"\r\nconnection: close\r\n", 1))
            transport.close()

    def close_if_idle(self) -> None:
        if not self.busy and not self.queue and self.transport is not None:
            self.transport.close()


class HttpServer:
    """Listens on host:port and runs `handler` for every request."""

    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body
        self.connections: set[HttpProtocol] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.handler, self.max_body, self.connections), host, port, backlog=2048
        )

    async def close(self, grace: float) -> None:
        """Stop accepting connections, let busy ones finish for up to `grace` s, then close all."""
        if self._server is not None:
            self._server.close()
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
