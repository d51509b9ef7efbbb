"""`eventwire-runtime adapter <kind>`: run one source adapter until SIGTERM.

The shared main owns what every adapter needs: parsing the env contract (see `env`), logging,
the HTTP client and delivery retries (`sender.SinkSender`), the in-flight limit and metrics
(`sender.MeteredSender`), the admin server (`server`), signals and the drain on shutdown
(`base`). Kinds are imported lazily, so the SQS adapter does not load the Pub/Sub client.

Exit codes: 0 after a clean shutdown, 1 when the adapter failed while running, 2 for a usage or
configuration error (the message names the setting).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys

from eventwire_runtime.adapters.base import Adapter, AdapterFactory
from eventwire_runtime.adapters.env import AdapterEnv
from eventwire_runtime.adapters.listen import listen_address
from eventwire_runtime.adapters.metrics import AdapterMetrics
from eventwire_runtime.adapters.sender import MeteredSender, SinkSender
from eventwire_runtime.adapters.server import create_admin_app, start_site
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.delivery.sender import Sender

log = logging.getLogger("eventwire.adapter")

# kind -> "module:factory"
KINDS: dict[str, str] = {
    "apiserversource": "eventwire_runtime.adapters.apiserver:ApiServerAdapter",
    "pingsource": "eventwire_runtime.adapters.ping:PingAdapter",
    "githubsource": "eventwire_runtime.adapters.github:GitHubAdapter",
    "awssqssource": "eventwire_runtime.adapters.sqs:SqsAdapter",
    "gcppubsubsource": "eventwire_runtime.adapters.pubsub:PubSubAdapter",
    "heartbeats": "eventwire_runtime.adapters.heartbeats:HeartbeatsAdapter",
}

USAGE = "usage: eventwire-runtime adapter {" + "|".join(KINDS) + "}"


def load_factory(kind: str) -> AdapterFactory:
    """The adapter class for `kind`.

    Raises:
        ConfigError: for an unknown kind.
    """
    target = KINDS.get(kind)
    if target is None:
        raise ConfigError(f"unknown adapter kind {kind!r}; one of: {', '.join(KINDS)}")
    module_name, attr = target.split(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), attr)
    return factory


def main(argv: list[str]) -> int:
    """Run the adapter named by `argv[0]` with settings from the environment."""
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    kind = argv[0].lower()
    if kind not in KINDS:
        print(f"eventwire-runtime adapter: unknown kind {argv[0]!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        env = AdapterEnv.from_environ(kind, os.environ)
    except ConfigError as exc:
        print(f"eventwire-runtime adapter {kind}: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=env.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    return asyncio.run(serve(env))


async def serve(env: AdapterEnv, stop: asyncio.Event | None = None) -> int:
    """Run the adapter described by `env` until SIGTERM/SIGINT (or `stop` is set).

    Returns the process exit code (see the module docstring).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    metrics = AdapterMetrics(env.kind, env.name, env.namespace)
    delivery = Sender()
    sender = MeteredSender(SinkSender(env.sink, env.delivery, delivery), metrics, env.max_in_flight)
    try:
        adapter = load_factory(env.kind)(env, sender)
        host = listen_address(env.environ)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        await delivery.close()
        return 2
    admin, port = await start_site(
        create_admin_app(metrics, lambda: adapter.ready, env.http), env.metrics_port, env.http, host=host
    )
    log.info(
        "adapter %s %s/%s starting in %s mode; sink %s; admin port %d",
        env.kind,
        env.namespace,
        env.name,
        adapter.mode,
        env.sink,
        port,
    )
    try:
        return await _run_until_stopped(adapter, env, stop)
    finally:
        await admin.close()
        await delivery.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


async def _run_until_stopped(adapter: Adapter, env: AdapterEnv, stop: asyncio.Event) -> int:
    task = asyncio.create_task(adapter.run(), name=f"adapter-{env.kind}")
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        return _exit_code(task, stopped=stop.is_set())
    log.info("shutting down: draining for up to %.1fs", env.shutdown_timeout)
    adapter.stop()
    done, _ = await asyncio.wait({task}, timeout=env.shutdown_timeout)
    if not done:
        log.warning("drain did not finish in %.1fs; cancelling", env.shutdown_timeout)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return 0
    return _exit_code(task, stopped=True)


def _exit_code(task: asyncio.Task[None], stopped: bool) -> int:
    if task.cancelled():
        return 0
    exc = task.exception()
    if exc is None:
        if not stopped:
            log.error("adapter returned without being asked to stop")
            return 1
        log.info("adapter stopped cleanly")
        return 0
    if isinstance(exc, ConfigError):
        log.error("configuration error: %s", exc)
        return 2
    log.error("adapter failed: %s", exc, exc_info=exc)
    return 1
