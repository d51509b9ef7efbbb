"""GitHubSource: a webhook receiver that turns GitHub deliveries into CloudEvents.

Environment (besides the common contract in `env`):

    GITHUB_OWNER_REPO           required; `owner/repo` (or `owner` for an organisation hook),
                                the `ownerAndRepository` of the source; names the event source.
    GITHUB_EVENT_TYPES          optional; comma-separated GitHub event names to pass
                                (e.g. `push,pull_request`); empty or unset passes every event.
    GITHUB_SECRET_TOKEN         optional; the webhook secret (from `secretToken`'s Secret). When
                                set, every delivery must carry a matching `X-Hub-Signature-256`.
    PORT                        optional; port the webhook listens on (default 8080).
    GITHUB_MAX_PAYLOAD_BYTES    optional; largest accepted body (default 26214400, GitHub's cap
                                of 25 MB); bigger deliveries get 413 (at once when the declared
                                Content-Length is bigger, also in answer to `Expect: 100-continue`).

The listener holds against hostile clients with the common `HTTP_*` limits (`env`, `http_server`):
header, body and idle timeouts, request line and header size limits, a connection limit.

Answers: 401 for a missing or wrong signature when a secret is set (nothing is sent);
400 without `X-GitHub-Event`/`X-GitHub-Delivery` or with invalid JSON; 200 for `ping` (forwarded
only when `ping` is among the event types) and for event types not configured (dropped);
202 only after the sink (or the dead-letter sink) accepted the event; 502 when it did not, so
GitHub records the failure and the delivery can be redelivered. Modes: "secured" (secret set) or
"unsecured" (logged as a warning).

On shutdown the listener closes first and deliveries already received finish (up to
K_SHUTDOWN_TIMEOUT) before the process exits.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from eventwire_runtime.adapters.base import BaseAdapter
from eventwire_runtime.adapters.env import AdapterEnv, env_int, env_str
from eventwire_runtime.adapters.events import binary_message
from eventwire_runtime.adapters.github_events import WebhookError, payload_json, to_event, verify_signature
from eventwire_runtime.adapters.http_server import GuardedServer, expect_handler, guarded_app
from eventwire_runtime.adapters.listen import listen_address
from eventwire_runtime.adapters.sender import EventSender
from eventwire_runtime.delivery.errors import ConfigError, EventFormatError

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 25 * 1024 * 1024
# GitHub's account and repository names; the event source `https://github.com/<owner>[/<repo>]`
# must be a URI, so anything else is refused at start rather than in every event.
_OWNER_REPO = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?")


class GitHubAdapter(BaseAdapter):
    """Receives GitHub webhooks on PORT and forwards them to the sink (see the module docstring)."""

    def __init__(self, env: AdapterEnv, sender: EventSender) -> None:
        super().__init__(env, sender)
        environ = env.environ
        self.owner_repo = env_str(environ, "GITHUB_OWNER_REPO").strip("/")
        if not _OWNER_REPO.fullmatch(self.owner_repo):
            raise ConfigError(
                "GITHUB_OWNER_REPO must be 'owner/repo' or 'owner' (letters, digits, '-', '_', '.'), "
                f"got {self.owner_repo!r}"
            )
        types = environ.get("GITHUB_EVENT_TYPES", "")
        self.event_types = frozenset(t.strip() for t in types.split(",") if t.strip())
        secret = environ.get("GITHUB_SECRET_TOKEN", "")
        self.secret = secret.encode("utf-8") if secret else None
        self.port = env_int(environ, "PORT", 8080, minimum=0, maximum=65535)
        self.host = listen_address(environ)
        self.max_payload = env_int(environ, "GITHUB_MAX_PAYLOAD_BYTES", MAX_PAYLOAD_BYTES, minimum=1024)
        self.mode = "secured" if self.secret else "unsecured"
        self.bound_port = self.port

    def create_app(self) -> web.Application:
        """The webhook app: every path, POST only."""
        app = guarded_app(self.env.http, max_body=self.max_payload)
        app.router.add_post("/{tail:.*}", self.handle, expect_handler=expect_handler)
        return app

    async def run(self) -> None:
        if self.secret is None:
            log.warning("GITHUB_SECRET_TOKEN is not set: webhook deliveries are not authenticated")
        server = GuardedServer(self.create_app(), self.env.http, shutdown_timeout=self.env.shutdown_timeout)
        try:
            self.bound_port = await server.start(self.host, self.port)
            log.info("listening for GitHub webhooks on port %d", self.bound_port)
            self._ready = True
            await self.stopping.wait()
        finally:
            self._ready = False
            # Stops listening, then waits for requests in progress to get their answer.
            await server.close()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # already read by the middleware, within its limits
        try:
            return await self._handle(request, body)
        except WebhookError as exc:
            if exc.status == 401:
                log.warning("rejected delivery from %s: %s", request.remote, exc)
            return web.Response(status=exc.status, text=str(exc))

    async def _handle(self, request: web.Request, body: bytes) -> web.Response:
        if self.secret is not None:
            verify_signature(self.secret, body, request.headers.get("X-Hub-Signature-256"))
        event_name = request.headers.get("X-GitHub-Event", "").strip()
        delivery_id = request.headers.get("X-GitHub-Delivery", "").strip()
        if not event_name:
            raise WebhookError(400, "missing X-GitHub-Event")
        if not delivery_id:
            raise WebhookError(400, "missing X-GitHub-Delivery")
        passes = not self.event_types or event_name in self.event_types
        if event_name == "ping" and "ping" not in self.event_types:
            return web.Response(status=200, text="pong")
        if not passes:
            return web.Response(status=200, text=f"event type {event_name!r} is not subscribed; dropped")
        raw, payload = payload_json(request.headers.get("Content-Type", ""), body)
        try:
            headers, data = binary_message(
                to_event(self.owner_repo, event_name, delivery_id, raw, payload), self.env.ce_overrides
            )
        except EventFormatError as exc:
            raise WebhookError(400, f"the delivery does not make a valid CloudEvent: {exc}") from None
        outcome = await self.sender.send(headers, data)
        if outcome.accepted:
            return web.Response(status=202, text="accepted")
        log.error("delivery %s (%s) not accepted by the sink: %s", delivery_id, event_name, outcome.error)
        return web.Response(status=502, text="the event sink did not accept the event; redeliver later")
