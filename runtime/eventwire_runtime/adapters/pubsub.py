"""GcpPubSubSource: streaming pull from a Pub/Sub subscription, one event per message.

Environment (besides the common contract in `env`):

    PUBSUB_PROJECT                  optional; the Google Cloud project id. Unset: the project of
                                    the credentials (the key file's project_id, or what
                                    google.auth.default() finds: GOOGLE_CLOUD_PROJECT, gcloud's
                                    configuration, the metadata server); a configuration error
                                    when neither names one.
    PUBSUB_TOPIC                    required unless the subscription exists (then read from it);
                                    the topic id (not the full path).
    PUBSUB_SUBSCRIPTION             optional; subscription id (default
                                    `eventwire-<NAMESPACE>-<NAME>`).
    PUBSUB_CREATE_SUBSCRIPTION      optional; true to create the subscription on the topic at start
                                    when missing (default false).
    PUBSUB_ACK_DEADLINE             optional; ack deadline in seconds for a created subscription,
                                    10..600 (default 30). The client extends leases while a
                                    delivery is in flight.
    PUBSUB_RETENTION_DURATION       optional; seconds a created subscription retains
                                    unacknowledged messages, 600..2678400 (10 minutes to 31 days;
                                    default: Pub/Sub's, 7 days).
    PUBSUB_MAX_OUTSTANDING_MESSAGES optional; flow control, messages held at once (default 100).
    PUBSUB_MAX_OUTSTANDING_BYTES    optional; flow control, bytes held at once (default 104857600).
    GOOGLE_APPLICATION_CREDENTIALS  optional; path of a mounted service-account key (`secret`);
                                    unset: workload identity / application default credentials.
    PUBSUB_EMULATOR_HOST            optional; `host:port` of a Pub/Sub emulator (plaintext, no
                                    credentials).

Events: type `google.cloud.pubsub.topic.v1.messagePublished`, source
`//pubsub.googleapis.com/projects/<project>/topics/<topic>`, id the message id, time the publish
time, datacontenttype `application/json`, data in Pub/Sub push format:
`{"message": {"data": <base64>, "attributes": {...}, "messageId", "publishTime", "orderingKey"?},
"subscription": "projects/<p>/subscriptions/<s>"}`.

A message is acked only after the sink (or dead-letter sink) accepted its event and nacked
otherwise (Pub/Sub redelivers it). On shutdown new messages are nacked at once, deliveries in
flight finish and ack, then the stream closes.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from eventwire_runtime.adapters.base import BaseAdapter
from eventwire_runtime.adapters.env import AdapterEnv, env_bool, env_int, env_str
from eventwire_runtime.adapters.events import SourceEvent, binary_message, rfc3339
from eventwire_runtime.adapters.sender import EventSender
from eventwire_runtime.delivery.errors import ConfigError

log = logging.getLogger(__name__)

PUBSUB_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# Pub/Sub's accepted message retention of a subscription, in seconds (10 minutes to 31 days).
RETENTION_RANGE = (600, 31 * 86400)


def project_of_credentials(environ: Mapping[str, str]) -> str:
    """The Google Cloud project the adapter's credentials belong to.

    The mounted key file (GOOGLE_APPLICATION_CREDENTIALS in `environ`) names it; otherwise
    google.auth.default() looks (GOOGLE_CLOUD_PROJECT, gcloud's configuration, the metadata
    server of GKE workload identity).

    Raises:
        ConfigError: when the credentials cannot be loaded or name no project.
    """
    import google.auth
    from google.auth import exceptions

    key_file = environ.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    try:
        if key_file:
            _, project = google.auth.load_credentials_from_file(key_file)  # type: ignore[no-untyped-call]
        else:
            _, project = google.auth.default()
    except exceptions.DefaultCredentialsError as exc:
        where = f"the key file GOOGLE_APPLICATION_CREDENTIALS={key_file!r}" if key_file else "no credentials"
        raise ConfigError(
            f"PUBSUB_PROJECT is not set and the project cannot be taken from {where} ({exc}); "
            "set the source's spec.project"
        ) from None
    if not project:
        raise ConfigError(
            "PUBSUB_PROJECT is not set and the credentials name no project; set the source's spec.project"
        )
    return str(project)


def push_payload(message: Any, subscription_path: str) -> bytes:
    """The Pub/Sub push-format JSON for a received message."""
    publish_time = message.publish_time
    body: dict[str, Any] = {
        "data": base64.b64encode(message.data).decode("ascii"),
        "attributes": dict(message.attributes),
        "messageId": message.message_id,
        "publishTime": rfc3339(publish_time) if isinstance(publish_time, dt.datetime) else str(publish_time),
    }
    if message.ordering_key:
        body["orderingKey"] = message.ordering_key
    return json.dumps({"message": body, "subscription": subscription_path}, separators=(",", ":")).encode()


class PubSubAdapter(BaseAdapter):
    """Pulls PUBSUB_SUBSCRIPTION and delivers each message (see the module docstring)."""

    def __init__(self, env: AdapterEnv, sender: EventSender) -> None:
        super().__init__(env, sender)
        environ = env.environ
        self.project = environ.get("PUBSUB_PROJECT", "").strip() or project_of_credentials(environ)
        self.topic = environ.get("PUBSUB_TOPIC", "").strip()
        self.subscription = env_str(environ, "PUBSUB_SUBSCRIPTION", f"eventwire-{env.namespace}-{env.name}")
        self.create = env_bool(environ, "PUBSUB_CREATE_SUBSCRIPTION", False)
        if self.create and not self.topic:
            raise ConfigError("PUBSUB_TOPIC is required when PUBSUB_CREATE_SUBSCRIPTION is true")
        for name, value in (("PUBSUB_TOPIC", self.topic), ("PUBSUB_SUBSCRIPTION", self.subscription)):
            if "/" in value:
                raise ConfigError(f"{name} must be an id, not a path: {value!r}")
        self.ack_deadline = env_int(environ, "PUBSUB_ACK_DEADLINE", 30, minimum=10, maximum=600)
        low, high = RETENTION_RANGE
        retention = env_int(environ, "PUBSUB_RETENTION_DURATION", 0, minimum=low, maximum=high)
        self.retention: int | None = retention or None
        self.max_messages = env_int(environ, "PUBSUB_MAX_OUTSTANDING_MESSAGES", 100, minimum=1)
        self.max_bytes = env_int(environ, "PUBSUB_MAX_OUTSTANDING_BYTES", 100 * 1024 * 1024, minimum=1)
        self.emulator = environ.get("PUBSUB_EMULATOR_HOST", "").strip() or None
        self.subscription_path = f"projects/{self.project}/subscriptions/{self.subscription}"
        where = f"emulator {self.emulator}" if self.emulator else "Google Cloud"
        self.mode = f"streaming pull from {self.subscription_path} ({where})"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future[None]] = set()
        self._draining = False

    @property
    def source(self) -> str:
        return f"//pubsub.googleapis.com/projects/{self.project}/topics/{self.topic}"

    def _client(self) -> Any:
        from google.cloud import pubsub_v1

        if self.emulator is None:
            return pubsub_v1.SubscriberClient()
        import grpc  # type: ignore[import-untyped]
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        transport = SubscriberGrpcTransport(channel=grpc.insecure_channel(self.emulator))
        return pubsub_v1.SubscriberClient(transport=transport)

    def _prepare(self, client: Any) -> None:
        """Create the subscription if asked; learn the topic if not given (blocking calls)."""
        from google.api_core import exceptions

        if self.create:
            try:
                request: dict[str, Any] = {
                    "name": self.subscription_path,
                    "topic": f"projects/{self.project}/topics/{self.topic}",
                    "ack_deadline_seconds": self.ack_deadline,
                }
                if self.retention is not None:
                    request["message_retention_duration"] = {"seconds": self.retention}
                client.create_subscription(request=request)
                log.info("created subscription %s", self.subscription_path)
            except exceptions.AlreadyExists:
                pass
        try:
            subscription = client.get_subscription(request={"subscription": self.subscription_path})
        except exceptions.NotFound:
            raise ConfigError(
                f"subscription {self.subscription_path} does not exist; create it or set "
                "PUBSUB_CREATE_SUBSCRIPTION=true with PUBSUB_TOPIC"
            ) from None
        topic = str(subscription.topic).rsplit("/", 1)[-1]
        if self.topic and topic != self.topic:
            raise ConfigError(
                f"subscription {self.subscription_path} is on topic {topic!r}, not {self.topic!r}"
            )
        self.topic = topic

    async def run(self) -> None:
        from google.cloud import pubsub_v1

        self._loop = asyncio.get_running_loop()
        client = self._client()
        try:
            await asyncio.to_thread(self._prepare, client)
            flow = pubsub_v1.types.FlowControl(max_messages=self.max_messages, max_bytes=self.max_bytes)
            future = client.subscribe(self.subscription_path, self._on_message, flow_control=flow)
            self._ready = True
            log.info("pulling %s (topic %s)", self.subscription_path, self.topic)
            streaming = asyncio.wrap_future(future)
            await self.wait_unless_stopped(streaming)
            self._draining = True
            if self._pending:
                await asyncio.gather(*list(self._pending), return_exceptions=True)
            future.cancel()
            if streaming.done() and not streaming.cancelled() and streaming.exception() is not None:
                raise RuntimeError(
                    f"streaming pull from {self.subscription_path} failed"
                ) from streaming.exception()
            await asyncio.to_thread(_wait_closed, future)
        finally:
            self._ready = False
            self._draining = True
            await asyncio.to_thread(client.close)

    def _on_message(self, message: Any) -> None:
        """Runs on the client's callback thread: hand the message to the event loop."""
        loop = self._loop
        if self._draining or loop is None or loop.is_closed():
            message.nack()
            return
        try:
            loop.call_soon_threadsafe(self._start_delivery, message)
        except RuntimeError:  # the loop closed between the check and the call
            message.nack()

    def _start_delivery(self, message: Any) -> None:
        if self._draining:
            message.nack()
            return
        task = asyncio.ensure_future(self._deliver(message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, message: Any) -> None:
        try:
            publish_time = message.publish_time if isinstance(message.publish_time, dt.datetime) else None
            event = SourceEvent(
                type=PUBSUB_TYPE,
                source=self.source,
                id=message.message_id,
                data=push_payload(message, self.subscription_path),
                datacontenttype="application/json",
                time=publish_time,
            )
            headers, body = binary_message(event, self.env.ce_overrides)
            outcome = await self.sender.send(headers, body)
        except BaseException:
            message.nack()
            raise
        if outcome.accepted:
            message.ack()
        else:
            log.warning("message %s not accepted by the sink (%s); nacked", message.message_id, outcome.error)
            message.nack()


def _wait_closed(future: Any, within: float = 10.0) -> None:
    """Wait (bounded) for the streaming pull to shut down after `cancel()`; say how it ended.

    A clean shutdown resolves the future. Otherwise the client closed the stream with its reason,
    or it is still shutting down; either way the adapter goes on to close the client.
    """
    try:
        future.result(timeout=within)
    except TimeoutError:
        log.warning("the streaming pull did not shut down within %gs; closing the client anyway", within)
    # The close reason is whatever the client caught (an RPC error, a plain Exception it wrapped,
    # an error raised in our callback): any of them is logged with its traceback, never hidden.
    except Exception:
        log.exception("the streaming pull ended with an error while shutting down")
