"""Adapter env: the controller's Deployment builders on one side, the adapters' own parsing on the
other (`AdapterEnv.from_environ` and each adapter's constructor, which parses its settings).

Each case is a CRD-valid resource (checked with the CRD schema first) whose sink is a Channel
resolved through the controller's builders. The container env of the built Deployment is turned
into the process environment a kubelet would give the pod: `valueFrom.secretKeyRef` resolved to
the test Secret's value, and mounted Secret files written to a temp directory (paths in the env
rewritten to it). The adapter must start from that env without a configuration error and hold the
values of the resource.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from eventwire.api import validate_resource
from eventwire_runtime.adapters.apiserver import ApiServerAdapter
from eventwire_runtime.adapters.base import Adapter
from eventwire_runtime.adapters.env import AdapterEnv, parse_ce_overrides, parse_delivery
from eventwire_runtime.adapters.github import GitHubAdapter
from eventwire_runtime.adapters.heartbeats import HeartbeatsAdapter
from eventwire_runtime.adapters.main import load_factory
from eventwire_runtime.adapters.ping import PingAdapter
from eventwire_runtime.adapters.pubsub import PubSubAdapter
from eventwire_runtime.adapters.schedule import CronSchedule
from eventwire_runtime.adapters.sender import DeliveryOutcome
from eventwire_runtime.adapters.sqs import SqsAdapter
from eventwire_runtime.controller.channel import resources as channel_resources
from eventwire_runtime.controller.destinations import destination_uri
from eventwire_runtime.controller.provisioner import resources as provisioner_resources
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.controller.sources import resources as source_resources
from eventwire_runtime.delivery.errors import ConfigError
from tests.adapters.conftest import metered_sender, running, wait_for
from tests.controller.factories import MESSAGING, make_channel, make_provisioner, make_source, served
from tests.support.kube import running_kube
from tests.support.sink import Sink

NOW = "2026-01-01T00:00:00Z"
SETTINGS = ControllerSettings(image="registry.example/runtime:1")
AWS_CREDENTIALS = "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI\n"
# The test Secrets: (name, key) -> value.
SECRETS: dict[tuple[str, str], str] = {
    ("github", "webhook-secret"): "s3cr3t-hook",
    ("github", "token"): "ghp_token",
    ("aws", "credentials"): AWS_CREDENTIALS,
}
CHANNEL_REF = {"ref": {"apiVersion": MESSAGING, "kind": "Channel", "name": "orders"}}
DEAD_LETTER = "http://dead.shop.svc.cluster.local/"


class NoSender:
    """The adapters under test only parse; nothing may be sent."""

    async def send(self, headers: Any, body: bytes) -> DeliveryOutcome:
        raise AssertionError("no event is sent while parsing settings")


def channel_sink(namespace: str = "shop") -> str:
    """The sink URI of a source pointing at Channel `orders`, resolved as the controller does."""
    ccp = served(make_provisioner("default", default=True))
    ccp["status"] = provisioner_resources.make_status(ccp, True, SETTINGS, NOW)
    ch = served(make_channel("orders", namespace))
    ch["status"] = channel_resources.make_status(ch, "default", ccp, "", None, [], NOW)
    resolution = destination_uri(CHANNEL_REF, namespace, ch, SETTINGS.cluster_domain)
    assert resolution.ok, resolution
    return resolution.uri


def source(kind: str, **spec: Any) -> dict[str, Any]:
    obj = served(
        make_source(
            kind,
            "src",
            "shop",
            sink=CHANNEL_REF,
            ceOverrides={"extensions": {"team": "payments"}},
            delivery={"retry": 2, "backoffDelay": "PT0.5S", "deadLetterSink": {"uri": DEAD_LETTER}},
            **spec,
        )
    )
    validate_resource(obj)  # only what the API server would accept
    return obj


def pod_environment(
    deployment: Mapping[str, Any],
    tmp_path: Path,
    container: int = 0,
    secrets: Mapping[tuple[str, str], str] = SECRETS,
) -> dict[str, str]:
    """The environment the kubelet gives the container: secret refs resolved, mounted Secret files
    materialised under `tmp_path` and env paths into the mounts rewritten to them."""
    pod = deployment["spec"]["template"]["spec"]
    spec = pod["containers"][container]
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts: dict[str, Path] = {}
    for mount in spec.get("volumeMounts") or []:
        secret = volumes[mount["name"]]["secret"]
        directory = tmp_path / mount["name"]
        directory.mkdir(parents=True)
        for item in secret["items"]:
            (directory / item["path"]).write_text(secrets[(secret["secretName"], item["key"])])
        mounts[mount["mountPath"]] = directory
    environ: dict[str, str] = {}
    for entry in spec.get("env") or []:
        if "valueFrom" in entry:
            ref = entry["valueFrom"]["secretKeyRef"]
            environ[entry["name"]] = secrets[(ref["name"], ref["key"])]
            continue
        value = str(entry["value"])
        for mount_path, directory in mounts.items():
            if value.startswith(mount_path + "/"):
                value = str(directory) + value[len(mount_path) :]
                assert Path(value).is_file(), f"{entry['name']} names {value}, which is not mounted"
        environ[entry["name"]] = value
    return environ


def start(
    src: dict[str, Any],
    tmp_path: Path,
    namespaces: list[str] | None = None,
    secrets: Mapping[tuple[str, str], str] = SECRETS,
) -> tuple[Adapter, dict[str, str]]:
    """Build the adapter Deployment and construct the adapter its args name from its env."""
    sink = channel_sink()
    deployment = source_resources.make_adapter_deployment(src, sink, DEAD_LETTER, SETTINGS, namespaces)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "adapter"
    environ = pod_environment(deployment, tmp_path, secrets=secrets)
    env = AdapterEnv.from_environ(container["args"][1], environ)
    adapter = load_factory(container["args"][1])(env, NoSender())
    # The common contract, the same for every kind.
    assert env.sink == sink
    assert env.name == "src"
    assert env.namespace == "shop"
    assert dict(env.ce_overrides) == {"team": "payments"}
    assert (env.delivery.retry, env.delivery.backoff_delay) == (2, 0.5)
    assert env.delivery.dead_letter_uri == DEAD_LETTER
    assert env.metrics_port == SETTINGS.adapter_metrics_port
    return adapter, environ


def test_the_channel_sink_is_path_routed_on_the_dispatcher_service() -> None:
    assert (
        channel_sink() == "http://eventwire-dispatcher-default.eventwire-system.svc.cluster.local/shop/orders"
    )


# -- PingSource -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expression", "zone", "data", "content_type"),
    [
        (
            {
                "schedule": "*/5 * * * *",
                "timezone": "Europe/Berlin",
                "data": '{"hello": "world"}',
                "contentType": "application/json",
            },
            "*/5 * * * *",
            "Europe/Berlin",
            b'{"hello": "world"}',
            "application/json",
        ),
        (
            {
                "schedule": "CRON_TZ=America/New_York 0 9 * * 1-5",
                "dataBase64": base64.b64encode(b"\x00\x01").decode(),
            },
            "0 9 * * 1-5",
            "America/New_York",
            b"\x00\x01",
            "text/plain",
        ),
        ({"schedule": "TZ=Asia/Tokyo @daily"}, "@daily", "Asia/Tokyo", b"", None),
        ({"schedule": "@hourly"}, "@hourly", "UTC", b"", None),
        # The CRD admits Knative's `@every <Go duration>`.
        ({"schedule": "@every 1h30m"}, "@every 1h30m", "UTC", b"", None),
    ],
)
def test_ping_source(
    tmp_path: Path, spec: dict[str, Any], expression: str, zone: str, data: bytes, content_type: str | None
) -> None:
    adapter, _ = start(source("PingSource", **spec), tmp_path)
    assert isinstance(adapter, PingAdapter)
    assert adapter.schedule.expression == expression
    assert adapter.schedule.tz.key == zone
    assert adapter.data == data
    assert adapter.content_type == content_type
    assert adapter.source == "/apis/v1/namespaces/shop/pingsources/src"
    if expression.startswith("@every"):
        assert adapter.schedule.every == 5400.0


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [("@every 90s", 90.0), ("@every 1h30m", 5400.0), ("@every 1.5m", 90.0), ("@every 250ms", 1.0)],
)
def test_every_schedules_tick_at_their_interval(schedule: str, interval: float) -> None:
    """`@every <Go duration>` (admitted by the CRD, as in Knative): fixed intervals from the start."""
    start_at = dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC)  # across Berlin's DST change
    schedule_ = CronSchedule.parse(schedule, "Europe/Berlin")
    first = schedule_.next_after(start_at)
    assert first - start_at == dt.timedelta(seconds=interval)
    assert schedule_.next_after(first) - first == dt.timedelta(seconds=interval)


@pytest.mark.parametrize("schedule", ["@every", "@every 5", "@every 1d", "@every -1s"])
def test_bad_every_schedules_are_named(schedule: str) -> None:
    with pytest.raises(ConfigError, match="invalid @every duration"):
        CronSchedule.parse(schedule)


# -- GitHubSource -----------------------------------------------------------------------------------


def test_github_source_with_a_webhook_secret(tmp_path: Path) -> None:
    src = source(
        "GitHubSource",
        ownerAndRepository="example-org/shop",
        eventTypes=["push", "pull_request"],
        secretToken={"secretKeyRef": {"name": "github", "key": "webhook-secret"}},
        accessToken={"secretKeyRef": {"name": "github", "key": "token"}},
    )
    adapter, environ = start(src, tmp_path)
    assert isinstance(adapter, GitHubAdapter)
    assert adapter.owner_repo == "example-org/shop"
    assert adapter.event_types == {"push", "pull_request"}
    assert adapter.secret == b"s3cr3t-hook"
    assert adapter.mode == "secured"
    assert "ghp_token" not in environ.values()  # the access token is the controller's, not the pod's


def test_github_organisation_source_without_a_secret(tmp_path: Path) -> None:
    adapter, _ = start(
        source("GitHubSource", ownerAndRepository="example-org", eventTypes=["release"]), tmp_path
    )
    assert isinstance(adapter, GitHubAdapter)
    assert (adapter.owner_repo, adapter.event_types, adapter.secret) == ("example-org", {"release"}, None)


# -- AwsSqsSource -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "region", "endpoint"),
    [
        ({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"}, "eu-west-1", None),
        (
            {
                "queueUrl": "http://localstack.tools:4566/000000000000/orders.fifo",
                "region": "us-east-1",
                "endpointUrl": "http://localstack.tools:4566",
                "batchSize": 5,
                "waitTimeSeconds": 0,
                "visibilityTimeout": 43200,
            },
            "us-east-1",
            "http://localstack.tools:4566",
        ),
    ],
)
def test_aws_sqs_source_with_a_mounted_credentials_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], region: str, endpoint: str | None
) -> None:
    src = source(
        "AwsSqsSource",
        awsCredsSecret={"name": "aws", "key": "credentials"},
        annotations={"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x"},
        **spec,
    )
    adapter, environ = start(src, tmp_path)
    assert isinstance(adapter, SqsAdapter)
    assert adapter.queue_url == spec["queueUrl"]
    assert (adapter.region, adapter.endpoint_url) == (region, endpoint)
    assert adapter.batch_size == spec.get("batchSize", 10)
    assert adapter.wait_time == spec.get("waitTimeSeconds", 20)
    assert adapter.visibility_timeout == spec.get("visibilityTimeout", 30)
    assert adapter.credentials == {}  # the default chain reads the mounted file
    # botocore's default chain, as the adapter's client uses it, finds the mounted file.
    import botocore.session

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", environ["AWS_SHARED_CREDENTIALS_FILE"])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    credentials = botocore.session.get_session().get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.method) == ("AKIDEXAMPLE", "shared-credentials-file")


# -- GcpPubSubSource ------------------------------------------------------------------------------


def service_account_key(project: str) -> str:
    """A service-account JSON key with a real (throwaway) RSA key, as Google issues them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": project,
            "private_key_id": "abc123",
            "private_key": pem,
            "client_email": f"eventwire@{project}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {
                "project": "shop-prod",
                "topic": "invoices",
                "subscription": "eventwire-invoices",
                "createSubscription": True,
                "ackDeadline": "PT1M",
                "maxOutstandingMessages": 50,
                "maxOutstandingBytes": 1048576,
            },
            {
                "project": "shop-prod",
                "topic": "invoices",
                "subscription": "eventwire-invoices",
                "create": True,
                "ack_deadline": 60,
                "max_messages": 50,
                "max_bytes": 1048576,
            },
        ),
        (
            {"project": "shop-prod", "topic": "invoices", "subscription": "existing"},
            {"project": "shop-prod", "topic": "invoices", "subscription": "existing", "create": False},
        ),
        # The CRD's lower bounds and a deadline outside Pub/Sub's 10 s..600 s (clamped).
        (
            {
                "project": "shop-prod",
                "topic": "invoices",
                "createSubscription": True,
                "ackDeadline": "PT5S",
                "maxOutstandingMessages": 1,
                "maxOutstandingBytes": 1,
            },
            {"ack_deadline": 10, "max_messages": 1, "max_bytes": 1},
        ),
        (
            {"project": "shop-prod", "topic": "invoices", "createSubscription": True, "ackDeadline": "PT1H"},
            {"ack_deadline": 600},
        ),
        # No project: the mounted key's; the retention of a created subscription passes through.
        (
            {"topic": "invoices", "createSubscription": True, "retentionDuration": "P2D"},
            {"project": "shop-prod", "retention": 2 * 86400},
        ),
    ],
)
def test_gcp_pubsub_source_with_a_mounted_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    secrets = {**SECRETS, ("google", "key.json"): service_account_key("shop-prod")}
    src = source("GcpPubSubSource", secret={"name": "google", "key": "key.json"}, **spec)
    adapter, environ = start(src, tmp_path, secrets=secrets)
    assert isinstance(adapter, PubSubAdapter)
    assert {key: getattr(adapter, key) for key in expected} == expected
    # The Google client library loads the mounted key file.
    import google.auth

    credentials, project = google.auth.load_credentials_from_file(environ["GOOGLE_APPLICATION_CREDENTIALS"])
    assert project == "shop-prod"
    assert credentials.service_account_email == "eventwire@shop-prod.iam.gserviceaccount.com"


# -- ApiServerSource --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace_selector", "matched", "expected_namespaces"),
    [
        (None, None, ["shop"]),  # no selector: the source's namespace
        ({}, None, [None]),  # every namespace
        ({"matchLabels": {"team": "payments"}}, ["pay-a", "pay-b"], ["pay-a", "pay-b"]),
    ],
)
def test_api_server_source(
    tmp_path: Path,
    namespace_selector: dict[str, Any] | None,
    matched: list[str] | None,
    expected_namespaces: list[str | None],
) -> None:
    spec: dict[str, Any] = {
        "mode": "Resource",
        "owner": {"apiVersion": "apps/v1", "kind": "ReplicaSet"},
        "resources": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["front", "back"]},
                        {"key": "canary", "operator": "DoesNotExist"},
                    ],
                },
            },
            {"apiVersion": "apps/v1", "kind": "Deployment"},
        ],
    }
    if namespace_selector is not None:
        spec["namespaceSelector"] = namespace_selector
    adapter, _ = start(source("ApiServerSource", **spec), tmp_path, matched)
    assert isinstance(adapter, ApiServerAdapter)
    config = adapter.config
    assert config.mode == "Resource"
    assert config.owner is not None
    assert (config.owner.api_version, config.owner.kind) == ("apps/v1", "ReplicaSet")
    assert [(r.api_version, r.kind, r.selector) for r in config.resources] == [
        ("v1", "Pod", "app=web,tier in (front,back),!canary"),
        ("apps/v1", "Deployment", ""),
    ]
    assert adapter.namespaces == expected_namespaces


# -- ContainerSource --------------------------------------------------------------------------------


def test_container_source_injects_what_the_common_parser_reads(tmp_path: Path) -> None:
    src = source(
        "ContainerSource",
        template={
            "metadata": {"labels": {"app": "heartbeats"}},
            "spec": {
                "containers": [
                    {
                        "name": "heartbeats",
                        "image": "registry.example/heartbeats:1",
                        "args": ["adapter", "heartbeats"],
                        # A stale K_SINK in the template is replaced by the injected one.
                        "env": [
                            {"name": "K_SINK", "value": "http://stale.example/"},
                            {"name": "HEARTBEATS_PERIOD", "value": "2"},
                        ],
                    },
                    {"name": "sidecar", "image": "registry.example/sidecar:1"},
                ]
            },
        },
    )
    sink = channel_sink()
    deployment = source_resources.make_container_deployment(src, sink, DEAD_LETTER)
    for index in range(2):
        environ = pod_environment(deployment, tmp_path / str(index), index)
        env = AdapterEnv.from_environ("heartbeats", environ)
        assert env.sink == sink
        assert (env.name, env.namespace) == ("src", "shop")
        assert parse_ce_overrides(environ["K_CE_OVERRIDES"]) == {"team": "payments"}
        assert parse_delivery(environ["K_DELIVERY"]).dead_letter_uri == DEAD_LETTER
    heartbeats = HeartbeatsAdapter(
        AdapterEnv.from_environ("heartbeats", pod_environment(deployment, tmp_path / "hb")), NoSender()
    )
    assert heartbeats.period == 2.0


def test_every_source_kind_with_an_adapter_is_covered() -> None:
    """A new source kind must add its case here (ContainerSource runs the user's image)."""
    from eventwire.api import kind_named

    covered = {
        "PingSource",
        "GitHubSource",
        "AwsSqsSource",
        "GcpPubSubSource",
        "ApiServerSource",
        "ContainerSource",
    }
    sources = {name for name in _all_kinds() if kind_named(name).api_version.startswith("sources.")}
    assert sources == covered


def _all_kinds() -> list[str]:
    from tests.api.factories import ALL_KINDS

    return list(ALL_KINDS)


async def test_api_server_source_whose_selector_matches_no_namespace_watches_none(tmp_path: Path) -> None:
    """The controller resolves a namespaceSelector that matches nothing to `namespaces: []`; the
    adapter must then watch no namespace (not fall back to its own) and still report ready."""
    src = source(
        "ApiServerSource",
        resources=[{"apiVersion": "v1", "kind": "Pod"}, {"apiVersion": "v1", "kind": "Namespace"}],
        namespaceSelector={"matchLabels": {"team": "nobody"}},
    )
    with running_kube() as kube:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            }
        )
        async with Sink.start() as sink:
            deployment = source_resources.make_adapter_deployment(src, sink.url, None, SETTINGS, [])
            environ = pod_environment(deployment, tmp_path)
            environ["KUBECONFIG"] = str(kube.write_kubeconfig(tmp_path / "kubeconfig"))
            env = AdapterEnv.from_environ("apiserversource", environ)
            async with metered_sender(env) as (sender, _):
                adapter = ApiServerAdapter(env, sender)
                assert adapter.namespaces == []
                async with running(adapter):
                    await wait_for(lambda: adapter.ready, within=10)
                    await asyncio.to_thread(
                        kube.create, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "late"}}
                    )
                    await sink.wait_for(2)  # the namespaces (cluster-scoped): shop at start, then late
    assert [(r.headers["ce-kind"], r.headers["ce-name"]) for r in sink.received] == [
        ("Namespace", "shop"),
        ("Namespace", "late"),
    ]
