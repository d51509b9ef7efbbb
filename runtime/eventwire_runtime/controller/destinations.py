"""Destination resolution (Knative's duck-typed `Destination` -> a URI).

A Destination is `{ref, uri}`: a plain absolute `uri`; a `ref` to an Addressable; or a `uri`
relative to the ref's URL. Addressables:

- a Kubernetes Service (`v1`, `Service`): `http://<name>.<ns>.svc.<cluster domain>`, once it exists;
- anything else (our Channels and Brokers, Knative Services, any kind): its `status.address.url`.

`destination_uri` is pure: it gets the already-fetched target. `resolve` adds the fetching
through an `ObjectLookup`, so the controller and the tests share one implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit


class ObjectLookup(Protocol):
    """Fetches one object, or None when it does not exist (or its kind is not served)."""

    async def get_object(
        self, api_version: str, kind: str, name: str, namespace: str | None
    ) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Resolution:
    """A resolved URI, or why there is none (`reason` is a CamelCase condition reason)."""

    uri: str = ""
    reason: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.uri)


@dataclass(frozen=True)
class TargetKey:
    """What a Destination's ref points at, for indexing dependents by target."""

    group: str
    kind: str
    namespace: str
    name: str


def ref_target(ref: Mapping[str, Any], default_namespace: str) -> TargetKey:
    """The target of a KReference; its namespace defaults to the referrer's."""
    group = str(ref.get("apiVersion", "")).rpartition("/")[0]
    return TargetKey(
        group, str(ref.get("kind", "")), str(ref.get("namespace") or default_namespace), str(ref["name"])
    )


def _absolute(uri: str) -> bool:
    parts = urlsplit(uri)
    return bool(parts.scheme and parts.netloc)


def destination_uri(
    destination: Mapping[str, Any] | None,
    namespace: str,
    target: Mapping[str, Any] | None,
    cluster_domain: str = "cluster.local",
) -> Resolution:
    """The URI of `destination` given its fetched `target` (None when the ref's object is missing).

    Args:
        destination: the `{ref, uri}` object; None or empty is unresolvable.
        namespace: the namespace of the object holding the destination (the ref's default).
        target: the object `ref` names, as fetched; ignored without a ref.
        cluster_domain: the DNS domain of Kubernetes Service host names.
    """
    if not destination:
        return Resolution(reason="DestinationMissing", message="no destination is set")
    uri = str(destination.get("uri") or "")
    ref = destination.get("ref")
    if not ref:
        if not uri:
            return Resolution(reason="DestinationMissing", message="the destination has neither ref nor uri")
        if not _absolute(uri):
            return Resolution(reason="InvalidURI", message=f"uri {uri!r} is not absolute and there is no ref")
        return Resolution(uri=uri)
    key = ref_target(ref, namespace)
    described = f"{ref.get('kind')} {key.namespace}/{key.name} ({ref.get('apiVersion')})"
    if target is None:
        return Resolution(reason="NotFound", message=f"{described} does not exist")
    if key.group == "" and key.kind == "Service":
        base = f"http://{key.name}.{key.namespace}.svc.{cluster_domain}"
    else:
        address = ((target.get("status") or {}).get("address") or {}).get("url")
        if not address:
            return Resolution(reason="NotAddressable", message=f"{described} has no status.address.url yet")
        base = str(address)
    if not uri:
        return Resolution(uri=base)
    # A relative uri extends the ref's URL; RFC 3986 resolution, with a path base ending in "/".
    return Resolution(uri=urljoin(base if urlsplit(base).path else base + "/", uri))


async def resolve(
    destination: Mapping[str, Any] | None, namespace: str, lookup: ObjectLookup, cluster_domain: str
) -> Resolution:
    """Fetch the destination's ref (if any) through `lookup` and resolve it."""
    ref = (destination or {}).get("ref")
    target = None
    if ref:
        key = ref_target(ref, namespace)
        target = await lookup.get_object(str(ref.get("apiVersion", "")), key.kind, key.name, key.namespace)
    return destination_uri(destination, namespace, target, cluster_domain)
