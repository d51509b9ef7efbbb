"""Run components in-process under Pulumi's mocks and look at what they registered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from eventwire.render.engine import ProgramRun, Registration, Responder, run_program

Runner = Callable[..., ProgramRun]


@pytest.fixture
def run() -> Runner:
    """Run a program function under mocks (project eventwire, stack test) and return the record."""

    def runner(
        program: Callable[[], object], config: dict[str, str] | None = None, respond: Responder | None = None
    ) -> ProgramRun:
        return run_program(program, project="eventwire", stack="test", config=config or {}, respond=respond)

    return runner


def kube_objects(run: ProgramRun) -> list[dict[str, Any]]:
    """Every Kubernetes object registered (not charts or files), as plain manifests."""
    return [r.plain for r in run.registrations if r.custom and "kind" in r.inputs]


def find(run: ProgramRun, kind: str, name: str) -> Registration:
    """The registration of the Kubernetes object with this kind and metadata.name."""
    for registration in run.registrations:
        manifest = registration.plain
        if manifest.get("kind") == kind and (manifest.get("metadata") or {}).get("name") == name:
            return registration
    found = sorted(f"{m.get('kind')}/{(m.get('metadata') or {}).get('name')}" for m in kube_objects(run))
    raise AssertionError(f"no {kind}/{name}; registered: {found}")


def charts(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Helm v4 charts by Pulumi name, with their (opaque under mocks) inputs."""
    return {r.name: r.plain for r in run.of_type("kubernetes:helm.sh/v4:Chart")}
