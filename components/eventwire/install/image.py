"""RuntimeImage: build and push the runtime image from runtime/Dockerfile with pulumi-docker-build.

Needs the optional extra `eventwire[docker]`. Production stacks usually pin a digest instead.
"""

from __future__ import annotations

import importlib
from typing import NotRequired, TypedDict

import pulumi

from eventwire.exceptions import ConfigError


class RuntimeImageArgs(TypedDict):
    """Arguments of RuntimeImage."""

    repository: str
    """Registry repository, e.g. ghcr.io/acme/eventwire-runtime."""
    tag: str
    """Tag pushed alongside the digest."""
    context: NotRequired[str]
    """Build context folder; default `runtime` (relative to the Pulumi project)."""
    platforms: NotRequired[list[str]]
    """Target platforms; default linux/amd64."""
    push: NotRequired[bool]
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
        context = args.get("context", "runtime")
        image = docker_build.Image(
            f"{name}-image",
            tags=[f"{args['repository']}:{args['tag']}"],
            context={"location": context},
            dockerfile={"location": f"{context}/Dockerfile"},
            platforms=args.get("platforms", ["linux/amd64"]),
            push=args.get("push", True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ref = pulumi.Output.from_input(image.ref)
        self.register_outputs({"ref": self.ref})
