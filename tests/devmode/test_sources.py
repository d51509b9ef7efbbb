"""Sources that need an outside service run in `dev up` when it is given: AwsSqsSource against a
real moto_server (--sqs-endpoint), GcpPubSubSource against the real Pub/Sub emulator
(--pubsub-emulator), ApiServerSource against the Kubernetes API fake (--kubeconfig), and a
PingSource on a fast schedule."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.adapters.test_sqs import sqs_client
from tests.devmode.devup import dev_up
from tests.devmode.test_up import channel, deliveries, subscription
from tests.support.kube import running_kube
from tests.support.moto import CREDENTIALS, REGION, moto_endpoint
from tests.support.pubsub import create_topic, publish, pubsub_emulator
from tests.support.sink import Sink

__all__ = ["moto_endpoint", "pubsub_emulator"]  # the fixtures, used by name

PUBSUB_PROJECT = "eventwire-dev"


def source(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sources.eventwire.dev/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "demo"},
        "spec": spec,
    }


def service_ref(name: str) -> dict[str, Any]:
    return {"ref": {"apiVersion": "v1", "kind": "Service", "name": name}}


async def test_sqs_and_ping_sources_deliver_to_their_services(moto_endpoint: str, tmp_path: Path) -> None:
    async with sqs_client(moto_endpoint) as sqs:
        queue_url = str((await sqs.create_queue(QueueName=f"dev-{uuid.uuid4().hex[:10]}"))["QueueUrl"])
        manifests = tmp_path / "sources.yaml"
        manifests.write_text(
            yaml.safe_dump_all(
                [
                    source(
                        "AwsSqsSource",
                        "orders",
                        queueUrl=queue_url,
                        region=REGION,
                        awsCredsSecret={"name": "aws", "key": "credentials"},
                        sink=service_ref("queue-reader"),
                    ),
                    source(
                        "PingSource",
                        "tick",
                        schedule="@every 1s",
                        contentType="application/json",
                        data='{"tick": true}',
                        sink={"uri": "http://ticks.demo.svc.cluster.local/in"},
                    ),
                ]
            )
        )
        async with (
            Sink.start() as reader,
            Sink.start() as ticks,
            dev_up(
                str(manifests),
                "--sqs-endpoint",
                moto_endpoint,
                "--service",
                f"queue-reader={reader.url}",
                "--service",
                f"demo/ticks={ticks.url}",
                state=tmp_path / "state.json",
                env={**CREDENTIALS, "AWS_DEFAULT_REGION": REGION},
            ) as dev,
        ):
            assert (
                f"  AwsSqsSource demo/orders: SQS at {moto_endpoint}, with your own AWS credentials"
                in dev.lines
            )
            await sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"order": 7}))
            (message,) = await reader.wait_for(1, within=30)
            assert message.headers["ce-type"] == "aws.sqs.message"
            assert json.loads(message.body) == {"order": 7}  # the data is the message body
            (tick, *_) = await ticks.wait_for(1, within=15)
            assert tick.path == "/in"
            assert tick.headers["ce-type"] == "dev.knative.sources.ping"
            assert json.loads(tick.body) == {"tick": True}


async def test_api_server_source_watches_the_cluster_of_the_kubeconfig_given(tmp_path: Path) -> None:
    with running_kube() as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web-1", "namespace": "demo", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            }
        )
        manifests = tmp_path / "apiserver.yaml"
        manifests.write_text(
            yaml.safe_dump(
                source(
                    "ApiServerSource",
                    "pods",
                    mode="Reference",
                    resources=[{"apiVersion": "v1", "kind": "Pod"}],
                    sink=service_ref("watcher"),
                )
            )
        )
        async with (
            Sink.start() as watcher,
            dev_up(
                str(manifests),
                "--kubeconfig",
                str(kubeconfig),
                "--service",
                f"watcher={watcher.url}",
                state=tmp_path / "state.json",
            ),
        ):
            (added, *_) = await watcher.wait_for(1, within=20)
            assert added.headers["ce-type"] == "dev.knative.apiserver.ref.add"
            assert added.headers["ce-subject"] == "/apis/v1/namespaces/demo/pods/web-1"


async def test_gcp_pubsub_source_reads_the_emulator_given_into_a_channel(
    pubsub_emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)  # the test's own publisher
    topic = await asyncio.to_thread(create_topic, PUBSUB_PROJECT)
    manifests = tmp_path / "pubsub.yaml"
    manifests.write_text(
        yaml.safe_dump_all(
            [
                source(
                    "GcpPubSubSource",
                    "orders",
                    project=PUBSUB_PROJECT,
                    topic=topic,
                    createSubscription=True,
                    secret={"name": "google", "key": "key.json"},
                    sink={
                        "ref": {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "gcp"}
                    },
                ),
                channel("gcp"),
                subscription("to-reader", "gcp", "pubsub-reader"),
            ]
        )
    )
    async with (
        Sink.start() as reader,
        dev_up(
            str(manifests),
            "--pubsub-emulator",
            pubsub_emulator,
            "--service",
            f"pubsub-reader={reader.url}",
            state=tmp_path / "state.json",
            env={"PUBSUB_EMULATOR_HOST": ""},  # only the flag tells dev up where the emulator is
        ) as dev,
    ):
        assert f"  GcpPubSubSource demo/orders: Pub/Sub emulator at {pubsub_emulator}" in dev.lines
        # The adapter creates its subscription at start: publish once it is ready, bounded.
        await dev.wait_output(f"pulling projects/{PUBSUB_PROJECT}/subscriptions/")
        (message_id,) = await asyncio.to_thread(
            publish, PUBSUB_PROJECT, topic, (b'{"order": 9}', {"region": "eu"})
        )
        (event,) = await reader.wait_for(1, within=30)
        assert event.headers["ce-type"] == "google.cloud.pubsub.topic.v1.messagePublished"
        assert event.headers["ce-id"] == message_id
        push = json.loads(event.body)  # Pub/Sub push format
        assert base64.b64decode(push["message"]["data"]) == b'{"order": 9}'
        assert push["message"]["attributes"] == {"region": "eu"}
        record = await dev.wait_event(lambda r: r["attributes"].get("id") == message_id)
        assert record["channel"] == "demo/gcp"
        assert deliveries(record)["to-reader"]["outcome"] == "delivered"
