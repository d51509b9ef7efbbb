"""Channel, Subscription, Broker, Trigger, the source components and the architecture helpers."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from eventwire.api import resource_errors
from eventwire.exceptions import ConfigError
from eventwire.install import (
    ApiServerSource,
    AwsSqsSource,
    Broker,
    Channel,
    ChannelFanout,
    ContainerSource,
    GcpPubSubSource,
    GitHubSource,
    PingSource,
    SourceToService,
    Subscription,
    Trigger,
    broker_destination,
    channel_destination,
    knative_service_destination,
    service_destination,
)
from tests.components.conftest import Runner, find, kube_objects

SINK = service_destination("display", "apps")


def test_channel_and_subscription_manifests(run: Runner) -> None:
    delivery = {"retry": 3, "backoffDelay": "PT1S", "deadLetterSink": service_destination("dead")}

    def program() -> None:
        channel = Channel("orders", {"namespace": "shop", "provisioner": "jetstream", "delivery": delivery})
        Subscription("audit", {"namespace": "shop", "channel": "orders", "subscriber": SINK})
        pulumi.export("url", channel.url)

    record = run(program)
    channel = find(record, "Channel", "orders").plain
    assert channel == {
        "apiVersion": "messaging.eventwire.dev/v1",
        "kind": "Channel",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {"provisioner": "jetstream", "delivery": delivery},
    }
    subscription = find(record, "Subscription", "audit").plain
    assert subscription["spec"] == {
        "channel": {"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "orders"},
        "subscriber": SINK,
    }
    # No controller runs under mocks, so the status (and the URL) is still empty.
    assert record.outputs["url"] == ""
    for manifest in kube_objects(record):
        assert resource_errors(manifest) == []


def test_addresses_come_from_the_status_the_controller_writes(run: Runner) -> None:
    def controller(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if type_ == "kubernetes:messaging.eventwire.dev/v1:Channel":
            return {
                "status": {"address": {"url": f"http://{inputs['metadata']['name']}.shop.channels.example"}}
            }
        if type_ == "kubernetes:sources.eventwire.dev/v1:PingSource":
            return {"status": {"sinkUri": "http://display.apps.svc.cluster.local"}}
        return {}

    def program() -> None:
        pulumi.export("url", Channel("orders", {"namespace": "shop"}).url)
        ping = PingSource("ping", {"namespace": "apps", "sink": SINK, "spec": {"schedule": "@daily"}})
        pulumi.export("sink", ping.sink_uri)

    record = run(program, respond=controller)
    assert record.outputs == {
        "url": "http://orders.shop.channels.example",
        "sink": "http://display.apps.svc.cluster.local",
    }


@pytest.mark.parametrize(
    ("cls", "spec"),
    [
        (
            PingSource,
            {"schedule": "*/5 * * * *", "data": '{"ping": true}', "contentType": "application/json"},
        ),
        (ApiServerSource, {"resources": [{"apiVersion": "v1", "kind": "Pod"}], "mode": "Resource"}),
        (ContainerSource, {"template": {"spec": {"containers": [{"image": "example/heartbeats"}]}}}),
        (
            GitHubSource,
            {
                "ownerAndRepository": "acme/shop",
                "eventTypes": ["push"],
                "secretToken": {"secretKeyRef": {"name": "github-webhook", "key": "secret"}},
            },
        ),
        (AwsSqsSource, {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"}),
        (GcpPubSubSource, {"topic": "orders", "project": "acme-prod", "createSubscription": True}),
    ],
)
def test_every_source_kind(run: Runner, cls: Any, spec: dict[str, Any]) -> None:
    record = run(
        lambda: cls(
            "src", {"namespace": "apps", "sink": SINK, "spec": spec, "ce_overrides": {"team": "shop"}}
        )
    )
    manifest = find(record, cls.KIND, "src").plain
    assert manifest["apiVersion"] == "sources.eventwire.dev/v1"
    assert manifest["spec"] == {**spec, "sink": SINK, "ceOverrides": {"extensions": {"team": "shop"}}}
    assert resource_errors(manifest) == []


def test_invalid_objects_fail_in_the_constructor_naming_the_field(run: Runner) -> None:
    with pytest.raises(ConfigError, match=r"spec\.schedule"):
        run(lambda: PingSource("p", {"namespace": "a", "sink": SINK, "spec": {"schedule": "every day"}}))
    with pytest.raises(ConfigError, match="spec needs queueUrl"):
        run(lambda: AwsSqsSource("q", {"namespace": "a", "sink": SINK}))
    with pytest.raises(ConfigError, match="needs a subscriber, a reply, or both"):
        run(lambda: Subscription("s", {"namespace": "a", "channel": "c"}))
    with pytest.raises(ConfigError, match=r"spec\.delivery\.backoffPolicy"):
        run(lambda: Channel("c", {"namespace": "a", "delivery": {"backoffPolicy": "random"}}))


def test_source_to_service(run: Runner) -> None:
    source: Any = {"kind": "PingSource", "spec": {"schedule": "@hourly"}}
    record = run(
        lambda: SourceToService("hourly", {"namespace": "apps", "source": source, "service": "display"})
    )
    manifest = find(record, "PingSource", "hourly-source").plain
    assert manifest["spec"]["sink"] == knative_service_destination("display")
    record = run(
        lambda: SourceToService(
            "hourly",
            {"namespace": "apps", "source": source, "service": "display", "service_kind": "kubernetes"},
        )
    )
    assert find(record, "PingSource", "hourly-source").plain["spec"]["sink"] == service_destination("display")


def test_channel_fanout_with_replies_to_a_second_channel(run: Runner) -> None:
    args: Any = {
        "namespace": "shop",
        "source": {"kind": "PingSource", "spec": {"schedule": "@every 1m"}},
        "channels": [
            {
                "name": "orders",
                "provisioner": "jetstream",
                "subscribers": [
                    {"name": "audit", "subscriber": service_destination("audit")},
                    {
                        "name": "enricher",
                        "subscriber": knative_service_destination("enricher"),
                        "reply_to": "enriched",
                    },
                ],
            },
            {
                "name": "enriched",
                "subscribers": [{"name": "notifier", "subscriber": service_destination("notifier")}],
            },
        ],
    }

    def program() -> None:
        fanout = ChannelFanout("shop", args)
        pulumi.export("urls", fanout.channel_urls)

    record = run(program)
    assert find(record, "PingSource", "shop-source").plain["spec"]["sink"] == channel_destination("orders")
    enricher = find(record, "Subscription", "enricher")
    assert enricher.plain["spec"]["reply"] == channel_destination("enriched")
    assert enricher.plain["spec"]["channel"]["name"] == "orders"
    assert find(record, "Subscription", "notifier").plain["spec"]["channel"]["name"] == "enriched"
    assert record.depends_on(enricher, find(record, "Channel", "orders"))
    assert record.outputs["urls"] == {"orders": "", "enriched": ""}


def test_fanout_replies_must_go_to_its_own_channels(run: Runner) -> None:
    args: Any = {
        "namespace": "shop",
        "channels": [
            {"name": "a", "subscribers": [{"name": "s", "subscriber": SINK, "reply_to": "nowhere"}]}
        ],
    }
    with pytest.raises(ConfigError, match="replies to 'nowhere'"):
        run(lambda: ChannelFanout("f", args))
    with pytest.raises(ConfigError, match="source kind 'KafkaSource'"):
        run(
            lambda: SourceToService(
                "x", {"namespace": "a", "source": {"kind": "KafkaSource", "spec": {}}, "service": "s"}
            )
        )


def test_broker_and_trigger_manifests(run: Runner) -> None:
    delivery = {"retry": 5, "backoffPolicy": "exponential", "deadLetterSink": service_destination("dead")}

    def program() -> None:
        broker = Broker("shop", {"namespace": "shop", "provisioner": "jetstream", "delivery": delivery})
        Trigger(
            "pushes",
            {
                "namespace": "shop",
                "broker": "shop",
                "subscriber": SINK,
                "attributes": {"type": "dev.knative.source.github.push", "source": ""},
            },
        )
        Trigger(
            "eu-orders",
            {
                "namespace": "shop",
                "broker": "shop",
                "subscriber": knative_service_destination("fulfilment"),
                "filters": [{"prefix": {"type": "com.example."}}, {"cesql": "region LIKE 'eu-%'"}],
                "delivery": {"retry": 10},
            },
        )
        pulumi.export("url", broker.url)

    record = run(program)
    assert find(record, "Broker", "shop").plain == {
        "apiVersion": "eventing.eventwire.dev/v1",
        "kind": "Broker",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {"provisioner": "jetstream", "delivery": delivery},
    }
    assert find(record, "Trigger", "pushes").plain["spec"] == {
        "broker": "shop",
        "subscriber": SINK,
        "filter": {"attributes": {"type": "dev.knative.source.github.push", "source": ""}},
    }
    assert find(record, "Trigger", "eu-orders").plain["spec"] == {
        "broker": "shop",
        "subscriber": knative_service_destination("fulfilment"),
        "filters": [{"prefix": {"type": "com.example."}}, {"cesql": "region LIKE 'eu-%'"}],
        "delivery": {"retry": 10},
    }
    assert record.outputs["url"] == ""
    for manifest in kube_objects(record):
        assert resource_errors(manifest) == []


def test_broker_url_and_trigger_subscriber_come_from_the_status(run: Runner) -> None:
    def controller(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if type_ == "kubernetes:eventing.eventwire.dev/v1:Broker":
            return {"status": {"address": {"url": "http://dispatcher.example/shop/shop"}}}
        if type_ == "kubernetes:eventing.eventwire.dev/v1:Trigger":
            return {"status": {"subscriberUri": "http://display.apps.svc.cluster.local"}}
        return {}

    def program() -> None:
        broker = Broker("shop", {"namespace": "shop"})
        trigger = Trigger("all", {"namespace": "shop", "broker": "shop", "subscriber": SINK})
        # A source names the Broker as its sink.
        PingSource(
            "beat",
            {"namespace": "shop", "sink": broker_destination("shop"), "spec": {"schedule": "@hourly"}},
        )
        pulumi.export("url", broker.url)
        pulumi.export("subscriber", trigger.subscriber_uri)

    record = run(program, respond=controller)
    assert record.outputs == {
        "url": "http://dispatcher.example/shop/shop",
        "subscriber": "http://display.apps.svc.cluster.local",
    }
    assert find(record, "PingSource", "beat").plain["spec"]["sink"] == {
        "ref": {"apiVersion": "eventing.eventwire.dev/v1", "kind": "Broker", "name": "shop"}
    }


def test_invalid_brokers_and_triggers_fail_in_the_constructor_naming_the_field(run: Runner) -> None:
    with pytest.raises(ConfigError, match=r"Broker/shop: .*spec\.provisioner"):
        run(lambda: Broker("shop", {"namespace": "shop", "provisioner": "Not A Name"}))
    with pytest.raises(ConfigError, match=r"Trigger/bad-sql: .*spec\.filters\[0\]\.cesql"):
        run(
            lambda: Trigger(
                "bad-sql",
                {"namespace": "shop", "broker": "shop", "subscriber": SINK, "filters": [{"cesql": "type ="}]},
            )
        )
    with pytest.raises(ConfigError, match=r"Trigger/upper: .*spec\.filter\.attributes"):
        run(
            lambda: Trigger(
                "upper",
                {"namespace": "shop", "broker": "shop", "subscriber": SINK, "attributes": {"Type": "x"}},
            )
        )
