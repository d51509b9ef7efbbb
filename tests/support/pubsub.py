"""The Google Cloud CLI's Pub/Sub emulator on loopback, for the GcpPubSubSource tests.

Started once per test session with `gcloud beta emulators pubsub start`. Where gcloud or the
emulator component is missing the fixture fails with how to install them (they are not in
Debian's archive; scripts/setup-services.sh prints the same hint).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest
from google.cloud import pubsub_v1

from tests.support.processes import free_port, running

INSTALL_HINT = (
    "the Pub/Sub emulator is needed: install the Google Cloud CLI with the packages "
    "google-cloud-cli and google-cloud-cli-pubsub-emulator (or `gcloud components install "
    "pubsub-emulator beta`), and Java 11+"
)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """`host:port` of a running Pub/Sub emulator (use as PUBSUB_EMULATOR_HOST)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.fail(f"gcloud not found: {INSTALL_HINT}")
    port = free_port()
    host_port = f"127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ew-pubsub-") as data_dir:
        argv = [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port={host_port}",
            f"--data-dir={data_dir}",
        ]
        try:
            with running(argv, port, timeout=60):
                yield host_port
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"the Pub/Sub emulator did not start ({exc}); {INSTALL_HINT}")


@pytest.fixture
def emulator(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`pubsub_emulator`, also set as PUBSUB_EMULATOR_HOST for the test's own publisher and admin
    clients (the adapter gets it through its env contract)."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    return pubsub_emulator


def create_topic(project: str) -> str:
    """Create a topic with a fresh random name in `project`; returns its short name. Blocking."""
    topic = f"t-{uuid.uuid4().hex[:10]}"
    with pubsub_v1.PublisherClient() as publisher:
        publisher.create_topic(name=f"projects/{project}/topics/{topic}")
    return topic


def publish(project: str, topic: str, *messages: tuple[bytes, dict[str, str]]) -> list[str]:
    """Publish (data, attributes) messages to `topic`; returns their message ids, in order.
    Blocking, up to 10 s a message."""
    publisher = pubsub_v1.PublisherClient()
    try:
        futures = [
            publisher.publish(f"projects/{project}/topics/{topic}", data, **attrs) for data, attrs in messages
        ]
        return [str(f.result(timeout=10)) for f in futures]
    finally:
        publisher.stop()
