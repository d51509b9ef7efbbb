"""Packaging: both distributions, their locks, the image recipe and the runtime's entry point.

The image cannot be built on a machine without a Docker engine; these tests check what the
build depends on: the lock pins every dependency inside its declared range with hashes, and the
Dockerfile installs exactly that lock as a non-root user with one entry point.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Our own distributions: installed from source (editable in dev.lock, by the Dockerfile in the
# image), never pinned from an index.
LOCAL_DISTRIBUTIONS = {"eventwire-spec", "eventwire-runtime"}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s\\;]+)", re.MULTILINE)


def pins(lock: Path) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(lock.read_text())}


def dependencies(pyproject: Path) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    return [Requirement(spec) for spec in project["dependencies"]]


@pytest.mark.parametrize(
    ("pyproject", "lock"),
    [
        ("runtime/pyproject.toml", "runtime/requirements.lock"),
        ("runtime/pyproject.toml", "requirements/dev.lock"),
        ("pyproject.toml", "requirements/dev.lock"),
    ],
)
def test_lock_pins_every_dependency_within_its_range(pyproject: str, lock: str) -> None:
    pinned = pins(ROOT / lock)
    for requirement in dependencies(ROOT / pyproject):
        name = requirement.name.lower().replace("_", "-")
        if name in LOCAL_DISTRIBUTIONS:
            continue
        assert name in pinned, f"{requirement.name} is not pinned in {lock}"
        assert requirement.specifier.contains(pinned[name]), (
            f"{lock} pins {name}=={pinned[name]}, outside {requirement}"
        )


def test_runtime_lock_has_hashes_for_every_pin() -> None:
    text = (ROOT / "runtime/requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for block in blocks:
        if "==" in block:
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_runtime_does_not_depend_on_pulumi() -> None:
    assert not any("pulumi" in name for name in pins(ROOT / "runtime/requirements.lock"))


def test_shared_facts_have_no_dependencies() -> None:
    # Both halves import eventwire_spec; a dependency there would reach both.
    assert dependencies(ROOT / "spec/pyproject.toml") == []
    for pyproject in ("pyproject.toml", "runtime/pyproject.toml"):
        names = {requirement.name for requirement in dependencies(ROOT / pyproject)}
        assert "eventwire-spec" in names, pyproject


def test_dev_lock_installs_every_local_distribution_editable() -> None:
    text = (ROOT / "requirements/dev.lock").read_text()
    for path in ("-e .", "-e ./runtime", "-e ./spec"):
        assert re.search(rf"^{re.escape(path)}$", text, re.MULTILINE), path


def test_component_library_does_not_depend_on_the_runtime_stack() -> None:
    names = {requirement.name for requirement in dependencies(ROOT / "pyproject.toml")}
    assert not names & {"aiohttp", "kopf", "nats-py", "redis", "aiobotocore", "google-cloud-pubsub"}


def test_dockerfile_installs_the_lock_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "runtime/Dockerfile").read_text()
    from_lines = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert from_lines
    assert all(re.match(r"python:3\.11-slim", image) for image in from_lines)
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "COPY runtime/requirements.lock" in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user[-1]), "USER must be numeric and not root"
    assert re.search(r'^ENTRYPOINT \["eventwire-runtime"\]$', dockerfile, re.MULTILINE)
    # Every path the Dockerfile copies exists in its build context, the repository root.
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.MULTILINE):
        assert (ROOT / source).exists(), source
    # Both local distributions are installed, without dependencies (the lock holds those).
    assert "pip install --no-deps /src/spec /src/runtime" in dockerfile


def test_console_scripts_are_declared() -> None:
    library = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    runtime = tomllib.loads((ROOT / "runtime/pyproject.toml").read_text())["project"]["scripts"]
    assert library == {"eventwire": "eventwire.cli:main"}
    assert runtime == {"eventwire-runtime": "eventwire_runtime.cli:main"}


def runtime_cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "eventwire-runtime"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60)


def test_runtime_entry_point_lists_its_subcommands() -> None:
    result = runtime_cli("--help")
    assert result.returncode == 0
    assert "controller|dispatcher|adapter" in result.stdout


def test_runtime_entry_point_rejects_unknown_subcommands() -> None:
    result = runtime_cli("frobnicate")
    assert result.returncode == 2
    assert "unknown subcommand 'frobnicate'" in result.stderr
