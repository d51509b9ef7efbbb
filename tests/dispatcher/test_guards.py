"""The dispatcher's task-boundary guards (dispatcher/guards.py): what they catch is logged with
its traceback and counted in `eventwire_dispatcher_internal_errors_total`; expected errors are
caught by name before they get there."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import generate_latest

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher import guards
from eventwire_runtime.dispatcher.metrics import DispatcherMetrics
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable
from eventwire_runtime.dispatcher.server import HttpServer, Request, text_response
from eventwire_runtime.dispatcher.sources import load_routes_file
from tests.support.processes import free_port


def count(where: str) -> int:
    return guards.CAUGHT.get(where, 0)


def test_a_failing_routing_listener_is_logged_counted_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = RoutingTable()
    heard: list[int] = []

    def broken(_: RoutingTable, __: tuple[ChannelRoute, ...]) -> None:
        raise KeyError("a bug")

    table.listeners[:] = [broken, lambda t, d: heard.append(len(t.channels))]
    before = count("routing_listener")
    with caplog.at_level(logging.ERROR):
        table.replace_all([ChannelRoute("default", "orders")])
    assert heard == [1]
    assert count("routing_listener") == before + 1
    [record] = [r for r in caplog.records if "routing listener" in r.getMessage()]
    assert record.exc_info is not None  # with its traceback
    metrics = generate_latest(DispatcherMetrics().registry).decode()
    assert f'eventwire_dispatcher_internal_errors_total{{where="routing_listener"}} {before + 1}.0' in metrics


async def test_a_handler_that_raises_answers_500_counted_and_the_connection_serves_on() -> None:
    async def fails_later() -> bytes:
        raise RuntimeError("a bug in an awaited answer")

    def handler(request: Request) -> bytes | asyncio.Future[bytes]:
        if request.url == "/sync":
            raise RuntimeError("a bug")
        if request.url == "/async":
            return asyncio.ensure_future(fails_later())
        return text_response(200, "fine")

    server = HttpServer(handler)
    port = free_port()
    await server.start("127.0.0.1", port)
    before = count("ingress_handler")
    try:
        async with aiohttp.ClientSession() as http:
            for path, status in (("/sync", 500), ("/async", 500), ("/ok", 200)):
                async with http.post(f"http://127.0.0.1:{port}{path}", data=b"x") as resp:
                    assert resp.status == status, path
    finally:
        await server.close(1.0)
    assert count("ingress_handler") == before + 2


def test_a_routes_file_yaml_cannot_construct_is_a_named_config_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("channels:\n- name: orders\n  created: 2001-02-30\n")  # no such day
    with pytest.raises(ConfigError, match=r"cannot read routes file .*routes\.yaml: .*day"):
        load_routes_file(str(path))
