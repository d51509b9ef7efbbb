"""Dispatcher throughput and latency against nginx proxy_pass, with the same load generator.

    .venv/bin/python -m benchmarks.dispatcher [--duration S] [--connections N] [--compare REV] [scenario ...]

Scenarios (default: all): memory (1 subscriber), fanout10, channels10k, jetstream, redis,
structured (in-memory, structured-mode events in), and parse (ingress parsing and validation
alone, in-process, CPU µs per event: steady even when other work shares the cores). `--compare REV` also runs the dispatcher of
git revision REV (its runtime/ and spec/ exported to a temp dir and put first on PYTHONPATH) in
the same run, alternating with the current one `--repeat` times, and prints the ratio of the
median throughputs current/REV per scenario.
Every scenario except structured sends 1 KB binary-mode CloudEvents with wrk (1 thread, N keep-alive connections,
S seconds). The reference is nginx `proxy_pass` (one worker, keep-alive upstream) in front of the
same sink (nginx `return 202`), measured in the same run. For each scenario it prints accepted
events/s (2xx answers only), p50/p99 latency at full load, the ratio dispatcher/nginx, and p50/p99
at about half the dispatcher's maximum rate (wrk's per-connection `delay()` paces the load). The
10k-channel scenario spreads requests over 10,000 channels and reports the dispatcher's RSS.
Everything runs on loopback on this machine, so load generator, sink and dispatcher share cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.support.nats import nats_server
from tests.support.processes import ManagedProcess, free_port, wait_until
from tests.support.redis import redis_server

CHANNELS_10K = 10_000

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream sink {{ server 127.0.0.1:{sink}; keepalive 512; }}
  server {{ listen 127.0.0.1:{sink}; location / {{ return 202; }} }}
  server {{ listen 127.0.0.1:{proxy}; location / {{
    proxy_pass http://sink; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}
}}
"""

BINARY_EVENT = """
wrk.body = string.rep("x", 1024)
wrk.headers["ce-specversion"] = "1.0"
wrk.headers["ce-id"] = "0b7f2c1e-bench"
wrk.headers["ce-source"] = "/benchmarks/dispatcher"
wrk.headers["ce-type"] = "dev.eventwire.bench"
wrk.headers["ce-time"] = "2026-01-31T12:00:00Z"
wrk.headers["content-type"] = "application/octet-stream"
"""
# The same event in structured mode (attributes in a JSON envelope, 1 KB of text data).
STRUCTURED_EVENT = """
wrk.body = '{"specversion":"1.0","id":"0b7f2c1e-bench","source":"/benchmarks/dispatcher",'
  .. '"type":"dev.eventwire.bench","time":"2026-01-31T12:00:00Z","count":7,'
  .. '"datacontenttype":"text/plain","data":"' .. string.rep("x", 1024) .. '"}'
wrk.headers["content-type"] = "application/cloudevents+json"
"""

WRK_SCRIPT = """
wrk.method = "POST"
{event}
local channels = {channels}
local pause = {pause}
request = function()
  if channels > 1 then
    return wrk.format(nil, "/bench/c" .. math.random(0, channels - 1))
  end
  return wrk.format(nil, "/bench/c0")
end
if pause > 0 then
  delay = function() return pause end
end
"""


@dataclass
class Result:
    rate: float  # 2xx answers per second
    p50_ms: float
    p99_ms: float
    non_2xx: int
    accepted: int = 0  # 2xx answers in the run


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str,
    seconds: float,
    connections: int,
    channels: int = 1,
    pause_ms: int = 0,
    structured: bool = False,
    script_text: str = WRK_SCRIPT,
) -> Result:
    """wrk's figures for `script_text` (formatted with `channels`, `pause` and `event`) against `url`."""
    event = STRUCTURED_EVENT if structured else BINARY_EVENT
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(script_text.format(channels=channels, pause=pause_ms, event=event))
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    elapsed = _ms(re.search(r"requests in ([\d.]+(?:us|ms|s))", out).group(1)) / 1000  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non_2xx = int(bad.group(1)) if bad else 0
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    return Result((total - non_2xx) / elapsed, p50, p99, non_2xx, total - non_2xx)


@contextlib.contextmanager
def nginx() -> Iterator[tuple[int, int]]:
    """(sink port, proxy port) of an nginx that answers 202 and one that proxies to it."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    workdir = Path(tempfile.mkdtemp(prefix="ew-bench-nginx-"))
    sink, proxy = free_port(), free_port()
    (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, sink=sink, proxy=proxy))
    proc = ManagedProcess([binary, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)])
    try:
        proc.wait_port(proxy)
        proc.wait_port(sink)
        yield sink, proxy
    finally:
        proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def dispatcher(
    sink_port: int,
    channels: int = 1,
    subscribers: int = 1,
    pythonpath: str | None = None,
    routes_doc: dict[str, Any] | None = None,
    **settings: str,
) -> Iterator[ManagedProcess]:
    """A dispatcher whose routes are `channels` channels of `subscribers` subscribers each, or
    `routes_doc` when given."""
    workdir = Path(tempfile.mkdtemp(prefix="ew-bench-disp-"))
    table = [
        {
            "namespace": "bench",
            "name": f"c{c}",
            "subscribers": [
                {"uid": f"c{c}-s{s}", "subscriberUri": f"http://127.0.0.1:{sink_port}/s{s}"}
                for s in range(subscribers)
            ],
        }
        for c in range(channels)
    ]
    routes = workdir / "routes.yaml"
    routes.write_text(yaml.safe_dump(routes_doc or {"channels": table}, sort_keys=False))
    port = free_port()
    env = {
        "EVENTWIRE_ROUTES_FILE": str(routes),
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_ROUTES_POLL": "5",
        "EVENTWIRE_LOG_LEVEL": "WARNING",
        **{"EVENTWIRE_" + k.upper(): v for k, v in settings.items()},
        **({"PYTHONPATH": pythonpath} if pythonpath else {}),
    }
    proc = ManagedProcess([sys.executable, "-m", "eventwire_runtime", "dispatcher"], env=env)
    try:
        wait_until(lambda: proc.alive() and _ready(port), 60, interval=0.1, what="dispatcher ready")
        proc.port = port  # type: ignore[attr-defined]
        proc.routes_path = routes  # type: ignore[attr-defined]
        yield proc
    finally:
        proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def exported(revision: str) -> Iterator[str]:
    """PYTHONPATH for the runtime and spec of git `revision`, exported to a temp dir."""
    root = Path(__file__).resolve().parent.parent
    workdir = Path(tempfile.mkdtemp(prefix="ew-bench-rev-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", revision, "runtime", "spec"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
        yield f"{workdir / 'runtime'}{os.pathsep}{workdir / 'spec'}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# Ingress parsing and validation alone, in-process: CPU µs per event for the wrk scripts' events.
PARSE_SNIPPET = """
import json, time, timeit
from eventwire_runtime.cloudevents.http import events_from_request
binary = [("ce-specversion", "1.0"), ("ce-id", "0b7f2c1e-bench"), ("ce-source", "/benchmarks/dispatcher"),
          ("ce-type", "dev.eventwire.bench"), ("ce-time", "2026-01-31T12:00:00Z"),
          ("content-type", "application/octet-stream")]
event = {"specversion": "1.0", "id": "0b7f2c1e-bench", "source": "/benchmarks/dispatcher",
         "type": "dev.eventwire.bench", "time": "2026-01-31T12:00:00Z", "count": 7,
         "datacontenttype": "text/plain", "data": "x" * 1024}
structured = [("content-type", "application/cloudevents+json")]
body = json.dumps(event).encode()
for name, call in (("binary", lambda: events_from_request(binary, b"x" * 1024)),
                   ("structured", lambda: events_from_request(structured, body))):
    best = min(timeit.repeat(call, number=20000, repeat=15, timer=time.process_time)) / 20000
    print(name, round(best * 1e6, 2))
"""


def parse_cost(pythonpath: str | None) -> dict[str, float]:
    """CPU µs per event of `events_from_request` (binary and structured), best of 15 runs."""
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    out = subprocess.run(
        [sys.executable, "-c", PARSE_SNIPPET],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    return {name: float(value) for name, value in (line.split() for line in out.splitlines())}


def run_parse(compare: str | None, before: str | None) -> None:
    for label, pythonpath in ([(f"@{compare}", before)] if before else []) + [("current", None)]:
        costs = parse_cost(pythonpath)
        print(
            f"{'parse ' + label:<22} binary {costs['binary']:.2f} CPU us/event,"
            f" structured {costs['structured']:.2f} CPU us/event",
            flush=True,
        )


def measure(
    name: str, sink: int, seconds: float, connections: int, pythonpath: str | None
) -> tuple[Result, Result, float, float]:
    """Full-load and half-rate results, RSS and CPU µs per event of one dispatcher for `name`.

    CPU per event (the dispatcher's own CPU time during the full-load run over the events it
    accepted) is the steadier figure on a shared machine: throughput also measures how much of
    the cores the other processes left.
    """
    channels = CHANNELS_10K if name == "channels10k" else 1
    subscribers = 10 if name == "fanout10" else 1
    structured = name == "structured"
    settings: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if name == "jetstream":
            settings = {"backend": "jetstream", "nats_url": stack.enter_context(nats_server())}
        elif name == "redis":
            # appendfsync everysec: what the install runs (Redis's default), comparable to
            # JetStream's file store, which does not fsync every message either.
            url = stack.enter_context(redis_server(appendfsync="everysec"))
            settings = {"backend": "redis", "redis_url": url}
        proc = stack.enter_context(dispatcher(sink, channels, subscribers, pythonpath, **settings))
        url = f"http://127.0.0.1:{proc.port}"  # type: ignore[attr-defined]
        wrk(url, 1, connections, channels, structured=structured)  # warm-up: pools, consumers
        cpu = cpu_seconds(proc.proc.pid)
        full = wrk(url, seconds, connections, channels, structured=structured)
        cpu_us = (cpu_seconds(proc.proc.pid) - cpu) * 1e6 / max(full.accepted, 1)
        # per-connection pause so that connections * 1000/pause ~ half the measured rate
        pause = max(1, round(connections * 1000 / max(full.rate / 2, 1)))
        half = wrk(url, seconds, connections, channels, pause_ms=pause, structured=structured)
        return full, half, rss_mb(proc.proc.pid), cpu_us


def run(
    scenarios: list[str], seconds: float, connections: int, compare: str | None = None, repeat: int = 1
) -> int:
    rows: list[str] = []
    header = (
        f"{'scenario':<22} {'nginx ev/s':>10} {'disp ev/s':>10} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'half-rate ev/s':>14} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'RSS MB':>7} {'CPU us/ev':>9}"
    )
    with contextlib.ExitStack() as outer:
        sink, proxy = outer.enter_context(nginx())
        before = outer.enter_context(exported(compare)) if compare else None
        for name in scenarios:
            if name == "parse":
                run_parse(compare, before)
                continue
            ref = wrk(f"http://127.0.0.1:{proxy}", seconds, connections, structured=name == "structured")
            variants: list[tuple[str, str | None]] = [(name, None)]
            if before is not None:
                variants.insert(0, (f"{name} @{str(compare)[:10]}", before))
            rates: dict[str | None, list[float]] = {None: [], before: []}
            cpus: dict[str | None, list[float]] = {None: [], before: []}
            for label, pythonpath in variants * repeat:  # alternating, so drifting load hits both
                full, half, rss, cpu_us = measure(name, sink, seconds, connections, pythonpath)
                rates[pythonpath].append(full.rate)
                cpus[pythonpath].append(cpu_us)
                rows.append(
                    f"{label:<22} {ref.rate:>10.0f} {full.rate:>10.0f} {full.rate / ref.rate:>6.2f}"
                    f" {full.p50_ms:>7.2f} {full.p99_ms:>7.2f} {half.rate:>14.0f} {half.p50_ms:>7.2f}"
                    f" {half.p99_ms:>7.2f} {full.non_2xx:>8} {rss:>7.0f} {cpu_us:>9.1f}"
                )
                print(rows[-1] if len(rows) > 1 else f"{header}\n{rows[-1]}", flush=True)
            if before is not None:
                now, then = statistics.median(rates[None]), statistics.median(rates[before])
                cpu_now, cpu_then = statistics.median(cpus[None]), statistics.median(cpus[before])
                print(
                    f"{'':<22} median of {repeat}: current {now:.0f} ev/s, {cpu_now:.1f} CPU us/ev;"
                    f" {compare} {then:.0f} ev/s, {cpu_then:.1f} CPU us/ev; throughput current/{compare}"
                    f" = {now / then:.3f}, CPU per event {cpu_now / cpu_then:.3f}",
                    flush=True,
                )
    print(
        f"\n(nginx proxy_pass p50/p99 for reference are in wrk's output; {seconds:g}s per run, {connections} connections)"
    )
    return 0


def tools_installed() -> bool:
    """True when the load generator, nginx and the brokers are installed; else says which is not."""
    for tool in ("wrk", "nginx", "nats-server", "redis-server"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} not found: run scripts/setup-services.sh", file=sys.stderr)
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dispatcher", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        default=["memory", "fanout10", "channels10k", "jetstream", "redis", "structured", "parse"],
    )
    parser.add_argument("--compare", metavar="REV", help="also run git revision REV's dispatcher, same run")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per dispatcher with --compare (default 1)"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args(argv)
    if not tools_installed():
        return 2
    started = time.monotonic()
    code = run(args.scenarios, args.duration, args.connections, args.compare, args.repeat)
    print(f"total {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
