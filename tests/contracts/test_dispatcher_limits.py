"""The dispatcher's HTTP limits, set on a ClusterChannelProvisioner's spec.dispatcher.http, reach
the dispatcher the install deploys (`runtime_contract.dispatcher_env`) and hold there.

Each side is the real one: the install's provisioner check (the CRD schema), the runtime's own
settings parser, and a real dispatcher process that answers a client past a limit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from eventwire.exceptions import ConfigError
from eventwire.install import runtime_contract
from eventwire.install.eventing_core import provisioner_manifest
from eventwire_runtime.dispatcher.settings import Settings, parse_settings
from tests.dispatcher.conftest import dispatcher_process
from tests.support.processes import free_port

LIMITS: dict[str, Any] = {
    "maxBodyBytes": 2048,
    "maxRequestLineBytes": 512,
    "maxHeaderBytes": 4096,
    "maxConnections": 64,
    "headerTimeout": "PT2S",
    "bodyTimeout": "PT3.5S",
    "idleTimeout": "PT1M30S",
}
# What the runtime must read from each field above, by its Settings field name.
EXPECTED = {
    "max_body_bytes": 2048,
    "max_request_line_bytes": 512,
    "max_header_bytes": 4096,
    "max_connections": 64,
    "header_timeout": 2.0,
    "body_timeout": 3.5,
    "idle_timeout": 90.0,
    "max_backlog": 500,
}


def spec_with(limits: dict[str, Any], **dispatcher: Any) -> dict[str, Any]:
    return {"type": "in-memory", "dispatcher": {"http": limits, **dispatcher}}


def test_every_http_limit_reaches_the_runtime_settings() -> None:
    spec = provisioner_manifest("default", spec_with(LIMITS, maxBacklog=500))["spec"]
    env = runtime_contract.dispatcher_env("default", spec)

    routes = {"EVENTWIRE_ROUTES_SOURCE": "file", "EVENTWIRE_ROUTES_FILE": "/dev/null"}
    settings = parse_settings([], {**env, **routes})

    assert set(runtime_contract.DISPATCHER_HTTP_SETTINGS) == set(LIMITS)
    defaults = Settings(routes_source="file", routes_file="/dev/null")
    for field, value in EXPECTED.items():
        assert getattr(settings, field) == value, field
        assert getattr(defaults, field) != value, f"{field}: the test must move it off its default"


def test_unset_limits_leave_the_runtime_defaults() -> None:
    env = runtime_contract.dispatcher_env("default", {"type": "in-memory"})
    assert not set(env) & set(runtime_contract.DISPATCHER_HTTP_SETTINGS.values())
    assert "EVENTWIRE_MAX_BACKLOG" not in env


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"maxRequestLineBytes": 10}, "maxRequestLineBytes"),
        ({"maxHeaderBytes": 0}, "maxHeaderBytes"),
        ({"headerTimeout": "10s"}, "headerTimeout"),
        ({"idleTimeout": "PT0S"}, "idleTimeout"),
        ({"bodyTimeout": "P0D"}, "bodyTimeout"),
        ({"maxBodyBytes": "big"}, "maxBodyBytes"),
    ],
)
def test_a_bad_limit_is_refused_at_install_naming_it(limits: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        provisioner_manifest("default", spec_with(limits))


async def status_of(port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_the_installed_dispatcher_holds_clients_to_the_limits(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("channels: []\n")
    port = free_port()
    spec = provisioner_manifest("default", spec_with({"maxRequestLineBytes": 512, "maxBodyBytes": 2048}))
    env = {
        **runtime_contract.dispatcher_env("default", spec["spec"]),
        "EVENTWIRE_ROUTES_SOURCE": "file",
        "EVENTWIRE_ROUTES_FILE": str(routes),
        "EVENTWIRE_PORT": str(port),
    }
    long_path = b"/" + b"a" * 1000
    async with dispatcher_process(env, port):
        # A short line passes the HTTP layer (405: ingress takes POST); under the defaults the long one would too.
        assert await status_of(port, b"GET " + long_path + b" HTTP/1.1\r\nHost: x\r\n\r\n") == 414
        assert await status_of(port, b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n") == 405
        body = b"POST /ns/ch HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"
        assert await status_of(port, body) == 413
