"""`eventwire`: the command line of the component library.

    eventwire crds [--label KEY=VALUE ...]      print every CRD as YAML (for kubectl apply -f -)
    eventwire validate [--knative] PATH ...     validate manifests; exit 1 on any error
    eventwire convert PATH ...                  print Knative manifests of any API generation in
                                                eventwire's API; exit 1 if any is not converted
    eventwire render --stack dev --out DIR      run the Pulumi program without an engine or cluster
                                                and write every Kubernetes object it creates
    eventwire dev up PATH ... | dev send ...    run a topology on this machine with a live event
                                                viewer (needs eventwire-runtime installed)

More subcommands register themselves in COMMANDS; each is imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import yaml

from eventwire.api import convert_knative, is_knative, needs_conversion, render_crds_yaml, resource_errors
from eventwire.exceptions import ConversionError
from eventwire.manifests import Document, read_documents, yaml_files
from eventwire.render import add_render_command

# Kubernetes version that built-in kinds are validated against.
KUBERNETES_VERSION = "1.33.0"


def _parse_labels(values: Sequence[str]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, label = value.partition("=")
        if not sep or not key:
            raise SystemExit(f"eventwire crds: --label needs KEY=VALUE, got {value!r}")
        labels[key] = label
    return labels


def run_crds(args: argparse.Namespace, out: TextIO) -> int:
    out.write(render_crds_yaml(_parse_labels(args.label)))
    return 0


def _name(content: Any) -> str:
    metadata = content.get("metadata") if isinstance(content, dict) else None
    name = metadata.get("name", "<unnamed>") if isinstance(metadata, dict) else "<unnamed>"
    kind = content.get("kind", "<no kind>") if isinstance(content, dict) else "<not a mapping>"
    return f"{kind}/{name}"


def _is_builtin(api_version: str) -> bool:
    # Built-in groups have no dot (core "v1", "apps/v1") or end in .k8s.io.
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _check_document(doc: Document, knative: bool) -> tuple[str, list[str]]:
    """(status, messages) for one document: status is ok, error or skipped."""
    content = doc.content
    if not isinstance(content, dict):
        return "error", [f"a manifest must be a mapping, not {type(content).__name__}"]
    notes: list[str] = []
    if needs_conversion(content):
        if not knative:
            return "error", [
                f"a Knative manifest ({content.get('apiVersion')} {content.get('kind')}): run "
                "`eventwire convert` on it and validate the output (or pass --knative to validate it converted)"
            ]
        try:
            conversion = convert_knative(content)
        except ConversionError as exc:
            return "error", [str(exc)]
        content, notes = conversion.resource, [f"note: {note}" for note in conversion.notes]
    api_version = str(content.get("apiVersion", ""))
    if api_version.split("/")[0].endswith("eventwire.dev"):
        errors = resource_errors(content)
        return ("error" if errors else "ok"), [str(error) for error in errors] + notes
    if _is_builtin(api_version) and content.get("kind"):
        return _check_builtin(content)
    return "skipped", [
        f"{api_version} {content.get('kind')} is neither an eventwire nor a built-in Kubernetes kind"
    ]


def _check_builtin(content: dict[str, Any]) -> tuple[str, list[str]]:
    import kubernetes_validate  # slow to import; only built-in kinds need it

    try:
        kubernetes_validate.validate(content, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        return "error", [f"{path}: {exc.message}" if path else str(exc.message)]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return "error", [f"no Kubernetes {KUBERNETES_VERSION} schema: {exc}"]
    return "ok", []


def run_validate(args: argparse.Namespace, out: TextIO) -> int:
    failed = checked = 0
    for path in yaml_files(args.paths):
        for doc in read_documents(path):
            if doc.error is not None:
                status, messages = "error", [doc.error]
            else:
                status, messages = _check_document(doc, args.knative)
            checked += 1
            failed += status == "error"
            label = "" if doc.error else f" {_name(doc.content)}"
            out.write(f"{status:<7} {doc.where}:{label}\n")
            for message in messages:
                out.write(f"        {message}\n")
    out.write(f"{checked} documents, {failed} invalid\n")
    if checked == 0:
        out.write("no YAML documents found in the given paths\n")
        return 1
    return 1 if failed else 0


def run_convert(args: argparse.Namespace, out: TextIO) -> int:
    documents, failed = [], 0
    for path in yaml_files(args.paths):
        for doc in read_documents(path):
            if doc.error is not None or not isinstance(doc.content, dict):
                print(f"eventwire convert: {doc.where}: {doc.error or 'not a mapping'}", file=sys.stderr)
                failed += 1
                continue
            if not is_knative(doc.content):
                documents.append(doc.content)
                continue
            try:
                conversion = convert_knative(doc.content)
            except ConversionError as exc:
                print(f"eventwire convert: {doc.where}: {exc}", file=sys.stderr)
                failed += 1
                continue
            for note in conversion.notes:
                print(f"eventwire convert: {doc.where}: note: {note}", file=sys.stderr)
            documents.append(conversion.resource)
    out.write(yaml.safe_dump_all(documents, sort_keys=False))
    return 1 if failed else 0


def _add_crds(sub: Any) -> None:
    parser = sub.add_parser("crds", help="print every eventwire CRD as YAML")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="an extra label")
    parser.set_defaults(run=run_crds)


def _add_validate(sub: Any) -> None:
    parser = sub.add_parser("validate", help="validate manifests against the eventwire CRDs and Kubernetes")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or folders")
    parser.add_argument("--knative", action="store_true", help="convert Knative Eventing manifests first")
    parser.set_defaults(run=run_validate)


def _add_convert(sub: Any) -> None:
    parser = sub.add_parser("convert", help="print Knative Eventing manifests converted to eventwire")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or folders")
    parser.set_defaults(run=run_convert)


def load_dev_manifests(paths: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The manifests under `paths` for `eventwire dev up`: Knative ones converted, our kinds
    validated as `eventwire validate` does; returns (documents, problems)."""
    documents: list[dict[str, Any]] = []
    problems: list[str] = []
    files = list(yaml_files(paths))
    if not files:
        problems.append(f"no YAML files in {', '.join(paths)}")
    for path in files:
        for doc in read_documents(path):
            content = doc.content
            if doc.error is not None or not isinstance(content, dict):
                problems.append(f"{doc.where}: {doc.error or 'a manifest must be a mapping'}")
                continue
            if is_knative(content):
                try:
                    content = convert_knative(content).resource
                except ConversionError as exc:
                    problems.append(f"{doc.where}: {exc}")
                    continue
            if str(content.get("apiVersion", "")).split("/")[0].endswith("eventwire.dev"):
                problems.extend(
                    f"{doc.where}: {_name(content)}: {error}" for error in resource_errors(content)
                )
            documents.append(content)
    return documents, problems


def run_dev(args: argparse.Namespace, out: TextIO) -> int:
    try:  # the runtime (aiohttp, ...) is imported only here, never with the component library
        from eventwire_runtime.devmode.cli import main as dev_main
    except ImportError as exc:
        print(
            f"eventwire dev needs the eventwire-runtime package ({exc}); install it: pip install -e ./runtime",
            file=sys.stderr,
        )
        return 2
    return dev_main(["--help", *args.rest] if args.dev_help else args.rest, load_dev_manifests)


def _add_dev(sub: Any) -> None:
    parser = sub.add_parser(
        "dev",
        help="run a topology on this machine, with a live event viewer (dev up, dev send)",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", dest="dev_help", help="the dev commands' help")
    parser.add_argument(
        "rest", nargs=argparse.REMAINDER, help="up PATH... | send ... (see eventwire dev --help)"
    )
    parser.set_defaults(run=run_dev)


# Each adds one subparser whose `run(args, out) -> int` default runs the command.
COMMANDS: list[Callable[[Any], None]] = [_add_crds, _add_validate, _add_convert]
COMMANDS.append(add_render_command)  # eventwire render (components/eventwire/render/)
COMMANDS.append(_add_dev)  # eventwire dev (eventwire_runtime.devmode, imported when run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventwire", description="Knative-style eventing for Kubernetes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    return run(args, out or sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
