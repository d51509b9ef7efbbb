"""The routing table: which channels exist and who subscribes to each.

Built from Channel objects (`status.subscribers`, the format in DESIGN.md) or from the YAML file's
simpler `channels:` list. Updates replace each channel's subscriber tuple in one assignment, so a
fan-out in progress keeps working from the snapshot it started with.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.delivery.spec import DeliverySpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One subscription's resolved routing entry."""

    uid: str
    subscriber_uri: str
    reply_uri: str | None = None
    spec: DeliverySpec = field(default_factory=DeliverySpec)
    name: str = ""


@dataclass(eq=False, slots=True)
class ChannelRoute:
    """A channel and its current subscribers, plus per-channel runtime state kept across updates."""

    namespace: str
    name: str
    subscribers: tuple[Subscriber, ...] = ()
    in_flight: int = 0  # in-memory backend: accepted events not yet fully delivered

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def _subscriber(entry: Any, where: str, channel_delivery: Mapping[str, Any] | None) -> Subscriber | None:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    uri = entry.get("subscriberUri")
    if entry.get("ready") == "False" or not uri:
        return None
    uid = entry.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ConfigError(f"{where}.uid must be a non-empty string")
    for key in ("subscriberUri", "replyUri"):
        value = entry.get(key)
        if value is not None and (
            not isinstance(value, str) or not value.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"{where}.{key} must be an http(s) URL, got {value!r}")
    delivery = entry.get("delivery")
    if delivery is None:
        delivery = channel_delivery
    try:
        spec = DeliverySpec.from_dict(delivery, dead_letter_uri=entry.get("deadLetterSinkUri"))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Subscriber(uid, uri, entry.get("replyUri") or None, spec, str(entry.get("name") or ""))


def channel_from_object(obj: Mapping[str, Any], where: str = "channel") -> ChannelRoute:
    """A ChannelRoute from a Channel object or a routes-file entry.

    Accepts `{metadata: {name, namespace}, spec: {delivery}, status: {subscribers}}` or the
    short form `{name, namespace, delivery, subscribers}`.

    Raises:
        ConfigError: naming the bad field.
    """
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    if "metadata" in obj:
        meta = obj.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace") or "default"
        channel_delivery = (obj.get("spec") or {}).get("delivery")
        entries = (obj.get("status") or {}).get("subscribers") or []
    else:
        name, namespace = obj.get("name"), obj.get("namespace") or "default"
        channel_delivery = obj.get("delivery")
        entries = obj.get("subscribers") or []
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name must be a non-empty string")
    if not isinstance(namespace, str):
        raise ConfigError(f"{where}.namespace must be a string")
    if not isinstance(entries, list):
        raise ConfigError(f"{where}.subscribers must be a list")
    subs = []
    for i, entry in enumerate(entries):
        sub = _subscriber(entry, f"{where}({namespace}/{name}).subscribers[{i}]", channel_delivery)
        if sub is not None:
            subs.append(sub)
    return ChannelRoute(namespace, name, tuple(subs))


class RoutingTable:
    """Channels by (namespace, name); `on_change` listeners hear about every update."""

    def __init__(self, host_suffix: str | None = None) -> None:
        self.channels: dict[tuple[str, str], ChannelRoute] = {}
        self.host_suffix = host_suffix
        self.listeners: list[Callable[[RoutingTable], None]] = []
        self.loaded = False

    def replace_all(self, routes: Iterable[ChannelRoute]) -> None:
        """Make the table exactly `routes`, keeping runtime state of channels that stay."""
        fresh: dict[tuple[str, str], ChannelRoute] = {}
        for route in routes:
            old = self.channels.get(route.key)
            if old is not None:
                old.subscribers = route.subscribers
                fresh[route.key] = old
            else:
                fresh[route.key] = route
        self.channels = fresh
        self._changed()

    def upsert(self, route: ChannelRoute) -> None:
        old = self.channels.get(route.key)
        if old is not None:
            old.subscribers = route.subscribers
        else:
            self.channels[route.key] = route
        self._changed()

    def remove(self, namespace: str, name: str) -> None:
        if self.channels.pop((namespace, name), None) is not None:
            self._changed()

    def _changed(self) -> None:
        self.loaded = True
        for listener in self.listeners:
            try:
                listener(self)
            except Exception:
                log.exception("routing listener failed")

    def lookup(self, host: str, path: str) -> ChannelRoute | None:
        """The channel a request addresses: by path `/<namespace>/<channel>`, else by Host."""
        trimmed = path.split("?", 1)[0].strip("/")
        if trimmed:
            parts = trimmed.split("/")
            if len(parts) == 2:
                return self.channels.get((parts[0], parts[1]))
            return None
        key = self.key_from_host(host)
        return self.channels.get(key) if key else None

    def key_from_host(self, host: str) -> tuple[str, str] | None:
        """(namespace, channel) from `<channel>.<namespace>.<suffix>[:port]`, or None."""
        if host.startswith("["):
            return None
        name = host.rsplit(":", 1)[0].lower().rstrip(".")
        if self.host_suffix is not None:
            if not name.endswith("." + self.host_suffix):
                return None
            labels = name[: -len(self.host_suffix) - 1].split(".")
            return (labels[1], labels[0]) if len(labels) == 2 else None
        try:
            ipaddress.ip_address(name)
        except ValueError:
            labels = name.split(".")
            return (labels[1], labels[0]) if len(labels) >= 3 else None
        return None
