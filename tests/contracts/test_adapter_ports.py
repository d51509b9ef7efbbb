"""Ports and probes: what the controller's Deployment and Service expect of an adapter pod against
what the adapter parses from that pod's env and actually serves."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eventwire_runtime.adapters.env import AdapterEnv
from eventwire_runtime.adapters.github import GitHubAdapter
from eventwire_runtime.adapters.main import serve
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.sources import resources as source_resources
from tests.contracts.test_adapter_env import NoSender, pod_environment, source
from tests.support.processes import free_port
from tests.support.sink import Sink
from tests.support.waiting import eventually_async

SINK = "http://display.shop.svc.cluster.local/"
ADAPTER_KINDS = {
    "PingSource": {"schedule": "*/5 * * * *"},
    "GitHubSource": {"ownerAndRepository": "example-org/shop", "eventTypes": ["push"]},
    "AwsSqsSource": {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"},
    "GcpPubSubSource": {"project": "shop-prod", "topic": "invoices", "subscription": "existing"},
    "ApiServerSource": {"resources": [{"apiVersion": "v1", "kind": "Pod"}]},
}


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_the_controllers_default_metrics_port_is_the_adapters_default() -> None:
    assert (
        ControllerSettings().adapter_metrics_port
        == AdapterEnv.from_environ("pingsource", {"K_SINK": SINK}).metrics_port
    )


@pytest.mark.parametrize("kind", sorted(ADAPTER_KINDS))
@pytest.mark.parametrize("metrics_port", [None, 9191])
def test_probes_and_ports_are_where_the_adapter_listens(
    tmp_path: Path, kind: str, metrics_port: int | None
) -> None:
    settings = (
        ControllerSettings()
        if metrics_port is None
        else ControllerSettings(adapter_metrics_port=metrics_port)
    )
    src = source(kind, **ADAPTER_KINDS[kind])
    deployment = source_resources.make_adapter_deployment(src, SINK, None, settings)
    container = container_of(deployment)
    env = AdapterEnv.from_environ(container["args"][1], pod_environment(deployment, tmp_path))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == env.metrics_port
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path, "port": env.metrics_port}
    if kind == "GitHubSource":
        adapter = GitHubAdapter(env, NoSender())
        assert ports["http"] == adapter.port
        assert adapter.port != env.metrics_port
        service = source_resources.make_webhook_service(src)
        (service_port,) = service["spec"]["ports"]
        assert service_port["targetPort"] in (adapter.port, "http")
        assert (
            service["spec"]["selector"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
    else:
        assert set(ports) == {"metrics"}


async def _answers_200(http: aiohttp.ClientSession, url: str) -> bool:
    with contextlib.suppress(aiohttp.ClientError):
        async with http.get(url) as resp:
            return resp.status == 200
    return False


async def test_the_probe_endpoints_answer_on_the_probe_port(tmp_path: Path) -> None:
    """A PingSource adapter started from the controller's env serves the probes it is given."""
    settings = ControllerSettings(adapter_metrics_port=free_port())
    async with Sink.start() as sink:
        src = source("PingSource", schedule="@hourly")
        deployment = source_resources.make_adapter_deployment(src, sink.url, None, settings)
        container = container_of(deployment)
        env = AdapterEnv.from_environ(container["args"][1], pod_environment(deployment, tmp_path))
        stop = asyncio.Event()
        task = asyncio.create_task(serve(env, stop))
        try:
            async with aiohttp.ClientSession() as http:
                for probe in ("livenessProbe", "readinessProbe"):
                    get = container[probe]["httpGet"]
                    url = f"http://127.0.0.1:{get['port']}{get['path']}"
                    await eventually_async(partial(_answers_200, http, url), what=f"{probe} {url}")
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 15) == 0
