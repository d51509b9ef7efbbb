"""`eventwire dev up`: run a topology on this machine until Ctrl-C.

In this one process: the runtime's dispatcher (all Channels and Brokers, a file routing table written from
the manifests; in-memory, or JetStream on an embedded nats-server with --persist) with the event
log as its fan-out observer, and the viewer with the built-in display service. Each source that
can run here is the runtime's adapter in a child process. Ctrl-C (or SIGTERM) stops the adapters
first, then the dispatcher (finishing or persisting in-flight deliveries), the viewer, nats-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eventwire_runtime.cloudevents.http import Event
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.devmode import state
from eventwire_runtime.devmode.eventlog import EventLog
from eventwire_runtime.devmode.graph import build_graph
from eventwire_runtime.devmode.persist import EmbeddedNats, free_port
from eventwire_runtime.devmode.services import ServiceMap
from eventwire_runtime.devmode.sources import SourceOptions, SourcePlan, plan_source
from eventwire_runtime.devmode.topology import LocalAddresses, Manifests, Routes, key, routes, sort_manifests
from eventwire_runtime.devmode.viewer import Viewer
from eventwire_runtime.dispatcher.app import Dispatcher
from eventwire_runtime.dispatcher.deferred import Deferred
from eventwire_runtime.dispatcher.routing import ChannelRoute
from eventwire_runtime.dispatcher.settings import Settings

log = logging.getLogger(__name__)

# With --persist, a delivery cut off by Ctrl-C is redelivered after this (the dispatcher's
# ack wait); short, since a laptop restart should resume quickly. A retry sequence longer than
# this may be delivered twice (at-least-once).
PERSIST_ACK_WAIT = 10.0
SHUTDOWN_TIMEOUT = 5.0
ADAPTER_STOP_TIMEOUT = 10.0
ROUTES_TIMEOUT = 10.0


@dataclass
class UpOptions:
    """Options of `dev up` (see cli.py for their flags)."""

    services: Mapping[str, str] = field(default_factory=dict)
    persist: Path | None = None
    viewer_port: int = 0
    dispatcher_port: int = 0
    state_file: Path = field(default_factory=state.default_path)
    sources: SourceOptions = field(default_factory=SourceOptions)


class Adapter:
    """One source's adapter process, its output printed with the source's name in front."""

    def __init__(self, plan: SourcePlan, say: Callable[[str], None]) -> None:
        self.plan = plan
        self.say = say
        self.process: asyncio.subprocess.Process | None = None
        self.pump: asyncio.Task[None] | None = None
        self.stopping = False

    async def start(self) -> None:
        assert self.plan.argv is not None
        self.process = await asyncio.create_subprocess_exec(
            *self.plan.argv,
            env={**os.environ, **self.plan.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `dev up` only, which stops adapters in order
        )
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        name = key(self.plan.source)
        async for line in self.process.stdout:
            self.say(f"[{name}] {line.decode(errors='replace').rstrip()}")
        code = await self.process.wait()
        if not self.stopping:
            self.say(f"{self.plan.label}: adapter exited with code {code}")

    async def stop(self) -> None:
        self.stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), ADAPTER_STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self.pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump


def _summary(
    manifests: Manifests,
    table: Routes,
    plans: list[SourcePlan],
    viewer_url: str,
    dispatcher_url: str,
    backend: str,
) -> list[str]:
    lines = [f"eventwire dev: viewer at {viewer_url}", f"dispatcher at {dispatcher_url} ({backend})"]
    for channel in table.channels:
        lines.append(f"  Channel {key(channel)}: {channel['status']['address']['url']}")
    for subscription in table.subscriptions:
        physical = subscription["status"].get("physicalSubscription") or {}
        target = physical.get("subscriberUri") or "(unresolved)"
        reply = f", replies to {physical['replyUri']}" if physical.get("replyUri") else ""
        lines.append(f"  Subscription {key(subscription)} -> {target}{reply}")
    for plan in plans:
        lines.append(
            f"  {plan.label}: "
            + (f"NOT RUN: {plan.reason}" if plan.argv is None else (plan.note or "running"))
        )
    for broker in table.brokers:
        lines.append(f"  Broker {key(broker)}: {broker['status']['address']['url']}")
        namespace = broker["metadata"]["namespace"]
        for entry in broker["status"]["triggers"]:
            target = entry.get("subscriberUri") if entry.get("ready") == "True" else None
            lines.append(
                f"  Trigger {namespace}/{entry['name']} -> "
                + (target or f"NOT ROUTED: {entry.get('message', 'not ready')}")
            )
    lines.extend(f"  problem: {problem}" for problem in table.problems)
    lines.extend(f"  ignored: {what}" for what in manifests.ignored)
    lines.append("Ctrl-C stops everything.")
    return lines


def _observe_reentry(dispatcher: Dispatcher, events: EventLog) -> None:
    """Show a Trigger's reply re-entering its Broker like an event accepted at ingress (the
    fan-out hands it to the backend directly, not through the Ingress observer)."""
    reenter = dispatcher.fanout.reenter
    if reenter is None:
        return

    def observed(route: ChannelRoute, batch: list[Event]) -> int | Deferred[int] | Awaitable[int]:
        def seen(status: int) -> int:
            if status == 202:
                events.event_accepted(route, batch)
            return status

        pending = reenter(route, batch)
        if isinstance(pending, int):
            return seen(pending)
        if isinstance(pending, Deferred):
            return pending.map(seen)

        async def awaited() -> int:
            return seen(await pending)

        return awaited()

    dispatcher.fanout.reenter = observed


async def _wait_loaded(dispatcher: Dispatcher) -> None:
    loaded = asyncio.Event()

    def heard(*_: object) -> None:  # any update means the routes file was read
        loaded.set()

    dispatcher.table.listeners.append(heard)
    if not dispatcher.table.loaded:
        async with asyncio.timeout(ROUTES_TIMEOUT):
            await loaded.wait()


async def up(documents: Sequence[Mapping[str, Any]], options: UpOptions, say: Callable[[str], None]) -> int:
    """Run the manifests until SIGINT/SIGTERM; 0 after a clean stop, 2 when nothing can run."""
    manifests = sort_manifests(documents)
    if not (manifests.channels or manifests.sources or manifests.brokers):
        say("eventwire dev: no Channel, Broker or source among the manifests: nothing to run")
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    events = EventLog()
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    viewer = Viewer(events, lambda: graph, say)
    workdir = options.persist or Path(tempfile.mkdtemp(prefix="eventwire-dev-"))
    workdir.mkdir(parents=True, exist_ok=True)
    nats = EmbeddedNats(workdir) if options.persist else None
    dispatcher: Dispatcher | None = None
    adapters: list[Adapter] = []
    try:
        viewer_port = await viewer.start(options.viewer_port)
        viewer_url = f"http://127.0.0.1:{viewer_port}/"
        services = ServiceMap(options.services, f"http://127.0.0.1:{viewer_port}/display")
        dispatcher_port = options.dispatcher_port or free_port()
        dispatcher_url = f"http://127.0.0.1:{dispatcher_port}"
        addresses = LocalAddresses(manifests, dispatcher_url, services)
        table = routes(manifests, addresses)
        routes_file = workdir / "routes.yaml"
        routes_file.write_text(
            yaml.safe_dump({"items": table.channels, "brokers": table.brokers}, sort_keys=False)
        )
        settings = Settings(
            host="127.0.0.1",
            port=dispatcher_port,
            routes_file=str(routes_file),
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            consumer_name=f"eventwire-dev-{os.getpid()}",
        )
        if nats is not None:
            nats_url = await nats.start()
            settings = dataclasses.replace(
                settings, backend="jetstream", nats_url=nats_url, ack_wait=PERSIST_ACK_WAIT
            )
        dispatcher = Dispatcher(settings)
        await dispatcher.start()
        dispatcher.fanout.observer = events  # before any address is published
        dispatcher.ingress.observer = events
        _observe_reentry(dispatcher, events)
        await _wait_loaded(dispatcher)
        plans = [plan_source(s, addresses, options.sources, free_port) for s in manifests.sources]
        graph.update(build_graph(manifests, table, plans, services))
        for plan in plans:
            if plan.argv is not None:
                adapter = Adapter(plan, say)
                await adapter.start()
                adapters.append(adapter)
        state.write(
            options.state_file,
            {
                "pid": os.getpid(),
                "viewer": viewer_url,
                "dispatcher": dispatcher_url,
                "channels": {key(c): c["status"]["address"]["url"] for c in table.channels},
                "brokers": {key(b): b["status"]["address"]["url"] for b in table.brokers},
                "github": [
                    {
                        "source": key(p.source),
                        "url": p.webhook_url,
                        "secret": p.webhook_secret,
                        "ownerAndRepository": (p.source.get("spec") or {}).get("ownerAndRepository", ""),
                        "eventTypes": (p.source.get("spec") or {}).get("eventTypes") or [],
                    }
                    for p in plans
                    if p.webhook_url and p.argv is not None
                ],
            },
        )
        backend = f"JetStream, persisted in {options.persist}" if options.persist else "in-memory"
        for line in _summary(manifests, table, plans, viewer_url, dispatcher_url, backend):
            say(line)
        await stop.wait()
        say("eventwire dev: stopping")
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await asyncio.gather(*(a.stop() for a in adapters), return_exceptions=True)
        if dispatcher is not None and hasattr(dispatcher, "server"):
            await dispatcher.stop()
        await viewer.stop()
        if nats is not None:
            await nats.stop()
        with contextlib.suppress(ConfigError, OSError):
            if state.read(options.state_file).get("pid") == os.getpid():
                state.remove(options.state_file)
        if options.persist is None:  # only the routes file: nothing to keep
            shutil.rmtree(workdir, ignore_errors=True)


def run_up(documents: Sequence[Mapping[str, Any]], options: UpOptions) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        return asyncio.run(up(documents, options, say))
    except ConfigError as exc:
        print(f"eventwire dev up: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"eventwire dev up: cannot start: {exc}", file=sys.stderr)
        return 1
