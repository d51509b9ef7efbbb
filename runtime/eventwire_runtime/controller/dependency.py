"""Knative's Trigger dependency annotation, pure: parse it, and judge the dependency's readiness.

`knative.dev/dependency` holds a JSON object reference (apiVersion, kind, name, optionally the
Trigger's own namespace) to an object the Trigger waits for, typically the source that feeds its
Broker: the Trigger's DependencyReady condition follows that object's Ready condition, once the
object has observed its latest generation. Without the annotation DependencyReady is True.
Routing does not wait for it (as in Knative): the condition only tells that the events the
Trigger expects may not flow yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventwire_runtime.controller.conditions import FALSE, TRUE, UNKNOWN, condition
from eventwire_runtime.controller.destinations import TargetKey

ANNOTATION = "knative.dev/dependency"
REQUIRED = ("apiVersion", "kind", "name")


@dataclass(frozen=True)
class Dependency:
    """The parsed annotation: the object's apiVersion and target (namespace defaulted), or the
    problem with the annotation (`problem` set, the rest empty)."""

    api_version: str = ""
    target: TargetKey | None = None
    problem: str = ""


def dependency_of(obj: Mapping[str, Any]) -> Dependency | None:
    """The dependency an object's annotation names; None without the annotation."""
    meta = obj.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(ANNOTATION)
    if raw is None:
        return None
    where = f"annotation {ANNOTATION}"
    try:
        ref = json.loads(raw)
    except (TypeError, ValueError) as exc:
        return Dependency(problem=f"{where} is not JSON: {exc}")
    if not isinstance(ref, dict):
        return Dependency(problem=f"{where} is not a JSON object reference: {raw!r}")
    missing = [key for key in REQUIRED if not isinstance(ref.get(key), str) or not ref[key]]
    if missing:
        return Dependency(problem=f"{where} lacks {', '.join(missing)}: {raw!r}")
    namespace = str(meta.get("namespace") or "")
    if ref.get("namespace") not in (None, "", namespace):
        return Dependency(
            problem=f"{where} names namespace {ref['namespace']!r}: it must be empty or the Trigger's ({namespace!r})"
        )
    group = ref["apiVersion"].rpartition("/")[0]
    return Dependency(ref["apiVersion"], TargetKey(group, ref["kind"], namespace, ref["name"]))


def dependency_target(obj: Mapping[str, Any]) -> set[TargetKey]:
    """The target of a well-formed dependency annotation (for the referrer index), else none."""
    dependency = dependency_of(obj)
    return {dependency.target} if dependency is not None and dependency.target is not None else set()


def judge(dependency: Dependency | None, obj: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """(status, reason, message) of DependencyReady, given the dependency's object (None: it does
    not exist). Knative's rules: the object's Ready condition, once its status.observedGeneration
    is its metadata.generation."""
    if dependency is None:
        return TRUE, "", ""
    if dependency.target is None:
        return FALSE, "InvalidDependencyAnnotation", dependency.problem
    target = dependency.target
    described = f"{target.kind} {target.namespace}/{target.name} ({dependency.api_version})"
    if obj is None:
        return FALSE, "DependencyDoesNotExist", f"the dependency {described} does not exist"
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    generation = meta.get("generation")
    if generation is not None and status.get("observedGeneration") != generation:
        return (
            UNKNOWN,
            "GenerationNotEqual",
            f"the dependency {described} has not observed its generation {generation} yet",
        )
    ready = condition(status, "Ready")
    if ready is None:
        return UNKNOWN, "DependencyNotConfigured", f"the dependency {described} has no Ready condition yet"
    theirs = str(ready.get("message") or ready.get("reason") or "")
    if ready.get("status") == TRUE:
        return TRUE, "", ""
    if ready.get("status") == FALSE:
        reason = str(ready.get("reason") or "DependencyNotReady")
        return FALSE, reason, f"the dependency {described} is not ready: {theirs}"
    if ready.get("status") == UNKNOWN:
        reason = str(ready.get("reason") or "DependencyNotReady")
        return UNKNOWN, reason, f"the dependency {described} is not ready yet: {theirs}"
    return UNKNOWN, "DependencyUnknown", f"the dependency {described} has Ready {ready.get('status')!r}"
