"""Knative manifests of every API generation convert to the eventwire API, validate there, or
are refused loudly with advice.

The manifests in knative_manifests/ are written in the shapes of Knative's docs and samples at
their release tags: v0.2-v0.7 (eventing.knative.dev/v1alpha1, sources.eventing.knative.dev/v1alpha1),
the later messaging/sources versions and Knative Serving Services. Each `<case>.yaml` has a
`<case>.expected.yaml` beside it; refused/ holds the documents that must fail.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from eventwire.api import convert_knative, is_knative, needs_conversion
from eventwire.api.knative import MAPPINGS, REFERENCE_REFUSALS, REFERENCE_TARGETS, mapping_for
from eventwire.api.knative.mapping import LATER_VERSIONS
from eventwire.api.knative.table import render
from eventwire.cli import main
from eventwire.exceptions import ConversionError

HERE = Path(__file__).parent / "knative_manifests"
ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(
    p for p in HERE.glob("*/*.yaml") if not p.name.endswith(".expected.yaml") and p.parent.name != "refused"
)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def field_differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Every field where `actual` and `expected` differ, as `path: actual != expected`."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return [
            difference
            for key in sorted(set(actual) | set(expected))
            for difference in field_differences(
                actual.get(key), expected.get(key), f"{path}.{key}".lstrip(".")
            )
        ]
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [
            d
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for d in field_differences(a, e, f"{path}[{i}]")
        ]
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]


def test_every_mapping_that_converts_has_a_manifest_here() -> None:
    covered = set()
    for case in CASES:
        for doc in yaml.safe_load_all(case.read_text()):
            group, _, version = doc["apiVersion"].rpartition("/")
            covered.add(id(mapping_for(group, version, doc["kind"])))
    missing = [
        f"{m.group} {m.kind} {m.versions}" for m in MAPPINGS if m.target is not None and id(m) not in covered
    ]
    assert missing == []


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_manifest_converts_field_by_field_and_validates(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Unconverted, validate refuses it and asks for `eventwire convert` (Serving v1 is not ours to check).
    originals = list(yaml.safe_load_all(case.read_text()))
    code, out = run("validate", str(case))
    if any(needs_conversion(doc) for doc in originals):
        assert code == 1
        assert "run `eventwire convert`" in out
    else:
        assert code == 0, out
        assert "skipped" in out

    code, out = run("convert", str(case))
    assert code == 0, capsys.readouterr().err
    converted = list(yaml.safe_load_all(out))
    expected = list(yaml.safe_load_all(case.with_name(case.stem + ".expected.yaml").read_text()))
    assert len(converted) == len(expected)
    for actual, wanted in zip(converted, expected, strict=True):
        assert field_differences(actual, wanted) == []
        assert not needs_conversion(actual)

    converted_file = tmp_path / "converted.yaml"
    converted_file.write_text(out)
    code, report = run("validate", str(converted_file))
    assert code == 0, report
    assert "0 invalid" in report


REFUSALS: dict[str, tuple[str, ...]] = {
    "broker-channeltemplatespec-kafka": ("spec.channelTemplateSpec is a KafkaChannel", "type: jetstream"),
    "broker-kafka-class": ("Broker", "the Kafka broker class", "type: jetstream", "type: redis"),
    "trigger-brokerref-other-namespace": ("Trigger", "namespace platform", "create the Trigger there"),
    "trigger-dependency-kafkasource": (
        "metadata.annotations[knative.dev/dependency] names a KafkaSource",
        "or remove the annotation",
    ),
    "trigger-dependency-not-json": ("knative.dev/dependency] must be a JSON object reference",),
    "ccp-kafka": (
        "ClusterChannelProvisioner",
        "kafka provisioner (Apache Kafka)",
        "type: jetstream",
        "type: redis",
    ),
    "channel-gcp-pubsub": ("Channel", "gcp-pubsub provisioner", "spec.jetstream.url", "spec.redis.url"),
    "channel-template-kafka": ("spec.channelTemplate is a KafkaChannel", "type: jetstream", "type: redis"),
    "channel-natss": ("Channel", "natss provisioner (NATS Streaming)", "type: jetstream"),
    "containersource-without-sink": ("ContainerSource", "has no spec.sink", "set spec.sink"),
    "eventtype": ("EventType", "drop the EventType"),
    "kafkachannel": ("KafkaChannel", "type: jetstream", "name it in spec.provisioner"),
    "kafkasource-legacy": ("KafkaSource", "as a ContainerSource"),
    "legacy-unknown-field": ("spec.shedule is not a field of CronJobSource",),
    "pingsource-sink-sequence": ("spec.sink.ref points at a Sequence", "chain Channels"),
    "sequence": ("Sequence", "chain Channels with Subscriptions"),
    "serving-v1alpha1-pinned": ("spec.pinned", "serving.knative.dev/v1 with spec.template"),
    "sinkbinding": ("SinkBinding", "use a ContainerSource"),
    "subscription-channel-and-from": ("sets both spec.from and spec.channel", "keep spec.channel"),
    "subscription-dnsname-and-ref": ("spec.subscriber sets dnsName together with ref", "keep one"),
    "unknown-group": ("kafka.eventing.knative.dev/v1alpha1 KafkaSink is not converted", "use a Channel"),
    "unknown-version": (
        "messaging.knative.dev/v2 Channel",
        "known in messaging.knative.dev v1alpha1, v1beta1, v1",
    ),
}


def test_every_refusal_fixture_is_checked() -> None:
    assert {p.stem for p in (HERE / "refused").glob("*.yaml")} == set(REFUSALS)


@pytest.mark.parametrize(("name", "advice"), REFUSALS.items(), ids=list(REFUSALS))
def test_refusal_names_the_kind_and_what_to_use_instead(
    name: str, advice: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    path = HERE / "refused" / f"{name}.yaml"
    code, out = run("convert", str(path))
    err = capsys.readouterr().err
    assert code == 1
    assert list(yaml.safe_load_all(out)) == []
    for text in advice:
        assert text in err
    code, out = run("validate", "--knative", str(path))
    assert code == 1
    assert advice[0] in out


def test_convert_keeps_going_and_fails_at_the_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        (HERE / "refused/sequence.yaml").read_text()
        + "---\n"
        + (HERE / "v0.2-v0.7/channel-cluster-default.yaml").read_text()
    )
    code, out = run("convert", str(path))
    assert code == 1
    assert [doc["kind"] for doc in yaml.safe_load_all(out)] == ["Channel"]
    assert "flows.knative.dev/v1 Sequence is not converted" in capsys.readouterr().err


GROUPS = sorted(
    {m.group for m in MAPPINGS}
    | {"knative.dev", "kafka.eventing.knative.dev", "operator.knative.dev", "networking.internal.knative.dev"}
)
KINDS = sorted({m.kind for m in MAPPINGS} | {"KafkaSink", "Foo", "RabbitmqSource"})
VERSIONS = sorted({*LATER_VERSIONS, "v1beta3", "v2"})
ADVICE_WORDS = (
    "use ",
    "point ",
    "create ",
    "write ",
    "drop ",
    "remove ",
    "run ",
    "chain ",
    "rewrite ",
    "set ",
    "keep ",
)


@pytest.mark.parametrize("group", GROUPS)
def test_every_knative_group_kind_and_version_converts_or_fails_loudly(group: str) -> None:
    for kind, version in itertools.product(KINDS, VERSIONS):
        manifest = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": "x"}, "spec": {}}
        assert is_knative(manifest)
        try:
            resource = convert_knative(manifest).resource
        except ConversionError as exc:
            message = str(exc)
            assert f"{group}/{version} {kind}" in message
            assert any(word in message for word in ADVICE_WORDS), message
            continue
        # Converted: into eventwire's API, or a Knative Serving v1 resource eventwire runs on.
        assert not needs_conversion(resource), resource
        assert resource["apiVersion"] != manifest["apiVersion"] or group == "serving.knative.dev"


_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
# Field names the rules look at, so that malformed values reach them, and any other name.
_FIELD = _NAME | st.sampled_from(
    [
        "sink",
        "subscriber",
        "reply",
        "channel",
        "provisioner",
        "template",
        "image",
        "args",
        "data",
        "jsonData",
        "resources",
        "mode",
        "namespace",
        "delivery",
        "channelTemplate",
        "from",
        "call",
        "result",
        "runLatest",
        "selector",
        "schedule",
        "configuration",
        "revisionTemplate",
        "spec",
        "container",
        "controllerSelector",
        "labelSelector",
        "deadLetterSink",
        "ref",
        "uri",
        "dnsName",
        "kind",
        "name",
        "apiVersion",
    ]
)
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_FIELD, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=1000, deadline=None)
@given(
    # Mostly what the table knows, with malformed contents; otherwise any group, version and kind.
    target=st.sampled_from([(m.group, v, m.kind) for m in MAPPINGS for v in m.versions])
    | st.tuples(
        st.sampled_from(GROUPS) | st.lists(_NAME, max_size=3).map(lambda p: ".".join([*p, "knative.dev"])),
        st.sampled_from([*VERSIONS, "v3alpha1"]),
        st.sampled_from(KINDS) | st.from_regex(r"[A-Z][A-Za-z]{0,20}", fullmatch=True),
    ),
    spec=st.dictionaries(_FIELD, _VALUE, max_size=4),
    metadata=st.fixed_dictionaries({"name": st.just("x")}) | _VALUE,
)
def test_any_knative_document_converts_or_fails_loudly(
    target: tuple[str, str, str], spec: dict[str, Any], metadata: Any
) -> None:
    group, version, kind = target
    manifest = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": metadata, "spec": spec}
    try:
        resource = convert_knative(manifest).resource
    except ConversionError as exc:
        message = str(exc)
    else:
        assert not needs_conversion(resource)
        return
    assert kind in message


@pytest.mark.parametrize(("group", "kind"), sorted(REFERENCE_TARGETS))
def test_sink_references_to_the_kinds_we_have_resolve(group: str, kind: str) -> None:
    for version in ("v1alpha1", "v1beta1", "v1"):
        ref = {"apiVersion": f"{group}/{version}", "kind": kind, "name": "target", "namespace": "ns"}
        manifest = {
            "apiVersion": "sources.knative.dev/v1",
            "kind": "PingSource",
            "metadata": {"name": "p"},
            "spec": {"schedule": "* * * * *", "sink": {"ref": ref}},
        }
        sink = convert_knative(manifest).resource["spec"]["sink"]
        target = REFERENCE_TARGETS[(group, kind)]
        assert sink == {
            "ref": {
                "apiVersion": target.api_version,
                "kind": target.kind,
                "name": "target",
                "namespace": "ns",
            }
        }


@pytest.mark.parametrize(("group", "kind"), sorted(REFERENCE_REFUSALS))
def test_references_to_kinds_we_lack_are_refused(group: str, kind: str) -> None:
    for field in ("sink", "subscriber", "reply"):
        manifest = {
            "apiVersion": "messaging.knative.dev/v1",
            "kind": "Subscription",
            "metadata": {"name": "s"},
            "spec": {
                "channel": {"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "c"},
                field: {"ref": {"apiVersion": f"{group}/v1", "kind": kind, "name": "x"}},
            },
        }
        if field == "sink":
            manifest = {**manifest, "apiVersion": "sources.knative.dev/v1", "kind": "PingSource"}
            manifest["spec"] = {"schedule": "* * * * *", "sink": manifest["spec"]["sink"]}
        with pytest.raises(ConversionError, match=f"spec.{field}.ref points at a {kind}") as refused:
            convert_knative(manifest)
        assert REFERENCE_REFUSALS[(group, kind)] in str(refused.value)


def test_references_outside_knative_are_kept() -> None:
    ref = {"apiVersion": "example.com/v1", "kind": "Gateway", "name": "edge"}
    manifest = {
        "apiVersion": "sources.eventing.knative.dev/v1alpha1",
        "kind": "CronJobSource",
        "metadata": {"name": "c"},
        "spec": {"schedule": "* * * * *", "sink": {**ref, "uid": "1234", "resourceVersion": "9"}},
    }
    assert convert_knative(manifest).resource["spec"]["sink"] == {"ref": ref}


def test_notes_explain_dropped_and_renamed_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("convert", str(HERE / "v0.2-v0.7/channel-with-provisioner.yaml"))
    err = capsys.readouterr().err
    assert code == 0
    assert "spec.arguments dropped" in err
    assert "spec.subscribable dropped" in err
    assert "provisioner in-memory-channel became eventwire's in-memory" in err


def test_conversion_does_not_change_its_input() -> None:
    manifest = yaml.safe_load((HERE / "v0.2-v0.7/containersource-flat.yaml").read_text())
    before = repr(manifest)
    convert_knative(manifest)
    assert repr(manifest) == before


def test_server_fields_and_status_are_stripped() -> None:
    (manifest,) = yaml.safe_load_all(
        (HERE / "v0.2-v0.7/clusterchannelprovisioner-in-memory.yaml").read_text()
    )
    resource = convert_knative(manifest).resource
    assert "status" not in resource
    assert resource["metadata"] == {"name": "in-memory"}


def test_the_documented_table_is_the_converters_mapping() -> None:
    documented = (ROOT / "docs/knative-conversion.md").read_text()
    assert documented == render(), (
        "regenerate: python -m eventwire.api.knative.table > docs/knative-conversion.md"
    )
    for mapping in MAPPINGS:
        assert f"{mapping.kind}" in documented
