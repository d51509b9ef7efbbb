"""The CloudEvents conformance cases, replayed through a real dispatcher to SDK-parsing subscribers.

`data/cloudevents_cases.json` holds the CloudEvents project's HTTP conformance cases and the HTTP
binding's edge cases (specversion 0.3 and 1.0, binary, structured and batch mode), rewritten as
this project's fixtures. Each case is sent byte for byte to its own channel, which has two
subscribers: one takes binary delivery, one structured. Both parse what they get with the
`cloudevents` SDK. A valid case must arrive at both equal in every attribute and in its data; an
invalid one must be answered 400 and deliver nothing. `EXTRA_CASES` adds the defects reported in
issue 10 in the same form.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v03.event import CloudEvent as CloudEventV03
from cloudevents.core.v1.event import CloudEvent as CloudEventV1
from dateutil.parser import isoparse

from tests.dispatcher import rawhttp
from tests.dispatcher.conftest import Routes, RunningDispatcher, binary_and_structured, run_dispatcher
from tests.support.sink import Received, Sink

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "cloudevents_cases.json").read_text()
)

_MIN = [["ce-id", "x-1"], ["ce-source", "/x"], ["ce-type", "t.x"]]


def _binary(*headers: tuple[str, str], version: str = "1.0") -> list[list[str]]:
    return [["ce-specversion", version], *_MIN, *[list(h) for h in headers]]


def _structured(**attrs: Any) -> str:
    return json.dumps({"specversion": "1.0", "id": "x-1", "source": "/x", "type": "t.x", **attrs})


def _valid(attributes: dict[str, Any], data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"valid": True, "attributes": attributes, **({"data": data} if data else {})}


_X = {"id": "x-1", "source": "/x", "type": "t.x"}
STRUCTURED_CT = [["Content-Type", "application/cloudevents+json"]]
BATCH_CT = [["Content-Type", "application/cloudevents-batch+json"]]


def _refused(name: str, *headers: tuple[str, str], version: str = "1.0", body: str = "") -> dict[str, Any]:
    """A binary-mode case the dispatcher must answer 400."""
    return {"name": name, "headers": _binary(*headers, version=version), "body": body, "valid": False}


def _refused_body(name: str, body: str, mode: str = "structured") -> dict[str, Any]:
    """A structured- or batch-mode case the dispatcher must answer 400."""
    headers = BATCH_CT if mode == "batch" else STRUCTURED_CT
    return {"name": name, "mode": mode, "headers": headers, "body": body, "valid": False}


# Issue 10's reports, as cases (name, mode, headers, body, expectation).
EXTRA_CASES: list[dict[str, Any]] = [
    {
        "name": "quoted specversion",
        "headers": [["ce-specversion", '"1.0"'], *_MIN, ["content-type", "text/plain"]],
        "body": "x",
        **_valid({"specversion": "1.0", **_X, "datacontenttype": "text/plain"}, {"bytes_utf8": "x"}),
    },
    {
        "name": "quoted subject with percent-encoding inside",
        "headers": _binary(("ce-subject", '"a \\"b\\" %E2%82%AC"')),
        "body": "",
        **_valid({"specversion": "1.0", **_X, "subject": 'a "b" €'}),
    },
    {
        "name": "unencoded quote and space in an extension are taken as they are",
        "headers": _binary(("ce-note", 'say "hi"')),
        "body": "",
        **_valid({"specversion": "1.0", **_X, "note": 'say "hi"'}),
    },
    _refused("ce-datacontenttype in binary mode", ("ce-datacontenttype", "text/plain"), body="x"),
    _refused(
        "ce-datacontenttype next to Content-Type",
        ("ce-datacontenttype", "text/plain"),
        ("content-type", "application/json"),
        body="{}",
    ),
    _refused("time that is not a timestamp", ("ce-time", "yesterday")),
    _refused("time without a zone", ("ce-time", "2018-04-05T03:56:24")),
    _refused("time with a month 13", ("ce-time", "2018-13-05T03:56:24Z")),
    {
        "name": "time with fractions and an offset",
        "headers": _binary(("ce-time", "2018-04-05T03:56:24.123456+02:00")),
        "body": "",
        **_valid({"specversion": "1.0", **_X, "time": "2018-04-05T03:56:24.123456+02:00"}),
    },
    _refused("source that is not a URI-reference", ("ce-source", "a b")),
    _refused("dataschema that is not an absolute URI", ("ce-dataschema", "/rel")),
    _refused("empty subject", ("ce-subject", "")),
    _refused("unknown specversion", version="2.0"),
    _refused("percent-encoded CR LF in a header", ("ce-subject", "a%0D%0Ax-evil:%201")),
    _refused("broken percent-encoding", ("ce-subject", "a%2")),
    _refused_body("structured: CR LF in an attribute", _structured(subject="a\r\nx-evil: 1")),
    _refused_body("structured: CR LF in an extension", _structured(ext="a\r\n\r\nPOST / HTTP/1.1")),
    _refused_body("structured: NUL in the id", _structured(id="a\u0000b")),
    _refused_body("structured: C1 control in the type", _structured(type="a\u0085b")),
    _refused_body(
        "structured: CR LF in datacontenttype",
        _structured(datacontenttype="text/plain\r\nx-evil: 1", data="x"),
    ),
    _refused_body(
        "batch: CR LF in an attribute",
        "[" + _structured(subject="ok") + "," + _structured(subject="a\nb") + "]",
        mode="batch",
    ),
    _refused_body(
        "structured: integer of 5000 digits in an extension",
        _structured()[:-1] + ', "big": ' + "9" * 5000 + "}",
    ),
    _refused_body(
        "structured: integer of 5000 digits in the data",
        _structured()[:-1] + ', "data": [' + "9" * 5000 + "]}",
    ),
    _refused_body(
        "batch: integer of 5000 digits",
        "[" + _structured()[:-1] + ', "big": ' + "1" * 5000 + "}]",
        mode="batch",
    ),
    _refused_body("structured: extension integer beyond 32 bits", _structured(big=2**31)),
    _refused_body("structured: NaN in the data", _structured()[:-1] + ', "data": NaN}'),
    _refused_body("structured: time that is not a timestamp", _structured(time="yesterday")),
    _refused_body("structured: subject that is a number", _structured(subject=5)),
    _refused_body("structured: extension that is a float", _structured(ratio=0.5)),
    {
        "name": "structured 0.3 with base64 data",
        "mode": "structured",
        "headers": STRUCTURED_CT,
        "body": json.dumps(
            {
                "specversion": "0.3",
                **_X,
                "datacontenttype": "application/octet-stream",
                "datacontentencoding": "base64",
                "data": "AAEC/w==",
            }
        ),
        **_valid(
            {"specversion": "0.3", **_X, "datacontenttype": "application/octet-stream"},
            {"bytes_base64": "AAEC/w=="},
        ),
    },
    {
        "name": "structured: typed extensions",
        "mode": "structured",
        "headers": STRUCTURED_CT,
        "body": _structured(count=42, flag=True, neg=-(2**31), text="5"),
        **_valid({"specversion": "1.0", **_X, "count": 42, "flag": True, "neg": -(2**31), "text": "5"}),
    },
]


@dataclass
class Replay:
    dispatcher: RunningDispatcher
    binary: Sink
    structured: Sink


def _all_cases() -> list[dict[str, Any]]:
    return [*CASES, *({"mode": "binary", **case} for case in EXTRA_CASES)]


@pytest.fixture
async def replay(tmp_path: Path) -> AsyncIterator[Replay]:
    routes = Routes(tmp_path / "routes.yaml")
    async with Sink.start() as binary, Sink.start() as structured:
        routes.write(
            [
                binary_and_structured(f"c{i}", f"{binary.url}c{i}", f"{structured.url}c{i}")
                for i in range(len(_all_cases()))
            ]
        )
        async with run_dispatcher(routes) as dispatcher:
            yield Replay(dispatcher, binary, structured)


def sdk_event(rec: Received) -> Any:
    """The event as the CloudEvents SDK reads the request."""
    return from_http(HTTPMessage(rec.headers, rec.body), JSONFormat())


def _expected_data(case: dict[str, Any]) -> tuple[str, Any] | None:
    data = case.get("data")
    if data is None:
        return None
    [(kind, value)] = data.items()
    return kind, value


def _check_attributes(event: Any, rec: Received, expected: dict[str, Any], structured: bool) -> None:
    got = dict(event.get_attributes())
    if structured and got.get("specversion") == "0.3":
        got.pop("datacontentencoding", None)  # the SDK keeps the 0.3 envelope's data encoding
    if "time" not in expected:
        # The SDK stamps events that have no time; the request must not have carried one.
        assert "ce-time" not in rec.headers
        assert not structured or "time" not in json.loads(rec.body)
        got.pop("time", None)
    want = dict(expected)
    if "time" in want:
        want["time"] = isoparse(want["time"])
    if not structured:
        # Binary mode has no types: the binding's canonical strings.
        want = {
            k: (("true" if v else "false") if isinstance(v, bool) else str(v)) if k != "time" else v
            for k, v in want.items()
        }
    assert got == want


def _check_data(event: Any, rec: Received, case: dict[str, Any], structured: bool) -> None:
    expected = _expected_data(case)
    content_type = case["attributes"].get("datacontenttype")
    is_json = content_type is None or JSONFormat.JSON_CONTENT_TYPE_PATTERN.match(content_type)
    if expected is None:
        assert event.get_data() in (None, b"", "")
        return
    kind, value = expected
    if kind == "json":
        raw: bytes = json.dumps(value).encode()
    elif kind == "bytes_base64":
        raw = base64.b64decode(value)
    else:  # text / bytes_utf8
        raw = value.encode("utf-8")
    if not structured:
        if kind == "json" or (case.get("mode") == "structured" and is_json):
            assert json.loads(rec.body) == json.loads(raw)  # re-serialised from the JSON envelope
        else:
            assert rec.body == raw  # binary in, binary out: every byte
        return
    data = event.get_data()
    if kind == "bytes_base64":
        assert data == raw
    elif is_json:
        assert data == json.loads(raw)
    else:
        assert data == raw.decode("utf-8")


def _by_path(sink: Sink, index: int) -> list[Received]:
    return [r for r in sink.received if r.path == f"/c{index}"]


async def test_every_case_through_a_running_dispatcher(replay: Replay) -> None:
    cases = _all_cases()
    expected_deliveries = 0
    answers = []
    for index, case in enumerate(cases):
        if "headers" not in case:
            continue  # an encoder rule: checked on every delivery below
        answer = await rawhttp.send(
            replay.dispatcher.port, "POST", f"/default/c{index}", case["headers"], case["body"].encode()
        )
        answers.append((case["name"], answer.status, answer.body[:200]))
        if case["valid"]:
            expected_deliveries += len(case.get("batch_ids", [None]))
    # Bounded waits; a delivery that never comes fails its case below, by name.
    with contextlib.suppress(TimeoutError):
        await replay.binary.wait_for(expected_deliveries)
    with contextlib.suppress(TimeoutError):
        await replay.structured.wait_for(expected_deliveries, within=2.0)

    agreed, failures = [], []
    for index, case in enumerate(cases):
        try:
            _check_case(replay, index, case, {n: (s, b) for n, s, b in answers}.get(case["name"]))
        except AssertionError as exc:
            failures.append(f"{case['name']}: {exc}")
        else:
            agreed.append(index)
    shared = sum(1 for i in agreed if i < len(CASES))
    print(
        f"agreed with {shared} of {len(CASES)} conformance cases"
        f" and {len(agreed) - shared} of {len(EXTRA_CASES)} extra cases"
    )
    assert not failures, "\n".join(failures)


def _check_case(replay: Replay, index: int, case: dict[str, Any], answer: tuple[int, bytes] | None) -> None:
    binary, structured = _by_path(replay.binary, index), _by_path(replay.structured, index)
    for rec in replay.binary.received:  # the binding's encoder rules hold for every delivery
        for name in case.get("forbidden_headers", []):
            assert name not in rec.headers
    if answer is None:  # an encoder-only case
        assert "forbidden_headers" in case or "encode" in case
        return
    status, body = answer
    if not case["valid"]:
        assert status == 400, (status, body)
        assert b"invalid CloudEvent" in body
        assert binary == []
        assert structured == []
        return
    assert status == 202, (status, body)
    if "batch_ids" in case:
        assert sorted(r.headers["ce-id"] for r in binary) == case["batch_ids"]
        assert sorted(sdk_event(r).get_id() for r in structured) == case["batch_ids"]
        return
    assert (len(binary), len(structured)) == (1, 1)
    assert "ce-datacontenttype" not in binary[0].headers
    assert structured[0].headers["content-type"].startswith("application/cloudevents+json")
    for rec, is_structured in ((binary[0], False), (structured[0], True)):
        event = sdk_event(rec)
        _check_attributes(event, rec, case["attributes"], is_structured)
        _check_data(event, rec, case, is_structured)
    encode = case.get("encode")
    if encode:  # our re-encoding of the header is the spec's
        assert binary[0].headers["ce-" + encode["attribute"]] == encode["header"]


# --- round trips with the SDK's own encoders ----------------------------------------------------

ROUND_TRIP_ATTRIBUTES = {
    "type": "com.example.rt",
    "subject": 'Euro € 😀 100% "quoted"',
    "time": isoparse("2024-02-29T23:59:59.5Z"),
    "exttext": "plain text, with spaces and ünïcode",
}


def _sdk_events() -> list[tuple[str, Any]]:
    v1 = {
        **ROUND_TRIP_ATTRIBUTES,
        "source": "/rt/source",
        "specversion": "1.0",
        "dataschema": "https://s/x.json",
    }
    v03 = {**ROUND_TRIP_ATTRIBUTES, "source": "/rt/source", "specversion": "0.3", "schemaurl": "/x.json"}
    return [
        ("v1-json", CloudEventV1({**v1, "id": "rt-1", "datacontenttype": "application/json"}, {"a": [1, 2]})),
        (
            "v1-bytes",
            CloudEventV1(
                {**v1, "id": "rt-2", "datacontenttype": "application/octet-stream"}, b"\x00\x01\xfe\xff"
            ),
        ),
        ("v1-text", CloudEventV1({**v1, "id": "rt-3", "datacontenttype": "text/plain"}, "héllo")),
        (
            "v03-json",
            CloudEventV03({**v03, "id": "rt-4", "datacontenttype": "application/json"}, {"b": True}),
        ),
        (
            "v03-bytes",
            CloudEventV03({**v03, "id": "rt-5", "datacontenttype": "application/octet-stream"}, b"\x00\xff"),
        ),
    ]


@pytest.mark.parametrize("encoding", ["binary", "structured"])
async def test_sdk_round_trips(tmp_path: Path, encoding: str) -> None:
    routes = Routes(tmp_path / "routes.yaml")
    async with Sink.start() as binary, Sink.start() as structured:
        routes.write([binary_and_structured("rt", binary.url, structured.url)])
        async with run_dispatcher(routes) as dispatcher:
            events = _sdk_events()
            for _, event in events:
                encode = to_binary if encoding == "binary" else to_structured
                message = encode(event, JSONFormat())
                answer = await rawhttp.send(
                    dispatcher.port, "POST", "/default/rt", list(message.headers.items()), message.body
                )
                assert answer.status == 202, answer.body
            await binary.wait_for(len(events))
            await structured.wait_for(len(events))
        for sink in (binary, structured):
            got = {e.get_id(): e for e in map(sdk_event, sink.received)}
            for _, sent in events:
                back = got[sent.get_id()]
                attributes = dict(back.get_attributes())
                if sink is structured and sent.get_specversion() == "0.3":
                    attributes.pop("datacontentencoding", None)  # see _check_attributes
                assert attributes == sent.get_attributes()
                assert back.get_data() == sent.get_data()


async def test_typed_extensions_keep_their_type_through_every_backend(
    routes: Routes, any_backend: dict[str, str]
) -> None:
    """Structured in, stored (JetStream/Redis) or queued, structured out: Integer and Boolean stay typed."""
    sent = {
        "specversion": "1.0",
        "id": "typed",
        "source": "/t",
        "type": "t",
        "count": -7,
        "flag": False,
        "s": "7",
    }
    async with Sink.start() as binary, Sink.start() as structured:
        routes.write([binary_and_structured("typed", binary.url, structured.url)])
        async with run_dispatcher(routes, **any_backend) as d:
            body = json.dumps(sent).encode()
            for _ in range(40):  # until delivered: a persistent backend's consumers may still be starting
                answer = await rawhttp.send(
                    d.port, "POST", "/default/typed", [("Content-Type", "application/cloudevents+json")], body
                )
                assert answer.status == 202, answer.raw
                with contextlib.suppress(TimeoutError):
                    await structured.wait_for(1, within=0.5)
                    await binary.wait_for(1, within=10)
                    break
    back = sdk_event(structured.received[0]).get_attributes()
    assert {k: back[k] for k in sent} == sent
    assert binary.received[0].headers["ce-count"] == "-7"
    assert binary.received[0].headers["ce-flag"] == "false"
