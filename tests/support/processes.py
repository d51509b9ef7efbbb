"""Start real server processes on loopback for tests, and stop them reliably.

Every wait here is bounded: a server that does not come up within its deadline fails the test
with its captured output instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tests.support.waiting import eventually


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02, what: str = "") -> None:
    """`eventually` with this module's older signature (kept for the test folders not moved yet)."""
    eventually(predicate, timeout, what, interval)


class ManagedProcess:
    """A child process whose output goes to a temp file, killed with its process group on stop."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None):
        self.argv = list(argv)
        self._log = tempfile.NamedTemporaryFile(prefix="ew-proc-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(self._log.name)
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_port(self, port: int, timeout: float = 15.0) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.argv[0]} exited with {self.proc.returncode}:\n{self.output()}")
            return port_open(port)

        try:
            wait_until(ready, timeout, what=f"{self.argv[0]} on port {port}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- output ---\n{self.output()}") from None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the whole process group (SIGKILL simulates a crash)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.alive():
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()


@contextlib.contextmanager
def running(
    argv: Sequence[str], port: int, env: dict[str, str] | None = None, timeout: float = 15.0
) -> Iterator[ManagedProcess]:
    """Run `argv` until the block ends, once it listens on `port`."""
    proc = ManagedProcess(argv, env=env)
    try:
        proc.wait_port(port, timeout)
        yield proc
    finally:
        proc.stop()


@contextlib.contextmanager
def stored_server(binary: str, command: Callable[[str, int, Path], Sequence[str]]) -> Iterator[int]:
    """Run the server `binary` (found on PATH) on a free loopback port with a fresh temp store.

    `command(executable, port, store)` gives its argv (and may write config files into `store`).
    Yields the port once the server listens on it; stops it and wipes the store afterwards.
    """
    executable = shutil.which(binary)
    if executable is None:
        raise RuntimeError(f"{binary} not found: run scripts/setup-services.sh")
    port = free_port()
    store = tempfile.mkdtemp(prefix=f"ew-{binary.removesuffix('-server')}-")
    try:
        with running(command(executable, port, Path(store)), port):
            yield port
    finally:
        shutil.rmtree(store, ignore_errors=True)
