"""Checks beyond what a CRD schema and its CEL rules can express, per kind.

The API server cannot parse CloudEvents SQL or walk the nested filter expressions of a Trigger
(they are schemaless below the first level), so `eventwire validate` does it here, with the same
code the runtime compiles filters with (eventwire_spec.filters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from eventwire.exceptions import FieldError
from eventwire_spec.filters import filter_problems


def trigger_errors(resource: Mapping[str, Any]) -> list[FieldError]:
    """Every problem with a Trigger's filters: CESQL that does not parse, bad nested filters."""
    spec = resource.get("spec")
    if not isinstance(spec, Mapping):
        return []
    return [FieldError(f"spec.{problem.path}", problem.message) for problem in filter_problems(spec)]


_CHECKS: Final[Mapping[str, Callable[[Mapping[str, Any]], list[FieldError]]]] = {"Trigger": trigger_errors}


def semantic_errors(
    kind: str, resource: Mapping[str, Any], reported: Sequence[FieldError]
) -> list[FieldError]:
    """The kind's own checks, leaving out problems at or below a path already `reported`."""
    check = _CHECKS.get(kind)
    if check is None:
        return []
    covered = [error.path for error in reported]
    return [
        error
        for error in check(resource)
        if not any(error.path == path or error.path.startswith((f"{path}.", f"{path}[")) for path in covered)
    ]
