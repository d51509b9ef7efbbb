"""The pull-request preview workflow: valid YAML with the structure GitHub Actions requires.

It cannot run here (no GitHub, no Pulumi Cloud); these checks catch what would make GitHub
reject it or make it do the wrong thing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra import workflows
from tests.infra.conftest import CLUSTER_STACKS, ROOT
from tests.infra.workflows import CONTEXTS, EXPRESSION, bash_syntax_errors, schema_check

WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"


def load() -> dict[Any, Any]:
    return workflows.load(WORKFLOW)


def steps(job: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = load()["jobs"][job]["steps"]
    return result


def test_the_workflow_matches_the_github_workflow_schema() -> None:
    result = schema_check(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = load()
    broken["on"] = broken.pop(True)
    del broken["jobs"]["preview"]["runs-on"]
    broken["jobs"]["preview"]["strategy"]["fail-fast"] = "sometimes"
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    result = schema_check(path)
    assert result.returncode == 1, result.stdout


def test_triggers_on_pull_requests_with_least_privilege() -> None:
    data = load()
    assert "pull_request" in data[True]
    assert data["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_every_job_and_step_is_well_formed() -> None:
    for name, job in load()["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        assert isinstance(job.get("timeout-minutes"), int), name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_preview_runs_pulumi_preview_diff_for_every_stack() -> None:
    job = load()["jobs"]["preview"]
    assert sorted(job["strategy"]["matrix"]["stack"]) == CLUSTER_STACKS
    action = next(step for step in job["steps"] if step.get("uses", "").startswith("pulumi/actions@"))
    assert action["with"]["command"] == "preview"
    assert action["with"]["diff"] is True
    assert action["with"]["comment-on-pr"] is True
    assert "${{ matrix.stack }}" in action["with"]["stack-name"]
    assert action["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    setup = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"


def test_render_diff_renders_every_stack_on_base_and_head() -> None:
    script = "\n".join(step.get("run", "") for step in steps("render-diff"))
    assert "eventwire render" in script
    assert all(stack in script for stack in CLUSTER_STACKS)
    assert "diff -ruN build/base build/head" in script


def test_every_secret_used_is_documented() -> None:
    text = WORKFLOW.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    used = set(re.findall(r"secrets\.([A-Z_]+)", text)) - {"GITHUB_TOKEN"}
    assert used == {"PULUMI_ACCESS_TOKEN", "KUBECONFIG_DEV", "KUBECONFIG_STAGING", "KUBECONFIG_PROD"}
    for name in [*used, "PULUMI_ORG"]:
        assert name in header, name


def test_expressions_use_known_contexts() -> None:
    for expression in EXPRESSION.findall(WORKFLOW.read_text()):
        assert expression.strip().startswith(CONTEXTS), expression


@pytest.mark.parametrize("job", ["render-diff", "preview"])
def test_shell_steps_parse(job: str, tmp_path: Path) -> None:
    for index, step in enumerate(steps(job)):
        if "run" not in step:
            continue
        errors = bash_syntax_errors(step["run"], tmp_path / f"{job}-{index}.sh")
        assert not errors, f"{job} step {index}: {errors}"
