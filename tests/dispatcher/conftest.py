"""Fixtures: the dispatcher as a real subprocess, a routes file, and an HTTP client to poke it."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.support.nats import nats_server
from tests.support.processes import ManagedProcess, free_port
from tests.support.redis import redis_server
from tests.support.waiting import eventually_async


class Routes:
    """A routes file the dispatcher watches; `write()` replaces its content."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, channels: list[dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump({"channels": channels}))
        tmp.replace(self.path)


def channel(
    name: str, *subscribers: dict[str, Any], namespace: str = "default", **extra: Any
) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "subscribers": list(subscribers), **extra}


def subscriber(uid: str, uri: str, **extra: Any) -> dict[str, Any]:
    return {"uid": uid, "subscriberUri": uri, **extra}


def binary_and_structured(name: str, binary_uri: str, structured_uri: str) -> dict[str, Any]:
    """A channel with one subscriber in each content mode (uids b-<name>, s-<name>)."""
    return channel(
        name,
        subscriber(f"b-{name}", binary_uri),
        subscriber(f"s-{name}", structured_uri, delivery={"format": "structured"}),
    )


class RunningDispatcher:
    def __init__(self, proc: ManagedProcess, port: int) -> None:
        self.proc = proc
        self.port = port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, namespace: str, name: str) -> str:
        return f"{self.base}/{namespace}/{name}"


async def wait_ready(proc: ManagedProcess, port: int, within: float = 15.0) -> None:
    """Poll /readyz until 200; fail with the process output if it exits or never gets ready."""

    async def ready() -> bool:
        if not proc.alive():
            raise RuntimeError(f"dispatcher exited with {proc.proc.returncode}:\n{proc.output()}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                return resp.status == 200
        return False

    async with aiohttp.ClientSession() as session:
        try:
            await eventually_async(ready, timeout=within, interval=0.05)
        except TimeoutError:
            raise TimeoutError(f"dispatcher not ready within {within}s:\n{proc.output()}") from None


@contextlib.asynccontextmanager
async def dispatcher_process(
    env: dict[str, str], port: int, argv: list[str] | None = None
) -> AsyncIterator[ManagedProcess]:
    """`python -m eventwire_runtime dispatcher` (or `argv`) with `env`, once ready on `port`; stopped after."""
    proc = ManagedProcess(argv or [sys.executable, "-m", "eventwire_runtime", "dispatcher"], env=env)
    try:
        await wait_ready(proc, port)
        yield proc
    finally:
        await asyncio.to_thread(proc.stop)


@contextlib.asynccontextmanager
async def run_dispatcher(
    routes: Routes, *, port: int | str | None = None, **settings: str
) -> AsyncIterator[RunningDispatcher]:
    port = int(port or free_port())
    env = {
        "EVENTWIRE_ROUTES_FILE": str(routes.path),
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_ROUTES_POLL": "0.05",
    }
    env.update({"EVENTWIRE_" + k.upper(): v for k, v in settings.items()})
    async with dispatcher_process(env, port) as proc:
        yield RunningDispatcher(proc, port)


@contextlib.contextmanager
def backend_settings(name: str, **extra: str) -> Iterator[dict[str, str]]:
    """Dispatcher settings for backend `name`, a persistent one on a fresh real broker."""
    if name == "jetstream":
        with nats_server() as url:
            yield {"backend": "jetstream", "nats_url": url, **extra}
    elif name == "redis":
        with redis_server() as url:
            yield {"backend": "redis", "redis_url": url, **extra}
    else:
        yield {}


@pytest.fixture(params=["in-memory", "jetstream", "redis"])
def any_backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Settings for each backend."""
    with backend_settings(request.param) as settings:
        yield settings


@pytest.fixture
def routes(tmp_path: Path) -> Routes:
    r = Routes(tmp_path / "routes.yaml")
    r.write([])
    return r


@pytest.fixture(params=["jetstream", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Settings for a dispatcher on a fresh broker (short ack wait so a crash is recovered fast)."""
    with backend_settings(request.param, ack_wait="2") as settings:
        yield settings


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def binary_headers(event_id: str = "1", **extra: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/test",
        "ce-type": "dev.eventwire.test",
        "content-type": "application/json",
        **extra,
    }
