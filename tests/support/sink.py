"""A real HTTP subscriber on loopback that records what it receives and answers as scripted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.processes import free_port


@dataclass
class Received:
    """One request as the sink saw it (header names lower-case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


@dataclass
class Reply:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering


Responder = Callable[[int, Received], Reply | Awaitable[Reply]]


class ConcurrencyProbe:
    """A responder that answers 202 after `delay` seconds and records the most requests in flight."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.active = 0
        self.peak = 0

    async def __call__(self, _: int, __: Received) -> Reply:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        return Reply(202)


class Sink:
    """Records requests; `responder(index, request)` picks each answer (default 202)."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.received: list[Received] = []
        self.responder = responder
        self.port = free_port()
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = Received(
            request.method,
            request.path_qs,
            {k.lower(): v for k, v in request.headers.items()},
            await request.read(),
            time.monotonic(),
        )
        index = len(self.received)
        self.received.append(rec)
        self._changed.set()
        reply = Reply()
        if self.responder is not None:
            answer = self.responder(index, rec)
            reply = await answer if not isinstance(answer, Reply) else answer
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """Wait until at least `count` requests arrived; TimeoutError after `within` seconds."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.received

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, responder: Responder | None = None) -> AsyncIterator[Sink]:
        sink = cls(responder)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", sink._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", sink.port)
        await site.start()
        try:
            yield sink
        finally:
            await runner.cleanup()
