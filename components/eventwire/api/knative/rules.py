"""Field rules: how one field of a Knative spec becomes eventwire's.

Each rule both does its part of a conversion and describes it in words, so the conversion table
in docs/knative-conversion.md is generated from the same rules the converter runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventwire.exceptions import ConversionError


@dataclass
class Fields:
    """The working state of one document's conversion.

    Rules pop the Knative fields they handle from `src` and write eventwire's into `out`; what
    is left in `src` afterwards was not handled by any rule.
    """

    what: str  # "<apiVersion> <kind>", for messages
    src: dict[str, Any]
    out: dict[str, Any]
    metadata: dict[str, Any]
    notes: list[str]

    def fail(self, message: str) -> ConversionError:
        return ConversionError(f"{self.what}: {message}")


@dataclass(frozen=True)
class Rule:
    """One field's conversion: `source` (a Knative field, or "" when the rule adds a field)
    becomes `becomes` (in words, for the table); `apply` does it."""

    source: str
    becomes: str
    apply: Callable[[Fields], None]


def keep(name: str) -> Rule:
    """spec.<name> is the same field in eventwire."""

    def apply(fields: Fields) -> None:
        if name in fields.src:
            fields.out[name] = fields.src.pop(name)

    return Rule(f"spec.{name}", f"spec.{name}", apply)


def rename(old: str, new: str) -> Rule:
    """spec.<old> is eventwire's spec.<new>."""

    def apply(fields: Fields) -> None:
        if old in fields.src:
            fields.out[new] = fields.src.pop(old)
            fields.notes.append(f"spec.{old} renamed to spec.{new}")

    return Rule(f"spec.{old}", f"spec.{new}", apply)


def drop(name: str, why: str) -> Rule:
    """spec.<name> has no eventwire meaning: dropped, with a note that says why."""

    def apply(fields: Fields) -> None:
        if name in fields.src:
            fields.src.pop(name)
            fields.notes.append(f"spec.{name} dropped: {why}")

    return Rule(f"spec.{name}", f"dropped: {why}", apply)


def constant(name: str, value: Any, why: str) -> Rule:
    """eventwire's spec.<name> is always `value` for this kind."""

    def apply(fields: Fields) -> None:
        fields.out[name] = json.loads(json.dumps(value))  # a fresh copy per document

    shown = json.dumps(value, separators=(", ", ": "))
    return Rule("", f"spec.{name}: `{shown}` ({why})", apply)


def custom(source: str, becomes: str, apply: Callable[[Fields], None]) -> Rule:
    """A rule whose conversion is a function of its own."""
    return Rule(source, becomes, apply)


def when_set(name: str, source: str, becomes: str, apply: Callable[[Fields, Any], None]) -> Rule:
    """A rule of its own for spec.<name>: pops the field and, unless it is unset or null, calls
    `apply(fields, value)`."""

    def run(fields: Fields) -> None:
        value = fields.src.pop(name, None)
        if value is not None:
            apply(fields, value)

    return Rule(source, becomes, run)
