"""A real redis-server on a free loopback port with append-only persistence in a temp directory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import stored_server


@contextlib.contextmanager
def redis_server(appendfsync: str = "always") -> Iterator[str]:
    """Yield the redis:// URL of a fresh server with append-only persistence; wiped afterwards.

    Args:
        appendfsync: `always` (default: fsync every write, strictest) or `everysec` (Redis's
            default and what the install runs; the benchmark uses it to measure that setup).
    """

    def command(binary: str, port: int, store: Path) -> list[str]:
        argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(store), "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", appendfsync, "--protected-mode", "no"]
        return argv

    with stored_server("redis-server", command) as port:
        yield f"redis://127.0.0.1:{port}/0"
