"""Assemble the dispatcher from its settings: routing source, backend, fan-out, ingress server."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from eventwire_runtime.delivery.http_client import HttpClient
from eventwire_runtime.delivery.sender import Sender
from eventwire_runtime.dispatcher import broker
from eventwire_runtime.dispatcher.backends import Backend
from eventwire_runtime.dispatcher.fanout import Fanout
from eventwire_runtime.dispatcher.ingress import Ingress
from eventwire_runtime.dispatcher.metrics import DispatcherMetrics
from eventwire_runtime.dispatcher.routing import BROKER, RoutingTable
from eventwire_runtime.dispatcher.server import HttpServer, Limits
from eventwire_runtime.dispatcher.settings import Settings

log = logging.getLogger(__name__)


def make_backend(settings: Settings, fanout: Fanout, table: RoutingTable) -> Backend:
    """The backend named by `settings.backend` (broker clients are imported only when used)."""
    if settings.backend == "jetstream":
        from eventwire_runtime.dispatcher.backends.jetstream import JetStreamBackend

        return JetStreamBackend(settings, fanout, table)
    if settings.backend == "redis":
        from eventwire_runtime.dispatcher.backends.redis import RedisBackend

        return RedisBackend(settings, fanout, table)
    from eventwire_runtime.dispatcher.backends.memory import MemoryBackend

    return MemoryBackend(fanout, table, settings.queue_capacity)


class Dispatcher:
    """The running dispatcher; `start()` then `stop()` (graceful)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = DispatcherMetrics()
        self.table = RoutingTable(settings.host_suffix)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        s = self.settings
        self.client = HttpClient()
        self.sender = Sender(self.client, default_timeout=s.delivery_timeout)
        self.fanout = Fanout(self.sender, self.metrics, s.subscriber_concurrency)
        self.backend = make_backend(s, self.fanout, self.table)
        self.fanout.reenter = self.backend.accept  # a Trigger's reply re-enters its Broker
        self.metrics.registry.register(broker.TriggerCollector())
        self.metrics.watch_depth(self.backend.depths)
        self.metrics.watch_routes(self.table)
        await self.backend.start()
        self._tasks.append(asyncio.create_task(self._watch_routes(), name="routes"))
        self.ingress = ingress = Ingress(self.table, self.backend, self.metrics, s.retry_after, self.ready)
        limits = Limits(
            max_body=s.max_body_bytes,
            max_request_line=s.max_request_line_bytes,
            max_header_bytes=s.max_header_bytes,
            header_timeout=s.header_timeout,
            body_timeout=s.body_timeout,
            idle_timeout=s.idle_timeout,
            max_connections=s.max_connections,
        )
        self.server = HttpServer(ingress, limits=limits, precheck=ingress.precheck)
        await self.server.start(s.host, s.port)
        log.info(
            "dispatcher listening",
            extra={"port": s.port, "backend": s.backend, "routes_source": s.routes_source},
        )

    def ready(self) -> str | None:
        """None when ready; else why not (served by /readyz)."""
        if self.table.problem is not None:
            return self.table.problem
        unloaded = self.table.unloaded()
        if unloaded:
            names = " and ".join("Brokers" if kind == BROKER else "Channels" for kind in unloaded)
            return f"no routes loaded yet for {names}"
        if not self.backend.ready():
            return "the backend is not connected"
        if not self.backend.settled():
            return "creating the durable state of new subscriptions"
        return None

    async def _watch_routes(self) -> None:
        s = self.settings
        if s.routes_source == "file":
            from eventwire_runtime.dispatcher.sources import watch_routes_file

            assert s.routes_file is not None
            await watch_routes_file(s.routes_file, self.table, s.routes_poll, s.provisioner)
        else:
            from eventwire_runtime.dispatcher.kube import watch_channels

            await watch_channels(s, self.table)

    async def stop(self) -> None:
        """Stop accepting, answer in-flight requests, then finish or persist in-flight deliveries."""
        grace = self.settings.shutdown_timeout
        await self.server.close(min(5.0, grace / 2))
        try:
            async with asyncio.timeout(grace + 6):
                await self.backend.stop(grace)
        except TimeoutError:
            log.error(
                "backend did not stop within %.0fs; exiting anyway (persisted events are redelivered)", grace
            )
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sender.close()
        log.info("dispatcher stopped")
