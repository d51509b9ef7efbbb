"""Validation of custom resources against the CRDs: what passes, and what fails with which path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventwire.api import KINDS, resource_errors, validate_resource
from eventwire.exceptions import InvalidResourceError
from eventwire.manifests import read_documents, yaml_files
from tests.api.factories import ALL_KINDS, make, with_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_resources() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in yaml_files([EXAMPLES]):
        for doc in read_documents(path):
            content = doc.content
            if isinstance(content, dict) and str(content.get("apiVersion", "")).split("/")[0].endswith(
                "eventwire.dev"
            ):
                found.append(
                    (f"{path.relative_to(EXAMPLES)}:{content['kind']}/{content['metadata']['name']}", content)
                )
    return found


EXAMPLE_RESOURCES = example_resources()


@pytest.mark.parametrize(("where", "resource"), EXAMPLE_RESOURCES, ids=[w for w, _ in EXAMPLE_RESOURCES])
def test_example_is_valid(where: str, resource: dict[str, Any]) -> None:
    assert resource_errors(resource) == []


def test_examples_cover_every_kind() -> None:
    assert {resource["kind"] for _, resource in EXAMPLE_RESOURCES} == {kind.kind for kind in KINDS}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_factory_resource_is_valid(kind: str) -> None:
    assert resource_errors(make(kind)) == []


DESTINATION_NEITHER = {"CACerts": "pem"}

# (case id, resource, expected error path, fragment of the message)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing sink", with_spec("PingSource", sink=None), "spec.sink", "required"),
    (
        "sink without ref or uri",
        with_spec("ApiServerSource", sink=DESTINATION_NEITHER),
        "spec.sink",
        "needs ref or uri",
    ),
    (
        "relative sink uri without ref",
        with_spec("PingSource", sink={"uri": "/x"}),
        "spec.sink",
        "absolute URL",
    ),
    (
        "data and dataBase64",
        with_spec("PingSource", data="x", dataBase64="eA=="),
        "spec",
        "data and dataBase64 are mutually exclusive",
    ),
    (
        "dataBase64 not base64",
        with_spec("PingSource", dataBase64="not base64!"),
        "spec.dataBase64",
        "expected form",
    ),
    (
        "time zone twice",
        with_spec("PingSource", schedule="CRON_TZ=Asia/Tokyo 0 9 * * *", timezone="Europe/Berlin"),
        "spec",
        "not both",
    ),
    ("schedule with three fields", with_spec("PingSource", schedule="* * *"), "spec.schedule", "cron"),
    ("negative retry", with_spec("Channel", delivery={"retry": -1}), "spec.delivery.retry", "minimum of 0"),
    (
        "bad duration",
        with_spec("Subscription", delivery={"backoffDelay": "5s"}),
        "spec.delivery.backoffDelay",
        "ISO-8601 duration",
    ),
    (
        "empty duration",
        with_spec("Channel", delivery={"timeout": "PT"}),
        "spec.delivery.timeout",
        "at least one component",
    ),
    (
        "unknown backoff policy",
        with_spec("Channel", delivery={"backoffPolicy": "random"}),
        "spec.delivery.backoffPolicy",
        "'linear', 'exponential'",
    ),
    (
        "dead letter sink without ref or uri",
        with_spec("Channel", delivery={"deadLetterSink": {}}),
        "spec.delivery.deadLetterSink",
        "needs ref or uri",
    ),
    ("unknown field", with_spec("PingSource", scheduel="* * * * *"), "spec.scheduel", "unknown field"),
    (
        "unknown nested field",
        with_spec("PingSource", sink={"url": "http://a"}),
        "spec.sink.url",
        "unknown field",
    ),
    ("wrong type", with_spec("AwsSqsSource", batchSize="ten"), "spec.batchSize", "not of type 'integer'"),
    ("batch above SQS limit", with_spec("AwsSqsSource", batchSize=11), "spec.batchSize", "maximum of 10"),
    (
        "wrong type of list",
        with_spec("ApiServerSource", resources={"kind": "Pod"}),
        "spec.resources",
        "'array'",
    ),
    ("no resources", with_spec("ApiServerSource", resources=[]), "spec.resources", "non-empty"),
    (
        "resource without kind",
        with_spec("ApiServerSource", resources=[{"apiVersion": "v1"}]),
        "spec.resources[0].kind",
        "required",
    ),
    ("unknown mode", with_spec("ApiServerSource", mode="Object"), "spec.mode", "'Reference', 'Resource'"),
    (
        "GitHub event name",
        with_spec("GitHubSource", eventTypes=["pushed"]),
        "spec.eventTypes[0]",
        "is not one of",
    ),
    (
        "GitHub repository form",
        with_spec("GitHubSource", ownerAndRepository="a/b/c"),
        "spec.ownerAndRepository",
        "form",
    ),
    (
        "GitHub token without key",
        with_spec("GitHubSource", accessToken={"secretKeyRef": {"name": "t"}}),
        "spec.accessToken.secretKeyRef.key",
        "required",
    ),
    (
        "extension name not CloudEvents",
        with_spec("PingSource", ceOverrides={"extensions": {"My-Ext": "v"}}),
        "spec.ceOverrides.extensions",
        "lowercase",
    ),
    (
        "extension overrides a context attribute",
        with_spec("PingSource", ceOverrides={"extensions": {"source": "v"}}),
        "spec.ceOverrides.extensions",
        "context attributes",
    ),
    (
        "container without image",
        with_spec("ContainerSource", template={"spec": {"containers": [{}]}}),
        "spec.template.spec.containers[0].image",
        "required",
    ),
    (
        "no containers",
        with_spec("ContainerSource", template={"spec": {"containers": []}}),
        "spec.template.spec.containers",
        "non-empty",
    ),
    (
        "subscription without subscriber or reply",
        with_spec("Subscription", subscriber=None),
        "spec",
        "subscriber, a reply",
    ),
    (
        "subscription to a Knative channel",
        with_spec(
            "Subscription", channel={"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "a"}
        ),
        "spec.channel",
        "messaging.eventwire.dev/v1 Channel",
    ),
    ("provisioner type", with_spec("ClusterChannelProvisioner", type="kafka"), "spec.type", "is not one of"),
    (
        "jetstream without settings",
        with_spec("ClusterChannelProvisioner", type="jetstream"),
        "spec",
        "jetstream settings",
    ),
    (
        "settings of another type",
        with_spec("ClusterChannelProvisioner", redis={"url": "redis://r:6379"}),
        "spec",
        "only the settings block that matches type",
    ),
    (
        "redis url scheme",
        with_spec("ClusterChannelProvisioner", type="redis", redis={"url": "http://r"}),
        "spec.redis.url",
        "Redis URL",
    ),
    (
        "pubsub without subscription",
        with_spec("GcpPubSubSource", subscription=None),
        "spec",
        "createSubscription: true",
    ),
    ("missing spec", {k: v for k, v in make("PingSource").items() if k != "spec"}, "spec", "required"),
    ("name not DNS", make("Channel", name="Orders_1"), "metadata.name", "DNS-1123"),
    (
        "namespace on a cluster-scoped kind",
        make("ClusterChannelProvisioner", metadata={"name": "p", "namespace": "default"}),
        "metadata.namespace",
        "cluster-scoped",
    ),
    ("unknown kind", {**make("Channel"), "kind": "Broker"}, "kind", "not an eventwire kind"),
]


@pytest.mark.parametrize(("case", "resource", "path", "fragment"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_resource_is_rejected_at_its_path(
    case: str, resource: dict[str, Any], path: str, fragment: str
) -> None:
    errors = resource_errors(resource)
    matching = [error for error in errors if error.path == path]
    assert matching, f"no error at {path}; got {[str(e) for e in errors]}"
    assert any(fragment in error.message for error in matching), [str(e) for e in matching]


def test_every_problem_is_reported_at_once() -> None:
    resource = with_spec("PingSource", sink=None, data="x", dataBase64="eA==", bogus=1)
    paths = sorted(error.path for error in resource_errors(resource))
    assert paths == ["spec", "spec.bogus", "spec.sink"]


def test_validate_resource_raises_with_every_error_in_the_message() -> None:
    resource = with_spec("PingSource", sink=None, bogus=1)
    with pytest.raises(InvalidResourceError) as caught:
        validate_resource(resource)
    assert "PingSource/example" in str(caught.value)
    assert "spec.sink: required field is missing" in str(caught.value)
    assert sorted(error.path for error in caught.value.errors) == ["spec.bogus", "spec.sink"]


def test_subscription_channel_is_immutable_on_update() -> None:
    old = make("Subscription")
    new = make("Subscription")
    new["spec"]["channel"]["name"] = "payments"
    assert [str(error) for error in resource_errors(new, old)] == [
        "spec.channel: channel is immutable; delete and recreate the Subscription to move it"
    ]
    assert resource_errors(new) == []  # a create has no old object


def test_subscription_update_that_keeps_the_channel_is_valid() -> None:
    old = make("Subscription")
    new = make("Subscription")
    new["spec"]["subscriber"] = {"uri": "http://other.default.svc.cluster.local"}
    assert resource_errors(new, old) == []


def test_channel_provisioner_is_immutable_once_set() -> None:
    old = with_spec("Channel", provisioner="in-memory")
    new = with_spec("Channel", provisioner="jetstream")
    assert [error.path for error in resource_errors(new, old)] == ["spec.provisioner"]


def test_status_written_by_the_controller_validates() -> None:
    channel = make("Channel")
    channel["status"] = {
        "observedGeneration": 1,
        "address": {"url": "http://orders.default.eventwire.local"},
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-25T10:00:00Z"}],
        "subscribers": [
            {
                "uid": "0b6e",
                "name": "audit",
                "generation": 2,
                "subscriberUri": "http://audit.default.svc.cluster.local",
                "delivery": {"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT1S"},
                "ready": "True",
            }
        ],
    }
    assert resource_errors(channel) == []
    channel["status"]["conditions"][0]["status"] = "Maybe"
    assert [error.path for error in resource_errors(channel)] == ["status.conditions[0].status"]


def test_non_mapping_input_is_an_error_not_a_crash() -> None:
    assert resource_errors(["not", "a", "resource"])[0].message.startswith("a resource must be a mapping")  # type: ignore[arg-type]
    assert resource_errors({"kind": "Channel"})[0].path == "apiVersion"


@pytest.mark.parametrize(
    "event",
    [
        "deployment_review",
        "github_app_authorization",
        "marketplace_purchase",
        "projects_v2_item",
        "repository_import",
    ],
)
def test_github_source_accepts_the_events_github_added(event: str) -> None:
    assert resource_errors(with_spec("GitHubSource", eventTypes=["push", event])) == []


def test_github_source_accepts_every_catalogued_event_and_nothing_else() -> None:
    from eventwire_spec.github_events import GITHUB_EVENTS

    assert resource_errors(with_spec("GitHubSource", eventTypes=list(GITHUB_EVENTS))) == []
    errors = resource_errors(with_spec("GitHubSource", eventTypes=["push", "projects_v3_item"]))
    assert [error.path for error in errors] == ["spec.eventTypes[1]"]
