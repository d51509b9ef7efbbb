"""Broker and Trigger: what the CRDs accept, and the Trigger filters `eventwire validate` refuses."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventwire.api import EVENTING_GROUP, kind_named, render_crd, resource_errors
from eventwire.cli import main
from tests.api.factories import make, with_spec

REF = {"apiVersion": "v1", "kind": "Service", "name": "display"}


def errors_of(resource: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(error) for error in resource_errors(resource, old)]


def trigger(**spec: Any) -> dict[str, Any]:
    return with_spec("Trigger", **spec)


def test_the_kinds_live_in_the_eventing_group() -> None:
    for name in ("Broker", "Trigger"):
        kind = kind_named(name)
        assert kind.group == EVENTING_GROUP == "eventing.eventwire.dev"
        assert kind.api_version == "eventing.eventwire.dev/v1"
        assert render_crd(kind)["spec"]["names"]["categories"] == ["all", "eventwire", "eventing"]


def test_printer_columns_follow_knative() -> None:
    def columns(kind: str) -> list[str]:
        version = render_crd(kind_named(kind))["spec"]["versions"][0]
        return [column["name"] for column in version["additionalPrinterColumns"]]

    assert columns("Broker") == ["Provisioner", "URL", "Ready", "Reason", "Age"]
    assert columns("Trigger") == ["Broker", "Subscriber", "Ready", "Reason", "Age"]


VALID: list[tuple[str, dict[str, Any]]] = [
    (
        "broker with everything",
        with_spec(
            "Broker",
            provisioner="jetstream",
            delivery={"retry": 3, "backoffDelay": "PT1S", "deadLetterSink": {"ref": REF}},
        ),
    ),
    ("trigger without filters", trigger()),
    ("legacy attributes with any value", trigger(filter={"attributes": {"type": "a.b", "myext": ""}})),
    (
        "every dialect",
        trigger(
            filters=[
                {"exact": {"type": "a"}, "suffix": {"source": "/x"}},
                {"prefix": {"type": "a"}},
                {"all": [{"exact": {"type": "a"}}, {"cesql": "EXISTS subject"}]},
                {"any": [{"not": {"prefix": {"type": "b"}}}, {"cesql": "LENGTH(id) > 3"}]},
                {"not": {"any": [{"exact": {"type": "c"}}]}},
                {"cesql": "type IN ('a', 'b') AND source LIKE '%/orders'"},
            ]
        ),
    ),
    (
        "filters next to filter",
        trigger(filters=[{"exact": {"type": "a"}}], filter={"attributes": {"type": "b"}}),
    ),
    ("trigger delivery", trigger(delivery={"retry": 2, "deadLetterSink": {"uri": "http://dls.default.svc"}})),
]


@pytest.mark.parametrize("resource", [r for _, r in VALID], ids=[n for n, _ in VALID])
def test_valid(resource: dict[str, Any]) -> None:
    assert errors_of(resource) == []


# (case, resource, the exact list of errors)
INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "cesql that does not parse",
        trigger(filters=[{"cesql": "type = 'a' AND"}]),
        [
            "spec.filters[0].cesql: CloudEvents SQL does not parse: expected an expression, found the end of the expression (at column 15)"
        ],
    ),
    (
        "cesql nested in any and not",
        trigger(
            filters=[
                {"exact": {"type": "a"}},
                {"any": [{"exact": {"type": "b"}}, {"not": {"cesql": "source LIKE 5"}}]},
            ]
        ),
        [
            "spec.filters[1].any[1].not.cesql: CloudEvents SQL does not parse: the pattern of LIKE must be a string literal, found '5' (at column 13)"
        ],
    ),
    (
        "cesql calling an unknown function",
        trigger(filters=[{"cesql": "LOWERCASE(type) = 'a'"}]),
        ["spec.filters[0].cesql: CloudEvents SQL calls unknown functions (name/arity): LOWERCASE/1"],
    ),
    (
        "empty exact value, reported once",
        trigger(filters=[{"exact": {"type": ""}}]),
        ["spec.filters[0].exact: exact values must not be empty"],
    ),
    (
        "attribute name with upper case",
        trigger(filter={"attributes": {"Type": "a"}}),
        ["spec.filter.attributes: attribute names are lower-case letters and digits"],
    ),
    (
        "unknown dialect",
        trigger(filters=[{"sql": "type = 'a'"}]),
        ["spec.filters[0].sql: unknown field (known fields: all, any, cesql, exact, not, prefix, suffix)"],
    ),
    (
        "unknown nested dialect",
        trigger(filters=[{"all": [{"regex": {"type": "a.*"}}]}]),
        [
            "spec.filters[0].all[0].regex: unknown filter dialect (known: exact, prefix, suffix, all, any, not, cesql)"
        ],
    ),
    (
        "nested empty value",
        trigger(filters=[{"not": {"suffix": {"type": ""}}}]),
        [
            "spec.filters[0].not.suffix.type: the value must not be empty (an empty suffix would match anything)"
        ],
    ),
    ("trigger without broker", trigger(broker=None), ["spec.broker: required field is missing"]),
    ("trigger without subscriber", trigger(subscriber=None), ["spec.subscriber: required field is missing"]),
    (
        "broker name not a DNS name",
        trigger(broker="My_Broker"),
        [
            "spec.broker: 'My_Broker' does not have the expected form: The name of the Broker, in the Trigger's namespace, whose events this Trigger receives. Immutable."
        ],
    ),
    (
        "broker delivery with a bad duration",
        with_spec("Broker", delivery={"backoffDelay": "1s"}),
        [
            "spec.delivery.backoffDelay: '1s' does not have the expected form: The base delay between retries. An ISO-8601 duration such as PT0.2S, PT5M or P1DT2H."
        ],
    ),
    (
        "broker with Knative's config",
        with_spec("Broker", config={"apiVersion": "v1", "kind": "ConfigMap", "name": "c"}),
        ["spec.config: unknown field (known fields: delivery, provisioner)"],
    ),
]


@pytest.mark.parametrize(
    ("resource", "expected"), [(r, e) for _, r, e in INVALID], ids=[n for n, _, _ in INVALID]
)
def test_invalid(resource: dict[str, Any], expected: list[str]) -> None:
    assert errors_of(resource) == expected


def test_empty_cesql_is_refused_by_the_schema() -> None:
    errors = errors_of(trigger(filters=[{"cesql": ""}]))
    assert len(errors) == 1
    assert errors[0].startswith("spec.filters[0].cesql: ")


def test_broker_of_a_trigger_is_immutable() -> None:
    old = trigger()
    assert errors_of(trigger(broker="other"), old) == [
        "spec.broker: broker is immutable; delete and recreate the Trigger to move it"
    ]
    assert errors_of(trigger(filters=[{"exact": {"type": "x"}}]), old) == []  # filters may change


def test_provisioner_of_a_broker_is_immutable() -> None:
    old = with_spec("Broker", provisioner="jetstream")
    assert errors_of(with_spec("Broker", provisioner="redis"), old) == [
        "spec.provisioner: provisioner is immutable; delete and recreate the Broker to move it"
    ]


def test_validate_command_names_the_trigger_field_and_the_parse_error(tmp_path: Path) -> None:
    manifest = tmp_path / "trigger.yaml"
    resource = make(
        "Trigger",
        name="orders",
        spec={
            "broker": "default",
            "subscriber": {"ref": REF},
            "filters": [{"cesql": "type = 'order.created' AND (source"}],
        },
    )
    manifest.write_text(yaml.safe_dump(resource))
    out = io.StringIO()
    code = main(["validate", str(manifest)], out)
    assert code != 0
    assert (
        "spec.filters[0].cesql: CloudEvents SQL does not parse: expected ')' to close the parenthesis, found the end of the expression (at column 35)"
        in out.getvalue()
    )


def spec_fields(kind: str) -> dict[str, Any]:
    schema = render_crd(kind_named(kind))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    properties: dict[str, Any] = schema["properties"]["spec"]["properties"]
    return properties


def status_fields(kind: str) -> set[str]:
    schema = render_crd(kind_named(kind))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(schema["properties"]["status"]["properties"])


# Knative eventing.knative.dev/v1, as its CRDs define them (facts restated here, so the test needs
# no reference files). Knative's Trigger spec.brokerRef (cross-namespace, behind a feature flag)
# and Broker spec.config (becomes spec.provisioner on conversion) have no eventwire counterpart.
KNATIVE_TRIGGER_SPEC = {"broker", "brokerRef", "filter", "filters", "subscriber", "delivery"}
KNATIVE_FILTER_DIALECTS = {"exact", "prefix", "suffix", "all", "any", "not", "cesql"}
KNATIVE_DELIVERY = {"retry", "backoffPolicy", "backoffDelay", "deadLetterSink", "format"}
KNATIVE_TRIGGER_STATUS = {
    "conditions",
    "observedGeneration",
    "annotations",
    "subscriberUri",
    "deadLetterSinkUri",
}
KNATIVE_BROKER_STATUS = {"conditions", "observedGeneration", "annotations", "address", "deadLetterSinkUri"}


def test_trigger_mirrors_knative_field_for_field() -> None:
    spec = spec_fields("Trigger")
    assert set(spec) == KNATIVE_TRIGGER_SPEC - {"brokerRef"}
    assert set(spec["filters"]["items"]["properties"]) == KNATIVE_FILTER_DIALECTS
    assert set(spec["filter"]["properties"]) == {"attributes"}
    assert set(spec["delivery"]["properties"]) >= KNATIVE_DELIVERY
    assert status_fields("Trigger") >= KNATIVE_TRIGGER_STATUS


def test_broker_mirrors_knative_with_a_provisioner_for_config() -> None:
    spec = spec_fields("Broker")
    assert set(spec) == {"provisioner", "delivery"}
    assert set(spec["delivery"]["properties"]) >= KNATIVE_DELIVERY
    assert status_fields("Broker") >= KNATIVE_BROKER_STATUS | {"provisioner"}
    assert {"name", "url"} <= set(
        render_crd(kind_named("Broker"))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
            "status"
        ]["properties"]["address"]["properties"]
    )
