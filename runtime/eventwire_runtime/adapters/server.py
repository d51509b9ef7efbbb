"""The adapter's admin HTTP server: `/metrics` (Prometheus), `/healthz` and `/readyz`.

`/healthz` answers 200 while the process serves requests; `/readyz` answers 200 only while the
adapter reports ready (connected upstream and not shutting down) and 503 otherwise. It is served
behind the same limits as a webhook receiver (`http_server`).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from eventwire_runtime.adapters.env import HttpLimits
from eventwire_runtime.adapters.http_server import GuardedServer, guarded_app
from eventwire_runtime.adapters.metrics import AdapterMetrics


def create_admin_app(
    metrics: AdapterMetrics, is_ready: Callable[[], bool], limits: HttpLimits | None = None
) -> web.Application:
    """The admin app for one adapter.

    Args:
        metrics: whose registry `/metrics` exposes.
        is_ready: polled by `/readyz`.
        limits: the HTTP limits (defaults when None).
    """

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if is_ready():
            return web.Response(text="ready")
        return web.Response(status=503, text="not ready")

    async def metrics_handler(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = guarded_app(limits or HttpLimits())
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    return app


async def start_site(
    app: web.Application, port: int, limits: HttpLimits | None = None, host: str = "0.0.0.0"
) -> tuple[GuardedServer, int]:
    """Serve `app` on `host:port` (0 = any free port); returns the server and the bound port."""
    server = GuardedServer(app, limits or HttpLimits())
    return server, await server.start(host, port)
