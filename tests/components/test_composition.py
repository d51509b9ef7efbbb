"""What every component promises: the caller's provider, parent=self, transformations, outputs last."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from eventwire.install import Channel, EventingCore, EventSources, Istio, KnativeServing, PingSource
from eventwire.render.engine import ProgramRun
from tests.components.conftest import Runner

IMAGE = "registry.example/runtime:1"


def every_component(opts: pulumi.ResourceOptions) -> None:
    istio = Istio("istio", opts=opts)
    KnativeServing("serving", {"istio": istio}, opts)
    EventingCore("eventing", {"image": IMAGE}, opts)
    EventSources("sources", {"kinds": ["PingSource"]}, opts)
    Channel("orders", {"namespace": "shop"}, opts)
    PingSource(
        "ping",
        {"namespace": "shop", "sink": {"uri": "http://example.org"}, "spec": {"schedule": "@daily"}},
        opts,
    )


def children(record: ProgramRun) -> list[Any]:
    return [r for r in record.registrations if not r.type.startswith(("eventwire:", "pulumi:"))]


def test_children_use_the_callers_provider_and_are_parented(run: Runner) -> None:
    def program() -> None:
        provider = k8s.Provider("cluster-a", context="a")
        every_component(pulumi.ResourceOptions(provider=provider))

    record = run(program)
    urns = record.by_urn()
    assert [r.name for r in record.of_type("pulumi:providers:kubernetes")] == ["cluster-a"]
    for child in children(record):
        assert "pulumi:providers:kubernetes::cluster-a" in child.provider, child.name
        assert urns[child.parent].type.startswith("eventwire:index:"), child.name


def test_transformations_reach_every_child(run: Runner) -> None:
    seen: list[str] = []

    def label(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        seen.append(args.name)
        metadata = args.props.get("metadata")
        if isinstance(metadata, dict):
            metadata = {**metadata, "labels": {**(metadata.get("labels") or {}), "team": "platform"}}
            return pulumi.ResourceTransformationResult({**args.props, "metadata": metadata}, args.opts)
        return None

    record = run(lambda: every_component(pulumi.ResourceOptions(transformations=[label])))
    for child in children(record):
        assert child.name in seen
        if child.custom and "metadata" in child.inputs:
            assert child.plain["metadata"]["labels"]["team"] == "platform", child.name


def test_transforms_reach_every_child(run: Runner) -> None:
    seen: list[str] = []

    def label(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        seen.append(args.name)
        metadata = args.props.get("metadata")
        if args.custom and isinstance(metadata, dict):
            metadata = {**metadata, "labels": {**(metadata.get("labels") or {}), "cost-center": "42"}}
            return pulumi.ResourceTransformResult({**args.props, "metadata": metadata}, args.opts)
        return None

    record = run(lambda: every_component(pulumi.ResourceOptions(transforms=[label])))
    for child in children(record):
        assert child.name in seen
        if child.custom and "metadata" in child.inputs:
            assert child.plain["metadata"]["labels"]["cost-center"] == "42", child.name
