"""Knative-style conditions, pure: a declared set per kind, `mark_*` helpers and the Ready summary.

A `ConditionSet` names the conditions that make up Ready. `Conditions` holds the current ones of
an object and only moves `lastTransitionTime` when a condition's status really changes, so a
reconcile that finds nothing new produces an identical status (no flapping, no extra writes).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ConditionSet:
    """The dependent conditions whose conjunction is `ready` (Ready by default)."""

    dependents: tuple[str, ...]
    ready: str = "Ready"

    def manage(self, existing: Iterable[Mapping[str, Any]] | None, generation: int, now: str) -> Conditions:
        """Start from an object's current `status.conditions`."""
        return Conditions(self, existing or (), generation, now)


class Conditions:
    """The conditions of one object being reconciled."""

    def __init__(self, cset: ConditionSet, existing: Iterable[Mapping[str, Any]], generation: int, now: str):
        # The generation is reported once, as status.observedGeneration (the CRDs' condition
        # schema has no per-condition observedGeneration, so an API server would prune it).
        self.cset = cset
        self.generation = generation
        self.now = now
        self._old = {str(c.get("type")): dict(c) for c in existing if isinstance(c, Mapping)}
        self._new: dict[str, dict[str, Any]] = {}

    def _set(self, type_: str, status: str, reason: str = "", message: str = "") -> None:
        old = self._old.get(type_)
        transition = old.get("lastTransitionTime") if old and old.get("status") == status else None
        condition: dict[str, Any] = {"type": type_, "status": status}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        condition["lastTransitionTime"] = transition or self.now
        self._new[type_] = condition

    def mark(self, type_: str, status: str, reason: str = "", message: str = "") -> None:
        """Set a condition to a computed status (True, False or Unknown)."""
        self._set(type_, status, reason, message)

    def mark_true(self, type_: str, reason: str = "", message: str = "") -> None:
        self._set(type_, TRUE, reason, message)

    def mark_false(self, type_: str, reason: str, message: str) -> None:
        self._set(type_, FALSE, reason, message)

    def mark_unknown(self, type_: str, reason: str, message: str) -> None:
        self._set(type_, UNKNOWN, reason, message)

    def status_of(self, type_: str) -> str:
        return str(self._new.get(type_, {}).get("status", UNKNOWN))

    def result(self) -> list[dict[str, Any]]:
        """Every dependent (Unknown when never marked) plus Ready summarising them, sorted by type.

        Ready is False with the first False dependent's reason, else Unknown with the first
        Unknown one's, else True.
        """
        for type_ in self.cset.dependents:
            if type_ not in self._new:
                self.mark_unknown(type_, "Pending", "not reconciled yet")
        deps = [self._new[t] for t in self.cset.dependents]
        failed = next((c for c in deps if c["status"] == FALSE), None)
        unknown = next((c for c in deps if c["status"] == UNKNOWN), None)
        if failed is not None:
            self._set(self.cset.ready, FALSE, failed.get("reason", ""), failed.get("message", ""))
        elif unknown is not None:
            self._set(self.cset.ready, UNKNOWN, unknown.get("reason", ""), unknown.get("message", ""))
        else:
            self._set(self.cset.ready, TRUE)
        return [self._new[t] for t in sorted(self._new)]

    @property
    def ready(self) -> str:
        return self.status_of(self.cset.ready)


def condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    """The condition of `type_` in an object's status, or None."""
    for cond in (status or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def is_ready(obj: Mapping[str, Any] | None) -> bool:
    """Whether an object's Ready condition is True."""
    cond = condition((obj or {}).get("status"), "Ready")
    return cond is not None and cond.get("status") == TRUE


def status_says(obj: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    """Whether `obj`'s status is of its current generation and its conditions have the `wanted`
    statuses (type -> status): what lets an event of another object skip a reconcile."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation", 1):
        return False
    return all((condition(status, type_) or {}).get("status") == value for type_, value in wanted.items())


def inherited_dead_letter(parent: Mapping[str, Any]) -> str | None:
    """The resolved dead-letter sink a Channel or Broker lends to children that set none."""
    return ((parent.get("status") or {}).get("deadLetterSinkUri")) or None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively, None deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def status_changed(old: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> bool:
    """Whether merge-patching `patch` into `old` would change it."""
    old = dict(old or {})
    return bool(merge_patch(old, patch) != old)
