"""RuntimeImage: build and push the runtime image from runtime/Dockerfile with pulumi-docker-build.

The Dockerfile is built with the repository root as its context (`docker build -f
runtime/Dockerfile .`): the image holds spec/ and runtime/. Pulumi runs the program in its
`main` folder (infra/), so the context is resolved to an absolute path here, never left relative.
Needs the optional extra `eventwire[docker]`. Released images come from
.github/workflows/release.yml; production stacks pin the digest it prints instead of building.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NotRequired, TypedDict

import pulumi

from eventwire.exceptions import ConfigError

DOCKERFILE: Final = "runtime/Dockerfile"


class RuntimeImageArgs(TypedDict):
    """Arguments of RuntimeImage."""

    repository: pulumi.Input[str]
    """Registry repository, e.g. ghcr.io/acme/eventwire-runtime."""
    tag: pulumi.Input[str]
    """Tag pushed alongside the digest."""
    context: NotRequired[str]
    """The repository root (the build context, holding runtime/Dockerfile); default: the nearest
    folder at or above the working directory that holds runtime/Dockerfile."""
    platforms: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Target platforms; default linux/amd64."""
    push: NotRequired[pulumi.Input[bool]]
    """Push to the registry; default true (the cluster pulls by digest)."""


class RuntimeImage(pulumi.ComponentResource):
    """The built image. Output `ref`: `repository@sha256:...`, what Deployments should use."""

    ref: pulumi.Output[str]

    def __init__(self, name: str, args: RuntimeImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:RuntimeImage", name, None, opts)
        try:
            docker_build = importlib.import_module("pulumi_docker_build")
        except ImportError:
            raise ConfigError(
                "buildImage needs pulumi-docker-build: pip install 'eventwire[docker]'"
            ) from None
        context = build_context(args.get("context"))
        image = docker_build.Image(
            f"{name}-image",
            tags=[pulumi.Output.concat(args["repository"], ":", args["tag"])],
            context={"location": str(context)},
            dockerfile={"location": str(context / DOCKERFILE)},
            platforms=args.get("platforms", ["linux/amd64"]),
            push=args.get("push", True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ref = pulumi.Output.from_input(image.ref)
        self.register_outputs({"ref": self.ref})


def build_context(given: str | None = None, start: Path | None = None) -> Path:
    """The absolute build context: `given` (relative to the working directory), else the
    nearest folder at or above `start` (default: the working directory) that holds runtime/Dockerfile."""
    if given is not None:
        context = Path(given).resolve()
        if not (context / DOCKERFILE).is_file():
            raise ConfigError(
                f"RuntimeImage context: {context} holds no {DOCKERFILE} (give the repository root)"
            )
        return context
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / DOCKERFILE).is_file():
            return folder
    raise ConfigError(
        f"RuntimeImage context: no {DOCKERFILE} in {here} or above; set context to the repository root"
    )
