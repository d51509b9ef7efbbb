"""Knative's channel ingress contract, case by case, against a real dispatcher process."""

from __future__ import annotations

import io
import json
import socket
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.dispatcher.conftest import Routes, binary_headers, channel, subscriber
from tests.support.processes import ManagedProcess, free_port, wait_until

MAX_BODY = 1024 * 1024


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One dispatcher for the module; its subscriber URL points nowhere (deliveries just fail)."""
    routes = Routes(Path(tmp_path_factory.mktemp("contract")) / "routes.yaml")
    nowhere = f"http://127.0.0.1:{free_port()}/"
    routes.write(
        [
            channel("orders", subscriber("s1", nowhere)),
            channel("audit", namespace="team-a"),
        ]
    )
    port = free_port()
    env = {
        "EVENTWIRE_ROUTES_FILE": str(routes.path),
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_MAX_BODY_BYTES": str(MAX_BODY),
    }
    proc = ManagedProcess([sys.executable, "-m", "eventwire_runtime", "dispatcher"], env=env)
    try:
        wait_until(lambda: proc.alive() and _ready(port), 15, what="dispatcher ready")
        yield f"http://127.0.0.1:{port}"
        assert proc.alive(), proc.output()
    finally:
        proc.stop()


STRUCTURED = {"specversion": "1.0", "id": "s-1", "source": "/src", "type": "t.structured", "data": {"k": 1}}


async def test_binary_event_is_accepted(base: str, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{base}/default/orders", data=b"{}", headers=binary_headers()) as resp:
        assert resp.status == 202


async def test_structured_event_is_accepted(base: str, http: aiohttp.ClientSession) -> None:
    headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
    async with http.post(f"{base}/default/orders", data=json.dumps(STRUCTURED), headers=headers) as resp:
        assert resp.status == 202


async def test_batch_is_accepted(base: str, http: aiohttp.ClientSession) -> None:
    batch = [STRUCTURED, {**STRUCTURED, "id": "s-2"}]
    headers = {"content-type": "application/cloudevents-batch+json"}
    async with http.post(f"{base}/default/orders", data=json.dumps(batch), headers=headers) as resp:
        assert resp.status == 202


async def test_routing_by_host(base: str, http: aiohttp.ClientSession) -> None:
    headers = {**binary_headers(), "host": "audit.team-a.eventwire.example.com"}
    async with http.post(f"{base}/", data=b"", headers=headers) as resp:
        assert resp.status == 202
    headers["host"] = "nothing.team-a.eventwire.example.com"
    async with http.post(f"{base}/", data=b"", headers=headers) as resp:
        assert resp.status == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_non_post_gets_405_with_allow(base: str, http: aiohttp.ClientSession, method: str) -> None:
    async with http.request(method, f"{base}/default/orders", headers=binary_headers()) as resp:
        assert resp.status == 405
        assert "POST" in resp.headers["Allow"]


async def test_options_is_answered(base: str, http: aiohttp.ClientSession) -> None:
    async with http.options(f"{base}/default/orders") as resp:
        assert resp.status == 200
        assert "POST" in resp.headers["Allow"]


@pytest.mark.parametrize("path", ["/default/missing", "/nope/orders", "/default", "/a/b/c", "/"])
async def test_unknown_channel_is_404(base: str, http: aiohttp.ClientSession, path: str) -> None:
    async with http.post(f"{base}{path}", data=b"", headers=binary_headers()) as resp:
        assert resp.status == 404


@pytest.mark.parametrize("attribute", ["id", "source", "specversion", "type"])
async def test_missing_required_attribute_is_400_naming_it(
    base: str, http: aiohttp.ClientSession, attribute: str
) -> None:
    headers = binary_headers()
    del headers[f"ce-{attribute}"]
    async with http.post(f"{base}/default/orders", data=b"", headers=headers) as resp:
        assert resp.status == 400
        assert attribute in await resp.text()


@pytest.mark.parametrize(
    ("headers", "body", "content_type", "says"),
    [
        ({"ce-specversion": "2.0"}, b"", None, "specversion"),  # 0.3 and 1.0 are accepted
        ({"ce-id": ""}, b"", None, "id"),
        ({"ce-subject": "bad%zzvalue"}, b"", None, "percent"),
        ({"ce-subject": "%C3%28"}, b"", None, "UTF-8"),
        ({"ce-bad_name": "x"}, b"", None, "attribute name"),
        ({}, b"{not json", "application/cloudevents+json", "JSON"),
        ({}, b"[1]", "application/cloudevents+json", "JSON object"),
        ({}, b'{"specversion":"1.0","id":"1","source":"/s"}', "application/cloudevents+json", "type"),
        ({}, b'{"a":1}', "application/cloudevents-batch+json", "array"),
        (
            {},
            json.dumps([STRUCTURED, {"id": "x"}]).encode(),
            "application/cloudevents-batch+json",
            "batch event 1",
        ),
        (
            {},
            json.dumps({**STRUCTURED, "data_base64": "!!"}).encode(),
            "application/cloudevents+json",
            "data",
        ),
    ],
)
async def test_invalid_event_is_400_with_reason(
    base: str,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    body: bytes,
    content_type: str | None,
    says: str,
) -> None:
    sent = {**binary_headers(), **headers} if content_type is None else {"content-type": content_type}
    async with http.post(f"{base}/default/orders", data=body, headers=sent) as resp:
        assert resp.status == 400
        assert says in await resp.text()


async def test_body_over_limit_is_413(base: str, http: aiohttp.ClientSession) -> None:
    big = io.BytesIO(b"x" * (MAX_BODY + 1))
    async with http.post(f"{base}/default/orders", data=big, headers=binary_headers()) as resp:
        assert resp.status == 413
    fits = io.BytesIO(b"x" * MAX_BODY)
    async with http.post(f"{base}/default/orders", data=fits, headers=binary_headers()) as resp:
        assert resp.status == 202


async def test_chunked_body_over_limit_is_413(base: str, http: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * (MAX_BODY // 10)

    async with http.post(f"{base}/default/orders", data=chunks(), headers=binary_headers()) as resp:
        assert resp.status == 413


async def test_upgrade_offer_is_ignored(base: str, http: aiohttp.ClientSession) -> None:
    headers = {**binary_headers(), "Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings"}
    async with http.post(f"{base}/default/orders", data=b"{}", headers=headers) as resp:
        assert resp.status == 202


def test_malformed_http_is_400(base: str) -> None:
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /default/orders HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")


async def test_keep_alive_and_pipelining(base: str) -> None:
    port = int(base.rsplit(":", 1)[1])
    request = (
        b"POST /default/orders HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: 1\r\n"
        b"ce-source: /s\r\nce-type: t\r\nContent-Length: 2\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request * 3)
        data = b""
        for _ in range(50):
            if data.count(b"HTTP/1.1 202") == 3:
                break
            data += sock.recv(4096)
    assert data.count(b"HTTP/1.1 202") == 3


async def test_operations_endpoints(base: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{base}/healthz") as resp:
        assert resp.status == 200
    async with http.get(f"{base}/readyz") as resp:
        assert resp.status == 200
    async with http.post(f"{base}/default/orders", data=b"{}", headers=binary_headers()) as resp:
        assert resp.status == 202
    async with http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    assert (
        'eventwire_dispatcher_events_received_total{channel="orders",code="202",namespace="default"}' in text
    )
    assert "eventwire_dispatcher_dispatch_latency_seconds" in text
    assert "eventwire_dispatcher_queue_depth" in text
