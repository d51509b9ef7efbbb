"""What each source kind adds to its adapter: command, env, secret mounts, ports, and the
CloudEvent type/source attributes it emits. Pure; the env names are the adapters' contract
(each adapter module in eventwire_runtime.adapters documents its own).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.delivery.spec import parse_duration

SECRETS_ROOT = "/var/run/secrets/eventwire"
GITHUB_PORT = 8080


@dataclass(frozen=True)
class AdapterSettings:
    """A kind's contribution to its adapter pod."""

    command: str
    env: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    http_port: int = 0


def _value(name: str, value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    return {"name": name, "value": str(value)}


def _env(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    return [e for e in (_value(n, v) for n, v in pairs) if e is not None]


def _secret_env(name: str, selector: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """An env var read from a Secret key (`{name, key}`)."""
    if not selector:
        return []
    return [{"name": name, "valueFrom": {"secretKeyRef": {"name": selector["name"], "key": selector["key"]}}}]


def _secret_file(
    volume: str, selector: Mapping[str, Any] | None, filename: str
) -> tuple[list[Any], list[Any], str]:
    """A Secret key mounted read-only as one file; returns (volumes, mounts, the file's path)."""
    if not selector:
        return [], [], ""
    directory = f"{SECRETS_ROOT}/{volume}"
    volumes = [
        {
            "name": volume,
            "secret": {"secretName": selector["name"], "items": [{"key": selector["key"], "path": filename}]},
        }
    ]
    mounts = [{"name": volume, "mountPath": directory, "readOnly": True}]
    return volumes, mounts, f"{directory}/{filename}"


def ping(spec: Mapping[str, Any]) -> AdapterSettings:
    return AdapterSettings(
        "pingsource",
        _env(
            ("PING_SCHEDULE", spec.get("schedule")),
            ("PING_TIMEZONE", spec.get("timezone")),
            ("PING_CONTENT_TYPE", spec.get("contentType")),
            ("PING_DATA", spec.get("data")),
            ("PING_DATA_BASE64", spec.get("dataBase64")),
        ),
    )


def github(spec: Mapping[str, Any]) -> AdapterSettings:
    secret = (spec.get("secretToken") or {}).get("secretKeyRef")
    return AdapterSettings(
        "githubsource",
        [
            *_env(
                ("GITHUB_OWNER_REPO", spec.get("ownerAndRepository")),
                ("GITHUB_EVENT_TYPES", ",".join(spec.get("eventTypes") or [])),
                ("PORT", GITHUB_PORT),
            ),
            *_secret_env("GITHUB_SECRET_TOKEN", secret),
        ],
        http_port=GITHUB_PORT,
    )


def aws_sqs(spec: Mapping[str, Any]) -> AdapterSettings:
    volumes, mounts, path = _secret_file("aws-credentials", spec.get("awsCredsSecret"), "credentials")
    return AdapterSettings(
        "awssqssource",
        _env(
            ("SQS_QUEUE_URL", spec.get("queueUrl")),
            ("AWS_REGION", spec.get("region")),
            ("SQS_ENDPOINT_URL", spec.get("endpointUrl")),
            ("AWS_SHARED_CREDENTIALS_FILE", path),
            ("SQS_BATCH_SIZE", spec.get("batchSize")),
            ("SQS_WAIT_TIME_SECONDS", spec.get("waitTimeSeconds")),
            ("SQS_VISIBILITY_TIMEOUT", spec.get("visibilityTimeout")),
        ),
        volumes,
        mounts,
        dict(spec.get("annotations") or {}),
    )


def _seconds(duration: Any) -> int | None:
    """Whole seconds of an ISO-8601 duration (the CRD's), None when unset or invalid."""
    if not duration:
        return None
    try:
        return round(parse_duration(str(duration)))
    except ValueError:
        return None


# Pub/Sub's accepted ack deadline of a subscription, in seconds (the CRD documents the range
# but cannot check a duration string against it).
ACK_DEADLINE_RANGE = (10, 600)


# ... and its accepted message retention (10 minutes to 31 days).
RETENTION_RANGE = (600, 31 * 86400)


def _clamped_seconds(duration: Any, bounds: tuple[int, int]) -> int | None:
    seconds = _seconds(duration)
    if seconds is None:
        return None
    low, high = bounds
    return min(max(seconds, low), high)


def gcp_pubsub(spec: Mapping[str, Any]) -> AdapterSettings:
    """Env of the Pub/Sub adapter. ackDeadline and retentionDuration are clamped to the ranges
    Pub/Sub accepts (10 s..600 s and 10 min..31 days); without `project` the adapter takes the
    credentials' project."""
    volumes, mounts, path = _secret_file("google-credentials", spec.get("secret"), "key.json")
    return AdapterSettings(
        "gcppubsubsource",
        _env(
            ("PUBSUB_PROJECT", spec.get("project")),
            ("PUBSUB_TOPIC", spec.get("topic")),
            ("PUBSUB_SUBSCRIPTION", spec.get("subscription")),
            ("PUBSUB_CREATE_SUBSCRIPTION", spec.get("createSubscription")),
            ("PUBSUB_ACK_DEADLINE", _clamped_seconds(spec.get("ackDeadline"), ACK_DEADLINE_RANGE)),
            ("PUBSUB_RETENTION_DURATION", _clamped_seconds(spec.get("retentionDuration"), RETENTION_RANGE)),
            ("PUBSUB_MAX_OUTSTANDING_MESSAGES", spec.get("maxOutstandingMessages")),
            ("PUBSUB_MAX_OUTSTANDING_BYTES", spec.get("maxOutstandingBytes")),
            ("GOOGLE_APPLICATION_CREDENTIALS", path),
        ),
        volumes,
        mounts,
    )


def selects_all(selector: Mapping[str, Any] | None) -> bool:
    """An empty label selector (`{}`) selects every namespace."""
    return selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions")


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a LabelSelector object (matchLabels and matchExpressions with
    In, NotIn, Exists, DoesNotExist), as the API server evaluates it."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        present = key in labels
        matched = {
            "In": present and labels[key] in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op, False)
        if not matched:
            return False
    return True


def api_server(spec: Mapping[str, Any], namespace: str, selected: list[str] | None = None) -> AdapterSettings:
    """K_SOURCE_CONFIG (the adapter's Knative-shaped JSON): resources, mode, owner and where.

    Args:
        selected: the namespaces spec.namespaceSelector matches (resolved by the controller);
            ignored without a selector (the source's namespace) or with an empty one (all).
    """
    config: dict[str, Any] = {
        "mode": spec.get("mode") or "Reference",
        "resources": [
            {k: r[k] for k in ("apiVersion", "kind", "selector") if k in r}
            for r in spec.get("resources") or []
        ],
    }
    if spec.get("owner"):
        config["owner"] = spec["owner"]
    selector = spec.get("namespaceSelector")
    if selector is None:
        config["namespaces"] = [namespace]
    elif selects_all(selector):
        config["allNamespaces"] = True
    else:
        config["namespaces"] = sorted(selected or [])
    return AdapterSettings("apiserversource", _env(("K_SOURCE_CONFIG", json.dumps(config, sort_keys=True))))


def adapter_for(source: Mapping[str, Any], namespaces: list[str] | None = None) -> AdapterSettings:
    """The adapter settings of a source object (not for ContainerSource, which has no adapter).

    Args:
        namespaces: for ApiServerSource, the namespaces its namespaceSelector matches.
    """
    spec, kind = source.get("spec") or {}, source["kind"]
    if kind == "PingSource":
        return ping(spec)
    if kind == "GitHubSource":
        return github(spec)
    if kind == "AwsSqsSource":
        return aws_sqs(spec)
    if kind == "GcpPubSubSource":
        return gcp_pubsub(spec)
    if kind == "ApiServerSource":
        return api_server(spec, source["metadata"]["namespace"], namespaces)
    raise ValueError(f"{kind} has no adapter of the runtime image")


def ce_attributes(source: Mapping[str, Any]) -> list[dict[str, str]]:
    """The CloudEvent type/source pairs the source emits (Knative's conventions)."""
    meta, spec, kind = source["metadata"], source.get("spec") or {}, source["kind"]
    if kind == "PingSource":
        source_uri = f"/apis/v1/namespaces/{meta['namespace']}/pingsources/{meta['name']}"
        return [{"type": "dev.knative.sources.ping", "source": source_uri}]
    if kind == "GitHubSource":
        origin = f"https://github.com/{spec.get('ownerAndRepository', '')}"
        return [
            {"type": f"dev.knative.source.github.{t}", "source": origin} for t in spec.get("eventTypes") or []
        ]
    if kind == "ApiServerSource":
        prefix = "resource" if spec.get("mode") == "Resource" else "ref"
        return [
            {"type": f"dev.knative.apiserver.{prefix}.{op}", "source": "https://kubernetes.default.svc"}
            for op in ("add", "update", "delete")
        ]
    if kind == "AwsSqsSource":
        return [{"type": "aws.sqs.message", "source": str(spec.get("queueUrl", ""))}]
    if kind == "GcpPubSubSource":
        project = spec.get("project") or ""
        return [
            {
                "type": "google.cloud.pubsub.topic.v1.messagePublished",
                "source": f"//pubsub.googleapis.com/projects/{project}/topics/{spec.get('topic', '')}",
            }
        ]
    return []
