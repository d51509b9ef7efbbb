"""`eventwire dev up` as a user runs it: the installed `eventwire` command in a child process,
stopped with SIGINT (Ctrl-C). Waits are bounded; a failure shows the command's output."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.waiting import eventually_async

REPO = Path(__file__).resolve().parents[2]
EVENTWIRE = str(Path(sys.executable).parent / "eventwire")
READY_LINE = "Ctrl-C stops everything."
START_TIMEOUT = 40.0
STOP_TIMEOUT = 30.0


class DevUp:
    """A running `eventwire dev up`; `lines` is its output so far."""

    def __init__(self, process: asyncio.subprocess.Process, state: Path) -> None:
        self.process = process
        self.state = state
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())
        self._ready = asyncio.Event()
        self._new_line = asyncio.Event()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self._new_line.set()
            if line == READY_LINE:
                self._ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_output(self, text: str, within: float = 30.0) -> None:
        """Until `text` appears in the output (bounded)."""
        async with asyncio.timeout(within):
            while text not in self.output:
                self._new_line.clear()
                await self._new_line.wait()

    async def wait_ready(self) -> None:
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._reader}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if not self._ready.is_set():
            raise AssertionError(
                f"eventwire dev up did not start ({(done and 'exited') or 'timeout'}):\n{self.output}"
            )

    @property
    def viewer(self) -> str:
        return str(json.loads(self.state.read_text())["viewer"])

    def state_data(self) -> dict[str, Any]:
        return dict(json.loads(self.state.read_text()))

    async def events(self) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.get(self.viewer + "api/events") as response:
            assert response.status == 200
            return list(await response.json())

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 15.0
    ) -> dict[str, Any]:
        """The first recorded event (viewer API) that satisfies `predicate`."""

        async def matching() -> dict[str, Any] | None:
            return next((record for record in await self.events() if predicate(record)), None)

        found: dict[str, Any] = await eventually_async(matching, timeout=within, what="a matching event")
        return found

    async def send(self, *args: str) -> tuple[int, str]:
        return await run_eventwire("dev", "send", *args, "--state", str(self.state))

    def children(self) -> list[int]:
        """The processes `dev up` started (adapters, nats-server), from /proc."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def listening(self, pid: int) -> list[tuple[str, int]]:
        """(address, port) of every TCP socket process `pid` listens on, read from /proc (no
        traffic is sent)."""
        return listening_sockets(pid)

    async def stop(self) -> int:
        """Ctrl-C; returns the exit code, after checking every child process ended too."""
        children = self.children()
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                code = await self.process.wait()
                await self._reader
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"eventwire dev up did not stop on Ctrl-C:\n{self.output}") from None
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                raise AssertionError(f"process {pid} that dev up started outlived it:\n{self.output}")
        return code


TCP_LISTEN = "0A"


def _address(hex_address: str) -> tuple[str, int]:
    """An address of /proc/net/tcp{,6} (`0100007F:1F90`, 32-bit words in host order) as text."""
    host, port = hex_address.split(":")
    raw = b"".join(int(host[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(host), 8))
    return str(ipaddress.ip_address(raw)), int(port, 16)


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of each TCP socket `pid` listens on: its socket inodes (/proc/PID/fd)
    looked up in the kernel's socket tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == TCP_LISTEN and fields[9] in inodes:
                found.append(_address(fields[1]))
    return found


async def run_eventwire(*args: str) -> tuple[int, str]:
    """Run `eventwire ARGS` to the end (bounded); (exit code, stdout+stderr)."""
    process = await asyncio.create_subprocess_exec(
        EVENTWIRE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate()
    return int(process.returncode or 0), out.decode(errors="replace")


@contextlib.asynccontextmanager
async def dev_up(*args: str, state: Path, env: dict[str, str] | None = None) -> AsyncIterator[DevUp]:
    """`eventwire dev up ARGS --state STATE`, ready (its summary printed); Ctrl-C afterwards, which
    must end it with exit code 0."""
    process = await asyncio.create_subprocess_exec(
        EVENTWIRE,
        "dev",
        "up",
        *args,
        "--state",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    running = DevUp(process, state)
    try:
        await running.wait_ready()
        yield running
    finally:
        code = await running.stop()
    assert code == 0, f"eventwire dev up exited with {code}:\n{running.output}"
    assert not await asyncio.to_thread(state.exists), "the state file outlived dev up"
