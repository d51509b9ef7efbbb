"""The `eventwire render` subcommand; the Pulumi SDK is imported only when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from eventwire.exceptions import ConfigError


def run_render(args: argparse.Namespace, out: TextIO) -> int:
    """The `eventwire render` command: exit 0 when everything rendered and validated."""
    from eventwire.render.project import find_project
    from eventwire.render.stack import render_stack

    try:
        project = find_project(Path(args.project) if args.project else None)
        result = render_stack(project, args.stack, Path(args.out))
    except ConfigError as exc:
        out.write(f"eventwire render: {exc}\n")
        return 1
    for problem in result.problems:
        out.write(f"error   {problem}\n")
    for label in result.unchecked:
        out.write(f"note    {label}: no schema here (a third-party custom resource), not validated\n")
    out.write(
        f"stack {args.stack}: {result.resources} Pulumi resources, {result.objects} Kubernetes objects "
        f"in {len(result.files)} files under {args.out}, {len(result.problems)} problems "
        f"({result.seconds:.2f}s)\n"
    )
    return 1 if result.problems else 0


def add_render_command(sub: Any) -> None:
    """Register `render` on the `eventwire` command's subparsers."""
    parser = sub.add_parser("render", help="render a stack's Kubernetes objects without a cluster")
    parser.add_argument("--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--out", required=True, help="output folder (its *.yaml files are replaced)")
    parser.add_argument("--project", default=None, help="folder of Pulumi.yaml (default: search upwards)")
    parser.set_defaults(run=run_render)
