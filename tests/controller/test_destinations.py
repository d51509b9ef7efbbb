"""Destination resolution: table of destinations and fetched targets -> URI or reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from eventwire_runtime.controller.destinations import (
    Resolution,
    TargetKey,
    destination_uri,
    ref_target,
    resolve,
)

SVC = {"apiVersion": "v1", "kind": "Service", "name": "display"}
KSVC = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "fn"}
CHANNEL = {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "orders"}


def addressable(url: str | None) -> dict[str, Any]:
    return {"status": {"address": {"url": url}} if url else {}}


CASES = [
    ("plain uri", {"uri": "http://x.example/in"}, None, Resolution(uri="http://x.example/in")),
    ("no destination", None, None, Resolution(reason="DestinationMissing", message="no destination is set")),
    (
        "relative uri without ref",
        {"uri": "/path"},
        None,
        Resolution(reason="InvalidURI", message="uri '/path' is not absolute and there is no ref"),
    ),
    ("k8s service", {"ref": SVC}, {}, Resolution(uri="http://display.ns.svc.cluster.local")),
    (
        "k8s service in another namespace",
        {"ref": {**SVC, "namespace": "other"}},
        {},
        Resolution(uri="http://display.other.svc.cluster.local"),
    ),
    (
        "k8s service with relative uri",
        {"ref": SVC, "uri": "/events?x=1"},
        {},
        Resolution(uri="http://display.ns.svc.cluster.local/events?x=1"),
    ),
    (
        "missing service",
        {"ref": SVC},
        None,
        Resolution(reason="NotFound", message="Service ns/display (v1) does not exist"),
    ),
    (
        "knative service",
        {"ref": KSVC},
        addressable("http://fn.ns.example.com"),
        Resolution(uri="http://fn.ns.example.com"),
    ),
    (
        "knative service, uri relative to a path",
        {"ref": KSVC, "uri": "hook"},
        addressable("http://fn.example/base/"),
        Resolution(uri="http://fn.example/base/hook"),
    ),
    (
        "knative service not ready",
        {"ref": KSVC},
        addressable(None),
        Resolution(
            reason="NotAddressable",
            message="Service ns/fn (serving.knative.dev/v1) has no status.address.url yet",
        ),
    ),
    (
        "channel",
        {"ref": CHANNEL},
        addressable("http://orders.ns.d.svc"),
        Resolution(uri="http://orders.ns.d.svc"),
    ),
]


@pytest.mark.parametrize(
    ("destination", "target", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_destination_uri(destination: Any, target: Any, expected: Resolution) -> None:
    assert destination_uri(destination, "ns", target) == expected


def test_cluster_domain_is_configurable() -> None:
    assert (
        destination_uri({"ref": SVC}, "ns", {}, "corp.internal").uri == "http://display.ns.svc.corp.internal"
    )


def test_ref_target_defaults_to_the_referrers_namespace() -> None:
    assert ref_target(KSVC, "ns") == TargetKey("serving.knative.dev", "Service", "ns", "fn")
    assert ref_target({**SVC, "namespace": "x"}, "ns") == TargetKey("", "Service", "x", "display")


class Lookup:
    def __init__(self, objects: Mapping[tuple[str, str, str, str | None], dict[str, Any]]):
        self.objects = objects
        self.calls: list[tuple[str, str, str, str | None]] = []

    async def get_object(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        self.calls.append((api_version, kind, name, namespace))
        return self.objects.get((api_version, kind, name, namespace))


async def test_resolve_fetches_the_ref_through_the_lookup() -> None:
    lookup = Lookup({("serving.knative.dev/v1", "Service", "fn", "ns"): addressable("http://fn.example")})
    assert (await resolve({"ref": KSVC}, "ns", lookup, "cluster.local")).uri == "http://fn.example"
    assert lookup.calls == [("serving.knative.dev/v1", "Service", "fn", "ns")]


async def test_resolve_does_not_fetch_plain_uris() -> None:
    lookup = Lookup({})
    assert (await resolve({"uri": "http://a.example"}, "ns", lookup, "cluster.local")).ok
    assert lookup.calls == []
