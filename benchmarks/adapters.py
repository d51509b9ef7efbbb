"""Adapter throughput: events per second from each adapter into a local recording sink.

    .venv/bin/python -m benchmarks.adapters [kind ...] [--events N]

Kinds: heartbeats, pingsource, githubsource, awssqssource (moto_server), gcppubsubsource (the
Pub/Sub emulator), apiserversource (the Kubernetes API fake). Each run starts its real peers on
loopback, runs the adapter in-process with the production sender (delivery layer, in-flight limit,
metrics), and times from the first event to the N-th at the sink. The sink is the tests' aiohttp
recorder, so figures are a floor for the adapter: on a 2-core machine the sink and the peer
(moto, the emulator) share the CPU with the adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
from tests.support.moto import moto_server
from tests.support.processes import free_port, running
from tests.support.sink import Sink

from eventwire_runtime.adapters.base import BaseAdapter
from eventwire_runtime.adapters.env import AdapterEnv
from eventwire_runtime.adapters.metrics import AdapterMetrics
from eventwire_runtime.adapters.sender import MeteredSender, SinkSender
from eventwire_runtime.delivery.sender import Sender


def _env(kind: str, sink: str, **settings: str) -> AdapterEnv:
    return AdapterEnv.from_environ(
        kind, {"K_SINK": sink, "NAME": "bench", "NAMESPACE": "bench", "METRICS_PORT": "0", **settings}
    )


@contextlib.asynccontextmanager
async def _adapter(factory: Any, env: AdapterEnv) -> AsyncIterator[BaseAdapter]:
    delivery = Sender()
    metrics = AdapterMetrics(env.kind, env.name, env.namespace)
    sender = MeteredSender(SinkSender(env.sink, env.delivery, delivery), metrics, env.max_in_flight)
    adapter = factory(env, sender)
    task = asyncio.create_task(adapter.run())
    try:
        for _ in range(600):
            if adapter.ready or task.done():
                break
            await asyncio.sleep(0.05)
        if task.done():
            task.result()
        yield adapter
    finally:
        adapter.stop()
        try:
            async with asyncio.timeout(30):
                await task
        finally:
            await delivery.close()


async def _timed(sink: Sink, count: int, within: float = 300.0) -> float:
    """Seconds from the first event's arrival to the count-th's."""
    await sink.wait_for(count, within=within)
    return max(sink.received[count - 1].at - sink.received[0].at, 1e-9) / (count - 1) * count


async def heartbeats(count: int) -> float:
    from eventwire_runtime.adapters.heartbeats import HeartbeatsAdapter

    async with (
        Sink.start() as sink,
        _adapter(HeartbeatsAdapter, _env("heartbeats", sink.url, HEARTBEATS_PERIOD="1e-6")),
    ):
        return await _timed(sink, count)


async def pingsource(count: int) -> float:
    # The cron loop fires at most once a second; this measures the per-tick path (build the
    # event, deliver it) for `count` ticks fired back to back.
    import datetime as dt

    from eventwire_runtime.adapters.ping import PingAdapter

    async with Sink.start() as sink:
        env = _env("pingsource", sink.url, PING_SCHEDULE="@yearly", PING_DATA='{"hello": "world"}')
        async with _adapter(PingAdapter, env) as adapter:
            assert isinstance(adapter, PingAdapter)
            start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            fire = adapter._fire
            await asyncio.gather(*(fire(start + dt.timedelta(seconds=i)) for i in range(count)))
            return await _timed(sink, count)


async def githubsource(count: int, concurrency: int = 32) -> float:
    from eventwire_runtime.adapters.github import GitHubAdapter
    from eventwire_runtime.adapters.github_events import sign

    body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/widgets"}}).encode()
    secret = "bench-secret"
    async with Sink.start() as sink:
        env = _env(
            "githubsource", sink.url, GITHUB_OWNER_REPO="acme/widgets", GITHUB_SECRET_TOKEN=secret, PORT="0"
        )
        async with _adapter(GitHubAdapter, env) as adapter, aiohttp.ClientSession() as session:
            assert isinstance(adapter, GitHubAdapter)
            url = f"http://127.0.0.1:{adapter.bound_port}/"
            queue = list(range(count))

            async def worker() -> None:
                while queue:
                    i = queue.pop()
                    headers = {
                        "Content-Type": "application/json",
                        "X-GitHub-Event": "push",
                        "X-GitHub-Delivery": f"d-{i}",
                        "X-Hub-Signature-256": sign(secret.encode(), body),
                    }
                    async with session.post(url, data=io.BytesIO(body), headers=headers) as response:
                        assert response.status == 202, response.status

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return await _timed(sink, count)


@contextlib.asynccontextmanager
async def _filled_sqs_queue(count: int, body: Callable[[int], str]) -> AsyncIterator[tuple[Any, str, str]]:
    """A fresh moto_server with one queue holding `count` messages (`body(i)` each); yields an SQS
    client, the endpoint URL and the queue URL."""
    from aiobotocore.session import get_session

    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    with moto_server() as endpoint:
        async with get_session().create_client(
            "sqs", region_name="us-east-1", endpoint_url=endpoint, **keys
        ) as sqs:
            queue = (await sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}"))["QueueUrl"]
            for start in range(0, count, 10):
                entries = [
                    {"Id": str(i), "MessageBody": body(i)} for i in range(start, min(start + 10, count))
                ]
                await sqs.send_message_batch(QueueUrl=queue, Entries=entries)
            yield sqs, endpoint, queue


async def awssqssource(count: int) -> float:
    from eventwire_runtime.adapters.sqs import SqsAdapter

    async with (
        _filled_sqs_queue(count, lambda i: f'{{"n": {i}}}') as (_, endpoint, queue),
        Sink.start() as sink,
    ):
        env = _env(
            "awssqssource",
            sink.url,
            SQS_QUEUE_URL=queue,
            SQS_ENDPOINT_URL=endpoint,
            AWS_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            SQS_WAIT_TIME_SECONDS="1",
            SQS_RECEIVERS="8",
        )
        async with _adapter(SqsAdapter, env):
            return await _timed(sink, count)


async def moto_ceiling(count: int, receivers: int = 8) -> float:
    """moto_server alone: receive + delete with 8 concurrent receivers and no sink (the SQS
    adapter's figure cannot exceed this)."""
    async with _filled_sqs_queue(count, lambda _: "x") as (sqs, _, queue):
        got = 0
        started = time.monotonic()

        async def receive() -> None:
            nonlocal got
            for _ in range(count):
                if got >= count:
                    return
                response = await sqs.receive_message(
                    QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300
                )
                messages = response.get("Messages", [])
                got += len(messages)
                if messages:
                    entries = [
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ]
                    await sqs.delete_message_batch(QueueUrl=queue, Entries=entries)

        await asyncio.gather(*(receive() for _ in range(receivers)))
        return time.monotonic() - started


async def gcppubsubsource(count: int) -> float:
    import os
    import shutil

    from google.cloud import pubsub_v1

    from eventwire_runtime.adapters.pubsub import PubSubAdapter

    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise SystemExit("gcloud not found (the Pub/Sub emulator ships with the Google Cloud CLI)")
    port = free_port()
    host = f"127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory() as data,
        running(
            [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port={host}", f"--data-dir={data}"],
            port,
            timeout=60,
        ),
    ):
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        project, topic = "bench", f"t-{uuid.uuid4().hex[:8]}"
        with pubsub_v1.PublisherClient() as admin:
            admin.create_topic(name=f"projects/{project}/topics/{topic}")
        async with Sink.start() as sink:
            env = _env(
                "gcppubsubsource",
                sink.url,
                PUBSUB_PROJECT=project,
                PUBSUB_TOPIC=topic,
                PUBSUB_CREATE_SUBSCRIPTION="true",
                PUBSUB_EMULATOR_HOST=host,
            )
            async with _adapter(PubSubAdapter, env):

                def publish() -> None:
                    publisher = pubsub_v1.PublisherClient()
                    futures = [
                        publisher.publish(f"projects/{project}/topics/{topic}", f'{{"n": {i}}}'.encode())
                        for i in range(count)
                    ]
                    for future in futures:
                        future.result(timeout=60)
                    publisher.stop()

                await asyncio.to_thread(publish)
                return await _timed(sink, count)


async def apiserversource(count: int) -> float:
    from tests.support.kube import running_kube

    from eventwire_runtime.adapters.apiserver import ApiServerAdapter

    with running_kube() as kube, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = kube.write_kubeconfig(Path(tmp) / "kubeconfig")
        config = {
            "resources": [{"apiVersion": "v1", "kind": "Pod"}],
            "namespaces": ["bench"],
            "mode": "Resource",
        }
        async with Sink.start() as sink:
            env = _env(
                "apiserversource", sink.url, K_SOURCE_CONFIG=json.dumps(config), KUBECONFIG=str(kubeconfig)
            )
            async with _adapter(ApiServerAdapter, env):

                def create() -> None:
                    for i in range(count):
                        kube.create(
                            {
                                "apiVersion": "v1",
                                "kind": "Pod",
                                "metadata": {"name": f"p{i}", "namespace": "bench"},
                            }
                        )

                await asyncio.to_thread(create)
                return await _timed(sink, count)


KINDS: dict[str, Callable[[int], Coroutine[Any, Any, float]]] = {
    "heartbeats": heartbeats,
    "pingsource": pingsource,
    "githubsource": githubsource,
    "awssqssource": awssqssource,
    "moto-ceiling": moto_ceiling,
    "gcppubsubsource": gcppubsubsource,
    "apiserversource": apiserversource,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kinds", nargs="*", default=list(KINDS), choices=[*KINDS, []])
    parser.add_argument("--events", type=int, default=2000, help="events per adapter (default 2000)")
    args = parser.parse_args(argv)
    for kind in args.kinds or list(KINDS):
        started = time.monotonic()
        seconds = asyncio.run(KINDS[kind](args.events))
        print(
            f"{kind:18s} {args.events:6d} events  {args.events / seconds:8.0f} events/s"
            f"  (wall {time.monotonic() - started:.1f}s incl. setup)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
