"""`eventwire-runtime adapter <kind>` as a real process: env contract, admin server, signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import aiohttp

from tests.support.processes import ManagedProcess, free_port
from tests.support.sink import Sink

PYTHON = sys.executable


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "eventwire_runtime", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unknown_kind_and_missing_sink_exit_2_with_a_reason() -> None:
    result = _run(["adapter", "carrierpigeon"], {})
    assert result.returncode == 2
    assert "unknown kind 'carrierpigeon'" in result.stderr
    result = _run(["adapter", "pingsource"], {"K_SINK": ""})
    assert result.returncode == 2
    assert "K_SINK is required" in result.stderr
    result = _run(["adapter", "pingsource"], {"K_SINK": "http://127.0.0.1:9/", "PING_SCHEDULE": "soon"})
    assert result.returncode == 2
    assert "invalid cron schedule 'soon'" in result.stderr


async def test_heartbeats_process_serves_health_metrics_and_stops_on_sigterm() -> None:
    admin = free_port()
    async with Sink.start() as sink:
        proc = ManagedProcess(
            [PYTHON, "-m", "eventwire_runtime", "adapter", "heartbeats"],
            env={
                "K_SINK": sink.url,
                "K_CE_OVERRIDES": json.dumps({"extensions": {"origin": "test"}}),
                "NAME": "hb",
                "NAMESPACE": "demo",
                "POD_NAME": "hb-pod",
                "HEARTBEATS_PERIOD": "0.1",
                "HEARTBEATS_LABEL": "L",
                "METRICS_PORT": str(admin),
            },
        )
        try:
            received = await sink.wait_for(3, within=20)
            async with aiohttp.ClientSession() as session:
                base = f"http://127.0.0.1:{admin}"
                async with session.get(base + "/healthz") as response:
                    assert response.status == 200
                async with session.get(base + "/readyz") as response:
                    assert response.status == 200
                async with session.get(base + "/metrics") as response:
                    text = await response.text()
            assert (
                'eventwire_adapter_events_delivered_total{kind="heartbeats",name="hb",namespace="demo"}'
                in text
            )
            proc.kill(signal.SIGTERM)
            await asyncio.to_thread(proc.proc.wait, 15)
            assert proc.proc.returncode == 0, proc.output()
            assert "starting in every 0.1s mode" in proc.output()
        finally:
            proc.stop()
    first = received[0]
    assert first.headers["ce-type"] == "dev.knative.eventing.samples.heartbeat"
    assert first.headers["ce-source"] == "https://eventwire.dev/heartbeats/#demo/hb-pod"
    assert first.headers["ce-id"] == "hb-pod-1"
    assert first.headers["ce-origin"] == "test"
    assert json.loads(first.body) == {"id": 1, "label": "L"}
