"""Hypothesis throws arbitrary headers, bodies and raw bytes at a real dispatcher: never a 5xx or crash."""

from __future__ import annotations

import http.client
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dispatcher.conftest import Routes, channel, subscriber
from tests.support.processes import ManagedProcess, free_port, wait_until


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, ManagedProcess]]:
    routes = Routes(Path(tmp_path_factory.mktemp("fuzz")) / "routes.yaml")
    routes.write([channel("orders", subscriber("s1", f"http://127.0.0.1:{free_port()}/"))])
    port = free_port()
    env = {
        "EVENTWIRE_ROUTES_FILE": str(routes.path),
        "EVENTWIRE_PORT": str(port),
        "EVENTWIRE_MAX_BODY_BYTES": "65536",
    }
    proc = ManagedProcess([sys.executable, "-m", "eventwire_runtime", "dispatcher"], env=env)
    try:
        wait_until(lambda: proc.alive() and _ready(port), 15, what="dispatcher ready")
        yield port, proc
    finally:
        proc.stop()


header_names = st.one_of(
    st.sampled_from(
        ["ce-id", "ce-source", "ce-type", "ce-specversion", "ce-subject", "content-type", "traceparent"]
    ),
    st.from_regex(r"ce-[A-Za-z0-9_.]{0,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
)
header_values = st.one_of(
    st.sampled_from(
        [
            "1.0",
            "0.3",
            "",
            "%",
            "%zz",
            "%C3%28",
            "%E2%82%AC",
            "application/cloudevents+json",
            "application/cloudevents-batch+json",
            "application/json",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40),
)
bodies = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from(
        [
            b"{}",
            b"[]",
            b"[{}]",
            b'{"specversion":"1.0"}',
            b'[{"specversion":"1.0","id":"1","source":"/","type":"t"}]',
            b'{"specversion":"1.0","id":"1","source":"/","type":"t","data_base64":"%%%"}',
            b"[" * 5000,
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "OPTIONS", "HEAD", "DELETE"]),
    path=st.sampled_from(
        ["/default/orders", "/default/none", "/", "/a/b/c", "/default/orders?x=%zz", "/%ff/%00"]
    ),
    headers=st.lists(st.tuples(header_names, header_values), max_size=10),
    body=bodies,
)
def test_requests_never_5xx(
    dispatcher: tuple[int, ManagedProcess],
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    port, proc = dispatcher
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value.encode("latin-1"))
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status < 500, (method, path, headers, body[:100])
    assert proc.alive()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=1024))
def test_raw_bytes_never_crash(dispatcher: tuple[int, ManagedProcess], raw: bytes) -> None:
    port, proc = dispatcher
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /default/orders HTTP/1.1\r\n" + raw)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 "):
            assert not line.startswith(b"HTTP/1.1 5"), answer[:200]
    assert proc.alive()
    assert _ready(port)
