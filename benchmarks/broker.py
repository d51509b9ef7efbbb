"""Broker throughput against nginx proxy_pass, with the same load generator (benchmarks/dispatcher.py).

    .venv/bin/python -m benchmarks.broker [--duration S] [--connections N] [--compare REV] [scenario ...]

Scenarios (default: all): memory-exact, memory-cesql, jetstream-exact, jetstream-cesql,
redis-exact, redis-cesql. Each is one Broker with 10 Triggers of which exactly 1 matches every
event: with `exact` filters on `type` (Knative's `filter.attributes`), or with a CESQL filter on
each Trigger (`type = '...' AND source LIKE '/benchmarks/%'`; `-cesql-any` scenarios use
`source = '...' AND type LIKE '...'`, which names no required type). Every Trigger's subscriber
is the nginx sink. Prints accepted events/s (2xx only), p50/p99, the ratio to nginx proxy_pass
measured in the same run, and the dispatcher's CPU time per accepted event (steadier than
throughput when other work shares the cores). Targets (issue 14): >= 0.5 in-memory exact,
>= 0.4 CESQL, >= 0.25 JetStream.

Then, per backend, "Trigger added at runtime": the routes file gains a Trigger while events are
posted every 10 ms; the figure is the time from the file's write to the first event the new
Trigger's subscriber receives (issue 14: within 1 s). It includes the routes file's poll
interval (0.05 s here; a Kubernetes watch pushes the change instead).

`--compare REV` also runs git revision REV's dispatcher (runtime/ and spec/ exported) in the
same run, scenario by scenario, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tests.support.nats import nats_server
from tests.support.processes import free_port
from tests.support.redis import redis_server

from benchmarks.dispatcher import cpu_seconds, dispatcher, exported, nginx, tools_installed, wrk

TRIGGERS = 10
EVENT_TYPE = "dev.eventwire.bench"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["ce-specversion"] = "1.0"
wrk.headers["ce-id"] = "0b7f2c1e-bench"
wrk.headers["ce-source"] = "/benchmarks/broker"
wrk.headers["ce-type"] = "dev.eventwire.bench"
wrk.headers["content-type"] = "application/octet-stream"
local channels = {channels}
local pause = {pause}
request = function()
  return wrk.format(nil, "/brokers/bench/mesh")
end
if pause > 0 then
  delay = function() return pause end
end
"""


def broker_routes(sink_port: int, dialect: str, triggers: int = TRIGGERS) -> dict[str, Any]:
    """One Broker, `triggers` Triggers; Trigger 0 selects the benchmark's events, the others never
    match. `dialect`: exact, cesql, or cesql-any (a CESQL filter that requires no type)."""
    entries = []
    for i in range(triggers):
        wanted = EVENT_TYPE if i == 0 else f"{EVENT_TYPE}.other{i}"
        entry: dict[str, Any] = {
            "uid": f"t{i}",
            "name": f"t{i}",
            "subscriberUri": f"http://127.0.0.1:{sink_port}/t{i}",
        }
        if dialect == "exact":
            entry["filter"] = {"attributes": {"type": wanted}}
        elif dialect == "cesql":
            entry["filters"] = [{"cesql": f"type = '{wanted}' AND source LIKE '/benchmarks/%'"}]
        else:
            source = "/benchmarks/broker" if i == 0 else f"/benchmarks/other{i}"
            entry["filters"] = [{"cesql": f"source = '{source}' AND type LIKE '{EVENT_TYPE}%'"}]
        entries.append(entry)
    return {"channels": [], "brokers": [{"namespace": "bench", "name": "mesh", "triggers": entries}]}


def backend_settings(stack: contextlib.ExitStack, backend: str) -> dict[str, str]:
    """Dispatcher settings for `backend` (memory, jetstream, redis), its server started on `stack`."""
    if backend == "jetstream":
        return {"backend": "jetstream", "nats_url": stack.enter_context(nats_server())}
    if backend == "redis":
        url = stack.enter_context(redis_server(appendfsync="everysec"))
        return {"backend": "redis", "redis_url": url}
    return {}


def measure(
    name: str, sink: int, seconds: float, connections: int, pythonpath: str | None
) -> tuple[float, float, float, int, float]:
    """(events/s, p50 ms, p99 ms, non-2xx, dispatcher CPU µs per accepted event) of one scenario."""
    backend, dialect = name.split("-", 1)
    with contextlib.ExitStack() as stack:
        settings = backend_settings(stack, backend)
        proc = stack.enter_context(
            dispatcher(sink, routes_doc=broker_routes(sink, dialect), pythonpath=pythonpath, **settings)
        )
        url = f"http://127.0.0.1:{proc.port}"  # type: ignore[attr-defined]
        wrk(url, 1, connections, script_text=WRK_SCRIPT)  # warm-up
        cpu = cpu_seconds(proc.proc.pid)
        full = wrk(url, seconds, connections, script_text=WRK_SCRIPT)
        cpu_us = (cpu_seconds(proc.proc.pid) - cpu) * 1e6 / max(full.accepted, 1)
    return full.rate, full.p50_ms, full.p99_ms, full.non_2xx, cpu_us


class _FirstArrival(http.server.BaseHTTPRequestHandler):
    """Answers 202 and records when the first request arrived (`server.first`)."""

    def do_POST(self) -> None:
        server: Any = self.server
        if server.first is None:
            server.first = time.monotonic()
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def first_arrival_sink() -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _FirstArrival)
    server.first = None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _post(url: str) -> int:
    request = urllib.request.Request(
        url,
        data=b"{}",
        method="POST",
        headers={
            "ce-specversion": "1.0",
            "ce-id": "added",
            "ce-source": "/benchmarks/broker",
            "ce-type": EVENT_TYPE,
            "content-type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def trigger_added_at_runtime(backend: str, sink: int, pythonpath: str | None) -> float | None:
    """Seconds from the routes file's write to the added Trigger's first delivery; None if none
    arrived within 10 s."""
    with contextlib.ExitStack() as stack:
        settings = backend_settings(stack, backend)
        added = stack.enter_context(first_arrival_sink())
        routes = broker_routes(sink, "exact", triggers=2)
        proc = stack.enter_context(
            dispatcher(sink, routes_doc=routes, pythonpath=pythonpath, routes_poll="0.05", **settings)
        )
        target = f"http://127.0.0.1:{proc.port}/brokers/bench/mesh"  # type: ignore[attr-defined]
        path: Path = proc.routes_path  # type: ignore[attr-defined]
        routes["brokers"][0]["triggers"].append(
            {"uid": "added", "name": "added", "subscriberUri": f"http://127.0.0.1:{added.server_port}/"}
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(routes, sort_keys=False))
        changed = time.monotonic()
        tmp.replace(path)
        deadline = changed + 10
        while added.first is None and time.monotonic() < deadline:
            _post(target)  # 202, or 503 while the new Trigger's durable state is created
            time.sleep(0.01)
        return None if added.first is None else added.first - changed


def run(scenarios: list[str], seconds: float, connections: int, compare: str | None = None) -> int:
    print(
        f"{'scenario':<28} {'nginx ev/s':>10} {'broker ev/s':>11} {'ratio':>6} {'p50 ms':>7}"
        f" {'p99 ms':>7} {'non-2xx':>8} {'CPU us/ev':>9}"
    )
    with contextlib.ExitStack() as outer:
        sink, proxy = outer.enter_context(nginx())
        before = outer.enter_context(exported(compare)) if compare else None
        variants: list[tuple[str, str | None]] = [("", None)]
        if before is not None:
            variants.insert(0, (f" @{str(compare)[:10]}", before))
        for name in scenarios:
            for label, pythonpath in variants:
                ref = wrk(f"http://127.0.0.1:{proxy}", seconds, connections)
                rate, p50, p99, non_2xx, cpu_us = measure(name, sink, seconds, connections, pythonpath)
                print(
                    f"{name + label:<28} {ref.rate:>10.0f} {rate:>11.0f} {rate / ref.rate:>6.2f}"
                    f" {p50:>7.2f} {p99:>7.2f} {non_2xx:>8} {cpu_us:>9.1f}",
                    flush=True,
                )
        print(f"\n({seconds:g}s per run, {connections} connections, {TRIGGERS} Triggers of which 1 matches)")
        print("\nTrigger added at runtime -> first event delivered (issue 14: <= 1 s)")
        for backend in dict.fromkeys(name.split("-", 1)[0] for name in scenarios):
            for label, pythonpath in variants:
                took = trigger_added_at_runtime(backend, sink, pythonpath)
                shown = "none within 10 s" if took is None else f"{took:.3f} s"
                print(f"  {backend + label:<26} {shown}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        default=[
            "memory-exact",
            "memory-cesql",
            "jetstream-exact",
            "jetstream-cesql",
            "jetstream-cesql-any",
            "redis-exact",
            "redis-cesql",
        ],
    )
    parser.add_argument("--compare", metavar="REV", help="also run git revision REV's dispatcher, same run")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args(argv)
    if not tools_installed():
        return 2
    started = time.monotonic()
    code = run(args.scenarios, args.duration, args.connections, args.compare)
    print(f"total {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
