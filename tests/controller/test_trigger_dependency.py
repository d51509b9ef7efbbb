"""A Trigger's `knative.dev/dependency` annotation: parsing, Knative's readiness rules, and the
real operator against the Kubernetes API fake (the dependency's watch events move the Trigger,
read from the cache: no GET of the source)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventwire_runtime.controller import dependency as dep
from eventwire_runtime.controller.cache import Cache
from eventwire_runtime.controller.destinations import Resolution, TargetKey
from eventwire_runtime.controller.trigger import resources as trigger_resources
from tests.controller.factories import (
    SOURCES,
    apply,
    condition,
    make_broker,
    make_service,
    make_source,
    make_trigger,
    service_ref,
)
from tests.support.kube import KubeApiFake
from tests.support.waiting import eventually

TIMEOUT = 10.0
PING = {"apiVersion": SOURCES, "kind": "PingSource", "name": "tick"}


def annotated(annotation: str, namespace: str = "ns", name: str = "t") -> dict[str, Any]:
    trigger = make_trigger(name, namespace, "mesh")
    trigger["metadata"]["annotations"] = {dep.ANNOTATION: annotation}
    return trigger


def source(
    ready: str | None, generation: int = 1, observed: int | None = 1, reason: str = ""
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if observed is not None:
        status["observedGeneration"] = observed
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": reason, "message": "why"}]
    return {"metadata": {"name": "tick", "namespace": "ns", "generation": generation}, "status": status}


def test_without_the_annotation_there_is_no_dependency() -> None:
    assert dep.dependency_of(make_trigger("t", "ns", "mesh")) is None
    assert dep.judge(None, None) == ("True", "", "")


def test_a_well_formed_annotation_names_its_target_in_the_triggers_namespace() -> None:
    parsed = dep.dependency_of(annotated(json.dumps(PING)))
    assert parsed == dep.Dependency(SOURCES, TargetKey("sources.eventwire.dev", "PingSource", "ns", "tick"))
    same_namespace = dep.dependency_of(annotated(json.dumps({**PING, "namespace": "ns"})))
    assert same_namespace == parsed


@pytest.mark.parametrize(
    ("annotation", "problem"),
    [
        ("{not json", "is not JSON"),
        ('["PingSource"]', "is not a JSON object reference"),
        (json.dumps({"kind": "PingSource", "name": "tick"}), "lacks apiVersion"),
        (json.dumps({"apiVersion": SOURCES, "name": "tick"}), "lacks kind"),
        (json.dumps({"apiVersion": SOURCES, "kind": "PingSource", "name": ""}), "lacks name"),
        (json.dumps({**PING, "namespace": "elsewhere"}), "names namespace 'elsewhere'"),
    ],
)
def test_a_malformed_annotation_makes_the_trigger_not_ready_and_says_why(
    annotation: str, problem: str
) -> None:
    trigger = annotated(annotation)
    parsed = dep.dependency_of(trigger)
    assert parsed is not None
    assert parsed.target is None
    status, reason, message = dep.judge(parsed, None)
    assert (status, reason) == ("False", "InvalidDependencyAnnotation")
    assert problem in message
    assert dep.ANNOTATION in message
    written = trigger_resources.make_status(
        trigger, None, Resolution(uri="http://t.example/"), None, dependency=(status, reason, message)
    )
    assert condition({"status": written}, "DependencyReady")["reason"] == "InvalidDependencyAnnotation"
    assert condition({"status": written})["status"] == "False"
    assert dep.dependency_target(trigger) == set()  # nothing to track


@pytest.mark.parametrize(
    ("obj", "status", "reason"),
    [
        (None, "False", "DependencyDoesNotExist"),
        (source("True", generation=2, observed=1), "Unknown", "GenerationNotEqual"),
        (source("True", observed=None), "Unknown", "GenerationNotEqual"),
        (source(None), "Unknown", "DependencyNotConfigured"),
        (source("True"), "True", ""),
        (source("False", reason="NotDeployed"), "False", "NotDeployed"),
        (source("Unknown", reason="DeploymentUnavailable"), "Unknown", "DeploymentUnavailable"),
        (source("Maybe"), "Unknown", "DependencyUnknown"),
    ],
)
def test_the_dependency_readiness_follows_knative(
    obj: dict[str, Any] | None, status: str, reason: str
) -> None:
    parsed = dep.dependency_of(annotated(json.dumps(PING)))
    assert dep.judge(parsed, obj)[:2] == (status, reason)


async def test_the_cache_indexes_the_dependency_and_serves_it_without_the_api() -> None:
    class NoApi:
        async def get(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("a watched kind was read from the API")

    trigger = annotated(json.dumps(PING))
    ping = make_source("PingSource", "tick", "ns", sink={"uri": "http://x.example/"})
    cache = Cache.from_objects([trigger, ping], fetcher=NoApi())
    target = TargetKey("sources.eventwire.dev", "PingSource", "ns", "tick")
    assert cache.referrers(target) == [("Trigger", "ns", "t")]
    parsed = dep.dependency_of(trigger)
    assert parsed is not None
    found = await cache.dependency(parsed)
    assert found is not None
    assert found["metadata"]["name"] == "tick"


# -- the real operator ------------------------------------------------------------------------


def trigger_condition(
    kube: KubeApiFake, name: str, namespace: str, type_: str = "DependencyReady"
) -> dict[str, Any]:
    return condition(kube.get("eventing.eventwire.dev/v1", "Trigger", name, namespace), type_)


def set_available(kube: KubeApiFake, name: str, namespace: str, available: str) -> None:
    """What the Deployment controller reports about the adapter."""
    cond = {"type": "Available", "status": available, "message": f"available: {available}"}
    kube.patch(
        "apps/v1", "Deployment", name, {"status": {"conditions": [cond]}}, namespace, subresource="status"
    )


def test_a_trigger_follows_its_dependency_through_the_watch(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    mark = len(kube.requests)
    apply(kube, make_broker("mesh", namespace))
    apply(kube, annotated(json.dumps(PING), namespace, "after-tick"))
    eventually(
        lambda: trigger_condition(kube, "after-tick", namespace).get("reason") == "DependencyDoesNotExist",
        TIMEOUT,
        "DependencyDoesNotExist",
    )
    assert trigger_condition(kube, "after-tick", namespace, "Ready")["status"] == "False"

    apply(kube, make_service("display", namespace))
    apply(
        kube, make_source("PingSource", "tick", namespace, sink=service_ref("display"), schedule="* * * * *")
    )
    eventually(
        lambda: kube.get("apps/v1", "Deployment", "tick-pingsource", namespace), TIMEOUT, "the adapter"
    )
    set_available(kube, "tick-pingsource", namespace, "True")
    eventually(
        lambda: trigger_condition(kube, "after-tick", namespace, "Ready").get("status") == "True",
        TIMEOUT,
        "the Trigger Ready once its dependency is",
    )
    # A Ready Trigger is not polled: only the source's watch event can move it now.
    set_available(kube, "tick-pingsource", namespace, "False")
    eventually(
        lambda: trigger_condition(kube, "after-tick", namespace).get("status") == "Unknown",
        TIMEOUT,
        "DependencyReady follows the source",
    )
    assert trigger_condition(kube, "after-tick", namespace, "Ready")["status"] == "Unknown"
    source_path = f"/namespaces/{namespace}/pingsources/tick"
    reads = [
        (m, p) for m, p in list(kube.requests)[mark:] if m == "GET" and p.split("?")[0].endswith(source_path)
    ]
    assert reads == []  # from the cache


def test_a_malformed_dependency_annotation_is_reported(cluster: KubeApiFake, namespace: str) -> None:
    kube = cluster
    apply(kube, make_broker("mesh", namespace))
    apply(kube, annotated('{"kind": "PingSource"', namespace, "broken"))
    eventually(
        lambda: (
            trigger_condition(kube, "broken", namespace, "Ready").get("reason")
            == "InvalidDependencyAnnotation"
        ),
        TIMEOUT,
        "Ready False, InvalidDependencyAnnotation",
    )
    ready = trigger_condition(kube, "broken", namespace, "Ready")
    assert ready["status"] == "False"
    assert "knative.dev/dependency is not JSON" in ready["message"]
