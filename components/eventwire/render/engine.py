"""Run a Pulumi program in-process with the SDK's mocks and record every resource it registers.

This is how both the tests and `eventwire render` run the install without a Pulumi CLI or a
cluster: the SDK's mock monitor stands in for the engine; this module's monitor also keeps
each registration's parent, dependencies and provider, and its inputs with secret markers, and
runs `transforms` as the engine does (a resource's own, then its ancestors').
"""

from __future__ import annotations

import asyncio
import inspect
import runpy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc
from pulumi.runtime.settings import ROOT, SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

REDACTED = "<redacted>"


@dataclass
class Registration:
    """One registered resource: its inputs keep secrets wrapped (see `plain` and `redacted`)."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    retain_on_delete: bool = False
    """The `retain_on_delete` option: `pulumi destroy` leaves the object in the cluster."""

    @property
    def plain(self) -> dict[str, Any]:
        """The inputs with secrets revealed and integral floats (protobuf numbers) back to int."""
        result: dict[str, Any] = _walk(self.inputs, reveal=True)
        return result

    @property
    def redacted(self) -> dict[str, Any]:
        """The inputs with every secret value replaced by REDACTED."""
        result: dict[str, Any] = _walk(self.inputs, reveal=False)
        return result

    @property
    def has_secrets(self) -> bool:
        return _contains_secret(self.inputs)


@dataclass
class ProgramRun:
    """What one program run registered, in registration order, and its stack outputs."""

    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        """The registration with this Pulumi name; KeyError lists the names when missing."""
        for registration in self.registrations:
            if registration.name == name:
                return registration
        raise KeyError(
            f"no resource named {name!r}; registered: {sorted(r.name for r in self.registrations)}"
        )

    def ancestors(self, registration: Registration) -> list[Registration]:
        """Parents of `registration`, nearest first (the stack itself is not registered)."""
        urns, chain = self.by_urn(), []
        parent = urns.get(registration.parent)
        while parent is not None:
            chain.append(parent)
            parent = urns.get(parent.parent)
        return chain

    def depends_on(self, later: Registration, earlier: Registration) -> bool:
        """Whether `later` waits for `earlier`: directly, through a dependency's descendants,
        or because an ancestor of `later` waits for it."""
        targets = {earlier.urn}
        return any(targets & set(candidate.dependencies) for candidate in [later, *self.ancestors(later)])

    def waits_for(self, later: Registration, earlier: Registration) -> bool:
        """Whether `later` is created after `earlier` (and so deleted before it): `depends_on`,
        followed through the dependencies of dependencies."""
        urns, seen, pending = self.by_urn(), set(), [later]
        while pending:
            current = pending.pop()
            if current.urn in seen:
                continue
            seen.add(current.urn)
            if self.depends_on(current, earlier):
                return True
            for candidate in [current, *self.ancestors(current)]:
                pending.extend(urns[urn] for urn in candidate.dependencies if urn in urns)
        return False


Responder = Callable[[str, str, dict[str, Any]], dict[str, Any]]
"""(type, name, plain inputs) -> extra outputs, e.g. the status a controller would write."""


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, respond: Responder | None = None):
        self.respond = respond

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        # Echo the inputs as outputs (secrets unwrapped), as a freshly created resource would.
        outputs: dict[Any, Any] = _walk(args.inputs, reveal=True)
        if self.respond is not None:
            outputs.update(self.respond(args.typ, args.name, outputs))
        return f"{args.name}-id", outputs

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(mocks.MockMonitor):
    def __init__(self, run: ProgramRun, respond: Responder | None = None):
        super().__init__(_RecordingMocks(respond))
        self.run = run
        self.inherited: dict[str, list[Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        # Like the engine, run the resource's own `transforms`, then its ancestors'.
        own = mocks._resolve_callbacks(request.transforms)
        chain = [*own, *self.inherited.get(request.parent, [])]
        if chain and request.type != "pulumi:pulumi:Stack":
            request.object.CopyFrom(_sync_await(rpc.serialize_properties(_transform(request, chain), {})))
        response: Any = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.inherited[response.urn] = chain
        if request.type != "pulumi:pulumi:Stack":
            self.run.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=list(request.dependencies),
                    inputs=rpc.deserialize_properties(request.object),
                    retain_on_delete=bool(request.retainOnDelete),
                )
            )
        return response


def _transform(request: Any, chain: list[Any]) -> dict[str, Any]:
    props: dict[str, Any] = rpc.deserialize_properties(request.object)
    for transform in chain:
        args = pulumi.ResourceTransformArgs(
            custom=bool(request.custom),
            type_=request.type,
            name=request.name,
            props=props,
            opts=pulumi.ResourceOptions(),
        )
        result = transform(args)
        if inspect.isawaitable(result):
            result = _sync_await(result)
        if result is not None:
            props = dict(result.props)
    return props


def run_program(
    program: Callable[[], object],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str] | None = None,
    secret_keys: Iterable[str] = (),
    respond: Responder | None = None,
) -> ProgramRun:
    """Run `program` under mocks with the given config ("project:key" -> string) and record it.

    Every resource's outputs echo its inputs, plus what `respond` adds. Runs may follow each
    other in one process; each starts from a clean slate.
    """
    run = ProgramRun()
    # Pulumi's futures need a current event loop. After pytest-asyncio there is none, and the
    # caller's may be running; so runs use one loop of their own, kept for the process (Pulumi's
    # worker threads keep per-thread loops tied to its executor) but current only during a run.
    loop = _own_loop()
    asyncio.set_event_loop(loop)
    try:
        ROOT.set(None)  # set_mocks then makes a fresh root Stack
        _run(run, program, project, stack, config or {}, list(secret_keys), respond)
    finally:
        ROOT.set(None)
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        asyncio.set_event_loop(None)
    return run


_LOOP: list[asyncio.AbstractEventLoop] = []


def _own_loop() -> asyncio.AbstractEventLoop:
    if not _LOOP or _LOOP[0].is_closed():
        _LOOP[:] = [asyncio.new_event_loop()]
    return _LOOP[0]


def _run(
    run: ProgramRun,
    program: Callable[[], object],
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str],
    respond: Responder | None,
) -> None:
    monitor = _RecordingMonitor(run, respond)
    mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), secret_keys)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    exports: dict[str, Any] = getattr(get_root_resource(), "outputs", {})

    def body() -> None:
        program()

    _sync_await(run_pulumi_func(body))
    for key, value in exports.items():
        output = pulumi.Output.from_input(value)
        run.outputs[key] = _walk(_sync_await(output.future()), reveal=True)
        if _sync_await(output.is_secret()):
            run.secret_outputs.add(key)


def run_program_file(path: Path, **kwargs: Any) -> ProgramRun:
    """Run a Pulumi program folder (its __main__.py) or file the way the language host does."""

    def program() -> None:
        runpy.run_path(str(path), run_name="__main__")

    return run_program(program, **kwargs)


def _walk(value: Any, reveal: bool) -> Any:
    if rpc.is_rpc_secret(value):
        return _walk(rpc.unwrap_rpc_secret(value), reveal) if reveal else REDACTED
    if isinstance(value, dict):
        return {key: _walk(item, reveal) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, reveal) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _contains_secret(value: Any) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_secret(item) for item in value)
    return False
