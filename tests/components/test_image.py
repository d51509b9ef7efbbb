"""RuntimeImage: the runtime image built and pushed by the program (pulumi-docker-build)."""

from __future__ import annotations

from typing import Any

import pulumi

from eventwire.install import EventingCore
from eventwire.install.image import RuntimeImage
from tests.components.conftest import Runner, find

DIGEST = "sha256:" + "b" * 64


def registry(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # What a push reports: the repository with the pushed digest.
    if type_ == "docker-build:index:Image":
        return {"ref": inputs["tags"][0].rsplit(":", 1)[0] + "@" + DIGEST}
    return {}


def test_builds_from_the_runtime_dockerfile_and_deploys_by_digest(run: Runner) -> None:
    def program() -> None:
        image = RuntimeImage("runtime", {"repository": "ghcr.io/acme/runtime", "tag": "1.2.3"})
        EventingCore("eventing", {"image": image.ref})
        pulumi.export("ref", image.ref)

    record = run(program, respond=registry)
    build = record.of_type("docker-build:index:Image")[0].plain
    assert build["tags"] == ["ghcr.io/acme/runtime:1.2.3"]
    assert build["context"] == {"location": "runtime"}
    assert build["dockerfile"] == {"location": "runtime/Dockerfile"}
    assert build["push"] is True
    assert build["platforms"] == ["linux/amd64"]
    assert record.outputs["ref"] == f"ghcr.io/acme/runtime@{DIGEST}"
    controller = find(record, "Deployment", "eventwire-controller")
    assert (
        controller.plain["spec"]["template"]["spec"]["containers"][0]["image"]
        == f"ghcr.io/acme/runtime@{DIGEST}"
    )
