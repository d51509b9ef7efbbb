"""Names and addresses derived from a Channel."""

from __future__ import annotations


def channel_host(name: str, namespace: str, host_suffix: str) -> str:
    """The host the dispatcher routes to this channel: `<channel>.<namespace>.<host suffix>`."""
    return f"{name}.{namespace}.{host_suffix}"


def channel_url(name: str, namespace: str, host_suffix: str) -> str:
    return f"http://{channel_host(name, namespace, host_suffix)}"
