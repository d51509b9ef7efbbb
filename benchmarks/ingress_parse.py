"""A fixed count of events through the dispatcher's ingress parsing and validation, in-process.

    .venv/bin/python -m benchmarks.ingress_parse [--events N] [binary|structured]

For a comparison that holds on a shared machine: run it under a whole-process timer, or count
instructions with `valgrind --tool=callgrind` at N and 2N events (the difference divided by N is
the cost of one event, the interpreter's start cancelled out). Put another revision's runtime first
on PYTHONPATH (`git archive REV runtime spec | tar -x -C DIR`) to measure that revision the same
way. The events are the ones `benchmarks.dispatcher` sends with wrk.
"""

from __future__ import annotations

import argparse
import json

from eventwire_runtime.cloudevents.http import events_from_request

BINARY = [
    ("ce-specversion", "1.0"),
    ("ce-id", "0b7f2c1e-bench"),
    ("ce-source", "/benchmarks/dispatcher"),
    ("ce-type", "dev.eventwire.bench"),
    ("ce-time", "2026-01-31T12:00:00Z"),
    ("content-type", "application/octet-stream"),
]
STRUCTURED = [("content-type", "application/cloudevents+json")]
EVENT = {
    "specversion": "1.0",
    "id": "0b7f2c1e-bench",
    "source": "/benchmarks/dispatcher",
    "type": "dev.eventwire.bench",
    "time": "2026-01-31T12:00:00Z",
    "count": 7,
    "datacontenttype": "text/plain",
    "data": "x" * 1024,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["binary", "structured"], nargs="?", default="binary")
    parser.add_argument("--events", type=int, default=200_000, help="events to parse (default 200000)")
    args = parser.parse_args(argv)
    headers, body = (
        (BINARY, b"x" * 1024) if args.mode == "binary" else (STRUCTURED, json.dumps(EVENT).encode())
    )
    for _ in range(args.events):
        events_from_request(headers, body)


if __name__ == "__main__":
    main()
