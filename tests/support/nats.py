"""A real nats-server with JetStream on a free loopback port, storing in a temp directory."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import ManagedProcess, free_port

# NATS's default max_payload is 1 MB; the dispatcher takes GitHub-sized events (25 MB bodies,
# 32 MiB limit) plus their stored attributes, so the server must allow more. The production
# install sets the same value (components/eventwire/install/brokers.py, NATS_MAX_PAYLOAD).
MAX_PAYLOAD = 40 * 1024 * 1024


@contextlib.contextmanager
def nats_server(max_payload: int = MAX_PAYLOAD) -> Iterator[str]:
    """Yield the nats:// URL of a fresh JetStream-enabled server; stopped and wiped afterwards.

    Args:
        max_payload: the server's largest accepted message in bytes (default 40 MiB).
    """
    binary = shutil.which("nats-server")
    if binary is None:
        raise RuntimeError("nats-server not found: run scripts/setup-services.sh")
    port = free_port()
    store = tempfile.mkdtemp(prefix="ew-nats-")
    config = Path(store) / "nats.conf"
    # max_pending (bytes buffered per client) must be at least max_payload.
    config.write_text(f"max_payload: {max_payload}\nmax_pending: {max(max_payload, 64 * 1024 * 1024)}\n")
    argv = [binary, "-c", str(config), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store]
    proc = ManagedProcess(argv)
    try:
        proc.wait_port(port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.stop()
        shutil.rmtree(store, ignore_errors=True)
