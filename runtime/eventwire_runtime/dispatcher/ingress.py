"""Ingress: Knative's channel contract as a strict pipeline with honest status codes.

Order: operations paths (`/healthz`, `/readyz`, `/metrics`); method (OPTIONS answered with
`Allow`, anything but POST gets 405); resolve the channel (404); parse and validate the event(s)
(400 naming the problem); at a Broker, count a hop (400 at the hop limit, broker.py); hand off to the backend (202, 429 + Retry-After when full, 503 when
the backend is down); anything unexpected is a 500. The 413 for oversized bodies happens in the
server before the body is read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from eventwire_runtime.cloudevents.http import Event, events_from_request
from eventwire_runtime.delivery.errors import EventFormatError
from eventwire_runtime.dispatcher import broker, guards
from eventwire_runtime.dispatcher.backends import Backend, EventTooLarge
from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.metrics import DispatcherMetrics
from eventwire_runtime.dispatcher.routing import BROKER, ChannelRoute, RoutingTable
from eventwire_runtime.dispatcher.server import Request, response, text_response

log = logging.getLogger(__name__)

ALLOW = (("allow", "POST, OPTIONS"),)
ACCEPTED = response(202)
OPTIONS_ANSWER = response(
    200, headers=(*ALLOW, ("webhook-allowed-origin", "*"), ("webhook-allowed-rate", "*"))
)
NOT_ALLOWED = text_response(405, "only POST (and OPTIONS) are allowed", ALLOW)
OPERATIONS = ("/healthz", "/readyz", "/metrics")
ECHO_LIMIT = 200  # characters of a request's path or host quoted back in an error


def _echo(text: str) -> str:
    """`text` for an error message, cut so a huge URL is not sent back."""
    return text if len(text) <= ECHO_LIMIT else f"{text[:ECHO_LIMIT]}... ({len(text)} characters)"


class IngressObserver(Protocol):
    """Hears about each request's events once accepted (202) at a Channel or Broker, subscribers
    or not (`eventwire dev`'s event viewer); None on the production path. Called on the event
    loop: must be quick and must not raise."""

    def event_accepted(self, channel: ChannelRoute, events: list[Event]) -> None: ...


class Ingress:
    """The request handler given to `HttpServer`.

    Args:
        table: the routing table.
        backend: where accepted events go.
        metrics: counters and the /metrics registry.
        retry_after: seconds advertised in the Retry-After of a 429.
        ready: None when /readyz should answer 200, else why not (the 503's body).

    Attributes:
        observer: told about accepted events when set; None by default.
    """

    def __init__(
        self,
        table: RoutingTable,
        backend: Backend,
        metrics: DispatcherMetrics,
        retry_after: int,
        ready: Callable[[], str | None],
    ) -> None:
        self.table = table
        self.backend = backend
        self.metrics = metrics
        self.ready = ready
        self.observer: IngressObserver | None = None
        self.too_many = text_response(
            429, "channel is full, retry later", (("retry-after", str(retry_after)),)
        )
        self.unavailable = text_response(503, "backend unavailable", (("retry-after", str(retry_after)),))

    def precheck(self, method: str, url: str, host: str) -> bytes | None:
        """The answer to a request that will be refused whatever its body (for Expect: 100-continue)."""
        path = url.split("?", 1)[0]
        if method != "POST":
            return None if method in ("OPTIONS", "GET", "HEAD") else NOT_ALLOWED
        if self.table.lookup(host, path) is None:
            return self._no_channel(path, host)
        return None

    def _no_channel(self, path: str, host: str) -> bytes:
        self.metrics.count_received("", "", 404)
        where = _echo(path) if path.strip("/") else f"host {_echo(host)!r}"
        return text_response(404, f"no channel at {where}")

    def __call__(self, request: Request) -> bytes | Deferred[bytes] | Awaitable[bytes]:
        path = request.url.split("?", 1)[0]
        if path in OPERATIONS and request.method in ("GET", "HEAD"):
            return self._operations(path)
        if request.method == "OPTIONS":
            return OPTIONS_ANSWER
        if request.method != "POST":
            return NOT_ALLOWED
        channel = self.table.lookup(request.host, path)
        if channel is None:
            return self._no_channel(path, request.host)
        try:
            events = events_from_request(request.headers, request.body)
        except EventFormatError as exc:
            self.metrics.count_received(channel.namespace, channel.name, 400)
            return text_response(400, f"invalid CloudEvent: {exc}")
        if channel.kind == BROKER:
            problem = broker.admit(events)  # Knative's hop counting
            if problem is not None:
                self.metrics.count_received(channel.namespace, channel.name, 400)
                return text_response(400, problem)
        try:
            status = self.backend.accept(channel, events)
        except EventTooLarge as exc:
            return self._too_large(channel, exc)
        if isinstance(status, int):
            return self._answer(channel, status, events)
        if isinstance(status, Deferred):
            return status.map(lambda code: self._answer(channel, code, events))
        return self._await(channel, status, events)

    async def _await(self, channel: ChannelRoute, pending: Awaitable[int], events: list[Event]) -> bytes:
        try:
            status = await pending
        except EventTooLarge as exc:
            return self._too_large(channel, exc)
        except Exception:  # task boundary: backends answer failures as statuses, so a bug: answer 500
            where = f"{channel.namespace}/{channel.name}"
            guards.caught("ingress_backend", log, "backend failed to accept an event for %s", where)
            status = 500
        return self._answer(channel, status, events)

    def _too_large(self, channel: ChannelRoute, exc: EventTooLarge) -> bytes:
        self.metrics.count_received(channel.namespace, channel.name, 413)
        return text_response(413, str(exc))

    def _answer(self, channel: ChannelRoute, status: int, events: list[Event]) -> bytes:
        self.metrics.count_received(channel.namespace, channel.name, status)
        if status == 202:
            if self.observer is not None:
                self.observer.event_accepted(channel, events)
            return ACCEPTED
        if status == 429:
            return self.too_many
        if status == 503:
            return self.unavailable
        if status == 413:
            return text_response(413, "event larger than the channel backend accepts")
        return text_response(500, "internal error while persisting the event")

    def _operations(self, path: str) -> bytes:
        if path == "/healthz":
            return text_response(200, "ok")
        if path == "/readyz":
            problem = self.ready()
            return (
                text_response(200, "ready")
                if problem is None
                else text_response(503, f"not ready: {problem}")
            )
        body = generate_latest(self.metrics.registry)
        return response(200, body, (("content-type", CONTENT_TYPE_LATEST),))
