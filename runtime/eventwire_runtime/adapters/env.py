"""The environment contract every adapter reads, parsed once at start.

Common variables (all adapters; the controller sets them the same way for every source):

    K_SINK              required; http(s) URL events are POSTed to.
    K_CE_OVERRIDES      optional JSON `{"extensions": {"name": "value", ...}}`; set on every event,
                        replacing the adapter's own extension of the same name.
    NAME                optional; the source object's name (default: the adapter kind).
    NAMESPACE           optional; the source object's namespace (default: "default").
    K_DELIVERY          optional JSON in the CRD's DeliverySpec shape: `retry`, `backoffPolicy`,
                        `backoffDelay`, `backoffMax`, `timeout`, `retryAfterMax` (ISO-8601),
                        `deadLetterSinkUri` or `deadLetterSink.uri`. Keys left out take the
                        adapter defaults: retry 3, exponential, PT0.2S, backoffMax PT5S,
                        timeout PT30S, no dead letter.
    K_MAX_IN_FLIGHT     optional; deliveries in flight at once (default 64).
    METRICS_PORT        optional; port of /metrics, /healthz, /readyz (default 9090; 0 = any
                        free port, logged at start).
    K_SHUTDOWN_TIMEOUT  optional; seconds allowed to drain on SIGTERM (default 20; keep it below
                        the pod's terminationGracePeriodSeconds).
    LOG_LEVEL           optional; DEBUG, INFO (default), WARNING, ERROR.

The adapter's HTTP servers (the admin server, and a webhook receiver such as GitHubSource's) hold
against hostile clients with these limits (see `http_server`); durations in seconds or ISO-8601:

    HTTP_MAX_REQUEST_LINE_BYTES  optional; longer request lines get 414 (default 8192).
    HTTP_MAX_HEADER_BYTES        optional; larger request headers get 431 (default 65536).
    HTTP_HEADER_TIMEOUT          optional; time to receive a request's headers, else 408 and
                                 close (default 10).
    HTTP_BODY_TIMEOUT            optional; time to receive a request's body once its headers
                                 are in, else 408 and close (default 60).
    HTTP_IDLE_TIMEOUT            optional; time a keep-alive connection may wait for its next
                                 request (default 60).
    HTTP_MAX_CONNECTIONS         optional; client connections of the process (default 1024, at
                                 most half the descriptor limit); past it an idle one is closed,
                                 or the newcomer gets 503.

Each adapter documents its own variables in its module docstring.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.adapters.events import valid_extension_name
from eventwire_runtime.cloudevents.types import check_string
from eventwire_runtime.delivery.errors import ConfigError, EventFormatError
from eventwire_runtime.delivery.spec import DeliverySpec, parse_duration

DEFAULT_DELIVERY: dict[str, Any] = {
    "retry": 3,
    "backoffPolicy": "exponential",
    "backoffDelay": "PT0.2S",
    "backoffMax": "PT5S",
    "timeout": "PT30S",
}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client may cost an adapter's HTTP server; sizes in bytes, times in seconds."""

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_connections: int = 1024

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HttpLimits:
        """The `HTTP_*` settings (see the module docstring).

        Raises:
            ConfigError: naming the variable that is invalid.
        """
        default = cls()
        return cls(
            max_request_line=env_int(
                environ, "HTTP_MAX_REQUEST_LINE_BYTES", default.max_request_line, minimum=256
            ),
            max_header_bytes=env_int(
                environ, "HTTP_MAX_HEADER_BYTES", default.max_header_bytes, minimum=1024
            ),
            header_timeout=_positive(environ, "HTTP_HEADER_TIMEOUT", default.header_timeout),
            body_timeout=_positive(environ, "HTTP_BODY_TIMEOUT", default.body_timeout),
            idle_timeout=_positive(environ, "HTTP_IDLE_TIMEOUT", default.idle_timeout),
            max_connections=env_int(environ, "HTTP_MAX_CONNECTIONS", default.max_connections, minimum=1),
        )


def _positive(environ: Mapping[str, str], name: str, default: float) -> float:
    value = env_seconds(environ, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return value


@dataclass(frozen=True, slots=True)
class AdapterEnv:
    """The parsed common settings, plus the raw environment for kind-specific settings.

    Attributes:
        kind: adapter kind, e.g. "pingsource".
        sink: the K_SINK URL.
        ce_overrides: extensions from K_CE_OVERRIDES.
        name: the source's name.
        namespace: the source's namespace.
        delivery: retries, backoff, timeout and dead letter for the sink.
        max_in_flight: deliveries in flight at once.
        metrics_port: port of the metrics and health server (0 = ephemeral).
        shutdown_timeout: seconds to drain on shutdown.
        log_level: logging level name.
        http: limits of the adapter's HTTP servers.
        environ: the full environment, for the adapter's own settings.
    """

    kind: str
    sink: str
    ce_overrides: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    namespace: str = "default"
    delivery: DeliverySpec = field(default_factory=lambda: DeliverySpec.from_dict(DEFAULT_DELIVERY))
    max_in_flight: int = 64
    metrics_port: int = 9090
    shutdown_timeout: float = 20.0
    log_level: str = "INFO"
    http: HttpLimits = field(default_factory=HttpLimits)
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, kind: str, environ: Mapping[str, str]) -> AdapterEnv:
        """Parse the common contract.

        Raises:
            ConfigError: naming the variable that is missing or invalid.
        """
        sink = environ.get("K_SINK", "").strip()
        if not sink:
            raise ConfigError("K_SINK is required: the URL events are sent to")
        if not sink.startswith(("http://", "https://")):
            raise ConfigError(f"K_SINK must be an http(s) URL, got {sink!r}")
        log_level = environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
        return cls(
            kind=kind,
            sink=sink,
            ce_overrides=parse_ce_overrides(environ.get("K_CE_OVERRIDES")),
            name=environ.get("NAME", "").strip() or kind,
            namespace=environ.get("NAMESPACE", "").strip() or "default",
            delivery=parse_delivery(environ.get("K_DELIVERY")),
            max_in_flight=env_int(environ, "K_MAX_IN_FLIGHT", 64, minimum=1),
            metrics_port=env_int(environ, "METRICS_PORT", 9090, minimum=0, maximum=65535),
            shutdown_timeout=env_seconds(environ, "K_SHUTDOWN_TIMEOUT", 20.0),
            log_level=log_level,
            http=HttpLimits.from_environ(environ),
            environ=dict(environ),
        )


def parse_json_object(name: str, text: str, shape: str = "") -> dict[str, Any]:
    """`text`, the value of the variable `name`, parsed as a JSON object.

    Args:
        name: the variable, named in errors.
        text: its value.
        shape: appended to the "must be a JSON object" error to show the expected shape.

    Raises:
        ConfigError: for invalid JSON or a JSON value that is not an object.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{name} must be a JSON object{shape}")
    return doc


def parse_ce_overrides(text: str | None) -> dict[str, str]:
    """The extensions in a K_CE_OVERRIDES value (`{"extensions": {...}}`); {} when unset.

    Raises:
        ConfigError: for invalid JSON, a non-object, a bad extension name, a non-string value or one
            with characters a CloudEvents String forbids (e.g. a line break: the ingress would
            refuse every event).
    """
    if text is None or not text.strip():
        return {}
    doc = parse_json_object("K_CE_OVERRIDES", text, ' like {"extensions": {"key": "value"}}')
    extensions = doc.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise ConfigError("K_CE_OVERRIDES.extensions must be an object of string values")
    out: dict[str, str] = {}
    for name, value in extensions.items():
        if not valid_extension_name(name):
            raise ConfigError(
                f"K_CE_OVERRIDES.extensions: {name!r} is not a valid extension name "
                "(lower-case letters and digits, not a core attribute)"
            )
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError(f"K_CE_OVERRIDES.extensions.{name} must be a string, got {value!r}")
        try:
            check_string(name, str(value))
        except EventFormatError as exc:
            raise ConfigError(f"K_CE_OVERRIDES.extensions.{name}: {exc}") from None
        out[name] = str(value)
    return out


def parse_delivery(text: str | None) -> DeliverySpec:
    """The delivery spec from K_DELIVERY merged over `DEFAULT_DELIVERY`.

    Raises:
        ConfigError: for invalid JSON or an invalid field (named).
    """
    merged = dict(DEFAULT_DELIVERY)
    if text is not None and text.strip():
        doc = parse_json_object("K_DELIVERY", text, " in the DeliverySpec shape")
        merged.update({k: v for k, v in doc.items() if v is not None})
    try:
        return DeliverySpec.from_dict(merged)
    except ValueError as exc:
        raise ConfigError(f"K_DELIVERY: {exc}") from None


def env_str(environ: Mapping[str, str], name: str, default: str | None = None) -> str:
    """A required (no default) or defaulted string setting, stripped.

    Raises:
        ConfigError: when required and missing or empty.
    """
    value = environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f"{name} is required")
    return default


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer setting with bounds.

    Raises:
        ConfigError: when not an integer or out of bounds (named).
    """
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def env_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """A duration setting: plain seconds (`2.5`) or ISO-8601 (`PT2.5S`).

    Raises:
        ConfigError: when neither form parses, or the value is negative.
    """
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_duration(text)
        except ValueError:
            raise ConfigError(
                f"{name} must be seconds (e.g. 2.5) or ISO-8601 (e.g. PT2.5S), got {text!r}"
            ) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a non-negative duration, got {text!r}")
    return value


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean setting: true/false, 1/0, yes/no (case-insensitive).

    Raises:
        ConfigError: for any other value.
    """
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {text!r}")
