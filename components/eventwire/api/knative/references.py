"""References and destinations: what a Knative sink, subscriber, reply or channel reference
becomes, and which referenced kinds eventwire refuses.

`REFERENCE_TARGETS` is the one table of "kinds we have": a reference to a Knative kind listed
there is rewritten to the eventwire (or Knative Serving v1) kind; a reference to any other
`*.knative.dev` kind is refused with the advice in `REFERENCE_REFUSALS` (or a general one),
because it would only fail later, at resolution. When eventwire gains a kind (a Sequence), add
its Knative counterpart to `REFERENCE_TARGETS` and drop it from `REFERENCE_REFUSALS`.
References to other groups (core Services, any Addressable) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from eventwire.api.kinds import EVENTING_GROUP, MESSAGING_GROUP, VERSION
from eventwire.api.knative.rules import Fields, Rule

KNATIVE_DOMAIN: Final = "knative.dev"
SERVING_GROUP: Final = "serving.knative.dev"


def is_knative_group(group: str) -> bool:
    """True for knative.dev and every *.knative.dev API group."""
    return group == KNATIVE_DOMAIN or group.endswith("." + KNATIVE_DOMAIN)


def group_of(api_version: str) -> str:
    """The API group of an apiVersion ("" for the core group's "v1")."""
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class Target:
    """The apiVersion and kind a reference is rewritten to."""

    api_version: str
    kind: str


CHANNEL: Final = Target(f"{MESSAGING_GROUP}/{VERSION}", "Channel")
KNATIVE_SERVICE: Final = Target(f"{SERVING_GROUP}/v1", "Service")

# (Knative group, kind) -> what a reference to it becomes: the kinds eventwire has.
REFERENCE_TARGETS: Final[dict[tuple[str, str], Target]] = {
    ("eventing.knative.dev", "Channel"): CHANNEL,  # v0.2-v0.7 channels
    ("messaging.knative.dev", "Channel"): CHANNEL,
    ("messaging.knative.dev", "InMemoryChannel"): CHANNEL,
    # Channels of backends eventwire does not have: the documents themselves are refused with
    # advice to create a Channel of the same name on a jetstream or redis provisioner.
    ("messaging.knative.dev", "KafkaChannel"): CHANNEL,
    ("messaging.knative.dev", "NatssChannel"): CHANNEL,
    ("eventing.knative.dev", "Broker"): Target(f"{EVENTING_GROUP}/{VERSION}", "Broker"),
    # serving.knative.dev v1alpha1 and v1beta1 are no longer served; v1 has the same address.
    (SERVING_GROUP, "Service"): KNATIVE_SERVICE,
}

# Sequence and Parallel lived in messaging.knative.dev (v0.7-v0.9), then flows.knative.dev.
_FLOW_GROUPS: Final = ("messaging.knative.dev", "flows.knative.dev")
PARALLEL_INSTEAD: Final = "use a Broker with one Trigger per branch, whose filters select the branch's events"
SEQUENCE_INSTEAD: Final = "chain Channels with Subscriptions whose spec.reply points at the next Channel"
# (Knative group, kind) -> why a reference to it is refused and what to point at instead.
REFERENCE_REFUSALS: Final[dict[tuple[str, str], str]] = {
    **{(group, "Sequence"): f"eventwire has no Sequence; {SEQUENCE_INSTEAD}" for group in _FLOW_GROUPS},
    **{(group, "Parallel"): f"eventwire has no Parallel; {PARALLEL_INSTEAD}" for group in _FLOW_GROUPS},
}
OTHER_KNATIVE_REFERENCE: Final = (
    "eventwire resolves Channels, Brokers, Kubernetes Services, Knative Services and objects with "
    "status.address.url; point it at one of those or set uri"
)
_REFERENCE_FIELDS: Final = ("apiVersion", "kind", "name", "namespace")


def convert_reference(ref: Any, field: str, fields: Fields) -> dict[str, Any]:
    """The eventwire form of a reference (a KReference or a corev1 ObjectReference).

    Raises:
        ConversionError: the reference is not an object, or names a Knative kind eventwire does
            not have (the message says what to use instead).
    """
    if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
        raise fields.fail(f"{field} must be an object reference with kind and name")
    api_version = str(ref.get("apiVersion", ""))
    kind = str(ref["kind"])
    group = group_of(api_version)
    out = {key: ref[key] for key in _REFERENCE_FIELDS if key in ref}
    target = REFERENCE_TARGETS.get((group, kind))
    if target is not None:
        if (target.api_version, target.kind) != (api_version, kind):
            fields.notes.append(f"{field} {kind} ({api_version}) became {target.kind} ({target.api_version})")
        out["apiVersion"], out["kind"] = target.api_version, target.kind
        return out
    if is_knative_group(group):
        advice = REFERENCE_REFUSALS.get((group, kind), OTHER_KNATIVE_REFERENCE)
        raise fields.fail(
            f"{field} points at a {kind} ({api_version}), which eventwire does not have: {advice}"
        )
    return out


def convert_destination(value: Any, field: str, fields: Fields) -> dict[str, Any]:
    """The eventwire Destination for any generation's Knative destination.

    Accepted shapes: v1 `{ref, uri}`; a bare object reference (the v0.2-v0.7 `sink`); the
    v1alpha1 flat form with the reference's fields inline beside `uri`; a subscriber's
    `dnsName` (→ `uri: http://<dnsName>/`); a reply's `channel` (→ `ref`); the pre-v0.2
    Subscription's `call.targetRef` and `result.target` (→ `ref`).
    """
    if not isinstance(value, dict):
        raise fields.fail(f"{field} must be an object")
    rest = dict(value)
    ref: Any = None
    # `channel` (v0.2-v0.7 reply), `targetRef` and `target` (pre-v0.2 call and result).
    aliases = [key for key in ("ref", "channel", "targetRef", "target") if key in rest]
    if len(aliases) > 1:
        raise fields.fail(f"{field} sets {' and '.join(aliases)}; keep one reference")
    if aliases:
        ref = rest.pop(aliases[0])
        if aliases[0] != "ref":
            fields.notes.append(f"{field}.{aliases[0]} became {field}.ref")
    elif "kind" in rest or "name" in rest:
        ref = {
            key: rest.pop(key)
            for key in (*_REFERENCE_FIELDS, "uid", "resourceVersion", "fieldPath")
            if key in rest
        }
        fields.notes.append(f"{field} (a bare object reference) became {field}.ref")
    uri = rest.pop("uri", None)
    dns_name = rest.pop("dnsName", None)
    if dns_name is not None:
        if ref is not None or uri is not None:
            raise fields.fail(f"{field} sets dnsName together with ref or uri; keep one")
        uri = f"http://{dns_name}/"
        fields.notes.append(f"{field}.dnsName became {field}.uri {uri}")
    out: dict[str, Any] = {}
    if ref is not None:
        out["ref"] = convert_reference(ref, f"{field}.ref", fields)
    if uri is not None:
        out["uri"] = uri
    if not out:
        raise fields.fail(f"{field} has neither a reference nor a uri")
    out.update(rest)  # CACerts, audience
    return out


def destination(name: str, legacy: bool = False) -> Rule:
    """A rule for the destination spec.<name> (a sink, subscriber or reply).

    A legacy sink is required: eventwire's sources need one, where v0.2-v0.7 let it be unset.
    """

    def apply(fields: Fields) -> None:
        if name in fields.src:
            fields.out[name] = convert_destination(fields.src.pop(name), f"spec.{name}", fields)
        elif legacy and name == "sink":
            raise fields.fail(
                "has no spec.sink; eventwire sources deliver to a sink: set spec.sink "
                "(an object reference, or a Destination with ref or uri)"
            )

    if legacy:
        shape = {
            "sink": "an object reference",
            "subscriber": "`ref`, `dnsName` or `uri`",
            "reply": "`channel` (an object reference)",
        }[name]
        becomes = {
            "sink": "spec.sink.ref",
            "subscriber": "spec.subscriber.ref / spec.subscriber.uri (`http://<dnsName>/`)",
            "reply": "spec.reply.ref",
        }[name]
        return Rule(f"spec.{name}: {shape}", f"{becomes}; references as in the reference table", apply)
    return Rule(f"spec.{name}", f"spec.{name}; references as in the reference table", apply)


def renamed_destination(old: str, new: str) -> Rule:
    """A destination the pre-v0.2 Subscription called spec.<old> (`call`, `result`)."""

    def apply(fields: Fields) -> None:
        if old in fields.src:
            if new in fields.src or new in fields.out:
                raise fields.fail(f"sets both spec.{old} and spec.{new}; keep spec.{new}")
            fields.notes.append(f"spec.{old} (before v0.2) became spec.{new}")
            fields.out[new] = convert_destination(fields.src.pop(old), f"spec.{old}", fields)

    shape = {"call": "`targetRef` or `dnsName`", "result": "`target`"}.get(old, "a destination")
    return Rule(
        f"spec.{old}: {shape} (before v0.2)", f"spec.{new}; references as in the reference table", apply
    )


def delivery() -> Rule:
    """spec.delivery is the same; its deadLetterSink is a destination."""

    def apply(fields: Fields) -> None:
        spec = fields.src.pop("delivery", None)
        if spec is None:
            return
        if not isinstance(spec, dict):
            raise fields.fail("spec.delivery must be an object")
        spec = dict(spec)
        if "deadLetterSink" in spec:
            spec["deadLetterSink"] = convert_destination(
                spec["deadLetterSink"], "spec.delivery.deadLetterSink", fields
            )
        fields.out["delivery"] = spec

    return Rule("spec.delivery", "spec.delivery; deadLetterSink references as in the reference table", apply)


def channel_reference(source: str = "channel") -> Rule:
    """A Subscription's spec.channel (spec.from before v0.2): a reference to a channel kind."""

    def apply(fields: Fields) -> None:
        if source not in fields.src:
            return
        if source != "channel":
            if "channel" in fields.src or "channel" in fields.out:
                raise fields.fail(f"sets both spec.{source} and spec.channel; keep spec.channel")
            fields.notes.append(f"spec.{source} (before v0.2) became spec.channel")
        ref = convert_reference(fields.src.pop(source), f"spec.{source}", fields)
        if (ref.get("apiVersion"), ref.get("kind")) != (CHANNEL.api_version, CHANNEL.kind):
            raise fields.fail(
                f"spec.channel must reference a channel, not a {ref.get('kind')} ({ref.get('apiVersion')})"
            )
        fields.out["channel"] = ref

    shown = "spec.channel" if source == "channel" else f"spec.{source} (before v0.2)"
    return Rule(shown, "spec.channel: a Channel (messaging.eventwire.dev/v1) of the same name", apply)
