"""Names and addresses derived from a Channel.

A channel's address is one of two styles, both routed by the provisioner's dispatcher:

- path-routed (the default): `http://<dispatcher service>.<system ns>.svc.<cluster domain>/<ns>/<channel>`,
  a plain Service address that stock cluster DNS resolves;
- host-style, only when the provisioner sets `spec.dispatcher.hostSuffix` (the operator provides
  wildcard DNS or an ingress for it): `http://<channel>.<ns>.<hostSuffix>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def channel_host(name: str, namespace: str, host_suffix: str) -> str:
    """The host the dispatcher routes to this channel: `<channel>.<namespace>.<host suffix>`."""
    return f"{name}.{namespace}.{host_suffix}"


def channel_url(name: str, namespace: str, host_suffix: str) -> str:
    """The host-style address `http://<channel>.<namespace>.<host suffix>`."""
    return f"http://{channel_host(name, namespace, host_suffix)}"


def channel_path_url(name: str, namespace: str, dispatcher_url: str) -> str:
    """The path-routed address `<dispatcher url>/<namespace>/<channel>`."""
    return f"{dispatcher_url.rstrip('/')}/{namespace}/{name}"


def explicit_host_suffix(provisioner: Mapping[str, Any] | None) -> str | None:
    """The provisioner's `spec.dispatcher.hostSuffix`, None when the operator did not set one."""
    suffix = (((provisioner or {}).get("spec") or {}).get("dispatcher") or {}).get("hostSuffix")
    return str(suffix or "").strip(".") or None


def channel_address(name: str, namespace: str, provisioner: Mapping[str, Any] | None) -> str | None:
    """The channel's address given its provisioner, None while the provisioner has published no
    dispatcher address (`status.address.url`) and sets no host suffix."""
    suffix = explicit_host_suffix(provisioner)
    if suffix:
        return channel_url(name, namespace, suffix)
    dispatcher_url = (((provisioner or {}).get("status") or {}).get("address") or {}).get("url")
    return channel_path_url(name, namespace, str(dispatcher_url)) if dispatcher_url else None
