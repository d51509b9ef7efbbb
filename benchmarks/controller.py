"""Controller cost: API requests, convergence time and idleness of the real operator.

    .venv/bin/python -m benchmarks.controller [--sizes 40 160 1000] [--channels 10] [--timeout 300]
        [--kind channel|broker]

For each N: a fresh Kubernetes API fake (tests/support/kube.py) with our CRDs, the default
provisioner and its dispatcher Service, the real operator (`eventwire-runtime controller`) in a
subprocess, and 10 Channels, all Ready before counting starts. Then N Subscriptions with `uri`
subscribers are created round-robin across the Channels (in-process, so they are not counted) and
the harness prints:

- converge: seconds from the first create until every Channel lists all its Subscriptions with
  ready "True" and every Subscription is Ready;
- req/sub: the operator's API requests from the first create to 3 s after convergence, divided by
  N (long-lived watch requests included; the top paths by verb follow);
- idle: requests in the next 10 s, watches and peering excluded (converged means quiet);
- one sub: seconds from one more Subscription applied to its Channel listing it ready "True"
  (median and max of 5, on the converged operator).

With `--kind broker` the same runs use Brokers and Triggers (`status.triggers` for the routing
table) in place of Channels and Subscriptions.

Every wait is bounded (--timeout); a size that does not converge prints what it reached.
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.kube import KubeApiFake, running_kube
from tests.support.processes import ManagedProcess, free_port
from tests.support.waiting import eventually

from eventwire.api import render_crds

MESSAGING = "messaging.eventwire.dev/v1"
EVENTING = "eventing.eventwire.dev/v1"
SYSTEM_NAMESPACE = "eventwire-system"
NAMESPACE = "bench"
SETTLE_SECONDS = 3.0
IDLE_SECONDS = 10.0
SINGLE_RUNS = 5


def _is_ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass(frozen=True)
class Pair:
    """A routing kind and the kind whose objects it lists: Channel/Subscription, Broker/Trigger."""

    api_version: str
    parent: str
    child: str
    table: str  # the parent's status field listing the children

    def parent_object(self, name: str) -> dict[str, Any]:
        meta = {"name": name, "namespace": NAMESPACE}
        return {"apiVersion": self.api_version, "kind": self.parent, "metadata": meta}

    def child_object(self, name: str, parent: str) -> dict[str, Any]:
        if self.parent == "Broker":
            spec: dict[str, Any] = {"broker": parent}
        else:
            spec = {"channel": {"apiVersion": MESSAGING, "kind": "Channel", "name": parent}}
        spec["subscriber"] = {"uri": f"http://{name}.example/"}
        meta = {"name": name, "namespace": NAMESPACE}
        return {"apiVersion": self.api_version, "kind": self.child, "metadata": meta, "spec": spec}


PAIRS = {
    "channel": Pair(MESSAGING, "Channel", "Subscription", "subscribers"),
    "broker": Pair(EVENTING, "Broker", "Trigger", "triggers"),
}


def _is_watch_or_peering(path: str) -> bool:
    return "watch=true" in path or "kopfpeering" in path


@contextmanager
def _operator(kube: KubeApiFake, workdir: Path) -> Iterator[ManagedProcess]:
    kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig")
    port = free_port()
    executable = str(Path(sys.executable).with_name("eventwire-runtime"))
    proc = ManagedProcess(
        [executable, "controller", "--liveness", f"http://127.0.0.1:{port}/healthz"],
        env={
            "KUBECONFIG": str(kubeconfig),
            "EVENTWIRE_SYSTEM_NAMESPACE": SYSTEM_NAMESPACE,
            "EVENTWIRE_METRICS_ADDRESS": "127.0.0.1",
            "EVENTWIRE_METRICS_PORT": str(free_port()),
        },
    )
    try:
        proc.wait_port(port, timeout=60)
        yield proc
    finally:
        proc.stop()


def _listed(kube: KubeApiFake, pair: Pair, channels: list[str]) -> dict[str, dict[str, str]]:
    """Per channel (or Broker): subscription (or Trigger) name -> its entry's ready value."""
    listed: dict[str, dict[str, str]] = {}
    for name in channels:
        status = (kube.get(pair.api_version, pair.parent, name, NAMESPACE) or {}).get("status") or {}
        listed[name] = {e["name"]: str(e.get("ready")) for e in status.get(pair.table) or []}
    return listed


def _listed_ready(kube: KubeApiFake, pair: Pair, channel: str, name: str) -> bool:
    return _listed(kube, pair, [channel])[channel].get(name) == "True"


def _converged(kube: KubeApiFake, pair: Pair, wanted: dict[str, set[str]]) -> bool:
    """Cheap first (10 Channels), then every Subscription: the fake serves the operator from this
    process, and each check holds its lock while it copies objects."""
    listed = _listed(kube, pair, list(wanted))
    for channel, names in wanted.items():
        entries = listed[channel]
        if set(entries) != names or any(v != "True" for v in entries.values()):
            return False
    subscriptions = kube.list(pair.api_version, pair.child, NAMESPACE)
    return len(subscriptions) == sum(map(len, wanted.values())) and all(map(_is_ready, subscriptions))


def _top(requests: list[tuple[str, str]], count: int = 6) -> str:
    shapes: collections.Counter[str] = collections.Counter()
    for method, path in requests:
        route = path.split("?")[0].split("/")
        # /apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>[/status]]: name the shape
        if "namespaces" in route and len(route) > route.index("namespaces") + 2:
            at = route.index("namespaces") + 2
            route = route[:at] + [route[at]] + (["<name>"] if len(route) > at + 1 else []) + route[at + 2 :]
        verb = "WATCH" if "watch=true" in path else method
        shapes[f"{verb} {'/'.join(route[-3:])}"] += 1
    return ", ".join(f"{shape} {n}" for shape, n in shapes.most_common(count))


def run_size(size: int, channels: int, timeout: float, pair: Pair = PAIRS["channel"]) -> dict[str, Any]:
    fake = KubeApiFake(validate=False)  # measure the operator, not the fake's schema checks
    with running_kube(fake) as kube, tempfile.TemporaryDirectory(prefix="ew-bench-ctl-") as tmp:
        kube.install_crds(render_crds())
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "eventwire-dispatcher-default", "namespace": SYSTEM_NAMESPACE},
                "spec": {"ports": [{"port": 80}]},
            }
        )
        kube.create(
            {
                "apiVersion": MESSAGING,
                "kind": "ClusterChannelProvisioner",
                "metadata": {"name": "default"},
                "spec": {"type": "in-memory", "default": True},
            }
        )
        names = [f"ch-{i}" for i in range(channels)]
        for name in names:
            kube.create(pair.parent_object(name))
        with _operator(kube, Path(tmp)) as operator:
            try:
                eventually(
                    lambda: all(
                        _is_ready(kube.get(pair.api_version, pair.parent, n, NAMESPACE)) for n in names
                    ),
                    timeout=60,
                    what="the channels to be Ready",
                )
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}\n{operator.output()[-3000:]}") from None
            time.sleep(SETTLE_SECONDS)  # the operator's startup traffic ends before counting
            start_index = len(kube.requests)
            wanted: dict[str, set[str]] = {n: set() for n in names}
            started = time.monotonic()
            for i in range(size):
                channel = names[i % channels]
                kube.create(pair.child_object(f"sub-{i}", channel))
                wanted[channel].add(f"sub-{i}")
            try:
                eventually(lambda: _converged(kube, pair, wanted), timeout=timeout, interval=0.2)
                converge: float | None = time.monotonic() - started
            except TimeoutError:
                converge = None
            time.sleep(SETTLE_SECONDS)
            counted = list(kube.requests[start_index:])
            idle_start = len(kube.requests)
            time.sleep(IDLE_SECONDS)
            idle = [r for r in kube.requests[idle_start:] if not _is_watch_or_peering(r[1])]
            singles: list[float] = []
            if converge is not None:
                for run in range(SINGLE_RUNS):
                    name, channel = f"single-{run}", names[run % channels]
                    begin = time.monotonic()
                    kube.create(pair.child_object(name, channel))
                    try:
                        eventually(
                            functools.partial(_listed_ready, kube, pair, channel, name),
                            timeout=30,
                            interval=0.01,
                        )
                    except TimeoutError:
                        singles.append(float("inf"))
                        continue
                    singles.append(time.monotonic() - begin)
            listed = _listed(kube, pair, names)
            ready_entries = sum(v == "True" for entries in listed.values() for v in entries.values())
    return {
        "size": size,
        "converge": converge,
        "requests": len(counted),
        "per_sub": len(counted) / size,
        "idle": len(idle),
        "idle_top": _top(idle, 3),
        "single_median": statistics.median(singles) if singles else None,
        "single_max": max(singles) if singles else None,
        "top": _top(counted),
        "ready_entries": ready_entries,
    }


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.controller", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 160, 1000])
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for convergence")
    parser.add_argument("--kind", choices=sorted(PAIRS), default="channel", help="Channels or Brokers")
    args = parser.parse_args(argv)
    pair = PAIRS[args.kind]
    print(f"{pair.parent}s with {pair.child}s")
    print("| N | converge | requests | req/sub | idle (10 s) | one sub: median / max |")
    print("| --- | --- | --- | --- | --- | --- |")
    results = []
    for size in args.sizes:
        result = run_size(size, args.channels, args.timeout, pair)
        results.append(result)
        converge = _seconds(result["converge"])
        if result["converge"] is None:
            converge = f"not in {args.timeout:.0f} s ({result['ready_entries']} entries ready)"
        print(
            f"| {size} | {converge} | {result['requests']} | {result['per_sub']:.1f} | {result['idle']} | "
            f"{_seconds(result['single_median'])} / {_seconds(result['single_max'])} |",
            flush=True,
        )
    for result in results:
        print(f"N={result['size']} top requests: {result['top']}")
        if result["idle"]:
            print(f"N={result['size']} idle requests: {result['idle_top']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
