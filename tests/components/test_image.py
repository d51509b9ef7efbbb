"""RuntimeImage: the runtime image built and pushed by the program (pulumi-docker-build)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from eventwire.exceptions import ConfigError
from eventwire.install import EventingCore
from eventwire.install.image import RuntimeImage, build_context
from tests.components.conftest import Runner, find

DIGEST = "sha256:" + "b" * 64
ROOT = Path(__file__).resolve().parents[2]


def registry(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # What a push reports: the repository with the pushed digest.
    if type_ == "docker-build:index:Image":
        return {"ref": inputs["tags"][0].rsplit(":", 1)[0] + "@" + DIGEST}
    return {}


def test_builds_from_the_runtime_dockerfile_and_deploys_by_digest(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT / "infra")  # where Pulumi runs the project's program

    def program() -> None:
        image = RuntimeImage("runtime", {"repository": "ghcr.io/acme/runtime", "tag": "1.2.3"})
        EventingCore("eventing", {"image": image.ref})
        pulumi.export("ref", image.ref)

    record = run(program, respond=registry)
    build = record.of_type("docker-build:index:Image")[0].plain
    assert build["tags"] == ["ghcr.io/acme/runtime:1.2.3"]
    # The repository root, as `docker build -f runtime/Dockerfile .` needs, found upwards.
    assert build["context"] == {"location": str(ROOT)}
    assert build["dockerfile"] == {"location": str(ROOT / "runtime" / "Dockerfile")}
    assert build["push"] is True
    assert build["platforms"] == ["linux/amd64"]
    assert record.outputs["ref"] == f"ghcr.io/acme/runtime@{DIGEST}"
    controller = find(record, "Deployment", "eventwire-controller")
    assert (
        controller.plain["spec"]["template"]["spec"]["containers"][0]["image"]
        == f"ghcr.io/acme/runtime@{DIGEST}"
    )


def test_the_build_context_must_hold_the_dockerfile(tmp_path: Path) -> None:
    assert build_context(str(ROOT)) == ROOT
    assert build_context(start=ROOT / "components" / "eventwire") == ROOT
    with pytest.raises(ConfigError, match="holds no runtime/Dockerfile"):
        build_context(str(ROOT / "runtime"))
    with pytest.raises(ConfigError, match="set context to the repository root"):
        build_context(start=tmp_path)
