"""Rules for Knative's Broker and Trigger, every generation: the v0.5-v0.7 channel template with a
provisioner, the v0.8+ channelTemplateSpec, v1's config and broker class, and the Trigger's
sourceAndType filter (v0.5-v0.7), default broker and brokerRef."""

from __future__ import annotations

from typing import Any, Final

from eventwire.api.knative import legacy
from eventwire.api.knative.rules import Fields, custom, when_set

BROKER_CLASS_ANNOTATION: Final = "eventing.knative.dev/broker.class"
# Knative's channel-based broker classes: eventwire's Broker is one (events stored through a
# ClusterChannelProvisioner). Other classes (Kafka, RabbitMQ) are backends eventwire lacks.
CHANNEL_BASED_CLASSES: Final = frozenset({"MTChannelBasedBroker", "ChannelBasedBroker"})
# What a v1alpha1 Trigger's broker defaulted to.
DEFAULT_BROKER: Final = "default"


def _broker_class(fields: Fields) -> None:
    annotations = fields.metadata.get("annotations")
    if not isinstance(annotations, dict) or BROKER_CLASS_ANNOTATION not in annotations:
        return
    broker_class = annotations.pop(BROKER_CLASS_ANNOTATION)
    if not annotations:
        fields.metadata.pop("annotations")
    if broker_class not in CHANNEL_BASED_CLASSES:
        raise fields.fail(
            f"the {broker_class} broker class is a backend eventwire does not have; {legacy.BACKEND_ADVICE}"
        )
    fields.notes.append(
        f"the {broker_class} broker class annotation dropped: eventwire's Broker is channel-based"
    )


BROKER_CLASS: Final = custom(
    f"metadata.annotations[{BROKER_CLASS_ANNOTATION}]",
    "dropped for MTChannelBasedBroker and ChannelBasedBroker; other classes (Kafka, RabbitMQ) are refused "
    "with the jetstream/redis settings to use",
    _broker_class,
)


def _broker_config(fields: Fields, config: Any) -> None:
    name = config.get("name", "?") if isinstance(config, dict) else "?"
    fields.notes.append(
        f"spec.config ({name}) dropped: eventwire cannot read Knative's broker ConfigMap; the Broker uses the "
        "cluster's default ClusterChannelProvisioner unless spec.provisioner names one"
    )


BROKER_CONFIG: Final = when_set(
    "config",
    "spec.config",
    "dropped with a note: the cluster's default provisioner, or set spec.provisioner",
    _broker_config,
)


def _broker_channel_template(fields: Fields) -> None:
    spec = fields.src.pop("channelTemplateSpec", None)
    if spec is not None:
        legacy.check_channel_template(fields, spec, "spec.channelTemplateSpec")
    template = fields.src.pop("channelTemplate", None)  # v0.5-v0.7: a Channel spec
    if template is None:
        return
    if not isinstance(template, dict):
        raise fields.fail("spec.channelTemplate must be an object")
    if "provisioner" in template:
        fields.out["provisioner"] = legacy.provisioner_of(
            fields, template["provisioner"], "spec.channelTemplate.provisioner"
        )
    if template.get("arguments") is not None:
        fields.notes.append(
            "spec.channelTemplate.arguments dropped: provisioner settings live on the provisioner"
        )


BROKER_CHANNEL_TEMPLATE: Final = custom(
    "spec.channelTemplate.provisioner (v0.5-v0.7), spec.channelTemplateSpec (v0.8 on)",
    "spec.provisioner: the provisioner's name (`in-memory-channel` → `in-memory`); an InMemoryChannel "
    "template is dropped; KafkaChannel, NatssChannel and other provisioners are refused with advice",
    _broker_channel_template,
)


def _trigger_broker(fields: Fields) -> None:
    ref = fields.src.pop("brokerRef", None)
    if ref is not None:
        if not isinstance(ref, dict) or not ref.get("name"):
            raise fields.fail("spec.brokerRef must be a reference with a name")
        namespace = ref.get("namespace")
        if namespace and namespace != fields.metadata.get("namespace"):
            raise fields.fail(
                f"spec.brokerRef names a Broker in namespace {namespace}; eventwire's Triggers use a Broker of "
                "their own namespace: create the Trigger there"
            )
        if fields.src.get("broker", ref["name"]) != ref["name"]:
            raise fields.fail("spec.broker and spec.brokerRef name different Brokers; keep one")
        fields.src["broker"] = ref["name"]
        fields.notes.append("spec.brokerRef became spec.broker")
    broker = fields.src.pop("broker", None)
    if not broker:
        broker = DEFAULT_BROKER
        fields.notes.append(
            f"spec.broker unset: the Broker named {DEFAULT_BROKER}, as Knative v1alpha1 defaulted it"
        )
    fields.out["broker"] = broker


TRIGGER_BROKER: Final = custom(
    "spec.broker, spec.brokerRef",
    f"spec.broker (unset → `{DEFAULT_BROKER}`, as v1alpha1 defaulted it; a brokerRef in the same namespace → "
    "its name; another namespace is refused)",
    _trigger_broker,
)

# Before v0.5 "Any" meant any value; from v0.5 the empty string does.
_ANY: Final = frozenset({"", "Any"})


def _source_and_type(fields: Fields, filter_: dict[str, Any]) -> dict[str, Any]:
    old = filter_.pop("sourceAndType")
    if not isinstance(old, dict):
        raise fields.fail("spec.filter.sourceAndType must be an object")
    attributes = {key: old[key] for key in ("type", "source") if old.get(key) not in _ANY and key in old}
    if filter_.get("attributes") not in (None, attributes):
        raise fields.fail("spec.filter sets both sourceAndType and attributes; keep attributes")
    fields.notes.append("spec.filter.sourceAndType became spec.filter.attributes")
    return attributes


def _trigger_filter(fields: Fields, filter_: Any) -> None:
    if not isinstance(filter_, dict):
        raise fields.fail("spec.filter must be an object")
    filter_ = dict(filter_)
    if "sourceAndType" in filter_:
        filter_["attributes"] = _source_and_type(fields, filter_)
    if not filter_.get("attributes"):
        filter_.pop("attributes", None)  # an empty filter passes every event
    if filter_:
        fields.out["filter"] = filter_


TRIGGER_FILTER: Final = when_set(
    "filter",
    "spec.filter",
    "spec.filter.attributes; v0.5-v0.7 sourceAndType `{type, source}` → attributes (`Any` and empty values "
    "match everything and are left out)",
    _trigger_filter,
)
