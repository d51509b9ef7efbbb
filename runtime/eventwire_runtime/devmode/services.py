"""Where Kubernetes and Knative Services live on this machine.

A Service's in-cluster address (`http://<name>.<namespace>.svc.cluster.local/...`) is rewritten
to the URL the user mapped it to (`--service NAME=URL` or a `services:` file, NAME being `name`
or `namespace/name`), else to the built-in display service, which shows what it receives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from eventwire_runtime.delivery.errors import ConfigError

CLUSTER_DOMAIN = "cluster.local"
# <name>.<namespace>.svc[.cluster.local]: the host names cluster DNS gives a Service.
SERVICE_HOST = re.compile(
    r"^(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?$"
)


def _check_url(name: str, url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: service {name!r} must map to an http(s) URL, got {url!r}")
    return url.rstrip("/")


def parse_service_flags(values: Iterable[str]) -> dict[str, str]:
    """`NAME=URL` pairs from --service flags.

    Raises:
        ConfigError: naming the malformed flag.
    """
    mapped = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--service needs NAME=URL (NAME is name or namespace/name), got {value!r}")
        mapped[name.strip()] = _check_url(name.strip(), url.strip(), "--service")
    return mapped


def load_services_file(path: str) -> dict[str, str]:
    """The `services:` mapping of a YAML file: `{services: {NAME: URL}}`.

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    try:
        document: Any = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read services file {path}: {exc}") from None
    services = document.get("services") if isinstance(document, Mapping) else None
    if not isinstance(services, Mapping):
        raise ConfigError(f"services file {path} must hold a 'services:' mapping of NAME: URL")
    return {
        str(name): _check_url(str(name), str(url), f"services file {path}") for name, url in services.items()
    }


class ServiceMap:
    """Local URLs of Services: mapped ones, else `<display_url>/<namespace>/<name>`.

    Args:
        mapped: NAME -> URL, NAME being `namespace/name` or a bare `name` (any namespace).
        display_url: base URL of the built-in display service.
    """

    def __init__(self, mapped: Mapping[str, str], display_url: str) -> None:
        self.mapped = dict(mapped)
        self.display_url = display_url.rstrip("/")

    def base_url(self, namespace: str, name: str) -> str:
        return (
            self.mapped.get(f"{namespace}/{name}")
            or self.mapped.get(name)
            or f"{self.display_url}/{namespace}/{name}"
        )

    def is_mapped(self, namespace: str, name: str) -> bool:
        return f"{namespace}/{name}" in self.mapped or name in self.mapped

    def localize(self, uri: str) -> str:
        """`uri` with a Service host replaced by its local URL (path and query kept); others as is."""
        parts = urlsplit(uri)
        match = SERVICE_HOST.match(parts.hostname or "")
        if match is None:
            return uri
        base = urlsplit(self.base_url(match["ns"], match["name"]))
        path = base.path.rstrip("/") + (parts.path or "")
        return urlunsplit((base.scheme, base.netloc, path or "/", parts.query, ""))
