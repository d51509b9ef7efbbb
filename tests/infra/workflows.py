"""Checks every GitHub workflow of the project shares: GitHub's schema, known expression
contexts, well-formed jobs and steps, and shell steps that parse. The workflows cannot run here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
CONTEXTS = ("github.", "secrets.", "vars.", "matrix.", "steps.", "env.", "runner.")


def load(path: Path) -> dict[Any, Any]:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against the GitHub workflow schema it vendors (no network)."""
    tool = Path(sys.executable).parent / "check-jsonschema"
    command = [str(tool), "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def bash_syntax_errors(script: str, where: Path) -> str:
    """bash -n on a script (GitHub expressions replaced by a word); the errors, empty if none."""
    where.write_text(EXPRESSION.sub("value", script))
    result = subprocess.run(
        ["bash", "-n", str(where)], capture_output=True, text=True, timeout=10, check=False
    )
    return result.stderr if result.returncode else ""


def check_common_shape(path: Path, tmp_path: Path) -> None:
    """Schema-valid; known contexts only; every job bounded in time on ubuntu-latest; steps
    either `uses` an action pinned to a major version or `run` a script that parses."""
    result = schema_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    for expression in EXPRESSION.findall(path.read_text()):
        assert expression.strip().startswith(CONTEXTS), expression
    for name, job in load(path)["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        assert isinstance(job.get("timeout-minutes"), int), name
        for index, step in enumerate(job["steps"]):
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
            else:
                errors = bash_syntax_errors(step["run"], tmp_path / f"{name}-{index}.sh")
                assert not errors, f"{path.name} {name} step {index}: {errors}"
