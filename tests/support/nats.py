"""A real nats-server with JetStream on a free loopback port, storing in a temp directory."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator

from tests.support.processes import ManagedProcess, free_port


@contextlib.contextmanager
def nats_server() -> Iterator[str]:
    """Yield the nats:// URL of a fresh JetStream-enabled server; stopped and wiped afterwards."""
    binary = shutil.which("nats-server")
    if binary is None:
        raise RuntimeError("nats-server not found: run scripts/setup-services.sh")
    port = free_port()
    store = tempfile.mkdtemp(prefix="ew-nats-")
    proc = ManagedProcess([binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store])
    try:
        proc.wait_port(port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.stop()
        shutil.rmtree(store, ignore_errors=True)
