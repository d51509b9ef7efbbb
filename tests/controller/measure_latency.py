"""Measure the time from applying a Subscription to its Channel's status listing it.

Runs the real operator (`eventwire-runtime controller`) against the Kubernetes API fake and
creates Subscriptions one at a time, each with a resolvable subscriber; prints min, median, p95
and max over the runs. Not a test (timing belongs outside the suite):

    .venv/bin/python -m tests.controller.measure_latency [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from eventwire.api import render_crds
from tests.controller.conftest import SYSTEM_NAMESPACE, operator_env
from tests.controller.factories import (
    MESSAGING,
    make_channel,
    make_provisioner,
    make_service,
    make_subscription,
)
from tests.support.kube import KubeApiFake, running_kube
from tests.support.processes import ManagedProcess, free_port, wait_until


def listed(kube: KubeApiFake, uid: str) -> bool:
    channel = kube.get(MESSAGING, "Channel", "orders", "bench") or {}
    return any(s.get("uid") == uid for s in (channel.get("status") or {}).get("subscribers") or [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with running_kube() as kube, tempfile.TemporaryDirectory() as tmp:
        kube.install_crds(render_crds())
        port = free_port()
        proc = ManagedProcess(
            [
                str(Path(sys.executable).with_name("eventwire-runtime")),
                "controller",
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
            ],
            env=operator_env(kube.write_kubeconfig(Path(tmp) / "config")),
        )
        try:
            proc.wait_port(port, 30)
            kube.create(make_service("eventwire-dispatcher-default", SYSTEM_NAMESPACE))
            kube.create(make_provisioner("default", default=True))
            kube.create(make_channel("orders", "bench"))
            wait_until(
                lambda: bool((kube.get(MESSAGING, "Channel", "orders", "bench") or {}).get("status")), 30
            )
            samples = []
            for i in range(args.runs):
                start = time.perf_counter()
                sub = kube.create(
                    make_subscription(f"s{i}", "bench", "orders", subscriber={"uri": f"http://s{i}.example/"})
                )
                wait_until(lambda uid=sub["metadata"]["uid"]: listed(kube, uid), 10, interval=0.001)
                samples.append((time.perf_counter() - start) * 1000)
        finally:
            proc.stop()
    samples.sort()
    p95 = samples[max(0, round(0.95 * len(samples)) - 1)]
    print(
        f"subscription -> channel status.subscribers, {len(samples)} runs: "
        f"min {samples[0]:.1f} ms, median {statistics.median(samples):.1f} ms, p95 {p95:.1f} ms, max {samples[-1]:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
