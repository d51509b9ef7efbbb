"""The viewer's HTTP server on 127.0.0.1: the page, its data, the live stream and the display service.

GET  /                      the viewer (static/index.html, app.js, app.css: no build step)
GET  /api/topology          the graph (see `graph`)
GET  /api/events            the recorded events, oldest first
GET  /api/stream            server-sent events: one `record` message per change
POST /display/<ns>/<name>/… the built-in display service: records and prints what it gets, 202
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from eventwire_runtime.cloudevents.http import events_from_request
from eventwire_runtime.delivery.errors import EventFormatError
from eventwire_runtime.devmode.eventlog import EventLog

log = logging.getLogger(__name__)

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
STREAM_BACKLOG = 1000  # changes queued per viewer before a slow one is disconnected
KEEPALIVE_SECONDS = 15.0


class Viewer:
    """The running viewer; `start(port)` then `stop()`.

    Args:
        events: the event log the dispatcher's hooks feed.
        topology: returns the current graph.
        show: prints one line per event the display service receives.
    """

    def __init__(
        self, events: EventLog, topology: Callable[[], dict[str, Any]], show: Callable[[str], None]
    ) -> None:
        self.events = events
        self.topology = topology
        self.show = show
        self.streams: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.app = web.Application()
        self.app.add_routes(
            [
                web.get("/", self._static),
                web.get("/static/{name}", self._static),
                web.get("/api/topology", self._topology),
                web.get("/api/events", self._events),
                web.get("/api/stream", self._stream),
                web.post("/display/{namespace}/{name}{tail:(/.*)?}", self._display),
            ]
        )
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server's sockets
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self.port

    async def stop(self) -> None:
        for queue in list(self.streams):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self.runner is not None:
            await self.runner.cleanup()

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = resources.files("eventwire_runtime.devmode").joinpath("static", name).read_bytes()
        return web.Response(
            body=body, content_type=STATIC[name], charset="utf-8", headers={"Cache-Control": "no-store"}
        )

    async def _topology(self, _: web.Request) -> web.Response:
        return web.json_response(self.topology())

    async def _events(self, _: web.Request) -> web.Response:
        return web.json_response(self.events.snapshot())

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(STREAM_BACKLOG)

        def listener(record: dict[str, Any]) -> None:
            try:
                queue.put_nowait(record)
            except asyncio.QueueFull:  # a viewer that stopped reading: end its stream, it reconnects
                self.events.listeners.discard(listener)
                queue.get_nowait()
                queue.put_nowait(None)

        self.streams.add(queue)
        self.events.listeners.add(listener)
        try:
            await response.write(b"retry: 1000\n\n")
            while True:
                try:
                    record = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if record is None:
                    break
                await response.write(b"event: record\ndata: " + json.dumps(record).encode() + b"\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.events.listeners.discard(listener)
            self.streams.discard(queue)
        return response

    async def _display(self, request: web.Request) -> web.Response:
        service = f"{request.match_info['namespace']}/{request.match_info['name']}"
        body = await request.read()
        try:
            events = events_from_request([(k.lower(), v) for k, v in request.headers.items()], body)
        except EventFormatError as exc:
            self.show(f"display {service}: not a CloudEvent ({exc})")
            return web.Response(status=400, text=f"not a CloudEvent: {exc}\n")
        for event in events:
            self.show(
                f"display {service}{request.match_info['tail']}: {event.attribute('type')} "
                f"from {event.attribute('source')} (id {event.attribute('id')})"
            )
        self.events.displayed(service, events)
        return web.Response(status=202)
