"""The `dev` subcommands' arguments and entry point; `eventwire dev ...` (the component library's
CLI) calls `main` with a function that reads manifests and converts Knative ones, which only the
component library can do.

    dev up PATH... [--service NAME=URL ...] [--services FILE] [--persist DIR] [--port N]
                   [--dispatcher-port N] [--kubeconfig F] [--sqs-endpoint URL]
                   [--pubsub-emulator HOST:PORT] [--state FILE]
    dev send CHANNEL|BROKER [--type T] [--source S] [--data JSON | --file F] [--state FILE]
    dev send --github EVENT [--to GITHUBSOURCE] [--state FILE]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.devmode import state

# paths -> (documents, problems); problems are printed and make `dev up` exit 2.
LoadManifests = Callable[[Sequence[str]], tuple[Sequence[Mapping[str, Any]], list[str]]]


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, got {value}")
    return value


def build_parser(prog: str = "eventwire dev") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run a topology on this machine, without Kubernetes."
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="{up,send}")
    up = sub.add_parser(
        "up",
        help="run the manifests' channels, brokers, subscriptions, triggers and sources, with a live viewer",
    )
    up.add_argument(
        "paths", nargs="+", metavar="PATH", help="YAML files or folders (eventwire or Knative kinds)"
    )
    up.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="where a Kubernetes/Knative Service runs locally (NAME: name or namespace/name)",
    )
    up.add_argument("--services", metavar="FILE", help="a YAML file with a 'services:' mapping of NAME: URL")
    up.add_argument(
        "--persist", metavar="DIR", help="keep events in JetStream (embedded nats-server) under DIR"
    )
    up.add_argument(
        "--port", type=_port, default=0, help="the viewer's port on 127.0.0.1 (default: a free one)"
    )
    up.add_argument(
        "--dispatcher-port", type=_port, default=0, help="the dispatcher's port (default: a free one)"
    )
    up.add_argument("--kubeconfig", help="lets ApiServerSources watch this cluster")
    up.add_argument(
        "--sqs-endpoint", metavar="URL", help="lets AwsSqsSources read from this endpoint (moto, LocalStack)"
    )
    up.add_argument(
        "--pubsub-emulator", metavar="HOST:PORT", help="lets GcpPubSubSources read from this emulator"
    )
    up.add_argument("--state", type=Path, default=None, help="where to write addresses for dev send")
    send = sub.add_parser(
        "send", help="send a CloudEvent to a channel or broker, or a signed webhook to a GitHubSource"
    )
    send.add_argument("target", nargs="?", metavar="CHANNEL|BROKER", help="name or namespace/name")
    send.add_argument("--type", dest="event_type", help=f"ce-type (default {'dev.eventwire.sample'})")
    send.add_argument("--source", help="ce-source (default /eventwire/dev/send)")
    body = send.add_mutually_exclusive_group()
    body.add_argument("--data", help="JSON data")
    body.add_argument("--file", help="a structured-mode CloudEvent (JSON) to send as is")
    body.add_argument(
        "--github", metavar="EVENT", help="send a signed sample GitHub webhook (push, issues, ...)"
    )
    send.add_argument("--to", metavar="GITHUBSOURCE", help="with --github: which GitHubSource")
    send.add_argument("--state", type=Path, default=None, help="the state file of the dev up to talk to")
    return parser


def _services(args: argparse.Namespace) -> dict[str, str]:
    from eventwire_runtime.devmode.services import load_services_file, parse_service_flags

    mapped = load_services_file(args.services) if args.services else {}
    mapped.update(parse_service_flags(args.service))  # flags win over the file
    return mapped


def _up(args: argparse.Namespace, load: LoadManifests) -> int:
    from eventwire_runtime.devmode.runner import UpOptions, run_up
    from eventwire_runtime.devmode.sources import SourceOptions

    documents, problems = load(args.paths)
    for problem in problems:
        print(f"eventwire dev up: {problem}", file=sys.stderr)
    if problems:
        return 2
    options = UpOptions(
        services=_services(args),
        persist=Path(args.persist).resolve() if args.persist else None,
        viewer_port=args.port,
        dispatcher_port=args.dispatcher_port,
        state_file=args.state or state.default_path(),
        sources=SourceOptions(args.kubeconfig, args.sqs_endpoint, args.pubsub_emulator),
    )
    return run_up(documents, options)


def _send(args: argparse.Namespace) -> str:
    from eventwire_runtime.devmode import send

    current = state.read(args.state or state.default_path())
    if args.github:
        if args.target or args.data or args.file or args.event_type or args.source:
            raise ConfigError(
                "--github sends a sample webhook; it takes no CHANNEL, --type, --source or --data"
            )
        return send.send_github(current, args.github, args.to)
    if not args.target:
        raise ConfigError("name the CHANNEL to send to (or use --github EVENT)")
    if args.file and (args.event_type or args.source):
        raise ConfigError("--file sends the event as is; --type and --source go with --data")
    headers, body = send.event_request(args.event_type, args.source, args.data, args.file)
    return send.send_event(current, args.target, headers, body)


def main(argv: Sequence[str], load: LoadManifests, prog: str = "eventwire dev") -> int:
    """Run `dev up` or `dev send`; 0 on success, 1 when a send is refused, 2 for bad input."""
    args = build_parser(prog).parse_args(list(argv))
    try:
        if args.action == "up":
            return _up(args, load)
        print(_send(args))
        return 0
    except ConfigError as exc:
        print(f"{prog} {args.action}: {exc}", file=sys.stderr)
        return 2 if args.action == "up" else 1
