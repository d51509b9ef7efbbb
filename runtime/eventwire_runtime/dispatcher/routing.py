"""The routing table: which channels exist and who subscribes to each.

Built from Channel objects (`status.subscribers`, the format in DESIGN.md) or from the YAML file's
simpler `channels:` list. Updates replace each channel's subscriber tuple in one assignment, so a
fan-out in progress keeps working from the snapshot it started with.

Durable state (a persistent backend's consumer or group) follows the Subscription's lifetime,
not its readiness, and never an entry's mere absence from one table:

- an entry that is not ready (`ready: "False"`, or no subscriber URI yet) is *paused*: its durable
  state is kept (and created, so nothing accepted from now on is lost), nothing is delivered;
- an entry missing from the table is no longer delivered to, its durable state is kept;
- only a tombstone (`deletedSubscribers: [{uid, name, deletedAt}]`, written by the controller when
  the Subscription is really deleted) or the explicit deletion of the whole Channel or Broker
  (the watch's DELETED event, not a list that lacks it) removes durable state.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.delivery.spec import DeliverySpec
from eventwire_runtime.dispatcher import guards

CHANNEL = "channel"
BROKER = "broker"
# A Broker's route is stored under `broker:<name>`: ':' is not allowed in Kubernetes names, so it
# never collides with a Channel of the same name (table key, stream subject, metrics label).
BROKER_PREFIX = "broker:"
BROKERS_PATH = "brokers"  # Broker addresses are `/brokers/<namespace>/<broker>`
KINDS = (CHANNEL, BROKER)

# A compiled Trigger filter over an event's attributes (eventwire_spec.filters).
EventFilter = Callable[[Mapping[str, object]], bool]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One subscription's resolved routing entry."""

    uid: str
    subscriber_uri: str
    reply_uri: str | None = None
    spec: DeliverySpec = field(default_factory=DeliverySpec)
    name: str = ""
    filter: EventFilter | None = None  # a Trigger's filter; None delivers every event
    stats: Any = field(default=None, compare=False)  # a Trigger's broker.TriggerStats


@dataclass(eq=False, slots=True)
class ChannelRoute:
    """A channel and its current subscribers, plus per-channel runtime state kept across updates."""

    namespace: str
    name: str
    subscribers: tuple[Subscriber, ...] = ()  # ready: delivered to
    paused: tuple[str, ...] = ()  # uids of subscriptions that exist but are not ready
    deleted: tuple[str, ...] = ()  # uids of subscriptions the control plane says were deleted
    in_flight: int = 0  # in-memory backend: accepted events not yet fully delivered
    kind: str = CHANNEL  # BROKER: `name` is `broker:<name>` and the subscribers are its Triggers
    # BROKER: per Trigger uid (ready or paused), the `type` its filter requires, None if any;
    # the jetstream backend gives such a Trigger's consumer a subject of that type only.
    type_keys: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def uids(self) -> tuple[str, ...]:
        """Every subscription whose durable state this channel keeps (ready or paused)."""
        return (*(s.uid for s in self.subscribers), *self.paused)

    @property
    def title(self) -> str:
        """The Channel's or Broker's own name (without the `broker:` prefix)."""
        return self.name[len(BROKER_PREFIX) :] if self.kind == BROKER else self.name

    def take_entries(self, other: ChannelRoute) -> None:
        """Adopt `other`'s entries (subscribers replaced in one assignment), keeping runtime state."""
        self.subscribers, self.paused, self.deleted = other.subscribers, other.paused, other.deleted
        self.type_keys = other.type_keys


def _uid(entry: Mapping[str, Any], where: str) -> str:
    uid = entry.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ConfigError(f"{where}.uid must be a non-empty string")
    return uid


def subscriber_entry(entry: Any, where: str, channel_delivery: Mapping[str, Any] | None) -> Subscriber | str:
    """The ready entry as a Subscriber, or the uid of a paused one."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    uid = _uid(entry, where)
    uri = entry.get("subscriberUri")
    if entry.get("ready") == "False" or not uri:
        return uid
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


def tombstone_uids(entries: Any, where: str) -> tuple[str, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ConfigError(f"{where} must be a list")
    uids = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}[{i}] must be a mapping")
        uids.append(_uid(entry, f"{where}[{i}]"))
    return tuple(uids)


def object_parts(obj: Any, where: str) -> tuple[str, str, Any, Mapping[str, Any]]:
    """(name, namespace, default delivery, the mapping holding the routing entries) of a Channel
    or Broker object (metadata/spec/status) or of a routes-file entry (the short form).

    Raises:
        ConfigError: naming the bad field.
    """
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    if "metadata" in obj:
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        for field_name, value in (("metadata", meta), ("spec", spec)):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}.{field_name} must be a mapping")
        name, namespace = meta.get("name"), meta.get("namespace") or "default"
        delivery = spec.get("delivery")
        holder = obj.get("status") or {}
    else:
        name, namespace = obj.get("name"), obj.get("namespace") or "default"
        delivery = obj.get("delivery")
        holder = obj
    if not isinstance(holder, Mapping):
        raise ConfigError(f"{where}.status must be a mapping")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name must be a non-empty string")
    if not isinstance(namespace, str):
        raise ConfigError(f"{where}.namespace must be a string")
    return name, namespace, delivery, holder


def channel_from_object(obj: Mapping[str, Any], where: str = "channel") -> ChannelRoute:
    """A ChannelRoute from a Channel object or a routes-file entry.

    Accepts `{metadata: {name, namespace}, spec: {delivery}, status: {subscribers,
    deletedSubscribers}}` or the short form `{name, namespace, delivery, subscribers,
    deletedSubscribers}`.

    Raises:
        ConfigError: naming the bad field.
    """
    name, namespace, channel_delivery, holder = object_parts(obj, where)
    entries = holder.get("subscribers") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{where}.subscribers must be a list")
    subs: list[Subscriber] = []
    paused: list[str] = []
    for i, entry in enumerate(entries):
        sub = subscriber_entry(entry, f"{where}({namespace}/{name}).subscribers[{i}]", channel_delivery)
        if isinstance(sub, str):
            paused.append(sub)
        else:
            subs.append(sub)
    live = {s.uid for s in subs} | set(paused)
    deleted = tombstone_uids(
        holder.get("deletedSubscribers"), f"{where}({namespace}/{name}).deletedSubscribers"
    )
    return ChannelRoute(
        namespace, name, tuple(subs), tuple(paused), tuple(u for u in deleted if u not in live)
    )


# Told of every update: the table, and the channels the control plane deleted explicitly in it.
Listener = Callable[["RoutingTable", tuple[ChannelRoute, ...]], None]


class RoutingTable:
    """Channels by (namespace, name); `listeners` hear about every update.

    `problem` is the routing source's last error (None when its last read succeeded): /readyz
    reports it, and `errors` counts them by source for the metric. The table is `loaded` once
    every kind was read in full (a routes file holds both; Kubernetes lists each on its own).
    """

    def __init__(self, host_suffix: str | None = None) -> None:
        self.channels: dict[tuple[str, str], ChannelRoute] = {}
        self.host_suffix = host_suffix
        self.listeners: list[Listener] = []
        self.loaded_kinds: set[str] = set()
        self.problem: str | None = None
        self.errors: dict[str, int] = {}

    @property
    def loaded(self) -> bool:
        return not self.unloaded()

    def unloaded(self) -> list[str]:
        """The kinds (CHANNEL, BROKER) whose routes were never read in full yet."""
        return [kind for kind in KINDS if kind not in self.loaded_kinds]

    def report_problem(self, source: str, message: str) -> None:
        """Record a failed read of the routing source (the table itself is left as it was)."""
        self.problem = message
        self.errors[source] = self.errors.get(source, 0) + 1

    def replace_all(self, routes: Iterable[ChannelRoute], kind: str | None = None) -> None:
        """Make the table exactly `routes`, keeping runtime state of channels that stay.

        Channels left out are no longer routed; their durable state is kept (absence is not a
        deletion, see the module docstring). With `kind` (CHANNEL or BROKER), only routes of that
        kind are replaced: each Kubernetes watch lists one kind.
        """
        fresh: dict[tuple[str, str], ChannelRoute] = {
            key: route for key, route in self.channels.items() if kind is not None and route.kind != kind
        }
        for route in routes:
            old = self.channels.get(route.key)
            if old is not None:
                old.take_entries(route)
                fresh[route.key] = old
            else:
                fresh[route.key] = route
        self.channels = fresh
        self.problem = None
        self.loaded_kinds.update(KINDS if kind is None else (kind,))
        self._changed(())

    def upsert(self, route: ChannelRoute) -> None:
        old = self.channels.get(route.key)
        if old is not None:
            old.take_entries(route)
        else:
            self.channels[route.key] = route
        self._changed(())

    def remove(self, namespace: str, name: str, *, deleted: bool = False) -> None:
        """Stop routing a channel; `deleted` when the control plane deleted it (drop its state)."""
        route = self.channels.pop((namespace, name), None)
        if deleted:  # also when no longer routed here: the backend may still hold its state
            self._changed((route or ChannelRoute(namespace, name),))
        elif route is not None:
            self._changed(())

    def _changed(self, deleted: tuple[ChannelRoute, ...]) -> None:
        for listener in self.listeners:
            try:
                listener(self, deleted)
            except Exception:  # task boundary: one failing listener must not starve the others
                guards.caught("routing_listener", log, "routing listener %r failed", listener)

    def lookup(self, host: str, path: str) -> ChannelRoute | None:
        """The channel a request addresses: by path `/<namespace>/<channel>` (a Broker:
        `/brokers/<namespace>/<broker>`), else by Host."""
        trimmed = path.split("?", 1)[0].strip("/")
        if trimmed:
            parts = trimmed.split("/")
            if len(parts) == 2:
                return self.channels.get((parts[0], parts[1]))
            if len(parts) == 3 and parts[0] == BROKERS_PATH:
                return self.channels.get((parts[1], BROKER_PREFIX + parts[2]))
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
