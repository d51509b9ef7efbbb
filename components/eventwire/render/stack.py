"""Render a stack: run the program under mocks, collect, validate and write (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eventwire.render.charts import chart_problems
from eventwire.render.collect import ComponentOutput, collect
from eventwire.render.engine import REDACTED, ProgramRun, run_program_file
from eventwire.render.project import Project, stack_config
from eventwire.render.validate import object_problems

# The first line of every file render writes; only such files are replaced by a later render.
MARKER = "# Written by `eventwire render`,"


@dataclass
class RenderResult:
    """What a render wrote and found."""

    files: list[Path] = field(default_factory=list)
    objects: int = 0
    resources: int = 0
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """What could not be validated, and why (one line each)."""
    seconds: float = 0.0


def run_stack(
    project: Project,
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> ProgramRun:
    """Run the project's program for `stack` under mocks (see engine.run_program)."""
    config, secret_keys = stack_config(project, stack, overrides, secrets)
    return run_program_file(
        project.main,
        project=project.name,
        stack=stack,
        config=config,
        secret_keys=secret_keys,
        respond=_unbuilt_images,
    )


def _unbuilt_images(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """An image the stack would build has no digest yet: render refers to its first tag."""
    if type_ == "docker-build:index:Image" and inputs.get("tags"):
        return {"ref": inputs["tags"][0]}
    return {}


def render_stack(
    project: Project,
    stack: str,
    out: Path,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> RenderResult:
    """Render `stack` into `out` and validate it; see the module docstring."""
    started = time.perf_counter()
    run = run_stack(project, stack, overrides, secrets)
    components = collect(run)
    result = RenderResult(resources=len(run.registrations))
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.yaml"):
        if _is_ours(stale):  # never delete files this command did not write
            stale.unlink()
    artifacts: list[dict[str, Any]] = []
    for component in components:
        _check(component, result)
        if component.objects:
            path = out / component.file_name
            path.write_text(_component_yaml(stack, component))
            result.files.append(path)
            result.objects += len(component.objects)
        artifacts.extend({"component": component.name, **artifact} for artifact in component.artifacts)
    header = f"{MARKER} stack {stack}: third-party artifacts, installed by the program, not rendered here.\n"
    result.files.append(_write(out / "artifacts.yaml", header + _dump({"artifacts": artifacts})))
    outputs = {
        key: REDACTED if key in run.secret_outputs else value for key, value in sorted(run.outputs.items())
    }
    result.files.append(
        _write(out / "outputs.yaml", f"{MARKER} stack {stack}: the stack outputs.\n" + _dump(outputs))
    )
    result.seconds = time.perf_counter() - started
    return result


def _check(component: ComponentOutput, result: RenderResult) -> None:
    for item in component.objects:
        problems, checked = object_problems(item.manifest)
        result.problems.extend(f"{component.file_name}: {item.label}: {problem}" for problem in problems)
        if not checked:
            result.unchecked.append(
                f"{component.file_name}: {item.label}: no schema here (a third-party custom resource), not validated"
            )
    for artifact in component.artifacts:
        if artifact["kind"] != "helm-chart":
            continue
        label = (
            f"artifacts.yaml: helm-chart {artifact['release']} ({artifact['chart']} {artifact['version']})"
        )
        problems, checked = chart_problems(artifact)
        result.problems.extend(f"{label}: {problem}" for problem in problems)
        if not checked:
            result.unchecked.append(
                f"{label}: no key list recorded for this chart version, values not checked"
            )


def _component_yaml(stack: str, component: ComponentOutput) -> str:
    lines = [f"{MARKER} stack {stack}: component {component.type} {component.name!r}."]
    patches = [item.label for item in component.objects if item.patch]
    if patches:
        lines.append(
            f"# Server-side apply patches of upstream objects (apply with --server-side): {', '.join(patches)}"
        )
    documents = [item.manifest for item in component.objects]
    return "\n".join(lines) + "\n" + yaml.safe_dump_all(documents, sort_keys=False, width=120)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=120)


def _is_ours(path: Path) -> bool:
    with path.open() as file:
        return file.readline().startswith(MARKER)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
