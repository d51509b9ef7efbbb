"""Broker and Trigger manifests in the shapes the Knative docs show that eventwire does not take:
backends and kinds it lacks are refused by `eventwire convert` with advice, and the docs'
placeholder, mis-indented and elided snippets are caught by `eventwire convert` or `eventwire
validate`, naming the field. (The docs' shapes that do convert are cases in
knative_manifests/docs/, checked field by field by test_knative.py.)
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from eventwire.cli import main

HERE = Path(__file__).parent / "knative_docs"

# fixture -> texts the refusal must contain (the kind, the reason, the advice)
REFUSED: dict[str, tuple[str, ...]] = {
    "broker-rabbitmq-class": ("v1 Broker", "the RabbitMQBroker broker class", "type: jetstream"),
    "broker-kafka-namespaced-class": ("v1 Broker", "the KafkaNamespaced broker class", "type: redis"),
    "broker-dead-letter-jobsink": ("spec.delivery.deadLetterSink.ref points at a JobSink", "or set uri"),
    "trigger-subscriber-sequence": ("spec.subscriber.ref points at a Sequence", "chain Channels"),
    "trigger-subscriber-eventtransform": ("spec.subscriber.ref points at a", "EventTransform", "set uri"),
}

# fixture -> the problems `eventwire validate` reports after conversion
INVALID: dict[str, tuple[str, ...]] = {
    "broker-name-placeholder": ("metadata.name: '<broker-name>' is not a DNS-1123 subdomain",),
    "broker-delivery-placeholders": (
        "spec.delivery.retry: '<integer>' is not of type 'integer'",
        "spec.delivery.backoffPolicy: '<policy-type>' is not one of 'linear', 'exponential'",
        "spec.delivery.backoffDelay: '<duration>' does not have the expected form",
    ),
    "trigger-attribute-placeholder": (
        "spec.filter.attributes: attribute names are lower-case letters and digits",
    ),
    "trigger-subscriber-indented-under-filter": (
        "spec.subscriber: required field is missing",
        "spec.filter.subscriber: unknown field",
    ),
    "trigger-filters-not-a-list": (
        "spec.filters: {'exact': {'type': 'dev.example.a'}} is not of type 'array'",
    ),
    "trigger-ref-without-apiversion": ("spec.subscriber.ref.apiVersion: required field is missing",),
}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_every_fixture_is_checked() -> None:
    assert {p.stem for p in (HERE / "refused").glob("*.yaml")} == set(REFUSED)
    assert {p.stem for p in (HERE / "invalid").glob("*.yaml")} == {*INVALID, "trigger-elided-fragment"}


@pytest.mark.parametrize(("name", "texts"), REFUSED.items(), ids=list(REFUSED))
def test_refused_with_advice(name: str, texts: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run("convert", str(HERE / "refused" / f"{name}.yaml"))
    err = capsys.readouterr().err
    assert code == 1
    assert out.strip() == ""
    for text in texts:
        assert text in err


@pytest.mark.parametrize(("name", "problems"), INVALID.items(), ids=list(INVALID))
def test_invalid_snippets_convert_and_fail_validation_naming_the_field(
    name: str, problems: tuple[str, ...], tmp_path: Path
) -> None:
    code, out = run("convert", str(HERE / "invalid" / f"{name}.yaml"))
    assert code == 0
    converted = tmp_path / "converted.yaml"
    converted.write_text(out)
    code, report = run("validate", str(converted))
    assert code == 1
    assert "1 invalid" in report
    for problem in problems:
        assert problem in report


def test_an_elided_snippet_is_not_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run("convert", str(HERE / "invalid" / "trigger-elided-fragment.yaml"))
    assert code == 1
    assert out.strip() == ""
    assert "not valid YAML" in capsys.readouterr().err
