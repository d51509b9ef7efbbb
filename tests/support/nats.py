"""A real nats-server with JetStream on a free loopback port, storing in a temp directory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import stored_server

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

    def command(binary: str, port: int, store: Path) -> list[str]:
        config = store / "nats.conf"
        # max_pending (bytes buffered per client) must be at least max_payload.
        config.write_text(f"max_payload: {max_payload}\nmax_pending: {max(max_payload, 64 * 1024 * 1024)}\n")
        return [binary, "-c", str(config), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]

    with stored_server("nats-server", command) as port:
        yield f"nats://127.0.0.1:{port}"


async def consumer_names(url: str, stream: str) -> set[str]:
    """The durable consumers of `stream`, by the server's CONSUMER.NAMES API.

    Not nats-py's consumers_info: a consumer deleted while the server lists them comes back as a
    null entry there, which nats-py cannot parse (a probe racing a deletion would crash).
    """
    import json

    import nats

    nc = await nats.connect(url)
    try:
        names: set[str] = set()
        while True:
            request = json.dumps({"offset": len(names)}).encode()
            reply = json.loads(
                (await nc.request(f"$JS.API.CONSUMER.NAMES.{stream}", request, timeout=5)).data
            )
            if "error" in reply:
                raise RuntimeError(f"CONSUMER.NAMES {stream}: {reply['error']}")
            page = reply.get("consumers") or []
            names.update(page)
            if not page or len(names) >= reply.get("total", 0):
                return names
    finally:
        await nc.close()
