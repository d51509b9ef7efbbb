"""What `dev up` makes of manifests, without running anything: the routing table built with the
controller's own resolution, local Service addresses, source plans and the viewer's graph."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventwire.cli import load_dev_manifests, main
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.devmode.graph import build_graph
from eventwire_runtime.devmode.services import ServiceMap, load_services_file, parse_service_flags
from eventwire_runtime.devmode.sources import SourceOptions, plan_source
from eventwire_runtime.devmode.topology import LocalAddresses, Manifests, routes, sort_manifests, stable_uid
from eventwire_runtime.dispatcher.routing import BROKER
from eventwire_runtime.dispatcher.sources import parse_routes

REPO = Path(__file__).resolve().parents[2]
DISPATCHER = "http://127.0.0.1:9000"
DISPLAY = "http://127.0.0.1:9001/display"


def example(name: str) -> Manifests:
    documents, problems = load_dev_manifests([str(REPO / "examples" / name)])
    assert problems == []
    return sort_manifests(documents)


def addresses(manifests: Manifests, **mapped: str) -> LocalAddresses:
    return LocalAddresses(manifests, DISPATCHER, ServiceMap(mapped, DISPLAY))


def ports() -> Iterator[int]:
    yield from range(7000, 7100)


def test_channel_fanout_routes_like_the_controller_with_local_addresses() -> None:
    manifests = example("channel-fanout")
    table = routes(
        manifests,
        addresses(
            manifests, **{"audit": "http://127.0.0.1:8001/", "shop/notifier": "http://127.0.0.1:8003/base"}
        ),
    )
    assert table.problems == []
    by_name = {c["metadata"]["name"]: c for c in table.channels}
    assert by_name["orders"]["status"]["address"]["url"] == f"{DISPATCHER}/shop/orders"
    entries = {e["name"]: e for e in by_name["orders"]["status"]["subscribers"]}
    assert entries["orders-to-audit"]["subscriberUri"] == "http://127.0.0.1:8001/"
    # a Knative Service ref plus a relative uri; unmapped: the display service
    assert entries["orders-to-enricher"]["subscriberUri"] == f"{DISPLAY}/shop/enricher/v1/enrich"
    assert entries["orders-to-enricher"]["replyUri"] == f"{DISPATCHER}/shop/enriched"
    # the channel's delivery and dead-letter sink apply, the subscription's own delivery wins
    assert entries["orders-to-audit"]["deadLetterSinkUri"] == f"{DISPLAY}/shop/dead-letters"
    assert entries["orders-to-audit"]["delivery"] == {"retry": 5, "backoffDelay": "PT0.5S"}
    assert entries["orders-to-enricher"]["delivery"]["retry"] == 8
    assert all(e["ready"] == "True" for e in entries.values())
    # an absolute in-cluster uri is mapped too, its path kept under the mapped base
    (notifier,) = by_name["enriched"]["status"]["subscribers"]
    assert notifier["subscriberUri"] == "http://127.0.0.1:8003/base/events"
    # the dispatcher reads it, and the uids are stable across runs (durable consumers)
    parsed = {r.name: r for r in parse_routes({"items": table.channels})}
    assert {s.name for s in parsed["orders"].subscribers} == {"orders-to-audit", "orders-to-enricher"}
    assert entries["orders-to-audit"]["uid"] == stable_uid("Subscription", "shop", "orders-to-audit")


def test_unresolvable_destinations_are_reported_and_left_out() -> None:
    manifests = sort_manifests(
        yaml.safe_load_all(
            """
apiVersion: messaging.eventwire.dev/v1
kind: Subscription
metadata: {name: orphan}
spec:
  channel: {apiVersion: messaging.eventwire.dev/v1, kind: Channel, name: missing}
  subscriber: {uri: http://example.com/hook}
---
apiVersion: messaging.eventwire.dev/v1
kind: Channel
metadata: {name: orders}
---
apiVersion: messaging.eventwire.dev/v1
kind: Subscription
metadata: {name: to-nowhere}
spec:
  channel: {apiVersion: messaging.eventwire.dev/v1, kind: Channel, name: orders}
  subscriber: {ref: {apiVersion: messaging.eventwire.dev/v1, kind: Channel, name: absent}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
"""
        )
    )
    table = routes(manifests, addresses(manifests))
    assert table.problems == [
        "Subscription default/orphan: its Channel is not among the manifests",
        "Subscription default/to-nowhere: subscriber: Channel default/absent (messaging.eventwire.dev/v1) does not exist",
    ]
    (orders,) = table.channels
    assert parse_routes({"items": table.channels})[0].subscribers == ()
    assert orders["status"]["subscribers"][0]["ready"] == "False"
    assert manifests.ignored == ["Deployment default/app: not something eventwire dev runs"]


def test_service_addresses_map_to_local_urls() -> None:
    services = ServiceMap(
        {"shop/audit": "http://127.0.0.1:8001/x", "billing": "https://127.0.0.1:8002"}, DISPLAY
    )
    assert services.localize("http://audit.shop.svc.cluster.local/a?b=1") == "http://127.0.0.1:8001/x/a?b=1"
    assert services.localize("http://audit.other.svc/") == f"{DISPLAY}/other/audit/"
    assert services.localize("http://billing.any.svc.cluster.local") == "https://127.0.0.1:8002/"
    assert services.localize("https://example.com/hook") == "https://example.com/hook"
    assert parse_service_flags(["a=http://127.0.0.1:1/", "ns/b=https://h"]) == {
        "a": "http://127.0.0.1:1",
        "ns/b": "https://h",
    }
    with pytest.raises(ConfigError, match="--service needs NAME=URL"):
        parse_service_flags(["audit"])
    with pytest.raises(ConfigError, match="must map to an http"):
        parse_service_flags(["audit=ftp://x"])


def test_services_file(tmp_path: Path) -> None:
    good = tmp_path / "services.yaml"
    good.write_text("services:\n  audit: http://127.0.0.1:8001\n  shop/enricher: http://127.0.0.1:8002/\n")
    assert load_services_file(str(good)) == {
        "audit": "http://127.0.0.1:8001",
        "shop/enricher": "http://127.0.0.1:8002",
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("audit: http://127.0.0.1:8001\n")
    with pytest.raises(ConfigError, match="must hold a 'services:' mapping"):
        load_services_file(str(bad))
    with pytest.raises(ConfigError, match="cannot read services file"):
        load_services_file(str(tmp_path / "missing.yaml"))


def plans(name: str, options: SourceOptions | None = None) -> dict[str, Any]:
    manifests = example(name)
    free = ports()
    local = addresses(manifests)
    return {
        s["metadata"]["name"]: plan_source(s, local, options or SourceOptions(), lambda: next(free))
        for s in manifests.sources
    }


def test_sources_run_as_the_runtimes_adapters_with_the_controllers_env() -> None:
    (github,) = plans("channel-fanout").values()
    assert github.argv == [sys.executable, "-m", "eventwire_runtime", "adapter", "githubsource"]
    assert github.env["K_SINK"] == f"{DISPATCHER}/shop/orders"
    assert github.env["GITHUB_OWNER_REPO"] == "example-org/shop"
    assert github.env["GITHUB_SECRET_TOKEN"] == github.webhook_secret
    assert len(github.webhook_secret) == 40
    assert github.env["PORT"] == "7000"
    assert github.webhook_url == "http://127.0.0.1:7000/"
    assert github.env["K_CE_OVERRIDES"] == '{"extensions": {"team": "shop"}}'
    found = plans("sources")
    ping = found["binary-ping"]
    assert ping.env["PING_DATA_BASE64"] == "ZXZlbnR3aXJl"
    assert ping.env["K_SINK"] == f"{DISPLAY}/default/event-display"
    assert ping.env["METRICS_PORT"] == "0"
    heartbeats = found["heartbeats"]
    assert heartbeats.argv == [
        sys.executable,
        "-m",
        "eventwire_runtime",
        "adapter",
        "heartbeats",
        "--period",
        "10",
    ]
    assert heartbeats.env["K_CE_OVERRIDES"] == '{"extensions": {"origin": "heartbeats"}}'


def test_sources_that_need_a_cluster_or_a_cloud_say_how_to_run_them() -> None:
    found = plans("sources")
    assert found["workload-events"].argv is None
    assert "--kubeconfig" in found["workload-events"].reason
    assert found["orders-queue"].argv is None
    assert "--sqs-endpoint" in found["orders-queue"].reason
    assert "Channel default/invoices" in found["invoices"].reason
    enabled = plans(
        "sources", SourceOptions("/home/me/.kube/config", "http://127.0.0.1:5000", "127.0.0.1:8085")
    )
    assert enabled["workload-events"].env["KUBECONFIG"] == "/home/me/.kube/config"
    assert '"namespaces": ["default"]' in enabled["workload-events"].env["K_SOURCE_CONFIG"]
    sqs = enabled["orders-queue"]
    assert sqs.env["SQS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert "AWS_SHARED_CREDENTIALS_FILE" not in sqs.env  # mounted from a Secret in a cluster only


def test_a_container_without_a_command_cannot_run_here() -> None:
    manifests = sort_manifests(
        [
            {
                "apiVersion": "sources.eventwire.dev/v1",
                "kind": "ContainerSource",
                "metadata": {"name": "app", "namespace": "default"},
                "spec": {
                    "template": {"spec": {"containers": [{"name": "app", "image": "example.com/app:1"}]}},
                    "sink": {"uri": "http://127.0.0.1:1/"},
                },
            }
        ]
    )
    plan = plan_source(manifests.sources[0], addresses(manifests), SourceOptions(), lambda: 1)
    assert plan.argv is None
    assert plan.reason == (
        "no container engine is used and container 'app' gives no command to run (image 'example.com/app:1')"
    )


def test_the_graph_links_sources_channels_subscriptions_and_services() -> None:
    manifests = example("channel-fanout")
    local = addresses(manifests)
    table = routes(manifests, local)
    graph = build_graph(manifests, table, list(plans("channel-fanout").values()), local.services)
    edges = {(e["from"], e["to"], e["label"]) for e in graph["edges"]}
    assert ("source:shop/shop-repo", "channel:shop/orders", "sink") in edges
    assert ("channel:shop/orders", "subscription:shop/orders-to-enricher", "") in edges
    assert ("subscription:shop/orders-to-enricher", "service:shop/enricher", "/v1/enrich") in edges
    assert ("subscription:shop/orders-to-enricher", "channel:shop/enriched", "reply") in edges
    assert ("channel:shop/orders", "service:shop/dead-letters", "dead letter") in edges
    assert ("subscription:shop/enriched-to-notifier", "service:shop/notifier", "") in edges
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["service:shop/enricher"]["kind"] == "Knative Service"
    assert [n["column"] for n in graph["nodes"] if n["id"].startswith("subscription:")] == [2, 2, 2]

    mesh = example("broker-mesh")
    local = addresses(mesh)
    graph = build_graph(mesh, routes(mesh, local), [], local.services)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert (nodes["broker:shop/shop"]["ok"], nodes["broker:shop/shop"]["status"]) == (True, "5 trigger(s)")
    assert nodes["trigger:shop/pushes"]["column"] == 2
    assert nodes["trigger:shop/heartbeats"]["status"] == "source=, type=dev.knative.sources.ping"
    assert nodes["trigger:shop/pull-requests"]["status"] == "filters: cesql"
    assert nodes["trigger:shop/audit"]["status"] == "filters: not, prefix"
    assert nodes["trigger:shop/reviews"]["status"] == "type=com.example.review.requested"
    edges = {(e["from"], e["to"], e["label"]) for e in graph["edges"]}
    assert ("broker:shop/shop", "trigger:shop/pushes", "") in edges
    assert ("trigger:shop/pushes", "service:shop/ci", "") in edges
    assert ("broker:shop/shop", "service:shop/dead-letters", "dead letter") in edges


def test_brokers_and_triggers_become_routes_the_dispatcher_reads() -> None:
    mesh = example("broker-mesh")
    local = addresses(mesh)
    table = routes(mesh, local)
    assert table.problems == []
    (broker,) = table.brokers
    assert broker["status"]["address"]["url"] == DISPATCHER + "/brokers/shop/shop"
    assert (
        local.resolve(
            {"ref": {"apiVersion": "eventing.eventwire.dev/v1", "kind": "Broker", "name": "shop"}}, "shop"
        ).uri
        == DISPATCHER + "/brokers/shop/shop"
    )
    # The routes file as `dev up` writes it, read by the dispatcher's own parser.
    document = yaml.safe_load(yaml.safe_dump({"items": table.channels, "brokers": table.brokers}))
    (route,) = parse_routes(document)
    assert (route.kind, route.namespace, route.title) == (BROKER, "shop", "shop")
    triggers = {t.name: t for t in route.subscribers}
    assert sorted(triggers) == ["audit", "heartbeats", "pull-requests", "pushes", "reviews"]
    assert route.paused == ()
    display = DISPLAY + "/shop/"
    assert triggers["pushes"].subscriber_uri == display + "ci"
    assert triggers["pushes"].spec.dead_letter_uri == display + "dead-letters"  # the Broker's
    assert triggers["pull-requests"].spec.retry == 10  # the Trigger's own delivery wins
    assert triggers["pushes"].spec.retry == 5  # else the Broker's
    push = {"type": "dev.knative.source.github.push", "source": "https://github.com/example-org/shop"}
    assert triggers["pushes"].filter is not None
    assert triggers["pushes"].filter(push)
    assert triggers["reviews"].filter is not None
    assert not triggers["reviews"].filter(push)


def test_a_trigger_whose_subscriber_does_not_resolve_is_paused_and_said() -> None:
    mesh = sort_manifests(
        [
            {"apiVersion": "eventing.eventwire.dev/v1", "kind": "Broker", "metadata": {"name": "b"}},
            {
                "apiVersion": "eventing.eventwire.dev/v1",
                "kind": "Trigger",
                "metadata": {"name": "t"},
                "spec": {
                    "broker": "b",
                    "subscriber": {
                        "ref": {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "gone"}
                    },
                },
            },
            {
                "apiVersion": "eventing.eventwire.dev/v1",
                "kind": "Trigger",
                "metadata": {"name": "orphan"},
                "spec": {"broker": "nope", "subscriber": {"uri": "http://127.0.0.1:1/"}},
            },
        ]
    )
    table = routes(mesh, addresses(mesh))
    (route,) = parse_routes({"brokers": table.brokers})
    assert route.subscribers == ()
    assert len(route.paused) == 1
    assert any(p.startswith("Trigger default/t: subscriber:") for p in table.problems), table.problems
    assert "Trigger default/orphan: its Broker is not among the manifests" in table.problems


def test_eventwire_dev_says_when_the_runtime_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(
        sys.modules, "eventwire_runtime.devmode.cli", None
    )  # import fails as if not installed
    assert main(["dev", "up", "examples/channel-fanout/"]) == 2
    assert "eventwire dev needs the eventwire-runtime package" in capsys.readouterr().err


def test_the_component_library_does_not_import_the_runtime() -> None:
    import subprocess

    code = "import eventwire, eventwire.cli, eventwire.install, sys; print(sorted(m for m in sys.modules if m.startswith(('eventwire_runtime', 'aiohttp'))))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_eventwire_dev_help_is_the_dev_commands_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["dev", "--help"])
    assert exited.value.code == 0
    assert "usage: eventwire dev [-h] {up,send}" in capsys.readouterr().out


def test_service_flags_win_over_the_services_file(tmp_path: Path) -> None:
    from eventwire_runtime.devmode.cli import _services, build_parser

    services = tmp_path / "services.yaml"
    services.write_text("services:\n  audit: http://127.0.0.1:8001\n  shop/enricher: http://127.0.0.1:8002\n")
    args = build_parser().parse_args(
        ["up", "examples/", "--services", str(services), "--service", "audit=http://127.0.0.1:9999"]
    )
    assert _services(args) == {"audit": "http://127.0.0.1:9999", "shop/enricher": "http://127.0.0.1:8002"}
