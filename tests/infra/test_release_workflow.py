"""The release workflow: the runtime image built from the repository root and pushed, by
version tag and digest, to the one registry name the README and the config default share."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from eventwire.render.project import Project
from tests.infra.conftest import ROOT
from tests.infra.workflows import check_common_shape, load

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def step(uses: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = load(WORKFLOW)["jobs"]["image"]["steps"]
    return next(s for s in steps if s.get("uses", "").startswith(uses + "@"))


def test_the_workflow_is_well_formed(tmp_path: Path) -> None:
    check_common_shape(WORKFLOW, tmp_path)


def test_runs_on_version_tags_and_may_only_write_packages() -> None:
    data = load(WORKFLOW)
    assert data[True] == {"push": {"tags": ["v*"]}}
    assert data["permissions"] == {"contents": "read", "packages": "write"}


def test_one_registry_name_for_the_workflow_the_config_and_the_readme(project: Project) -> None:
    image = load(WORKFLOW)["env"]["IMAGE"]
    assert image == project.schema["imageRepository"]["default"] == "ghcr.io/eventwire/eventwire-runtime"
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"docker (?:build|push|tag)\b[^\n]*?\b(ghcr\.io/[\w./-]+):", readme))
    assert named == {image}


def test_builds_the_dockerfile_from_the_repository_root_with_provenance_and_sbom() -> None:
    build = step("docker/build-push-action")["with"]
    assert build["context"] == "."
    assert build["file"] == "runtime/Dockerfile"
    assert (ROOT / build["file"]).is_file()
    assert build["push"] is True
    assert build["provenance"] == "mode=max"
    assert build["sbom"] is True
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    meta = step("docker/metadata-action")["with"]
    assert meta["images"] == "${{ env.IMAGE }}"
    assert "steps.version.outputs.version" in meta["tags"]
    # Attestations need the container builder that setup-buildx provides.
    assert step("docker/setup-buildx-action")


def test_the_tag_must_be_the_runtime_version_and_the_digest_is_printed() -> None:
    steps = load(WORKFLOW)["jobs"]["image"]["steps"]
    check = next(s for s in steps if s.get("id") == "version")["run"]
    assert "runtime/pyproject.toml" in check
    assert "exit 1" in check
    summary = next(s for s in steps if s.get("name") == "Digest to pin")
    assert summary["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    assert "pulumi config set eventwire:imageDigest $DIGEST" in summary["run"]
    version = tomllib.loads((ROOT / "runtime" / "pyproject.toml").read_text())["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
