"""Broker throughput against nginx proxy_pass, with the same load generator (benchmarks/dispatcher.py).

    .venv/bin/python -m benchmarks.broker [--duration S] [--connections N] [scenario ...]

Scenarios (default: all): memory-exact, memory-cesql, jetstream-exact, jetstream-cesql,
redis-exact. Each is one Broker with 10 Triggers of which exactly 1 matches every event: with
`exact` filters on `type` (Knative's `filter.attributes`), or with a CESQL filter on each Trigger
(`type = '...' AND source LIKE '/benchmarks/%'`). Every Trigger's subscriber is the nginx sink.
Prints accepted events/s (2xx only), p50/p99, and the ratio to nginx proxy_pass measured in the
same run. Targets (issue 14): >= 0.5 in-memory exact, >= 0.4 CESQL, >= 0.25 JetStream.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from tests.support.nats import nats_server
from tests.support.redis import redis_server

from benchmarks.dispatcher import dispatcher, nginx, tools_installed, wrk

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


def broker_routes(sink_port: int, dialect: str) -> dict[str, Any]:
    """One Broker, 10 Triggers; Trigger 0 selects the benchmark's events, the others never match."""
    triggers = []
    for i in range(TRIGGERS):
        wanted = EVENT_TYPE if i == 0 else f"{EVENT_TYPE}.other{i}"
        entry: dict[str, Any] = {
            "uid": f"t{i}",
            "name": f"t{i}",
            "subscriberUri": f"http://127.0.0.1:{sink_port}/t{i}",
        }
        if dialect == "exact":
            entry["filter"] = {"attributes": {"type": wanted}}
        else:
            entry["filters"] = [{"cesql": f"type = '{wanted}' AND source LIKE '/benchmarks/%'"}]
        triggers.append(entry)
    return {"channels": [], "brokers": [{"namespace": "bench", "name": "mesh", "triggers": triggers}]}


def run(scenarios: list[str], seconds: float, connections: int) -> int:
    print(
        f"{'scenario':<16} {'nginx ev/s':>10} {'broker ev/s':>11} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8}"
    )
    with nginx() as (sink, proxy):
        for name in scenarios:
            backend, dialect = name.split("-")
            with contextlib.ExitStack() as stack:
                settings: dict[str, str] = {}
                if backend == "jetstream":
                    settings = {"backend": "jetstream", "nats_url": stack.enter_context(nats_server())}
                elif backend == "redis":
                    url = stack.enter_context(redis_server(appendfsync="everysec"))
                    settings = {"backend": "redis", "redis_url": url}
                ref = wrk(f"http://127.0.0.1:{proxy}", seconds, connections)
                proc = stack.enter_context(
                    dispatcher(sink, routes_doc=broker_routes(sink, dialect), **settings)
                )
                url = f"http://127.0.0.1:{proc.port}"  # type: ignore[attr-defined]
                wrk(url, 1, connections, script_text=WRK_SCRIPT)  # warm-up
                full = wrk(url, seconds, connections, script_text=WRK_SCRIPT)
            print(
                f"{name:<16} {ref.rate:>10.0f} {full.rate:>11.0f} {full.rate / ref.rate:>6.2f}"
                f" {full.p50_ms:>7.2f} {full.p99_ms:>7.2f} {full.non_2xx:>8}",
                flush=True,
            )
    print(f"\n({seconds:g}s per run, {connections} connections, {TRIGGERS} Triggers of which 1 matches)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        default=["memory-exact", "memory-cesql", "jetstream-exact", "jetstream-cesql", "redis-exact"],
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args(argv)
    if not tools_installed():
        return 2
    started = time.monotonic()
    code = run(args.scenarios, args.duration, args.connections)
    print(f"total {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
