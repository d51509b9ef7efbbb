"""Regenerate cesql_tck.json from the CESQL test-compatibility kit's YAML files.

    python -m tests.spec.convert_cesql_tck ../shared/reference/cloudevents/cesql/tck

The tests read only the JSON, so they need neither the reference folder nor a YAML parser. The
expressions are kept as the exact text written in the YAML (YAML would otherwise turn `TRUE`
into a boolean and `0` into a number), and timestamps stay strings, as in a CloudEvent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

OUTPUT = Path(__file__).with_name("cesql_tck.json")


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: `time: 2018-04-26T14:48:09+02:00` stays text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct(loader: _Loader, node: yaml.Node, key: str | None = None) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = str(loader.construct_object(key_node))
            out[name] = _construct(loader, value_node, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item) for item in node.value]
    if key == "expression":
        return node.value  # the scalar's text as written
    return loader.construct_object(node, deep=True)


def load_suite(path: Path) -> dict[str, Any]:
    loader = _Loader(path.read_text(encoding="utf-8"))
    try:
        suite: dict[str, Any] = _construct(loader, loader.get_single_node())
    finally:
        loader.dispose()
    return suite


def convert(tck: Path) -> list[dict[str, Any]]:
    cases = []
    for path in sorted(tck.glob("*.yaml")):
        suite = load_suite(path)
        for test in suite["tests"]:
            case = {"file": path.name, "suite": suite["name"], **test}
            cases.append(case)
    return cases


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cases = convert(Path(argv[1]))
    OUTPUT.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases written to {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
