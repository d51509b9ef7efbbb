"""The conversion table: every Knative kind of every API generation, and what it becomes.

One `KindMapping` per (group, kind) over the versions that share a shape, oldest generation
first. A mapping without `target` is a refusal whose `advice` says what to use instead. The
converter (`conversion.py`) runs these rules and `table.py` renders them as the documented table,
so the two cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from eventwire.api.kinds import kind_named
from eventwire.api.knative import brokers, legacy
from eventwire.api.knative.references import (
    PARALLEL_INSTEAD,
    SEQUENCE_INSTEAD,
    SERVING_GROUP,
    channel_reference,
    delivery,
    destination,
    group_of,
    is_knative_group,
    renamed_destination,
)
from eventwire.api.knative.rules import Fields, Rule, constant, custom, drop, keep, rename
from eventwire.api.knative.serving import SERVICE_V1ALPHA1

LEGACY_EVENTING: Final = "eventing.knative.dev"  # v0.2-v0.7 channels, later Broker and Trigger
LEGACY_SOURCES: Final = "sources.eventing.knative.dev"  # v0.2-v0.7 sources
MESSAGING: Final = "messaging.knative.dev"
SOURCES: Final = "sources.knative.dev"
FLOWS: Final = "flows.knative.dev"
BINDINGS: Final = "bindings.knative.dev"

LATER_VERSIONS: Final = ("v1alpha1", "v1alpha2", "v1beta1", "v1beta2", "v1")


@dataclass(frozen=True)
class KindMapping:
    """How the Knative `kind` of `group` at `versions` converts.

    Attributes:
        target: the eventwire kind it becomes; None when it is refused.
        target_api_version: defaults to the eventwire kind's apiVersion.
        rules: the spec field rules, applied in order.
        passthrough: spec fields no rule handles are kept as they are (the kinds whose shape is
            eventwire's); otherwise they are an error naming the field.
        advice: for a refusal, why and what to use instead.
        notes: printed on every conversion of this kind (behaviour that changes).
    """

    group: str
    versions: tuple[str, ...]
    kind: str
    target: str | None
    rules: tuple[Rule, ...] = ()
    passthrough: bool = False
    advice: str = ""
    notes: tuple[str, ...] = field(default=())
    target_api_version: str | None = None

    @property
    def api_version(self) -> str:
        """The eventwire apiVersion a converted document gets."""
        if self.target is None:
            raise ValueError(f"{self.group} {self.kind} is refused, it has no apiVersion")
        return self.target_api_version or kind_named(self.target).api_version


def _refuse(group: str, versions: tuple[str, ...], kind: str, advice: str) -> KindMapping:
    return KindMapping(group, versions, kind, None, advice=advice)


def _serving_v1_kept(kind: str) -> KindMapping:
    return KindMapping(
        SERVING_GROUP,
        ("v1",),
        kind,
        kind,
        passthrough=True,
        target_api_version=f"{SERVING_GROUP}/v1",
        notes=(f"kept: a Knative Serving v1 {kind} runs on the Knative Serving eventwire installs",),
    )


_DERIVED = "eventwire derives the routing table from Subscriptions into status.subscribers"
_DERIVED_SUBSCRIBERS = (drop("subscribable", _DERIVED), drop("subscribers", _DERIVED))
_GENERATION = drop("generation", "metadata.generation is the generation")
_SERVICE_ACCOUNT = keep("serviceAccountName")
_NO_POD = "a PingSource runs in the shared adapter, not a pod of its own"
_NO_POD_OF_ITS_OWN = (drop("serviceAccountName", _NO_POD), drop("resources", _NO_POD))
_SOURCE_COMMON = (destination("sink"), keep("ceOverrides"), delivery())
_LEGACY_SINK = destination("sink", legacy=True)
_SINK_BINDING = "use a ContainerSource, which injects K_SINK and K_CE_OVERRIDES into its pod the same way"
_EVENT_TYPE = "eventwire has no event type registry; drop the EventType (it only describes events)"
_RUN_AS_CONTAINER = "run the source's receive adapter as a ContainerSource (its image, with K_SINK injected)"
_SUBSCRIPTION_RULES = (
    channel_reference(),
    destination("subscriber"),
    destination("reply"),
    delivery(),
)

DEPENDENCY_ANNOTATION: Final = "knative.dev/dependency"


def _trigger_dependency(fields: Fields) -> None:
    """A Trigger waits for the object its dependency annotation names (a JSON object reference,
    usually a source): a Knative kind there is rewritten by this same table, else the Trigger
    would wait for a kind nobody serves."""
    annotations = fields.metadata.get("annotations")
    if not isinstance(annotations, dict) or DEPENDENCY_ANNOTATION not in annotations:
        return
    field_ = f"metadata.annotations[{DEPENDENCY_ANNOTATION}]"
    try:
        ref: Any = json.loads(annotations[DEPENDENCY_ANNOTATION])
    except (TypeError, ValueError):
        ref = None
    if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("apiVersion"):
        raise fields.fail(f"{field_} must be a JSON object reference with apiVersion, kind and name")
    api_version, kind = str(ref["apiVersion"]), str(ref["kind"])
    group, version = group_of(api_version), api_version.rpartition("/")[2]
    if not is_knative_group(group):
        return
    mapping = mapping_for(group, version, kind)
    if mapping is None or mapping.target is None:
        advice = mapping.advice if mapping is not None else OTHER_ADVICE
        raise fields.fail(
            f"{field_} names a {kind} ({api_version}), which eventwire does not have: {advice}; "
            "or remove the annotation"
        )
    if (mapping.api_version, mapping.target) != (api_version, kind):
        annotations[DEPENDENCY_ANNOTATION] = json.dumps(
            {**ref, "apiVersion": mapping.api_version, "kind": mapping.target}, separators=(",", ":")
        )
        fields.notes.append(
            f"{field_} {kind} ({api_version}) became {mapping.target} ({mapping.api_version})"
        )


TRIGGER_DEPENDENCY: Final = custom(
    f"metadata.annotations[{DEPENDENCY_ANNOTATION}]",
    "the same annotation, the Knative kind it names converted as this table converts it (CronJobSource → "
    "PingSource …); a kind eventwire does not have is refused",
    _trigger_dependency,
)

MAPPINGS: Final[tuple[KindMapping, ...]] = (
    # --- Knative Eventing v0.2-v0.7: eventing.knative.dev/v1alpha1 channels ----------------------
    KindMapping(
        LEGACY_EVENTING,
        ("v1alpha1",),
        "ClusterChannelProvisioner",
        "ClusterChannelProvisioner",
        (legacy.CLUSTER_PROVISIONER, _GENERATION, drop("reconciles", "a provisioner reconciles Channels")),
    ),
    KindMapping(
        LEGACY_EVENTING,
        ("v1alpha1",),
        "Channel",
        "Channel",
        (
            legacy.CHANNEL_PROVISIONER,
            drop(
                "arguments", "provisioner arguments are the ClusterChannelProvisioner's settings in eventwire"
            ),
            _DERIVED_SUBSCRIBERS[0],
            _GENERATION,
        ),
    ),
    KindMapping(
        LEGACY_EVENTING,
        ("v1alpha1",),
        "Subscription",
        "Subscription",
        (
            channel_reference(),
            destination("subscriber", legacy=True),
            destination("reply", legacy=True),
            channel_reference(source="from"),
            renamed_destination("call", "subscriber"),
            renamed_destination("result", "reply"),
            _GENERATION,
        ),
    ),
    # --- Knative Eventing v0.2-v0.7: sources.eventing.knative.dev/v1alpha1 -----------------------
    KindMapping(
        LEGACY_SOURCES,
        ("v1alpha1",),
        "KubernetesEventSource",
        "ApiServerSource",
        (
            legacy.EVENTS_NAMESPACE,
            _SERVICE_ACCOUNT,
            constant("mode", "Resource", "the Event objects themselves"),
            constant("resources", [{"apiVersion": "v1", "kind": "Event"}], "Kubernetes Events"),
            _LEGACY_SINK,
        ),
        notes=(
            "KubernetesEventSource became an ApiServerSource on v1 Events in Resource mode: event types are "
            "dev.knative.apiserver.resource.add/update/delete instead of dev.knative.k8s.event",
        ),
    ),
    KindMapping(
        LEGACY_SOURCES,
        ("v1alpha1",),
        "CronJobSource",
        "PingSource",
        (
            keep("schedule"),
            legacy.CRON_DATA,
            *_NO_POD_OF_ITS_OWN,
            _LEGACY_SINK,
        ),
        notes=(
            "CronJobSource became a PingSource: the event type is dev.knative.sources.ping, not dev.knative.cronjob.event",
        ),
    ),
    KindMapping(
        LEGACY_SOURCES,
        ("v1alpha1",),
        "GitHubSource",
        "GitHubSource",
        (
            keep("ownerAndRepository"),
            keep("eventTypes"),
            keep("accessToken"),
            keep("secretToken"),
            keep("githubAPIURL"),
            keep("secure"),
            _SERVICE_ACCOUNT,
            _LEGACY_SINK,
        ),
    ),
    KindMapping(
        LEGACY_SOURCES,
        ("v1alpha1",),
        "GcpPubSubSource",
        "GcpPubSubSource",
        (
            rename("googleCloudProject", "project"),
            keep("topic"),
            rename("gcpCredsSecret", "secret"),
            constant("createSubscription", True, "the old controller created a subscription on the topic"),
            _SERVICE_ACCOUNT,
            _LEGACY_SINK,
        ),
        notes=(
            "GcpPubSubSource events are google.cloud.pubsub.topic.v1.messagePublished, not google.pubsub.topic.publish",
        ),
    ),
    KindMapping(
        LEGACY_SOURCES,
        ("v1alpha1",),
        "AwsSqsSource",
        "AwsSqsSource",
        (keep("queueUrl"), keep("awsCredsSecret"), _SERVICE_ACCOUNT, _LEGACY_SINK),
    ),
    KindMapping(
        LEGACY_SOURCES,
        ("v1alpha1",),
        "ContainerSource",
        "ContainerSource",
        (legacy.CONTAINER_SOURCE, _LEGACY_SINK),
    ),
    KindMapping(
        LEGACY_SOURCES,
        ("v1alpha1",),
        "ApiServerSource",
        "ApiServerSource",
        (legacy.APISERVER_RESOURCES, legacy.APISERVER_MODE, _SERVICE_ACCOUNT, _LEGACY_SINK),
    ),
    _refuse(LEGACY_SOURCES, ("v1alpha1",), "KafkaSource", _RUN_AS_CONTAINER),
    _refuse(LEGACY_SOURCES, ("v1alpha1",), "CamelSource", _RUN_AS_CONTAINER),
    # --- eventing.knative.dev from v0.5: Broker, Trigger, EventType --------------------------------
    KindMapping(
        LEGACY_EVENTING,
        ("v1alpha1",),
        "Broker",
        "Broker",
        (brokers.BROKER_CLASS, brokers.BROKER_CHANNEL_TEMPLATE, brokers.BROKER_CONFIG, delivery()),
    ),
    KindMapping(
        LEGACY_EVENTING,
        ("v1beta1", "v1"),
        "Broker",
        "Broker",
        (brokers.BROKER_CLASS, brokers.BROKER_CONFIG, delivery()),
        passthrough=True,
    ),
    KindMapping(
        LEGACY_EVENTING,
        ("v1alpha1",),
        "Trigger",
        "Trigger",
        (
            brokers.TRIGGER_BROKER,
            brokers.TRIGGER_FILTER,
            destination("subscriber"),
            delivery(),
            TRIGGER_DEPENDENCY,
        ),
    ),
    KindMapping(
        LEGACY_EVENTING,
        ("v1beta1", "v1"),
        "Trigger",
        "Trigger",
        (
            brokers.TRIGGER_BROKER,
            brokers.TRIGGER_FILTER,
            destination("subscriber"),
            delivery(),
            TRIGGER_DEPENDENCY,
        ),
        passthrough=True,
    ),
    _refuse(LEGACY_EVENTING, ("v1alpha1", "v1beta1", "v1beta2", "v1beta3", "v1"), "EventType", _EVENT_TYPE),
    # --- messaging.knative.dev (v0.8 on) ---------------------------------------------------------
    KindMapping(
        MESSAGING,
        ("v1alpha1", "v1beta1", "v1"),
        "Channel",
        "Channel",
        (
            legacy.CHANNEL_TEMPLATE,
            *_DERIVED_SUBSCRIBERS,
            delivery(),
        ),
        passthrough=True,
    ),
    KindMapping(
        MESSAGING,
        ("v1alpha1", "v1beta1", "v1"),
        "InMemoryChannel",
        "Channel",
        (
            *_DERIVED_SUBSCRIBERS,
            delivery(),
        ),
        passthrough=True,
        notes=("InMemoryChannel became Channel: the channel implementation is chosen by spec.provisioner",),
    ),
    _refuse(MESSAGING, ("v1alpha1", "v1beta1"), "KafkaChannel", legacy.provisioner_refusal("kafka")),
    _refuse(MESSAGING, ("v1alpha1",), "NatssChannel", legacy.provisioner_refusal("natss")),
    KindMapping(
        MESSAGING, ("v1alpha1", "v1beta1", "v1"), "Subscription", "Subscription", _SUBSCRIPTION_RULES, True
    ),
    _refuse(MESSAGING, ("v1alpha1",), "Sequence", f"eventwire has no Sequence; {SEQUENCE_INSTEAD}"),
    _refuse(MESSAGING, ("v1alpha1",), "Parallel", f"eventwire has no Parallel; {PARALLEL_INSTEAD}"),
    _refuse(
        FLOWS, ("v1alpha1", "v1beta1", "v1"), "Sequence", f"eventwire has no Sequence; {SEQUENCE_INSTEAD}"
    ),
    _refuse(
        FLOWS, ("v1alpha1", "v1beta1", "v1"), "Parallel", f"eventwire has no Parallel; {PARALLEL_INSTEAD}"
    ),
    # --- sources.knative.dev (v0.8 on) ----------------------------------------------------------
    KindMapping(
        SOURCES,
        LATER_VERSIONS,
        "ApiServerSource",
        "ApiServerSource",
        (legacy.APISERVER_RESOURCES, legacy.APISERVER_MODE, *_SOURCE_COMMON),
        passthrough=True,
    ),
    KindMapping(
        SOURCES,
        ("v1alpha1",),
        "PingSource",
        "PingSource",
        (
            legacy.CRON_DATA,
            *_NO_POD_OF_ITS_OWN,
            *_SOURCE_COMMON,
        ),
        passthrough=True,
    ),
    KindMapping(
        SOURCES,
        ("v1alpha2", "v1beta1", "v1beta2", "v1"),
        "PingSource",
        "PingSource",
        (legacy.JSON_DATA, *_SOURCE_COMMON),
        passthrough=True,
    ),
    KindMapping(
        SOURCES,
        LATER_VERSIONS,
        "ContainerSource",
        "ContainerSource",
        (legacy.CONTAINER_SOURCE, *_SOURCE_COMMON),  # v1alpha1 still had the flat shape
        passthrough=True,
    ),
    KindMapping(SOURCES, ("v1alpha1",), "GitHubSource", "GitHubSource", _SOURCE_COMMON, passthrough=True),
    KindMapping(SOURCES, ("v1alpha1",), "AwsSqsSource", "AwsSqsSource", _SOURCE_COMMON, passthrough=True),
    _refuse(SOURCES, LATER_VERSIONS, "SinkBinding", f"eventwire has no SinkBinding; {_SINK_BINDING}"),
    _refuse(BINDINGS, ("v1alpha1",), "SinkBinding", f"eventwire has no SinkBinding; {_SINK_BINDING}"),
    _refuse(BINDINGS, ("v1alpha1",), "GitHubBinding", "eventwire has no GitHubBinding; use a GitHubSource"),
    # --- serving.knative.dev: eventwire installs Knative Serving, so Services stay ---------------
    *(_serving_v1_kept(kind) for kind in ("Service", "Route", "Configuration")),
    KindMapping(
        SERVING_GROUP,
        ("v1beta1",),
        "Service",
        "Service",
        passthrough=True,
        target_api_version=f"{SERVING_GROUP}/v1",
        notes=("serving.knative.dev/v1beta1 Service became serving.knative.dev/v1 (same shape)",),
    ),
    KindMapping(
        SERVING_GROUP,
        ("v1alpha1",),
        "Service",
        "Service",
        SERVICE_V1ALPHA1,
        target_api_version=f"{SERVING_GROUP}/v1",
    ),
)

# Advice for a Knative kind with no mapping, by group.
GROUP_ADVICE: Final[dict[str, str]] = {
    LEGACY_SOURCES: _RUN_AS_CONTAINER,
    SOURCES: _RUN_AS_CONTAINER,
    MESSAGING: "use a Channel (messaging.eventwire.dev/v1) on a jetstream or redis ClusterChannelProvisioner",
    SERVING_GROUP: "write it as a serving.knative.dev/v1 resource; eventwire installs Knative Serving",
}
OTHER_ADVICE: Final = (
    "eventwire converts the Knative kinds listed in docs/knative-conversion.md; "
    "use a Channel, a Subscription or one of eventwire's sources instead"
)

_BY_GROUP_KIND: Final = {(m.group, m.kind, v): m for m in MAPPINGS for v in m.versions}


def mapping_for(group: str, version: str, kind: str) -> KindMapping | None:
    """The mapping for one Knative group, version and kind, or None when there is none."""
    return _BY_GROUP_KIND.get((group, kind, version))


def versions_of(group: str, kind: str) -> list[str]:
    """The versions of `group` `kind` the table knows (empty when it knows none)."""
    return [v for (g, k, v) in _BY_GROUP_KIND if (g, k) == (group, kind)]
