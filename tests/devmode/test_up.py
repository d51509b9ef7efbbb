"""`eventwire dev up` end to end on loopback: the real command, real HTTP services (sinks), the
real GitHubSource adapter checking signatures, and a real nats-server for --persist."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.devmode.devup import dev_up, run_eventwire
from tests.support.processes import free_port
from tests.support.sink import Received, Reply, Sink
from tests.system.test_topologies import enrich


def write_manifests(path: Path, *documents: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(documents))
    return path


def channel(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "messaging.eventwire.dev/v1",
        "kind": "Channel",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": spec,
    }


def subscription(name: str, channel_name: str, service: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "messaging.eventwire.dev/v1",
        "kind": "Subscription",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": {
            "channel": {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": channel_name},
            "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": service}},
            **spec,
        },
    }


def deliveries(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A viewer record's delivery rows by subscription name."""
    return {row["subscription"]: row for row in record["deliveries"].values()}


async def test_channel_fanout_example_sends_and_signed_webhooks_reach_the_services(tmp_path: Path) -> None:
    async with (
        Sink.start() as audit,
        Sink.start(enrich) as enricher,
        Sink.start() as notifier,
        dev_up(
            "examples/channel-fanout/",
            "--service",
            f"audit={audit.url}",
            "--service",
            f"shop/enricher={enricher.url}",
            "--service",
            f"notifier={notifier.url}",
            state=tmp_path / "state.json",
        ) as dev,
    ):
        assert "GitHubSource shop/shop-repo: webhook at http://127.0.0.1:" in dev.output
        code, out = await dev.send("orders", "--type", "demo.order", "--data", '{"n": 1}')
        assert code == 0, out
        (order,) = await audit.wait_for(1)
        assert order.headers["ce-type"] == "demo.order"
        assert json.loads(order.body) == {"n": 1}
        (to_enrich,) = await enricher.wait_for(1)
        assert to_enrich.path == "/v1/enrich"  # the Subscription's uri relative to the Knative Service
        assert json.loads(to_enrich.body)["id"] == order.headers["ce-id"]  # structured mode
        (notified,) = await notifier.wait_for(1)  # the reply went through Channel enriched
        assert notified.path == "/events"
        assert notified.headers["ce-id"] == f"enriched-{order.headers['ce-id']}"

        record = await dev.wait_event(
            lambda r: (
                r["attributes"].get("id") == order.headers["ce-id"]
                and deliveries(r).get("orders-to-enricher", {}).get("reply") is not None
            )
        )
        rows = deliveries(record)
        assert rows["orders-to-audit"]["outcome"] == "delivered"
        assert rows["orders-to-enricher"]["reply"]["type"] == "dev.eventwire.enriched"
        assert "error" not in rows["orders-to-enricher"]["reply"]
        assert record["channel"] == "shop/orders"
        assert record["data"] == {"n": 1}

        code, out = await dev.send("--github", "push")
        assert code == 0, out
        (_, pushed) = await audit.wait_for(2)
        assert pushed.headers["ce-type"] == "dev.knative.source.github.push"
        assert pushed.headers["ce-source"] == "https://github.com/example-org/shop"
        assert pushed.headers["ce-subject"] == "000000000000...aaaaaaaaaaaa"  # Knative's: the compare range
        assert pushed.headers["ce-ref"] == "refs/heads/main"
        assert pushed.headers["ce-team"] == "shop"  # the source's ceOverrides

        # The webhook really checks signatures: a delivery signed with another secret is refused.
        hook = dev.state_data()["github"][0]
        body = json.dumps(
            {"ref": "refs/heads/evil", "repository": {"full_name": "example-org/shop"}}
        ).encode()
        forged = "sha256=" + hmac.new(b"not the secret", body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            hook["url"],
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "forged-1",
                "X-Hub-Signature-256": forged,
            },
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        assert refused.value.code == 401
        refused.value.close()
        # ... while the secret dev up keeps signs exactly as GitHub does (HMAC-SHA256 of the body).
        good = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        request.headers["X-hub-signature-256"] = good
        request.headers["X-github-delivery"] = "signed-1"
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as accepted:
            assert accepted.status == 202
        await audit.wait_for(3)
        assert len(audit.received) == 3

        # The webhook receiver and the adapter's metrics listen on loopback only: checked on the
        # bound sockets (no traffic sent to the machine's other addresses).
        webhook_port = int(hook["url"].rsplit(":", 1)[1].strip("/"))
        (adapter,) = dev.children()
        bound = dev.listening(adapter)
        assert webhook_port in {port for _, port in bound}
        assert len(bound) == 2, bound  # the webhook and the admin (metrics) port
        assert {address for address, _ in bound} == {"127.0.0.1"}, bound

        # Clear errors for what cannot be sent.
        code, out = await dev.send("nope", "--data", "{}")
        assert code == 1
        assert "no Channel or Broker 'nope'" in out
        assert "shop/enriched, shop/orders" in out
        code, out = await dev.send("orders", "--data", "{not json")
        assert code == 1
        assert "--data must be JSON" in out


async def test_a_failing_service_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    fast = {"retry": 2, "backoffDelay": "PT0.05S"}
    manifests = write_manifests(
        tmp_path / "topology.yaml",
        channel(
            "orders",
            delivery={
                **fast,
                "deadLetterSink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "dead-letters"}},
            },
        ),
        subscription("to-broken", "orders", "broken"),
        subscription("to-flaky", "orders", "flaky"),
    )
    async with (
        Sink.start(lambda i, r: Reply(500, body=b"broken is down")) as broken,
        Sink.start(lambda i, r: Reply(503 if i == 0 else 202)) as flaky,
        Sink.start() as dead_letters,
        dev_up(
            str(manifests),
            "--service",
            f"broken={broken.url}",
            "--service",
            f"flaky={flaky.url}",
            "--service",
            f"dead-letters={dead_letters.url}",
            state=tmp_path / "state.json",
        ) as dev,
    ):
        code, out = await dev.send("orders", "--type", "demo.failing", "--data", '{"n": 2}')
        assert code == 0, out
        (dead,) = await dead_letters.wait_for(1)
        assert dead.headers["ce-type"] == "demo.failing"
        assert dead.headers["ce-knativeerrorcode"] == "500"
        assert len(broken.received) == 3  # the first attempt and two retries

        record = await dev.wait_event(
            lambda r: {row["outcome"] for row in deliveries(r).values()} == {"dead-lettered", "delivered"}
        )
        rows = deliveries(record)
        assert rows["to-broken"]["attempts"] == 3
        assert "500" in rows["to-broken"]["error"]
        assert rows["to-broken"]["deadLetterSink"] == dead_letters.url
        assert rows["to-flaky"] == {**rows["to-flaky"], "outcome": "delivered", "attempts": 2}


async def test_an_event_accepted_at_a_channel_without_subscribers_shows_in_the_viewer(tmp_path: Path) -> None:
    manifests = write_manifests(tmp_path / "topology.yaml", channel("quiet"))
    async with dev_up(str(manifests), state=tmp_path / "state.json") as dev:
        code, out = await dev.send("quiet", "--type", "demo.unheard", "--data", '{"n": 3}')
        assert code == 0, out
        record = await dev.wait_event(lambda r: r["attributes"].get("type") == "demo.unheard")
        assert record["channel"] == "demo/quiet"
        assert record["accepted"] == {"subscribers": 0}
        assert record["deliveries"] == {}
        assert record["data"] == {"n": 3}


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (
            "source-to-service",
            ["PingSource default/hello-every-minute: schedule */1 * * * * (Europe/Berlin)"],
        ),
        (
            "broker-mesh",
            [
                "Broker shop/shop: http://127.0.0.1:{dispatcher}/brokers/shop/shop",
                "Trigger shop/pushes -> {viewer}display/shop/ci",
                "PingSource shop/heartbeat: schedule */1 * * * *",
            ],
        ),
        (
            "sources",
            [
                "ApiServerSource default/workload-events: NOT RUN: it watches a Kubernetes API server: "
                "pass --kubeconfig PATH to run it",
                "AwsSqsSource default/orders-queue: NOT RUN: it reads a real AWS SQS queue: "
                "pass --sqs-endpoint URL (moto_server, LocalStack) to run it",
                "ContainerSource default/heartbeats: runs eventwire-runtime adapter heartbeats --period 10",
            ],
        ),
    ],
)
async def test_every_example_starts_and_says_what_it_does_not_run(
    example: str, expected: list[str], tmp_path: Path
) -> None:
    async with dev_up(f"examples/{example}/", state=tmp_path / "state.json") as dev:
        dispatcher = dev.state_data()["dispatcher"].rsplit(":", 1)[1]
        for line in expected:
            assert "  " + line.format(dispatcher=dispatcher, viewer=dev.viewer) in dev.lines, dev.output


def review_reply(_: int, received: Received) -> Reply:
    """The broker-mesh reviewer: answers each pull request with a review request event."""
    return Reply(
        200,
        headers={
            "ce-specversion": "1.0",
            "ce-id": "review-" + received.headers["ce-id"],
            "ce-type": "com.example.review.requested",
            "ce-source": "/reviewer",
            "content-type": "application/json",
        },
        body=b'{"review": true}',
    )


async def test_broker_mesh_example_routes_through_trigger_filters_and_replies_reenter(tmp_path: Path) -> None:
    async with (
        Sink.start() as ci,
        Sink.start() as audit,
        Sink.start(review_reply) as reviewer,
        Sink.start() as notifier,
        dev_up(
            "examples/broker-mesh/",
            "--service",
            f"ci={ci.url}",
            "--service",
            f"audit={audit.url}",
            "--service",
            f"reviewer={reviewer.url}",
            "--service",
            f"notifier={notifier.url}",
            state=tmp_path / "state.json",
        ) as dev,
    ):
        # A push (dev send to the Broker): `pushes` (exact type) and `audit` (prefix, not ping).
        code, out = await dev.send(
            "shop", "--type", "dev.knative.source.github.push", "--source", "/test", "--data", "{}"
        )
        assert code == 0, out
        assert "to Broker shop/shop: 202 Accepted" in out
        (push,) = await ci.wait_for(1)
        assert push.headers["ce-type"] == "dev.knative.source.github.push"
        await audit.wait_for(1)
        record = await dev.wait_event(
            lambda r: r["attributes"].get("id") == push.headers["ce-id"] and len(r["deliveries"]) == 2
        )
        assert record["channel"] == "broker:shop/shop"
        assert record["accepted"] == {"subscribers": 5, "matching": 2}
        assert {row["subscription"]: row["outcome"] for row in record["deliveries"].values()} == {
            "pushes": "delivered",
            "audit": "delivered",
        }

        # A signed pull_request webhook from the GitHubSource: the reviewer's reply re-enters the
        # Broker and reaches `reviews` (the notifier).
        code, out = await dev.send("--github", "pull_request")
        assert code == 0, out
        (pull,) = await reviewer.wait_for(1)
        assert pull.headers["ce-type"] == "dev.knative.source.github.pull_request"
        (review,) = await notifier.wait_for(1)
        assert review.headers["ce-type"] == "com.example.review.requested"
        assert review.headers["ce-id"] == "review-" + pull.headers["ce-id"]
        reentered = await dev.wait_event(
            lambda r: r["attributes"].get("id") == review.headers["ce-id"] and r["deliveries"]
        )
        assert reentered["channel"] == "broker:shop/shop"
        assert reentered["accepted"] == {"subscribers": 5, "matching": 1}
        assert len(ci.received) == 1  # the pushes Trigger filtered both out

        # An event no Trigger selects is accepted and shown as such.
        code, out = await dev.send("shop/shop", "--type", "demo.nobody", "--data", "{}")
        assert code == 0, out
        unheard = await dev.wait_event(lambda r: r["attributes"].get("type") == "demo.nobody")
        assert unheard["accepted"] == {"subscribers": 5, "matching": 0}
        assert unheard["deliveries"] == {}

        code, out = await dev.send("nope", "--data", "{}")
        assert code == 1
        assert "no Channel or Broker 'nope' in the running topology (there are: shop/shop)" in out


async def test_a_folder_without_anything_to_run_is_an_error() -> None:
    code, out = await run_eventwire("dev", "up", "examples/provisioners/")
    assert code == 2
    assert "nothing to run" in out


async def test_invalid_manifests_are_refused_with_the_validation_error(tmp_path: Path) -> None:
    bad = write_manifests(tmp_path / "bad.yaml", {**channel("orders"), "spec": {"delivery": {"retry": -1}}})
    code, out = await run_eventwire("dev", "up", str(bad))
    assert code == 2
    assert "Channel/orders" in out
    assert "retry" in out


async def test_container_source_runs_its_command_and_knative_manifests_are_converted(tmp_path: Path) -> None:
    knative = write_manifests(
        tmp_path / "knative.yaml",
        {
            "apiVersion": "messaging.knative.dev/v1",
            "kind": "InMemoryChannel",
            "metadata": {"name": "beats", "namespace": "demo"},
        },
        {
            "apiVersion": "messaging.knative.dev/v1",
            "kind": "Subscription",
            "metadata": {"name": "beats-to-display", "namespace": "demo"},
            "spec": {
                "channel": {
                    "apiVersion": "messaging.knative.dev/v1",
                    "kind": "InMemoryChannel",
                    "name": "beats",
                },
                "subscriber": {
                    "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "display"}
                },
            },
        },
        {
            "apiVersion": "sources.knative.dev/v1",
            "kind": "ContainerSource",
            "metadata": {"name": "beat", "namespace": "demo"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "beat",
                                "image": "example.com/beat:1",
                                "command": [
                                    str(Path(__import__("sys").executable)),
                                    "-m",
                                    "eventwire_runtime",
                                ],
                                "args": ["adapter", "heartbeats", "--period", "1"],
                            }
                        ]
                    }
                },
                "sink": {
                    "ref": {
                        "apiVersion": "messaging.knative.dev/v1",
                        "kind": "InMemoryChannel",
                        "name": "beats",
                    }
                },
            },
        },
    )
    async with (
        Sink.start() as display,
        dev_up(str(knative), "--service", f"display={display.url}", state=tmp_path / "s.json") as dev,
    ):
        assert "  Channel demo/beats: " in "\n".join(dev.lines)
        (beat, *_) = await display.wait_for(1, within=20)
        assert beat.headers["ce-type"] == "dev.knative.eventing.samples.heartbeat"
        assert len(dev.children()) == 1  # the container's process, which Ctrl-C must end (dev_up checks)


async def test_persist_survives_a_restart_without_losing_an_accepted_event(tmp_path: Path) -> None:
    manifests = write_manifests(
        tmp_path / "topology.yaml",
        channel("orders"),
        subscription(
            "to-late",
            "orders",
            "late",
            delivery={
                "retry": 50,
                "backoffPolicy": "linear",
                "backoffDelay": "PT0.2S",
                "backoffMax": "PT0.5S",
            },
        ),
    )
    store = tmp_path / "store"
    down = f"late=http://127.0.0.1:{free_port()}/"  # nothing listens there: the service is down
    sent = []
    async with dev_up(
        str(manifests), "--persist", str(store), "--service", down, state=tmp_path / "a.json"
    ) as dev:
        assert "(JetStream, persisted in " in dev.output
        for n in range(5):
            code, out = await dev.send("orders", "--data", json.dumps({"n": n}))
            assert code == 0, out
            sent.append(out.split()[1])
    # Restarted with the service up (at another address: the events follow the Subscription).
    async with Sink.start() as late:
        up = f"late={late.url}"
        async with dev_up(
            str(manifests), "--persist", str(store), "--service", up, state=tmp_path / "b.json"
        ):
            await late.wait_for(5, within=45)
    assert {r.headers["ce-id"] for r in late.received} == set(sent)
