"""GcpPubSubSource end to end on the Pub/Sub emulator: the controller's Deployment env for a source
without `project` and with `retentionDuration`, run by the real adapter.

The project comes from the mounted service-account key; the subscription the adapter creates has
the resource's retention; a published message reaches the sink. Without a project anywhere the
adapter refuses to start with a message that says what to set.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from eventwire_runtime.adapters.env import AdapterEnv
from eventwire_runtime.adapters.pubsub import PubSubAdapter
from eventwire_runtime.controller.sources import resources as source_resources
from eventwire_runtime.delivery.errors import ConfigError
from tests.adapters.conftest import metered_sender, running, wait_for
from tests.contracts.test_adapter_env import (
    SECRETS,
    SETTINGS,
    NoSender,
    pod_environment,
    service_account_key,
    source,
)
from tests.support.pubsub import create_topic, emulator, publish, pubsub_emulator
from tests.support.sink import Sink

__all__ = ["emulator", "pubsub_emulator"]  # the fixtures, used by name

PROJECT = "shop-emulated"


def retention_of(subscription: str) -> int:
    with pubsub_v1.SubscriberClient() as subscriber:
        found = subscriber.get_subscription(subscription=f"projects/{PROJECT}/subscriptions/{subscription}")
    return int(found.message_retention_duration.total_seconds())


async def test_project_from_the_mounted_key_and_retention_of_the_created_subscription(
    emulator: str, tmp_path: Path
) -> None:
    topic = await asyncio.to_thread(create_topic, PROJECT)
    subscription = f"s-{uuid.uuid4().hex[:10]}"
    src = source(
        "GcpPubSubSource",
        topic=topic,
        subscription=subscription,
        createSubscription=True,
        retentionDuration="PT2H",
        secret={"name": "google", "key": "key.json"},
    )
    secrets = {**SECRETS, ("google", "key.json"): service_account_key(PROJECT)}
    async with Sink.start() as sink:
        deployment = source_resources.make_adapter_deployment(src, sink.url, None, SETTINGS)
        environ = pod_environment(deployment, tmp_path, secrets=secrets)
        assert "PUBSUB_PROJECT" not in environ
        environ["PUBSUB_EMULATOR_HOST"] = emulator  # the one addition: where the emulator is
        env = AdapterEnv.from_environ("gcppubsubsource", environ)
        async with metered_sender(env) as (sender, _):
            adapter = PubSubAdapter(env, sender)
            assert adapter.project == PROJECT
            async with running(adapter, drain=20):
                await wait_for(lambda: adapter.ready, within=20)
                [message_id] = await asyncio.to_thread(publish, PROJECT, topic, (b'{"invoice": 7}', {}))
                (event,) = await sink.wait_for(1, within=20)
    assert event.headers["ce-id"] == message_id
    assert event.headers["ce-source"] == f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}"
    assert await asyncio.to_thread(retention_of, subscription) == 2 * 3600


def test_without_a_project_anywhere_the_adapter_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No key mounted and nothing for google.auth.default() to find (no gcloud config, no
    # metadata server probe, no project variables).
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GCLOUD_PROJECT",
        "CLOUDSDK_CORE_PROJECT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    src = source("GcpPubSubSource", topic="invoices", subscription="existing")
    deployment = source_resources.make_adapter_deployment(src, "http://sink.example/", None, SETTINGS)
    env = AdapterEnv.from_environ("gcppubsubsource", pod_environment(deployment, tmp_path))
    with pytest.raises(ConfigError, match=r"PUBSUB_PROJECT is not set .* set the source's spec\.project"):
        PubSubAdapter(env, NoSender())


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    src = source(
        "GcpPubSubSource",
        topic="invoices",
        subscription="existing",
        secret={"name": "google", "key": "key.json"},
    )
    deployment = source_resources.make_adapter_deployment(src, "http://sink.example/", None, SETTINGS)
    secrets = {**SECRETS, ("google", "key.json"): "not json"}
    env = AdapterEnv.from_environ("gcppubsubsource", pod_environment(deployment, tmp_path, secrets=secrets))
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        PubSubAdapter(env, NoSender())
