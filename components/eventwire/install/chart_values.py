"""Helm values checked against the chart they are for, at its pinned version.

A Helm chart ignores a values key it does not know: a typo, or a key an upgrade renamed, is
silently dropped and the install comes up with the chart's default instead. Each chart version
the install pins has its key list recorded in `chart_keys/` (read from the chart's values.yaml at
its release tag; `derive_key_list` is how), and `unknown_values` reports every key we set that
is not among them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class ChartKeys:
    """The values keys of one chart version: leaf key paths, and free-form maps (any key below)."""

    repository: str
    chart: str
    version: str
    source: str
    keys: frozenset[str]
    free_form: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.chart} {self.version}"

    def maps(self) -> frozenset[str]:
        """Every path that is a map in the chart's values."""
        found: set[str] = set(self.free_form)
        for path in self.keys | self.free_form:
            parts = path.split(".")
            found.update(".".join(parts[:end]) for end in range(1, len(parts)))
        return frozenset(found)


def derive_key_list(values: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(keys, free-form maps) of a chart's values.yaml, loaded: a non-empty map is walked, an
    empty one ({}) is free-form, anything else (scalars, lists, null) is a key. Istio's charts
    nest their defaults under `_internal_defaults_do_not_set`, set at the top level."""
    values = values.get("_internal_defaults_do_not_set", values)
    keys: list[str] = []
    free_form: list[str] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and value:
                walk(value, f"{path}.")
            elif isinstance(value, Mapping):
                free_form.append(path)
            else:
                keys.append(path)

    walk(values, "")
    return keys, free_form


@cache
def recorded_charts() -> tuple[ChartKeys, ...]:
    """Every recorded chart version (the files in chart_keys/)."""
    found = []
    folder = resources.files("eventwire.install").joinpath("chart_keys")
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(entry.read_text())
        found.append(
            ChartKeys(
                repository=str(data["repository"]),
                chart=str(data["chart"]),
                version=str(data["version"]),
                source=str(data["source"]),
                keys=frozenset(data.get("keys") or []),
                free_form=frozenset(data.get("free_form") or []),
            )
        )
    return tuple(found)


def chart_keys(repository: str, chart: str, version: str) -> ChartKeys | None:
    """The recorded keys of `chart` `version` from `repository`, or None when not recorded."""
    wanted = repository.rstrip("/")
    for recorded in recorded_charts():
        if (recorded.repository.rstrip("/"), recorded.chart, recorded.version) == (wanted, chart, version):
            return recorded
    return None


def unknown_values(recorded: ChartKeys, values: Mapping[str, Any]) -> list[str]:
    """One message per values key the chart version does not have; empty when all are known."""
    return list(_unknown(recorded, recorded.maps(), values, ""))


def _unknown(
    recorded: ChartKeys, maps: frozenset[str], node: Mapping[str, Any], prefix: str
) -> Iterator[str]:
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in recorded.free_form or path in recorded.keys:
            continue
        if path in maps:
            if isinstance(value, Mapping):
                yield from _unknown(recorded, maps, value, f"{path}.")
            else:
                yield f"values.{path}: is a map in chart {recorded.label}, not a single value"
            continue
        yield f"values.{path}: chart {recorded.label} has no such value (see {recorded.source})"
