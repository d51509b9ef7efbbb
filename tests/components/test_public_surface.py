"""The public surface of eventwire.install: sorted, importable, every component exported."""

from __future__ import annotations

import inspect

import pulumi

import eventwire.install
from eventwire.install import eventing_core, istio, knative_serving, resources, sources, topologies


def isort_style(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_importable() -> None:
    exported = eventwire.install.__all__
    assert exported == sorted(exported, key=isort_style)
    for name in exported:
        assert hasattr(eventwire.install, name), name


def test_every_component_is_exported_with_its_args() -> None:
    for module in (istio, knative_serving, eventing_core, sources, resources, topologies):
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, pulumi.ComponentResource)
                and value.__module__ == module.__name__
                and not name.startswith("_")
                and name != "SourceComponent"
            ):
                assert name in eventwire.install.__all__, name
                args = f"{name}Args"
                if hasattr(module, args):
                    assert args in eventwire.install.__all__, args
