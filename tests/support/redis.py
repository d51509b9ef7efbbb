"""A real redis-server on a free loopback port with append-only persistence in a temp directory."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator

from tests.support.processes import ManagedProcess, free_port


@contextlib.contextmanager
def redis_server(appendfsync: str = "always") -> Iterator[str]:
    """Yield the redis:// URL of a fresh server with append-only persistence; wiped afterwards.

    Args:
        appendfsync: `always` (default: fsync every write, strictest) or `everysec` (Redis's
            default and what the install runs; the benchmark uses it to measure that setup).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: run scripts/setup-services.sh")
    port = free_port()
    store = tempfile.mkdtemp(prefix="ew-redis-")
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", store, "--save", ""]
    argv += ["--appendonly", "yes", "--appendfsync", appendfsync, "--protected-mode", "no"]
    proc = ManagedProcess(argv)
    try:
        proc.wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.stop()
        shutil.rmtree(store, ignore_errors=True)
