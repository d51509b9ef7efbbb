"""The components work when another Pulumi program imports them with its own provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventwire.api import resource_errors
from eventwire.render.engine import ProgramRun, run_program_file
from eventwire.render.project import load_project

HERE = Path(__file__).resolve().parent


def run(respond: Any = None) -> ProgramRun:
    project = load_project(HERE / "Pulumi.yaml")
    # No stack file: the project defaults alone, as for a fresh `pulumi stack init`.
    config = {f"{project.name}:{key}": str(spec["default"]) for key, spec in project.schema.items()}
    return run_program_file(HERE, project=project.name, stack="team", config=config, respond=respond)


def test_the_program_uses_only_its_own_provider() -> None:
    record = run()
    providers = record.of_type("pulumi:providers:kubernetes")
    assert [(p.name, p.plain["context"]) for p in providers] == [("team-cluster", "team-cluster")]
    objects = [r for r in record.registrations if r.custom and "kind" in r.inputs]
    # The team's Namespace and Service; a PingSource; two Channels, three Subscriptions and a GitHubSource.
    assert len(objects) == 9
    namespace = record.named("shop")
    for registration in objects:
        assert "providers:kubernetes::team-cluster" in registration.provider, registration.name
        if registration.plain["apiVersion"] != "v1":
            assert resource_errors(registration.plain) == [], registration.name
            # Composed from the Namespace's output: created after it, deleted before it.
            assert namespace.urn in registration.dependencies, registration.name
            assert registration.plain["metadata"]["namespace"] == "shop", registration.name
    assert all(r.urn.startswith("urn:pulumi:team::shop-events::") for r in record.registrations)


def test_both_architectures_are_built() -> None:
    record = run()
    kinds: dict[str, list[dict[str, Any]]] = {}
    for registration in record.registrations:
        if registration.custom and "kind" in registration.inputs:
            kinds.setdefault(registration.plain["kind"], []).append(registration.plain)
    assert sorted(kinds) == ["Channel", "GitHubSource", "Namespace", "PingSource", "Service", "Subscription"]
    assert kinds["PingSource"][0]["spec"]["sink"]["ref"]["apiVersion"] == "serving.knative.dev/v1"
    replies = [s["spec"].get("reply") for s in kinds["Subscription"] if "reply" in s["spec"]]
    assert replies == [
        {"ref": {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "enriched"}}
    ]


def test_outputs_follow_the_controllers_status() -> None:
    def controller(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        kind, metadata = inputs.get("kind"), inputs.get("metadata") or {}
        if kind == "Channel":
            return {"status": {"address": {"url": f"http://{metadata['name']}.shop.channels.local"}}}
        if kind == "PingSource":
            return {"status": {"sinkUri": "http://display.shop.svc.cluster.local"}}
        return {}

    record = run(controller)
    assert record.outputs == {
        "heartbeatSink": "http://display.shop.svc.cluster.local",
        "channelUrls": {
            "orders": "http://orders.shop.channels.local",
            "enriched": "http://enriched.shop.channels.local",
        },
    }
