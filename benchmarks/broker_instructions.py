"""CPU instructions and syscalls per Broker event, independent of machine load.

    .venv/bin/python -m benchmarks.broker_instructions [--events N] [--tool callgrind|strace] [scenario]

Runs the dispatcher (one Broker, 10 Triggers of which 1 matches, as benchmarks/broker.py) under
valgrind's callgrind, or under `strace -c -f`, posts N events one at a time and waits for their
deliveries, then does the same with 0 events; the difference divided by N is the cost of one
event (start-up, routing and shutdown cancel out). Wall-clock work (the backlog monitor polls
while events arrive) is included, so expect a few percent of noise; the events/s figures of
benchmarks/broker.py remain the target's measure.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from tests.support.processes import free_port

from benchmarks.broker import EVENT_TYPE, backend_settings, broker_routes
from benchmarks.dispatcher import nginx

HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "0b7f2c1e-bench",
    "ce-source": "/benchmarks/broker",
    "ce-type": EVENT_TYPE,
    "content-type": "application/octet-stream",
}


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError("dispatcher did not become ready")


def run_once(scenario: str, events: int, tool: str, out: Path) -> int:
    """Post `events` events to a dispatcher under `tool`; the number answered 202."""
    backend, dialect = scenario.split("-", 1)
    with nginx() as (sink, _proxy), contextlib.ExitStack() as stack:
        settings = backend_settings(stack, backend)
        work = Path(tempfile.mkdtemp(prefix="ew-bench-instr-"))
        (work / "routes.yaml").write_text(yaml.safe_dump(broker_routes(sink, dialect)))
        port = free_port()
        env = {
            **os.environ,
            "EVENTWIRE_ROUTES_FILE": str(work / "routes.yaml"),
            "EVENTWIRE_PORT": str(port),
            "EVENTWIRE_ROUTES_POLL": "5",
            "EVENTWIRE_LOG_LEVEL": "WARNING",
            **{"EVENTWIRE_" + k.upper(): v for k, v in settings.items()},
        }
        prefix = (
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] if tool == "callgrind" else []
        )
        command = [*prefix, sys.executable, "-m", "eventwire_runtime", "dispatcher"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tracer = None
        try:
            _wait_ready(port, proc)
            if tool == "strace":  # attached once ready, detached (SIGINT) before shutdown
                tracer = subprocess.Popen(["strace", "-c", "-f", "-o", str(out), "-p", str(proc.pid)])
                time.sleep(1)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            accepted = 0
            for _ in range(events):
                conn.request("POST", "/brokers/bench/mesh", body=b"x" * 1024, headers=HEADERS)
                answer = conn.getresponse()
                answer.read()
                accepted += answer.status == 202
            time.sleep(3)  # deliveries and acks finish
        finally:
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=60)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=300)
    return accepted


def totals(tool: str, out: Path) -> dict[str, int]:
    """callgrind: {"instructions": n}; strace: calls per syscall name."""
    text = out.read_text()
    if tool == "callgrind":
        match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        assert match, f"no totals in {out}"
        return {"instructions": int(match.group(1))}
    calls = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--tool", choices=["callgrind", "strace"], default="callgrind")
    parser.add_argument("scenario", nargs="?", default="jetstream-exact")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ew-bench-instr-out-"))
    figures = []
    for count in (args.events, 0):
        out = work / f"{args.tool}-{count}.out"
        accepted = run_once(args.scenario, count, args.tool, out)
        if accepted != count:
            print(f"only {accepted} of {count} events accepted", file=sys.stderr)
            return 1
        figures.append(totals(args.tool, out))
    loaded, idle = figures
    print(f"{args.scenario}, {args.events} events, {args.tool} (outputs in {work}):")
    for name in sorted(loaded, key=lambda n: -(loaded[n] - idle.get(n, 0))):
        per_event = (loaded[name] - idle.get(name, 0)) / args.events
        if abs(per_event) >= 0.05:
            print(f"  {name:<16} {per_event:>12.2f} per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
