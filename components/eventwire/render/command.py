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
        overrides = parse_settings(args.set)
        project = find_project(Path(args.project) if args.project else None)
        result = render_stack(project, args.stack, Path(args.out), overrides)
    except ConfigError as exc:
        out.write(f"eventwire render: {exc}\n")
        return 1
    for problem in result.problems:
        out.write(f"error   {problem}\n")
    for note in result.unchecked:
        out.write(f"note    {note}\n")
    out.write(
        f"stack {args.stack}: {result.resources} Pulumi resources, {result.objects} Kubernetes objects "
        f"in {len(result.files)} files under {args.out}, {len(result.problems)} problems "
        f"({result.seconds:.2f}s)\n"
    )
    return 1 if result.problems else 0


def parse_settings(values: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs. Values stay strings (as Pulumi config values are), except lists and
    maps written in YAML flow style: `--set channels=[a,b]`."""
    import yaml

    settings: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set needs KEY=VALUE, got {value!r}")
        if raw.strip().startswith(("[", "{")):
            try:
                settings[key] = yaml.safe_load(raw)
            except yaml.YAMLError:
                raise ConfigError(f"--set {key}: {raw!r} is not a YAML list or map") from None
        else:
            settings[key] = raw
    return settings


def add_render_command(sub: Any) -> None:
    """Register `render` on the `eventwire` command's subparsers."""
    parser = sub.add_parser("render", help="render a stack's Kubernetes objects without a cluster")
    parser.add_argument("--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--out", required=True, help="output folder (the files an earlier render wrote are replaced)"
    )
    parser.add_argument("--project", default=None, help="folder of Pulumi.yaml (default: search upwards)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key of the stack, e.g. imageDigest=sha256:... (not for secrets)",
    )
    parser.set_defaults(run=run_render)
