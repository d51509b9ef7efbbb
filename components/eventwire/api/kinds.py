"""The kinds of the eventwire API: group, names and the template that defines each CRD."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

MESSAGING_GROUP: Final = "messaging.eventwire.dev"
SOURCES_GROUP: Final = "sources.eventwire.dev"
EVENTING_GROUP: Final = "eventing.eventwire.dev"
VERSION: Final = "v1"


@dataclass(frozen=True)
class Kind:
    """One custom resource kind of the eventwire API."""

    kind: str
    plural: str
    group: str
    short_names: tuple[str, ...]
    scope: Literal["Namespaced", "Cluster"] = "Namespaced"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{VERSION}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def category(self) -> str:
        """The kubectl category after `eventwire`: the first label of the group (messaging, ...)."""
        return self.group.split(".", 1)[0]

    @property
    def template(self) -> str:
        return f"{self.kind.lower()}.yaml.j2"


KINDS: Final[tuple[Kind, ...]] = (
    Kind("ClusterChannelProvisioner", "clusterchannelprovisioners", MESSAGING_GROUP, ("ccp",), "Cluster"),
    Kind("Channel", "channels", MESSAGING_GROUP, ("ch",)),
    Kind("Subscription", "subscriptions", MESSAGING_GROUP, ("sub",)),
    Kind("Broker", "brokers", EVENTING_GROUP, ("brk",)),
    Kind("Trigger", "triggers", EVENTING_GROUP, ("trg",)),
    Kind("ApiServerSource", "apiserversources", SOURCES_GROUP, ("apisrc",)),
    Kind("PingSource", "pingsources", SOURCES_GROUP, ("pingsrc",)),
    Kind("ContainerSource", "containersources", SOURCES_GROUP, ("ctrsrc",)),
    Kind("GitHubSource", "githubsources", SOURCES_GROUP, ("ghsrc",)),
    Kind("AwsSqsSource", "awssqssources", SOURCES_GROUP, ("sqssrc",)),
    Kind("GcpPubSubSource", "gcppubsubsources", SOURCES_GROUP, ("pubsubsrc",)),
)

_BY_API_KIND: Final = {(k.api_version, k.kind): k for k in KINDS}
_BY_KIND: Final = {k.kind: k for k in KINDS}


def kind_for(api_version: str, kind: str) -> Kind | None:
    """The eventwire kind with this apiVersion and kind, or None."""
    return _BY_API_KIND.get((api_version, kind))


def kind_named(kind: str) -> Kind:
    """The eventwire kind called `kind` (e.g. "Channel"); KeyError names the known kinds."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"unknown eventwire kind {kind!r}; known: {', '.join(_BY_KIND)}") from None
