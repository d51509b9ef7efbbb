"""Deliver one event to one destination with a DeliverySpec: timeout, retries, dead letter.

Used by the dispatcher (per subscriber) and by the source adapters (to their sink).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from eventwire_runtime.cloudevents.encoding import percent_encode
from eventwire_runtime.delivery.backoff import JITTER, retry_delay
from eventwire_runtime.delivery.errors import TransportError
from eventwire_runtime.delivery.http_client import HttpClient, Response
from eventwire_runtime.delivery.retry import is_retryable, parse_retry_after
from eventwire_runtime.delivery.spec import DeliverySpec

log = logging.getLogger(__name__)

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A success hook's answer when the response's follow-up failed with an HTTP status (a reply
    the reply destination or a Broker refused): the attempt fails with that status, retried only
    if it is retryable, and a dead letter carries the failed hop as Knative's does: `status` as
    `knativeerrorcode`, `dest` (the subscriber when None) as `knativeerrordest`, `body` as
    `knativeerrordata`."""

    error: str
    status: int | None  # None: no answer (a transport error), retried like one
    dest: str | None = None
    body: bytes = b""


# Called with a 2xx response; returns None when it was handled, or why the attempt must count as
# failed: a message (e.g. the reply could not be forwarded), which triggers a retry, or a Refusal.
SuccessHook = Callable[[Response], Awaitable["str | Refusal | None"]]
# Waits the given seconds between two attempts; the dispatcher's releases the subscriber's
# concurrency slot meanwhile, so a retry that waits does not hold up the events behind it.
Pause = Callable[[float], Awaitable[None]]

STRUCTURED = "application/cloudevents+json"
_DEFAULT_SPEC = DeliverySpec()


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


@dataclass(slots=True)
class DeliveryResult:
    """The outcome of `Sender.send`.

    Attributes:
        status: the last attempt's HTTP status, None after a transport error or timeout.
        headers: the last response's headers (lower-case names); empty without a response.
        body: the last response's body (the reply, for a 200 with an event).
        attempts: how many attempts were made to the destination (1 + retries used).
        dead_lettered: True when the event went to the dead-letter sink and it accepted it.
        error: why delivery failed, None on success.
        failed_dest: where the last attempt failed when that was not the destination itself (the
            reply destination a reply could not be forwarded to); the dead letter names it.
    """

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    attempts: int = 0
    dead_lettered: bool = False
    error: str | None = None
    failed_dest: str | None = None

    @property
    def delivered(self) -> bool:
        """True when the destination accepted the event (2xx and the success hook agreed)."""
        return self.error is None


class Sender:
    """Sends events over a shared pooled keep-alive client.

    Args:
        client: the HTTP client (a new one when None; closed by `close()` only if owned).
        default_timeout: per-attempt timeout in seconds when the spec sets none (default 30).
        jitter: relative backoff jitter (default 0.1); 0 for the exact formula, see `retry_delay`.
        error_data_limit: bytes of the failed response body kept in `knativeerrordata` before
            base64 encoding (default 1024).
    """

    def __init__(
        self,
        client: HttpClient | None = None,
        *,
        default_timeout: float = 30.0,
        jitter: float = JITTER,
        error_data_limit: int = 1024,
    ) -> None:
        self._owns_client = client is None
        self.client = client or HttpClient()
        self.default_timeout = default_timeout
        self.jitter = jitter
        self.error_data_limit = error_data_limit

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()

    async def attempt(
        self, url: str, headers: Headers, body: bytes, seconds: float | None = None
    ) -> Response:
        """One POST bounded by `seconds` (default_timeout when None), no retries.

        Raises:
            TransportError: on a transport failure or timeout.
        """
        return await self.client.post(url, _pairs(headers), body, seconds or self.default_timeout)

    async def send(
        self,
        url: str,
        headers: Headers,
        body: bytes,
        spec: DeliverySpec | None = None,
        *,
        on_success: SuccessHook | None = None,
        first: Response | TransportError | None = None,
        pause: Pause = asyncio.sleep,
        on_retry: Callable[[DeliveryResult], None] | None = None,
    ) -> DeliveryResult:
        """POST the event to `url`, retrying per `spec`, then dead-lettering if it never succeeds.

        `on_retry` hears about each failed attempt that will be retried (`eventwire dev`'s viewer).

        `first` is the outcome of a first attempt the caller already made (e.g. with
        `HttpClient.post_nowait`): it counts as attempt 1 and is handled like one made here.

        Attempts: 1 + `spec.retry`, each bounded by `spec.timeout` (else `default_timeout`),
        separated by `retry_delay` waits (spent in `pause`); no retry starts later than
        `spec.retry_window` after the first attempt began. Only retryable outcomes
        (`retry.is_retryable`) are retried. After the last failure the original event goes to `spec.dead_letter_uri` (with
        the same retries) carrying `knativeerrordest` (= `url`), `knativeerrorcode` (the last
        status, when there was one) and `knativeerrordata` (base64 of the last response body,
        truncated to `error_data_limit` bytes).
        """
        spec = spec or _DEFAULT_SPEC
        # A list is used as is (never modified here); other shapes are copied into one.
        pairs = headers if isinstance(headers, list) else _pairs(headers)
        result = await self._send_with_retries(url, pairs, body, spec, on_success, first, pause, on_retry)
        if result.error is not None and spec.dead_letter_uri:
            dl_headers, dl_body = self._dead_letter_event(url, pairs, body, result)
            dl_spec = DeliverySpec(
                retry=spec.retry,
                backoff_policy=spec.backoff_policy,
                backoff_delay=spec.backoff_delay,
                backoff_max=spec.backoff_max,
                retry_window=spec.retry_window,
                timeout=spec.timeout,
                retry_after_max=spec.retry_after_max,
            )
            dl = await self._send_with_retries(
                spec.dead_letter_uri, dl_headers, dl_body, dl_spec, None, None, pause
            )
            if dl.error is None:
                result.dead_lettered = True
            else:
                log.warning("dead-letter delivery to %s failed: %s", spec.dead_letter_uri, dl.error)
                result.error = f"{result.error}; dead letter failed: {dl.error}"
        return result

    async def _send_with_retries(
        self,
        url: str,
        pairs: list[tuple[str, str]],
        body: bytes,
        spec: DeliverySpec,
        on_success: SuccessHook | None,
        first: Response | TransportError | None = None,
        pause: Pause = asyncio.sleep,
        on_retry: Callable[[DeliveryResult], None] | None = None,
    ) -> DeliveryResult:
        timeout = spec.timeout or self.default_timeout
        loop = asyncio.get_running_loop()
        # No retry starts after this (counted from now: a first attempt the caller made has
        # just ended, so the sequence may exceed the window by at most that attempt).
        last_start = loop.time() + spec.retry_window
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            outcome, first = first, None
            try:
                if outcome is None:
                    response = await self.client.post(url, pairs, body, timeout)
                elif isinstance(outcome, TransportError):
                    raise outcome
                else:
                    response = outcome
            except TransportError as exc:
                result = DeliveryResult(None, attempts=attempt, error=str(exc))
                retryable = True
            except ValueError as exc:  # a URL we cannot send to: retrying cannot help
                return DeliveryResult(None, attempts=attempt, error=str(exc))
            else:
                result = DeliveryResult(response.status, response.headers, response.body, attempt)
                if 200 <= response.status < 300:
                    problem = await on_success(response) if on_success is not None else None
                    if problem is None:
                        return result
                    if isinstance(problem, Refusal):
                        result = DeliveryResult(
                            problem.status,
                            body=problem.body,
                            attempts=attempt,
                            error=problem.error,
                            failed_dest=problem.dest,
                        )
                        retryable = problem.status is None or is_retryable(problem.status)
                    else:
                        result.error = problem
                        retryable = True
                else:
                    result.error = f"{url} answered {response.status}"
                    retryable = is_retryable(response.status)
                    if response.status in (429, 503):
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
            if not retryable or attempt > spec.retry:
                return result
            delay = retry_delay(spec, attempt, retry_after, self.jitter)
            if loop.time() + delay > last_start:
                result.error = f"{result.error} (retries stopped: retryWindow of {spec.retry_window:g}s)"
                return result
            if on_retry is not None:
                on_retry(result)
            await pause(delay)

    def _dead_letter_event(
        self, url: str, pairs: list[tuple[str, str]], body: bytes, result: DeliveryResult
    ) -> tuple[list[tuple[str, str]], bytes]:
        extensions = {"knativeerrordest": result.failed_dest or url}
        if result.status is not None:
            extensions["knativeerrorcode"] = str(result.status)
        if result.body:
            data = result.body[: self.error_data_limit]
            extensions["knativeerrordata"] = base64.b64encode(data).decode("ascii")
        content_type = next((v for n, v in pairs if n.lower() == "content-type"), "")
        if content_type.split(";", 1)[0].strip().lower() == STRUCTURED:
            try:
                obj = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                obj = None
            if isinstance(obj, dict):
                obj.update(extensions)
                return pairs, json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        names = {"ce-" + k for k in extensions}
        out = [(n, v) for n, v in pairs if n.lower() not in names]
        out.extend(("ce-" + k, percent_encode(v)) for k, v in extensions.items())
        return out, body
