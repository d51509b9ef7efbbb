"""Hypothesis throws arbitrary headers, bodies and raw bytes at a real dispatcher: never a 5xx or crash."""

from __future__ import annotations

import http.client
import json
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


# Structured and batch bodies: attribute values with control characters, huge or odd numbers.
hostile_text = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=["Cc", "Cs", "Zl", "Zp", "Lu", "Nd"]),
    max_size=12,
)
hostile_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["9" * 5000, "-" + "1" * 4301, "1e400", "-1e999", "NaN", "Infinity", "1.5", "0.0"]),
)
attribute_names = st.sampled_from(
    ["id", "source", "type", "subject", "time", "dataschema", "ext", "datacontenttype"]
)


@st.composite
def hostile_events(draw: st.DrawFn) -> str:
    """One structured event as JSON text, with a hostile value put into one attribute or the data."""
    fields = {"specversion": '"1.0"', "id": '"1"', "source": '"/s"', "type": '"t"'}
    name = draw(attribute_names)
    if draw(st.booleans()):
        fields[name] = json.dumps(draw(hostile_text))
    else:
        fields[draw(st.sampled_from([name, "data"]))] = draw(hostile_numbers)
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(hostile_events(), min_size=1, max_size=3), batch=st.booleans())
def test_hostile_structured_and_batch_bodies(
    dispatcher: tuple[int, ManagedProcess], events: list[str], batch: bool
) -> None:
    port, proc = dispatcher
    body = ("[" + ",".join(events) + "]" if batch else events[0]).encode("utf-8", "surrogatepass")
    content_type = "application/cloudevents-batch+json" if batch else "application/cloudevents+json"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/default/orders", body, {"Content-Type": content_type})
        resp = conn.getresponse()
        status, text = resp.status, resp.read()
    finally:
        conn.close()
    assert status in (202, 400), (status, text[:200], body[:200])
    if any(ch in body for ch in (b"\\r", b"\\n", b"\\u0000", b"\\u001")):
        assert status == 400, body[:200]
    assert proc.alive()
