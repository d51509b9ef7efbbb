"""A real `moto_server` (AWS API emulator) on loopback, for the AwsSqsSource tests.

`moto_server` comes with `moto[server]` (requirements/dev.in). The fixture starts one server per
test session; tests create their own uniquely named queues.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import free_port, running

REGION = "us-east-1"
# moto accepts any keys; these never leave loopback.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _moto_server() -> str:
    beside_python = Path(sys.executable).with_name("moto_server")
    found = str(beside_python) if beside_python.exists() else shutil.which("moto_server")
    if found is None:
        pytest.fail("moto_server not found: install the dev requirements (scripts/setup-python.sh)")
    return found


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto_server on a free loopback port (up to 30 s to start); yields its URL and stops it
    on exit."""
    port = free_port()
    with running([_moto_server(), "-H", "127.0.0.1", "-p", str(port)], port, timeout=30):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a running moto_server."""
    with moto_server() as endpoint:
        yield endpoint
