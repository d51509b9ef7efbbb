"""Knative Eventing manifests convert to the eventwire API and validate there.

The manifests below are written in Knative v1's shapes (the ones its docs and CRDs use), one per
kind Knative has, including older versions users still have around.
"""

from __future__ import annotations

from typing import Any

import pytest

from eventwire.api import convert_knative, is_knative, resource_errors
from eventwire.exceptions import ConversionError

DISPLAY = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "event-display"}}
KNATIVE_CHANNEL_REF = {"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "orders"}


def knative(api_version: str, kind: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "example", "namespace": "default", **metadata},
        "spec": spec,
    }


MANIFESTS: list[tuple[str, dict[str, Any], str]] = [
    (
        "Channel with channelTemplate",
        knative(
            "messaging.knative.dev/v1",
            "Channel",
            {
                "channelTemplate": {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"},
                "delivery": {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"},
            },
        ),
        "Channel",
    ),
    ("InMemoryChannel", knative("messaging.knative.dev/v1", "InMemoryChannel", {}), "Channel"),
    (
        "Subscription",
        knative(
            "messaging.knative.dev/v1",
            "Subscription",
            {
                "channel": KNATIVE_CHANNEL_REF,
                "subscriber": DISPLAY,
                "reply": {
                    "ref": {
                        "apiVersion": "messaging.knative.dev/v1",
                        "kind": "InMemoryChannel",
                        "name": "out",
                    }
                },
                "delivery": {
                    "deadLetterSink": {
                        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "dls"}
                    },
                    "retry": 5,
                    "backoffPolicy": "linear",
                    "backoffDelay": "PT1S",
                    "timeout": "PT5S",
                    "retryAfterMax": "PT30S",
                },
            },
        ),
        "Subscription",
    ),
    (
        "PingSource v1",
        knative(
            "sources.knative.dev/v1",
            "PingSource",
            {
                "schedule": "*/1 * * * *",
                "contentType": "application/json",
                "data": '{"m": "Hello"}',
                "sink": DISPLAY,
            },
        ),
        "PingSource",
    ),
    (
        "PingSource v1beta2 with dataBase64",
        knative(
            "sources.knative.dev/v1beta2",
            "PingSource",
            {
                "schedule": "*/1 * * * *",
                "timezone": "Europe/Madrid",
                "dataBase64": "ZGF0YQ==",
                "sink": DISPLAY,
            },
        ),
        "PingSource",
    ),
    (
        "PingSource v1beta1 with jsonData",
        knative(
            "sources.knative.dev/v1beta1",
            "PingSource",
            {"schedule": "0 * * * *", "jsonData": "{}", "sink": DISPLAY},
        ),
        "PingSource",
    ),
    (
        "ApiServerSource",
        knative(
            "sources.knative.dev/v1",
            "ApiServerSource",
            {
                "serviceAccountName": "events-sa",
                "mode": "Resource",
                "resources": [{"apiVersion": "v1", "kind": "Event"}],
                "sink": {"ref": KNATIVE_CHANNEL_REF},
            },
        ),
        "ApiServerSource",
    ),
    (
        "ContainerSource",
        knative(
            "sources.knative.dev/v1",
            "ContainerSource",
            {
                "template": {
                    "spec": {"containers": [{"image": "example.com/heartbeats", "name": "heartbeats"}]}
                },
                "sink": DISPLAY,
                "ceOverrides": {"extensions": {"team": "a"}},
            },
        ),
        "ContainerSource",
    ),
    (
        "GitHubSource v1alpha1",
        knative(
            "sources.knative.dev/v1alpha1",
            "GitHubSource",
            {
                "eventTypes": ["pull_request"],
                "ownerAndRepository": "knative/docs",
                "accessToken": {"secretKeyRef": {"name": "githubsecret", "key": "accessToken"}},
                "secretToken": {"secretKeyRef": {"name": "githubsecret", "key": "secretToken"}},
                "sink": DISPLAY,
            },
        ),
        "GitHubSource",
    ),
    (
        "AwsSqsSource v1alpha1",
        knative(
            "sources.knative.dev/v1alpha1",
            "AwsSqsSource",
            {
                "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                "awsCredsSecret": {"name": "aws-credentials", "key": "credentials"},
                "sink": DISPLAY,
            },
        ),
        "AwsSqsSource",
    ),
]


@pytest.mark.parametrize(("case", "manifest", "kind"), MANIFESTS, ids=[m[0] for m in MANIFESTS])
def test_knative_manifest_converts_and_validates(case: str, manifest: dict[str, Any], kind: str) -> None:
    assert is_knative(manifest)
    conversion = convert_knative(manifest)
    assert conversion.resource["kind"] == kind
    assert conversion.resource["apiVersion"].endswith(".eventwire.dev/v1")
    assert resource_errors(conversion.resource) == []
    assert not is_knative(conversion.resource)


def test_conversion_does_not_change_its_input() -> None:
    manifest = MANIFESTS[2][1]
    before = repr(manifest)
    convert_knative(manifest)
    assert repr(manifest) == before


def test_channel_references_follow_the_conversion() -> None:
    subscription = convert_knative(MANIFESTS[2][1]).resource
    assert subscription["spec"]["channel"] == {
        "apiVersion": "messaging.eventwire.dev/v1",
        "kind": "Channel",
        "name": "orders",
    }
    assert subscription["spec"]["reply"]["ref"]["kind"] == "Channel"
    # References to other Addressables are kept as they are.
    assert subscription["spec"]["subscriber"] == DISPLAY


def test_dropped_fields_are_explained() -> None:
    conversion = convert_knative(MANIFESTS[0][1])
    assert "channelTemplate" not in conversion.resource["spec"]
    assert any("channelTemplate (InMemoryChannel) dropped" in note for note in conversion.notes)
    assert convert_knative(MANIFESTS[5][1]).resource["spec"]["data"] == "{}"


def test_server_fields_are_stripped() -> None:
    manifest = knative("messaging.knative.dev/v1", "Channel", {}, uid="u-1", resourceVersion="42")
    manifest["status"] = {"address": {"url": "http://x"}}
    resource = convert_knative(manifest).resource
    assert "status" not in resource
    assert resource["metadata"] == {"name": "example", "namespace": "default"}


@pytest.mark.parametrize(
    ("api_version", "kind", "hint"),
    [
        ("eventing.knative.dev/v1", "Broker", "has no eventwire equivalent"),
        ("messaging.knative.dev/v1", "Sequence", "chain Subscriptions"),
        ("sources.knative.dev/v1", "SinkBinding", "ContainerSource"),
    ],
)
def test_kinds_without_equivalent_are_refused_with_advice(api_version: str, kind: str, hint: str) -> None:
    with pytest.raises(ConversionError, match=hint):
        convert_knative(knative(api_version, kind, {}))
