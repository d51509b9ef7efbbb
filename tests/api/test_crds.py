"""The CRDs: valid Kubernetes objects, structural schemas, and the conventions every kind follows."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from eventwire.api import KINDS, render_crd, render_crds, render_crds_yaml, structural_errors

# Kubernetes 1.33 and every newer version kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = [
    v
    for v in ("1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0")
    if tuple(int(p) for p in v.split("."))
    <= tuple(int(p) for p in kubernetes_validate.latest_version().split("."))
]
CRDS = {crd["spec"]["names"]["kind"]: crd for crd in render_crds()}


def version_of(crd: dict[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert len(versions) == 1
    version: dict[str, Any] = versions[0]
    return version


def test_every_kind_of_the_design_has_a_crd() -> None:
    assert sorted(CRDS) == sorted(
        [
            "ClusterChannelProvisioner",
            "Channel",
            "Subscription",
            "Broker",
            "Trigger",
            "ApiServerSource",
            "PingSource",
            "ContainerSource",
            "GitHubSource",
            "AwsSqsSource",
            "GcpPubSubSource",
        ]
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kind", sorted(CRDS))
def test_crd_passes_kubernetes_validate(kind: str, version: str) -> None:
    kubernetes_validate.validate(CRDS[kind], version, strict=True)


def test_kubernetes_validate_would_catch_a_broken_crd() -> None:
    # Guards the test above: the validator really checks the CRD's shape.
    broken = copy.deepcopy(CRDS["Channel"])
    broken["spec"]["scope"] = 42
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    assert structural_errors(version_of(CRDS[kind])["schema"]["openAPIV3Schema"]) == []


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "object", "properties": {"a": {"description": "untyped"}}}, "a: no type"),
        ({"type": "object", "properties": {"a": {"type": "array"}}}, "a: array without items"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "object", "properties": {}, "additionalProperties": {}}},
            },
            "a: properties and additionalProperties are mutually exclusive",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}},
            "a.anyOf[0]: type is not allowed inside anyOf",
        ),
        (
            {
                "type": "object",
                "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}},
            },
            "metadata: only name and generateName may be restricted",
        ),
        (
            {
                "type": "object",
                "properties": {
                    "l": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["k"],
                        "items": {"type": "object", "properties": {"k": {"type": "string"}}},
                    }
                },
            },
            "l: list-map key 'k' must be required or have a default",
        ),
    ],
)
def test_structural_checker_finds_violations(schema: dict[str, Any], problem: str) -> None:
    assert any(error.startswith(problem) for error in structural_errors(schema)), structural_errors(schema)


def test_structural_checker_allows_preserved_unknown_fields() -> None:
    assert (
        structural_errors(
            {"type": "object", "properties": {"t": {"x-kubernetes-preserve-unknown-fields": True}}}
        )
        == []
    )


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crd_conventions(kind: Any) -> None:
    crd = CRDS[kind.kind]
    names = crd["spec"]["names"]
    version = version_of(crd)
    assert crd["metadata"]["name"] == f"{kind.plural}.{kind.group}"
    assert crd["spec"]["scope"] == kind.scope
    assert "eventwire" in names["categories"]
    assert names["shortNames"]
    assert version["subresources"] == {"status": {}}
    assert version["served"]
    assert version["storage"]
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns[-3:] == ["Ready", "Reason", "Age"]
    assert {"URL", "Sink", "Subscriber"} & set(columns)
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert {"conditions", "observedGeneration"} <= set(status["properties"])


def test_short_names_are_unique() -> None:
    short = [name for crd in CRDS.values() for name in crd["spec"]["names"]["shortNames"]]
    assert len(short) == len(set(short))


def test_sources_share_sink_overrides_and_delivery() -> None:
    for kind in KINDS:
        if kind.category != "sources":
            continue
        spec = version_of(CRDS[kind.kind])["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert {"sink", "ceOverrides", "delivery"} <= set(spec["properties"]), kind.kind
        assert "sink" in spec["required"], kind.kind
        status = version_of(CRDS[kind.kind])["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert "sinkUri" in status["properties"], kind.kind


def test_channel_status_carries_the_routing_table_of_the_design() -> None:
    status = version_of(CRDS["Channel"])["schema"]["openAPIV3Schema"]["properties"]["status"]
    entry = status["properties"]["subscribers"]["items"]["properties"]
    assert set(entry) == {
        "uid",
        "name",
        "generation",
        "subscriberUri",
        "replyUri",
        "deadLetterSinkUri",
        "delivery",
        "ready",
        "message",
    }
    assert set(entry["delivery"]["properties"]) == {
        "retry",
        "backoffPolicy",
        "backoffDelay",
        "backoffMax",
        "timeout",
        "retryAfterMax",
        "retryWindow",
        "format",
    }


def test_labels_are_rendered_and_merged() -> None:
    crd = render_crd(KINDS[0], {"eventwire.dev/release": "1.2.3", "team": "platform"})
    assert crd["metadata"]["labels"]["eventwire.dev/release"] == "1.2.3"
    assert crd["metadata"]["labels"]["team"] == "platform"
    assert crd["metadata"]["labels"]["app.kubernetes.io/name"] == "eventwire"


def test_rendered_dicts_are_independent_copies() -> None:
    first = render_crd(KINDS[1])
    first["spec"]["group"] = "changed"
    assert render_crd(KINDS[1])["spec"]["group"] == KINDS[1].group


def test_yaml_stream_holds_every_crd_in_order() -> None:
    documents = list(yaml.safe_load_all(render_crds_yaml()))
    assert [doc["spec"]["names"]["kind"] for doc in documents] == [kind.kind for kind in KINDS]
