"""examples/broker-mesh: its Pulumi program builds exactly the objects of its topology.yaml, from
the Broker, Trigger and source components, and that topology routes events as its comments say
(checked with the Trigger filter semantics the dispatcher uses)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventwire.api import resource_errors
from eventwire.cli import main
from eventwire.render.engine import ProgramRun, run_program_file
from eventwire.render.project import load_project
from eventwire_spec.filters import compile_trigger_filter

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "broker-mesh"
TOPOLOGY = [doc for doc in yaml.safe_load_all((EXAMPLE / "topology.yaml").read_text()) if doc]


def run(respond: Any = None) -> ProgramRun:
    project = load_project(EXAMPLE / "Pulumi.yaml")
    config = {f"{project.name}:{key}": str(spec["default"]) for key, spec in project.schema.items()}
    return run_program_file(EXAMPLE, project=project.name, stack="dev", config=config, respond=respond)


def eventwire_objects(record: ProgramRun) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r.plain["kind"], r.plain["metadata"]["name"]): r.plain
        for r in record.registrations
        if r.custom and str(r.plain.get("apiVersion", "")).split("/")[0].endswith("eventwire.dev")
    }


def test_the_program_builds_the_topology_object_for_object() -> None:
    record = run()
    built = eventwire_objects(record)
    expected = {(doc["kind"], doc["metadata"]["name"]): doc for doc in TOPOLOGY}
    assert sorted(built) == sorted(expected)
    for key, manifest in built.items():
        assert manifest == expected[key], key
        assert resource_errors(manifest) == [], key
    # Everything waits for the program's own Namespace, and the sources and Triggers for the Broker.
    namespace = record.named("mesh-namespace")
    broker = record.named("shop-broker")
    ours = [
        r for r in record.registrations if r.custom and "eventwire.dev/" in str(r.plain.get("apiVersion"))
    ]
    assert len(ours) == len(TOPOLOGY)
    for registration in ours:
        assert record.depends_on(registration, namespace), registration.name
        if registration.urn != broker.urn:
            assert record.waits_for(registration, broker), registration.name


def test_outputs_follow_the_controllers_status() -> None:
    def controller(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("kind") == "Broker":
            return {"status": {"address": {"url": "http://eventwire-dispatcher-jetstream/shop/shop"}}}
        if inputs.get("kind") == "Trigger":
            return {"status": {"subscriberUri": f"http://{inputs['metadata']['name']}.example"}}
        return {}

    outputs = run(controller).outputs
    assert outputs["brokerUrl"] == "http://eventwire-dispatcher-jetstream/shop/shop"
    assert sorted(outputs["subscribers"]) == ["audit", "heartbeats", "pull-requests", "pushes", "reviews"]


def github(event: str, **extensions: str) -> dict[str, str]:
    return {
        "specversion": "1.0",
        "id": "d1",
        "type": f"dev.knative.source.github.{event}",
        "source": "https://github.com/example-org/shop",
        **extensions,
    }


PING = {
    "specversion": "1.0",
    "id": "p1",
    "type": "dev.knative.sources.ping",
    "source": "/apis/v1/namespaces/shop/pingsources/heartbeat",
}
REPLY = {"specversion": "1.0", "id": "r1", "type": "com.example.review.requested", "source": "reviewer"}


@pytest.mark.parametrize(
    ("event", "triggers"),
    [
        (github("push", pusher="octocat"), {"pushes", "audit"}),
        (github("pull_request", action="opened"), {"audit", "pull-requests"}),
        (github("pull_request", action="closed"), {"audit"}),
        (github("pull_request"), {"audit"}),  # no action attribute: CESQL errors, so no match
        (github("ping"), set()),
        (PING, {"heartbeats"}),
        # The reviewer's reply re-enters the Broker and reaches only the notifier.
        (REPLY, {"reviews"}),
    ],
)
def test_the_topology_routes_each_event_to_the_triggers_its_comments_name(
    event: dict[str, str], triggers: set[str]
) -> None:
    matched = {
        doc["metadata"]["name"]
        for doc in TOPOLOGY
        if doc["kind"] == "Trigger" and compile_trigger_filter(doc["spec"])(event)
    }
    assert matched == triggers


def test_the_readme_render_command_checks_it_with_no_problems(tmp_path: Path) -> None:
    out = io.StringIO()
    args = ["render", "--project", str(EXAMPLE), "--stack", "dev", "--out", str(tmp_path)]
    assert main(args, out) == 0, out.getvalue()
    assert "0 problems" in out.getvalue()
    rendered = [
        doc for path in sorted(tmp_path.glob("50-*.yaml")) for doc in yaml.safe_load_all(path.read_text())
    ]
    assert sorted((doc["kind"], doc["metadata"]["name"]) for doc in rendered if doc) == sorted(
        (doc["kind"], doc["metadata"]["name"]) for doc in TOPOLOGY
    )
