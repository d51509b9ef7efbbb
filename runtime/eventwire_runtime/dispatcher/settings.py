"""The dispatcher's settings, parsed once at startup from the environment and command-line flags.

Every setting has an environment variable and a flag; a flag wins over the variable. Durations
are seconds (`2.5`) or ISO-8601 (`PT2.5S`).

| env var | flag | default | meaning |
|---|---|---|---|
| EVENTWIRE_HOST | --host | 0.0.0.0 | address to listen on |
| EVENTWIRE_PORT | --port | 8080 | port for ingress and /healthz, /readyz, /metrics |
| EVENTWIRE_BACKEND | --backend | in-memory | `in-memory`, `jetstream` or `redis` |
| EVENTWIRE_ROUTES_SOURCE | --routes-source | file if a routes file is set, else kubernetes | `file` or `kubernetes` |
| EVENTWIRE_ROUTES_FILE | --routes-file | (none) | YAML routing table, watched for changes |
| EVENTWIRE_ROUTES_POLL | --routes-poll | 0.2 | seconds between checks of the routes file |
| EVENTWIRE_KUBE_NAMESPACE | --kube-namespace | (all) | namespace whose Channels to watch |
| EVENTWIRE_KUBE_API_URL | --kube-api-url | https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT | Kubernetes API server (in-cluster default) |
| EVENTWIRE_KUBE_TOKEN_FILE | --kube-token-file | /var/run/secrets/kubernetes.io/serviceaccount/token | service-account bearer token, re-read when rotated; unauthenticated if missing |
| EVENTWIRE_KUBE_CA_FILE | --kube-ca-file | /var/run/secrets/kubernetes.io/serviceaccount/ca.crt | CA bundle for an https API URL; required with a token file (/readyz names it if missing) |
| EVENTWIRE_PROVISIONER | --provisioner | (any) | only route Channels whose spec.provisioner is this |
| EVENTWIRE_HOST_SUFFIX | --host-suffix | (none) | Host routing: `<channel>.<namespace>.<suffix>`; with none, the first two labels of any non-IP Host with three or more labels |
| EVENTWIRE_MAX_BODY_BYTES | --max-body-bytes | 33554432 (32 MiB) | larger requests get 413 |
| EVENTWIRE_MAX_REQUEST_LINE_BYTES | --max-request-line-bytes | 8192 | longer request lines get 414 |
| EVENTWIRE_MAX_HEADER_BYTES | --max-header-bytes | 65536 | larger request headers get 431 |
| EVENTWIRE_HEADER_TIMEOUT | --header-timeout | 10 | seconds to receive a request's headers, else 408 and close |
| EVENTWIRE_BODY_TIMEOUT | --body-timeout | 60 | seconds to receive a request's body once its headers are in, else 408 and close |
| EVENTWIRE_IDLE_TIMEOUT | --idle-timeout | 60 | seconds a keep-alive connection may wait for its next request |
| EVENTWIRE_MAX_CONNECTIONS | --max-connections | 4096 | client connections (at most half the fd limit); past it an idle one is closed, or the newcomer gets 503 |
| EVENTWIRE_QUEUE_CAPACITY | --queue-capacity | 10000 | in-memory: events per channel not yet delivered before 429 |
| EVENTWIRE_MAX_BACKLOG | --max-backlog | 10000 | persistent: undelivered events per subscription above which ingress is held back (then 429) |
| EVENTWIRE_RETRY_AFTER | --retry-after | 1 | seconds in the Retry-After of a 429 |
| EVENTWIRE_SUBSCRIBER_CONCURRENCY | --subscriber-concurrency | 64 | deliveries in flight per subscriber and replica |
| EVENTWIRE_DELIVERY_TIMEOUT | --delivery-timeout | 30 | per-attempt timeout when the delivery spec sets none |
| EVENTWIRE_NATS_URL | --nats-url | nats://127.0.0.1:4222 | jetstream backend server |
| EVENTWIRE_STREAM | --stream | EVENTWIRE | JetStream stream / Redis key prefix |
| EVENTWIRE_REDIS_URL | --redis-url | redis://127.0.0.1:6379/0 | redis backend server |
| EVENTWIRE_ACK_WAIT | --ack-wait | 300 | persistent: seconds before an unacknowledged event is redelivered (to another replica after a crash); a delivery still in progress (slow subscriber, waiting retries) extends it every third of it |
| EVENTWIRE_CONSUMER_NAME | --consumer-name | hostname-pid | redis: this replica's consumer name |
| EVENTWIRE_FETCH_BATCH | --fetch-batch | 256 | persistent: events fetched per consumer read |
| EVENTWIRE_SHUTDOWN_TIMEOUT | --shutdown-timeout | 20 | seconds to finish in-flight deliveries on SIGTERM (keep below terminationGracePeriodSeconds) |
| EVENTWIRE_LOG_LEVEL | --log-level | INFO | DEBUG, INFO, WARNING, ERROR |
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from eventwire_runtime.settings import SettingsError, to_choice, to_int, to_seconds

Backend = Literal["in-memory", "jetstream", "redis"]
RoutesSource = Literal["file", "kubernetes"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated dispatcher configuration; see the module docstring for each field."""

    host: str = "0.0.0.0"  # a pod listens on all interfaces
    port: int = 8080
    backend: Backend = "in-memory"
    routes_source: RoutesSource = "file"
    routes_file: str | None = None
    routes_poll: float = 0.2
    kube_namespace: str | None = None
    kube_api_url: str | None = None
    kube_token_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    kube_ca_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    provisioner: str | None = None
    host_suffix: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    max_request_line_bytes: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_connections: int = 4096
    queue_capacity: int = 10000
    max_backlog: int = 10000
    retry_after: int = 1
    subscriber_concurrency: int = 64
    delivery_timeout: float = 30.0
    nats_url: str = "nats://127.0.0.1:4222"
    stream: str = "EVENTWIRE"
    redis_url: str = "redis://127.0.0.1:6379/0"
    ack_wait: float = 300.0
    consumer_name: str = ""
    fetch_batch: int = 256
    shutdown_timeout: float = 20.0
    log_level: str = "INFO"


# field -> (kind, minimum) for the numeric ones
_INTS = {
    "port": 1,
    "max_body_bytes": 1,
    "max_request_line_bytes": 256,
    "max_header_bytes": 1024,
    "max_connections": 1,
    "queue_capacity": 1,
    "max_backlog": 1,
    "retry_after": 0,
    "subscriber_concurrency": 1,
    "fetch_batch": 1,
}
_DURATIONS = {
    "routes_poll",
    "delivery_timeout",
    "ack_wait",
    "shutdown_timeout",
    "header_timeout",
    "body_timeout",
    "idle_timeout",
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "backend": ("in-memory", "jetstream", "redis"),
    "routes_source": ("file", "kubernetes"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}


def _env_name(field: str) -> str:
    return "EVENTWIRE_" + field.upper()


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _convert(field: str, text: str, origin: str) -> Any:
    """The typed value of `field` from `text`; errors name `origin` (the variable or flag)."""
    if field in _INTS:
        return to_int(origin, text, _INTS[field], 65535 if field == "port" else None)
    if field in _DURATIONS:
        return to_seconds(origin, text, positive=True)
    if field in _CHOICES:
        return to_choice(origin, text, _CHOICES[field], upper=field == "log_level")
    return (
        text.strip() or None
        if field in ("routes_file", "kube_namespace", "provisioner", "host_suffix", "kube_api_url")
        else text
    )


def parse_settings(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from flags (winning) and EVENTWIRE_* variables.

    Raises:
        SettingsError: naming the variable or flag and what it must be.
    """
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="eventwire-runtime dispatcher", exit_on_error=False)
    for f in fields(Settings):
        parser.add_argument(_flag(f.name), dest=f.name, default=None, help=f"(env {_env_name(f.name)})")
    try:
        args, unknown = parser.parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise SettingsError(str(exc)) from None
    if unknown:
        raise SettingsError(f"unknown argument(s): {' '.join(unknown)}")
    values: dict[str, Any] = {}
    for f in fields(Settings):
        flag_value = getattr(args, f.name)
        if flag_value is not None:
            values[f.name] = _convert(f.name, flag_value, _flag(f.name))
        elif _env_name(f.name) in env:
            values[f.name] = _convert(f.name, env[_env_name(f.name)], _env_name(f.name))
    if "routes_source" not in values:
        values["routes_source"] = "file" if values.get("routes_file") else "kubernetes"
    if values["routes_source"] == "file" and not values.get("routes_file"):
        raise SettingsError(
            "EVENTWIRE_ROUTES_FILE (--routes-file) is required when the routes source is 'file'"
        )
    if values["routes_source"] == "kubernetes" and not values.get("kube_api_url"):
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise SettingsError(
                "no routing source: set EVENTWIRE_ROUTES_FILE, or EVENTWIRE_KUBE_API_URL, or run in a pod "
                "(KUBERNETES_SERVICE_HOST)"
            )
        values["kube_api_url"] = f"https://{host}:{port}"
    if values.get("kube_api_url") and not str(values["kube_api_url"]).startswith(("http://", "https://")):
        raise SettingsError(f"EVENTWIRE_KUBE_API_URL must be an http(s) URL, got {values['kube_api_url']!r}")
    if not values.get("consumer_name"):
        values["consumer_name"] = f"{socket.gethostname()}-{os.getpid()}"
    if values.get("host_suffix"):
        values["host_suffix"] = values["host_suffix"].strip(".").lower()
    return Settings(**values)
