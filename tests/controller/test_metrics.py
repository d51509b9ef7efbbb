"""The controller's metrics, without an operator: outcomes and durations of reconciles, the
resources gauge, API errors, and the HTTP endpoint."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from eventwire_runtime.controller.context import Context, instrumented
from eventwire_runtime.controller.metrics import ControllerMetrics, ready_status, serve
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.kube import KubeClient, KubeError
from tests.support.kube import KubeApiFake
from tests.support.processes import free_port


def samples(metrics: ControllerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def with_ready(status: str | None) -> dict[str, Any]:
    conditions = [] if status is None else [{"type": "Ready", "status": status}]
    return {"kind": "Channel", "metadata": {"name": "c"}, "status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (with_ready("True"), "True"),
        (with_ready("False"), "False"),
        (with_ready("Unknown"), "Unknown"),
        (with_ready(None), "Unknown"),
        (with_ready("Maybe"), "Unknown"),
        ({"metadata": {"name": "x"}}, "Unknown"),
        (None, "Unknown"),
    ],
)
def test_ready_status(obj: dict[str, Any] | None, expected: str) -> None:
    assert ready_status(obj) == expected


@pytest.mark.parametrize(
    ("returned", "raises", "outcome"),
    [
        (with_ready("True"), False, "ready"),
        (with_ready("False"), False, "not_ready"),
        (with_ready(None), False, "not_ready"),
        (None, True, "error"),
    ],
)
async def test_instrumented_reconcile_counts_its_outcome_and_time(
    returned: dict[str, Any] | None, raises: bool, outcome: str
) -> None:
    @instrumented
    async def reconcile(ctx: Context, obj: dict[str, Any]) -> dict[str, Any]:
        if raises:
            raise KubeError(500, "PATCH status: boom")
        assert returned is not None
        return returned

    ctx = Context(ControllerSettings(), KubeClient.for_url("http://127.0.0.1:1"))
    channel = {"kind": "Channel", "metadata": {"name": "c"}}
    if raises:
        with pytest.raises(KubeError):
            await reconcile(ctx, channel)
    else:
        assert await reconcile(ctx, channel) == returned
    found = samples(ctx.metrics)
    assert found[("eventwire_controller_reconciles_total", (("kind", "Channel"), ("outcome", outcome)))] == 1
    assert found[("eventwire_controller_reconcile_duration_seconds_count", (("kind", "Channel"),))] == 1


def test_resources_gauge_follows_tracked_objects() -> None:
    metrics = ControllerMetrics()
    metrics.track("Channel", "a", "one", with_ready("True"))
    metrics.track("Channel", "b", "one", with_ready("True"))
    metrics.track("Channel", "a", "two", with_ready("False"))
    metrics.track("Channel", "a", "two", with_ready("True"))  # moved: counted once, as True
    metrics.track("ClusterChannelProvisioner", None, "default", with_ready(None))
    metrics.track("Channel", "b", "one", None)  # deleted
    gauge = {
        labels: v
        for (name, labels), v in samples(metrics).items()
        if name == "eventwire_controller_resources"
    }
    assert gauge[(("kind", "Channel"), ("ready", "True"))] == 2
    assert gauge[(("kind", "Channel"), ("ready", "False"))] == 0
    assert gauge[(("kind", "ClusterChannelProvisioner"), ("ready", "Unknown"))] == 1
    assert gauge[(("kind", "PingSource"), ("ready", "True"))] == 0  # every kind and state is exported
    assert gauge[(("kind", "Trigger"), ("ready", "Unknown"))] == 0  # Brokers and Triggers too
    assert len(gauge) == 11 * 3


async def test_api_errors_are_counted_by_the_client_except_not_found() -> None:
    metrics = ControllerMetrics()
    kube = KubeApiFake()
    await kube.start()
    client = KubeClient.for_url(kube.url, on_error=metrics.api_error)
    try:
        assert await client.get("v1", "Service", "absent", "ns") is None  # 404: not an error
        kube.fail("POST", "/services", status=503)
        with pytest.raises(KubeError):
            await client.create(
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}}
            )
    finally:
        await client.close()
        await kube.stop()
    unreachable = KubeClient.for_url(f"http://127.0.0.1:{free_port()}", on_error=metrics.api_error)
    with pytest.raises(KubeError):
        await unreachable.request("GET", "/api/v1")
    await unreachable.close()
    found = samples(metrics)
    errors = {
        labels: v
        for (name, labels), v in found.items()
        if name == "eventwire_controller_kube_api_errors_total"
    }
    assert errors == {(("code", "503"), ("method", "POST")): 1, (("code", "0"), ("method", "GET")): 1}


async def test_metrics_endpoint_serves_the_text_format() -> None:
    metrics = ControllerMetrics()
    metrics.api_error("PATCH", 409)
    port = free_port()
    runner = await serve(metrics, "127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as rsp:
                assert rsp.status == 200
                assert rsp.headers["Content-Type"].startswith("text/plain; version=")
                text = await rsp.text()
            async with session.get(f"http://127.0.0.1:{port}/other") as rsp:
                assert rsp.status == 404
        assert 'eventwire_controller_kube_api_errors_total{code="409",method="PATCH"} 1.0' in text
        with pytest.raises(OSError, match="address already in use"):
            await serve(metrics, "127.0.0.1", port)  # the port is taken: a clear OSError, no leak
    finally:
        await runner.cleanup()
