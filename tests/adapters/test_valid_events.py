"""Adapters never send an event the dispatcher's ingress refuses: fields from outside (GitHub
payloads and headers, Kubernetes objects) that hold characters a CloudEvents String forbids are
percent-escaped, and overrides that hold them are a configuration error. The other side is a real
dispatcher process (its ingress) with a real subscriber behind it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventwire_runtime.adapters.apiserver_events import to_event as apiserver_event
from eventwire_runtime.adapters.events import SourceEvent, binary_message
from eventwire_runtime.adapters.github import GitHubAdapter
from eventwire_runtime.cloudevents import events_from_request, percent_decode
from eventwire_runtime.cloudevents.types import escape_forbidden
from eventwire_runtime.delivery.errors import EventFormatError
from tests.adapters import github_payloads as gh
from tests.adapters.conftest import make_env, metered_sender, running, wait_for
from tests.dispatcher.conftest import Routes, channel, run_dispatcher, subscriber
from tests.support.sink import Received, Sink


@contextlib.asynccontextmanager
async def channel_with_subscriber(tmp_path: Path) -> AsyncIterator[tuple[str, Sink]]:
    """A real dispatcher with channel default/orders delivering to a sink: (channel URL, sink)."""
    routes = Routes(tmp_path / "routes.yaml")
    async with Sink.start() as sink:
        routes.write([channel("orders", subscriber("s", sink.url))])
        async with run_dispatcher(routes) as d:
            yield d.url("default", "orders"), sink


def attribute(received: Received, name: str) -> str | None:
    value = received.headers.get("ce-" + name)
    return None if value is None else percent_decode(value)


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=io.BytesIO(body), headers=headers) as r,
    ):
        return r.status, await r.text()


# GitHub deliveries whose fields would put forbidden characters into attributes: (event name,
# delivery id, payload, the subject and extensions the subscriber must see).
HOSTILE_DELIVERIES: list[tuple[str, str, dict[str, Any], str | None, dict[str, str]]] = [
    ("release", "r-1", gh.release("v1\r\nx-evil: 1"), "v1%0D%0Ax-evil: 1", {"release": "v1%0D%0Ax-evil: 1"}),
    ("release", "r-2", gh.release(""), None, {}),  # an empty subject is left out
    ("release", "r-3", gh.release("v\ud800\u0085"), "v%ED%A0%80%C2%85", {}),
    (
        "pull_request",
        "p-1\t2",  # a tab is a legal header character but a forbidden CloudEvents one
        {**gh.pull_request(), "sender": {"login": "mal\nlory", "id": 1}},
        "42",
        {"sender": "mal%0Alory"},
    ),
]


async def test_github_fields_with_control_characters_arrive_escaped_through_the_dispatcher(
    tmp_path: Path,
) -> None:
    async with channel_with_subscriber(tmp_path) as (url, sink):
        env = make_env("githubsource", url, GITHUB_OWNER_REPO="acme/widgets", PORT="0")
        async with metered_sender(env) as (sender, _):
            adapter = GitHubAdapter(env, sender)
            async with running(adapter):
                await wait_for(lambda: adapter.ready, within=5)
                webhook = f"http://127.0.0.1:{adapter.bound_port}/"
                for event_name, delivery, payload, _, _ in HOSTILE_DELIVERIES:
                    body = json.dumps(payload).encode("utf-8", "surrogatepass")
                    status, text = await _post(webhook, body, gh.headers(event_name, delivery))
                    assert status == 202, (delivery, text)
        received = await sink.wait_for(len(HOSTILE_DELIVERIES), within=20)
    by_id = {attribute(r, "id"): r for r in received}
    for _, delivery, payload, subject, extensions in HOSTILE_DELIVERIES:
        got = by_id[escape_forbidden(delivery)]
        assert attribute(got, "subject") == subject
        for name, value in extensions.items():
            assert attribute(got, name) == value
        assert "x-evil" not in got.headers
        assert json.loads(got.body) == json.loads(json.dumps(payload)), "the data is the payload as sent"


async def test_kubernetes_object_fields_with_line_breaks_pass_the_dispatcher(tmp_path: Path) -> None:
    """A (hostile or corrupt) object whose name holds a line break ends up in `subject` and the
    `name` extension: the adapter's event is accepted (202) and arrives escaped."""
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm\r\nx-evil: 1", "namespace": "demo", "uid": "u-1", "resourceVersion": "7"},
    }
    event = apiserver_event("Reference", "add", "https://10.0.0.1:443", "v1", "ConfigMap", "configmaps", obj)
    headers, body = binary_message(event)
    async with channel_with_subscriber(tmp_path) as (url, sink):
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            assert response.status == 202, await response.text()
        [got] = await sink.wait_for(1, within=20)
    assert attribute(got, "subject") == "/apis/v1/namespaces/demo/configmaps/cm%0D%0Ax-evil: 1"
    assert attribute(got, "name") == "cm%0D%0Ax-evil: 1"
    assert "x-evil" not in got.headers


def _run_adapter(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventwire_runtime", "adapter", "githubsource"],
        env={**os.environ, "GITHUB_OWNER_REPO": "acme/widgets", "PORT": "0", "METRICS_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("value", ["a\nb", "tab\there", "nul\x00", "del\x7f"])
def test_overrides_with_control_characters_are_a_configuration_error(value: str) -> None:
    overrides = json.dumps({"extensions": {"team": value}})
    result = _run_adapter({"K_SINK": "http://127.0.0.1:9/", "K_CE_OVERRIDES": overrides})
    assert result.returncode == 2, result.stderr
    assert "K_CE_OVERRIDES.extensions.team" in result.stderr
    assert "forbidden character" in result.stderr


def test_an_owner_repo_that_makes_no_source_uri_is_a_configuration_error() -> None:
    result = _run_adapter({"K_SINK": "http://127.0.0.1:9/", "GITHUB_OWNER_REPO": "acme/wid gets"})
    assert result.returncode == 2, result.stderr
    assert "GITHUB_OWNER_REPO" in result.stderr


def test_what_cannot_be_made_valid_is_refused_before_sending() -> None:
    with pytest.raises(EventFormatError, match="'id'"):
        binary_message(SourceEvent(type="t", source="/s", id=""))
    with pytest.raises(EventFormatError, match="'dataschema'"):
        binary_message(SourceEvent(type="t", source="/s", dataschema="relative/only"))


# Any character, and often the ones that break headers or the String type.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(), st.sampled_from(["\r", "\n", "\x00", "\x85", "\ud800", "\ufffe", "%", '"'])
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    event_id=TEXT.filter(bool),
    event_type=TEXT.filter(bool),
    source=TEXT.filter(lambda s: bool(s) and ":" not in s),
    subject=st.none() | TEXT,
    content_type=st.none() | TEXT,
    extension=TEXT,
)
def test_any_field_values_make_an_event_the_ingress_accepts(
    event_id: str, event_type: str, source: str, subject: str | None, content_type: str | None, extension: str
) -> None:
    event = SourceEvent(
        type=event_type,
        source=source,
        id=event_id,
        subject=subject,
        datacontenttype=content_type,
        extensions={"ext": extension},
    )
    headers, body = binary_message(event)
    [parsed] = events_from_request(headers, body)  # the dispatcher's own ingress parser
    assert parsed.attribute("id") == escape_forbidden(event_id)
    assert parsed.attribute("type") == escape_forbidden(event_type)
    assert parsed.attribute("subject") == (escape_forbidden(subject) if subject else None)
    assert parsed.attribute("ext") == escape_forbidden(extension)
    sent_type = parsed.attribute("datacontenttype")
    assert sent_type in (content_type, None)
    assert sent_type is None or (sent_type.isascii() and sent_type.isprintable())


def test_a_content_type_binary_mode_cannot_carry_is_left_out() -> None:
    """Content-Type is the data's type in binary mode: a CloudEvents envelope type there would
    make the ingress read the data as a structured event, and non-ASCII does not survive HTTP."""
    for content_type in (
        "application/cloudevents+json",
        "Application/CloudEvents-Batch+JSON; x=1",
        "text/plain; n=ą",
    ):
        headers, _ = binary_message(
            SourceEvent(type="t", source="/s", data=b"[]", datacontenttype=content_type)
        )
        assert "content-type" not in dict(headers)
    headers, _ = binary_message(
        SourceEvent(type="t", source="/s", datacontenttype="text/plain; charset=utf-8")
    )
    assert dict(headers)["content-type"] == "text/plain; charset=utf-8"
