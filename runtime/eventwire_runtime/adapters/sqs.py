"""AwsSqsSource: long-poll an SQS queue and send each message to the sink.

Environment (besides the common contract in `env`):

    SQS_QUEUE_URL               required; the queue URL (standard or `.fifo`).
    AWS_REGION                  optional when the URL is `https://sqs.<region>.amazonaws.com/...`;
                                required otherwise (e.g. with a custom endpoint).
    SQS_ENDPOINT_URL            optional; custom endpoint (LocalStack, moto, VPC endpoint).
    SQS_BATCH_SIZE              optional; messages per receive, 1..10 (default 10).
    SQS_VISIBILITY_TIMEOUT      optional; seconds a received message stays hidden (default 30);
                                extended every half-period while its delivery is in flight.
    SQS_WAIT_TIME_SECONDS       optional; long-poll wait, 0..20 (default 20).
    SQS_RECEIVERS               optional; concurrent long polls, 1..32 (default 2; FIFO queues
                                always use 1).
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
                                optional; static credentials (e.g. from `awsCredsSecret` keys).
                                Unset: botocore's default chain, i.e. AWS_SHARED_CREDENTIALS_FILE
                                (a mounted Secret holding a credentials file), then the pod's
                                identity (IRSA web-identity token or EKS Pod Identity).

Events: type `aws.sqs.message`, source the queue URL, id the MessageId, time from the
`SentTimestamp` attribute, data the message body (datacontenttype from a `datacontenttype` or
`content-type` string message attribute, else `application/json` when the body parses as JSON, else
`text/plain; charset=utf-8`). FIFO queues add extension `sqsmessagegroupid`.

Delivery: a message is deleted only after the sink (or the dead-letter sink) accepted it. One that
is not accepted stays in the queue and comes back after its visibility timeout (the queue's redrive
policy then handles poison messages). FIFO queues deliver each message group in order: after a
failure the rest of that group's batch is released untouched, so order holds on redelivery.
Batches in flight are bounded by K_MAX_IN_FLIGHT messages. On shutdown polling stops and batches
in flight finish (deliver, then delete) before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from eventwire_runtime.adapters.base import BaseAdapter
from eventwire_runtime.adapters.env import AdapterEnv, env_int, env_str
from eventwire_runtime.adapters.events import SourceEvent, binary_message
from eventwire_runtime.adapters.sender import EventSender
from eventwire_runtime.delivery.errors import ConfigError

log = logging.getLogger(__name__)

SQS_TYPE = "aws.sqs.message"
_REGION_IN_URL = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")
# Pause after a failed receive before polling again (seconds).
_POLL_ERROR_PAUSE = 1.0
# What an SQS call can fail with: aiobotocore turns every aiohttp and timeout failure into a
# BotoCoreError, and the service's own answers (throttling, missing queue, denied) into ClientError.
# Anything else is a bug and propagates.
_SQS_ERRORS = (BotoCoreError, ClientError)


def content_type_of(message: Mapping[str, Any]) -> str:
    """The datacontenttype for a received message (see the module docstring)."""
    attributes = message.get("MessageAttributes") or {}
    for name in ("datacontenttype", "content-type", "Content-Type"):
        value = attributes.get(name, {}).get("StringValue")
        if isinstance(value, str) and value:
            return value
    try:
        json.loads(message.get("Body", ""))
    except (json.JSONDecodeError, TypeError):
        return "text/plain; charset=utf-8"
    return "application/json"


def to_event(queue_url: str, message: Mapping[str, Any]) -> SourceEvent:
    """The CloudEvent for one received SQS message."""
    attributes = message.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    moment = None
    if isinstance(sent, str) and sent.isdigit():
        moment = dt.datetime.fromtimestamp(int(sent) / 1000, dt.UTC)
    extensions = {}
    group = attributes.get("MessageGroupId")
    if isinstance(group, str) and group:
        extensions["sqsmessagegroupid"] = group
    return SourceEvent(
        type=SQS_TYPE,
        source=queue_url,
        id=str(message["MessageId"]),
        data=str(message.get("Body", "")).encode("utf-8"),
        datacontenttype=content_type_of(message),
        time=moment,
        extensions=extensions,
    )


class SqsAdapter(BaseAdapter):
    """Long-polls SQS_QUEUE_URL and delivers each message (see the module docstring)."""

    def __init__(self, env: AdapterEnv, sender: EventSender) -> None:
        super().__init__(env, sender)
        environ = env.environ
        self.queue_url = env_str(environ, "SQS_QUEUE_URL")
        if not self.queue_url.startswith(("http://", "https://")):
            raise ConfigError(f"SQS_QUEUE_URL must be an http(s) URL, got {self.queue_url!r}")
        match = _REGION_IN_URL.match(self.queue_url)
        region = environ.get("AWS_REGION", "").strip() or (match.group(1) if match else "")
        if not region:
            raise ConfigError("AWS_REGION is required when SQS_QUEUE_URL does not name the region")
        self.region = region
        self.endpoint_url = environ.get("SQS_ENDPOINT_URL", "").strip() or None
        self.batch_size = env_int(environ, "SQS_BATCH_SIZE", 10, minimum=1, maximum=10)
        self.visibility_timeout = env_int(environ, "SQS_VISIBILITY_TIMEOUT", 30, minimum=1, maximum=43200)
        self.wait_time = env_int(environ, "SQS_WAIT_TIME_SECONDS", 20, minimum=0, maximum=20)
        self.credentials = {
            key: environ[name]
            for key, name in (
                ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
                ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
                ("aws_session_token", "AWS_SESSION_TOKEN"),
            )
            if environ.get(name)
        }
        if ("aws_access_key_id" in self.credentials) != ("aws_secret_access_key" in self.credentials):
            raise ConfigError("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
        self.fifo = self.queue_url.endswith(".fifo")
        # FIFO: one receive and one batch at a time, so a later receive can never overtake a
        # group's failure.
        self.receivers = 1 if self.fifo else env_int(environ, "SQS_RECEIVERS", 2, minimum=1, maximum=32)
        self._max_batches = 1 if self.fifo else max(self.receivers, env.max_in_flight // self.batch_size)
        credentials = (
            "static keys" if self.credentials else "default chain (credentials file or pod identity)"
        )
        self.mode = (
            f"{'fifo' if self.fifo else 'standard'} queue, batches of {self.batch_size}, {credentials}"
        )

    async def run(self) -> None:
        session = get_session()
        async with session.create_client(
            "sqs", region_name=self.region, endpoint_url=self.endpoint_url, **self.credentials
        ) as client:
            # Fail fast on a wrong URL, endpoint or credentials.
            await client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._ready = True
            slots = asyncio.Semaphore(self._max_batches)
            batches: set[asyncio.Task[None]] = set()

            def finished(task: asyncio.Task[None]) -> None:
                batches.discard(task)
                slots.release()

            async def poll() -> None:
                while not self.stopping.is_set():
                    await slots.acquire()
                    messages = await self._receive(client)
                    if not messages:
                        slots.release()
                        continue
                    task = asyncio.create_task(self._process(client, messages))
                    batches.add(task)
                    task.add_done_callback(finished)

            try:
                await asyncio.gather(*(poll() for _ in range(self.receivers)))
                if batches:
                    await asyncio.gather(*batches, return_exceptions=True)
            finally:
                self._ready = False
                for task in batches:
                    task.cancel()

    async def _receive(self, client: Any) -> list[dict[str, Any]]:
        """One long poll, abandoned when `stop()` is called (unreceived messages stay queued)."""
        receive = asyncio.ensure_future(
            client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=self.wait_time,
                VisibilityTimeout=self.visibility_timeout,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        )
        if not await self.wait_unless_stopped(receive):
            # Messages the server hands out after this are not deleted: they reappear later.
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_SQS_ERRORS):
                await receive
            return []
        try:
            response = receive.result()
        except _SQS_ERRORS as exc:
            log.error("receive from %s failed: %s", self.queue_url, exc)
            await self.sleep_or_stop(_POLL_ERROR_PAUSE)
            return []
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    async def _process(self, client: Any, messages: list[dict[str, Any]]) -> None:
        in_flight = {m["ReceiptHandle"] for m in messages}
        keeper = asyncio.create_task(self._keep_invisible(client, in_flight))
        try:
            if self.fifo:
                groups: dict[str, list[dict[str, Any]]] = {}
                for message in messages:
                    groups.setdefault((message.get("Attributes") or {}).get("MessageGroupId", ""), []).append(
                        message
                    )
                results = await asyncio.gather(
                    *(self._deliver_in_order(g, in_flight) for g in groups.values())
                )
                accepted = [m for group in results for m in group]
            else:
                outcomes = await asyncio.gather(*(self._deliver(m, in_flight) for m in messages))
                accepted = [m for m, ok in zip(messages, outcomes, strict=True) if ok]
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await self._delete(client, accepted)

    async def _deliver(self, message: dict[str, Any], in_flight: set[str]) -> bool:
        try:
            headers, body = binary_message(to_event(self.queue_url, message), self.env.ce_overrides)
            outcome = await self.sender.send(headers, body)
        finally:
            in_flight.discard(message["ReceiptHandle"])
        if not outcome.accepted:
            log.warning(
                "message %s not accepted by the sink (%s); it returns after the visibility timeout",
                message.get("MessageId"),
                outcome.error,
            )
        return outcome.accepted

    async def _deliver_in_order(
        self, group: list[dict[str, Any]], in_flight: set[str]
    ) -> list[dict[str, Any]]:
        accepted = []
        for index, message in enumerate(group):
            if not await self._deliver(message, in_flight):
                for rest in group[index + 1 :]:
                    in_flight.discard(rest["ReceiptHandle"])
                break
            accepted.append(message)
        return accepted

    async def _keep_invisible(self, client: Any, in_flight: set[str]) -> None:
        """Extend the visibility of messages still being delivered, every half timeout."""
        period = max(self.visibility_timeout / 2, 0.5)
        while True:
            await asyncio.sleep(period)
            handles = list(in_flight)
            for start in range(0, len(handles), 10):
                entries = [
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": self.visibility_timeout}
                    for i, h in enumerate(handles[start : start + 10])
                ]
                try:
                    await client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
                except _SQS_ERRORS as exc:
                    log.warning("could not extend visibility: %s", exc)

    async def _delete(self, client: Any, accepted: list[dict[str, Any]]) -> None:
        for start in range(0, len(accepted), 10):
            chunk = accepted[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            try:
                response = await client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except _SQS_ERRORS as exc:
                log.error(
                    "delete of %d delivered message(s) failed, they will be redelivered: %s", len(chunk), exc
                )
                continue
            for failure in response.get("Failed", []):
                log.error("delete failed for a delivered message, it will be redelivered: %s", failure)
