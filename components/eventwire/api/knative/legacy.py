"""Rules for the fields of Knative's older API generations that eventwire spells differently:
v0.2-v0.7 provisioners and channels, the flat ContainerSource, CronJobSource data,
KubernetesEventSource's namespace and the v1alpha1 ApiServerSource resources."""

from __future__ import annotations

import json
from typing import Any, Final

from eventwire.api.knative.rules import Fields, custom, when_set

# Knative's ClusterChannelProvisioner names -> the eventwire provisioner that replaces them.
PROVISIONERS: Final[dict[str, str]] = {"in-memory-channel": "in-memory", "in-memory": "in-memory"}
BACKEND_ADVICE: Final = (
    "create a ClusterChannelProvisioner (messaging.eventwire.dev/v1) with type: jetstream "
    "(spec.jetstream.url: nats://<host>:4222; optional credentialsSecret, streamReplicas, storage) "
    "or type: redis (spec.redis.url: redis://<host>:6379; optional passwordSecret, maxLen), "
    "and name it in spec.provisioner"
)
# Knative provisioners with no eventwire backend, and the note on what they were.
UNSUPPORTED_PROVISIONERS: Final[dict[str, str]] = {
    "kafka": "Apache Kafka",
    "natss": "NATS Streaming",
    "gcp-pubsub": "Google Cloud Pub/Sub",
}


def provisioner_refusal(name: str) -> str:
    backend = UNSUPPORTED_PROVISIONERS.get(name)
    what = f"the {name} provisioner ({backend})" if backend else f"the provisioner {name!r}"
    return f"eventwire has no backend for {what}; {BACKEND_ADVICE}"


def _provisioner_name(fields: Fields, name: str) -> str:
    if name not in PROVISIONERS:
        raise fields.fail(provisioner_refusal(name))
    new = PROVISIONERS[name]
    if new != name:
        fields.notes.append(f"provisioner {name} became eventwire's {new}")
    return new


def _cluster_provisioner(fields: Fields) -> None:
    fields.out["type"] = "in-memory"
    fields.metadata["name"] = _provisioner_name(fields, str(fields.metadata.get("name", "")))
    fields.metadata.pop("namespace", None)  # cluster-scoped


CLUSTER_PROVISIONER: Final = custom(
    "metadata.name",
    "metadata.name `in-memory` and spec.type `in-memory` for `in-memory-channel`; "
    "kafka, natss, gcp-pubsub and others are refused with the jetstream/redis settings to use",
    _cluster_provisioner,
)


def provisioner_of(fields: Fields, ref: Any, field: str) -> str:
    """The eventwire provisioner for a reference to a Knative ClusterChannelProvisioner at `field`."""
    if not isinstance(ref, dict) or not ref.get("name"):
        raise fields.fail(f"{field} must be a reference to a ClusterChannelProvisioner")
    if ref.get("kind", "ClusterChannelProvisioner") != "ClusterChannelProvisioner":
        raise fields.fail(f"{field} must reference a ClusterChannelProvisioner, not {ref.get('kind')}")
    return _provisioner_name(fields, str(ref["name"]))


def _channel_provisioner(fields: Fields, ref: Any) -> None:
    fields.out["provisioner"] = provisioner_of(fields, ref, "spec.provisioner")


CHANNEL_PROVISIONER: Final = when_set(
    "provisioner",
    "spec.provisioner: a ClusterChannelProvisioner reference",
    "spec.provisioner: its name (`in-memory-channel` → `in-memory`); unset (`spec: {}`) → the cluster default",
    _channel_provisioner,
)

# Channel kinds a v0.8+ channelTemplate may name, and the provisioner each stood for.
_TEMPLATE_PROVISIONERS: Final = {
    "InMemoryChannel": "in-memory",
    "KafkaChannel": "kafka",
    "NatssChannel": "natss",
}


def check_channel_template(fields: Fields, template: Any, field: str) -> None:
    """Accept (and note) a channel template of InMemoryChannel; refuse any other with advice."""
    kind = str(template.get("kind", "")) if isinstance(template, dict) else ""
    provisioner = _TEMPLATE_PROVISIONERS.get(kind)
    if provisioner is None:
        raise fields.fail(f"{field} names {kind or 'no kind'}; {BACKEND_ADVICE}")
    if provisioner != "in-memory":
        raise fields.fail(f"{field} is a {kind}: {provisioner_refusal(provisioner)}")
    fields.notes.append(
        f"{field} (InMemoryChannel) dropped: eventwire uses the cluster's default "
        "ClusterChannelProvisioner unless spec.provisioner names one"
    )


def _channel_template(fields: Fields, template: Any) -> None:
    check_channel_template(fields, template, "spec.channelTemplate")


CHANNEL_TEMPLATE: Final = when_set(
    "channelTemplate",
    "spec.channelTemplate",
    "dropped for InMemoryChannel (the cluster's default provisioner, or spec.provisioner); "
    "KafkaChannel, NatssChannel and others are refused with the jetstream/redis settings to use",
    _channel_template,
)

_FLAT_CONTAINER: Final = ("image", "args", "env")


def _container_source(fields: Fields) -> None:
    flat = {key: fields.src.pop(key) for key in _FLAT_CONTAINER if key in fields.src}
    account = fields.src.pop("serviceAccountName", None)
    template = fields.src.pop("template", None)
    if template is not None:
        if flat:
            raise fields.fail(f"sets both spec.template and the flat {', '.join(flat)}; keep the template")
        template = json.loads(json.dumps(template))
        if account is not None:
            template.setdefault("spec", {}).setdefault("serviceAccountName", account)
        fields.out["template"] = template
        return
    if "image" not in flat:
        raise fields.fail("needs a pod: set spec.template (a pod template) or the flat spec.image")
    # Knative's ContainerSource named the container it built from the flat fields "source".
    pod: dict[str, Any] = {"containers": [{"name": "source", **flat}]}
    if account is not None:
        pod["serviceAccountName"] = account
    fields.out["template"] = {"spec": pod}
    fields.notes.append(f"spec.{', spec.'.join(flat)} became spec.template.spec.containers[0]")


CONTAINER_SOURCE: Final = custom(
    "spec.image, spec.args, spec.env, spec.serviceAccountName (flat shape) or spec.template",
    "spec.template (the flat fields become spec.template.spec.containers[0] named `source`, "
    "serviceAccountName spec.template.spec.serviceAccountName)",
    _container_source,
)


def _cron_data(fields: Fields, data: Any) -> None:
    try:
        is_object = isinstance(json.loads(data), dict)
    except (TypeError, ValueError):
        is_object = False
    if not is_object:
        # Knative's cron adapter sent text that is not a JSON object as {"body": <text>}.
        data = json.dumps({"body": str(data)})
        fields.notes.append('spec.data is not a JSON object: wrapped as {"body": ...} as Knative sent it')
    fields.out["data"] = data
    fields.out["contentType"] = "application/json"


CRON_DATA: Final = when_set(
    "data",
    "spec.data",
    'spec.data with spec.contentType `application/json`; text that is not a JSON object becomes `{"body": <text>}`, '
    "as Knative's adapter sent it",
    _cron_data,
)


def _json_data(fields: Fields) -> None:
    if "jsonData" not in fields.src:
        return
    fields.out["data"] = fields.src.pop("jsonData")
    # Knative sent jsonData as application/json; eventwire's default for data is text/plain.
    fields.out.setdefault("contentType", fields.src.pop("contentType", "application/json"))
    fields.notes.append("spec.jsonData became spec.data with spec.contentType application/json")


JSON_DATA: Final = custom("spec.jsonData", "spec.data with spec.contentType `application/json`", _json_data)


def _events_namespace(fields: Fields) -> None:
    namespace = fields.src.pop("namespace", None)
    if not namespace:
        return
    own = fields.metadata.get("namespace")
    if own is None:
        fields.metadata["namespace"] = namespace
        fields.notes.append(
            f"metadata.namespace set to spec.namespace {namespace}: the source watches its own namespace, "
            "and a sink reference without a namespace now resolves there"
        )
    elif own != namespace:
        fields.out["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
        fields.notes.append(
            f"spec.namespace {namespace} became a namespaceSelector on kubernetes.io/metadata.name"
        )


EVENTS_NAMESPACE: Final = custom(
    "spec.namespace",
    "metadata.namespace when that is unset; a different namespace becomes spec.namespaceSelector "
    "`{matchLabels: {kubernetes.io/metadata.name: <namespace>}}`",
    _events_namespace,
)


def _apiserver_mode(fields: Fields, mode: Any) -> None:
    if mode == "Ref":
        fields.notes.append("spec.mode Ref is called Reference in eventwire (as in Knative v1)")
        mode = "Reference"
    fields.out["mode"] = mode


APISERVER_MODE: Final = when_set("mode", "spec.mode", "spec.mode (`Ref` → `Reference`)", _apiserver_mode)


def _apiserver_resource(fields: Fields, index: int, resource: Any, selector: Any) -> dict[str, Any]:
    if not isinstance(resource, dict):
        raise fields.fail(f"spec.resources[{index}] must be an object")
    out = {key: resource[key] for key in ("apiVersion", "kind", "selector") if key in resource}
    if resource.get("labelSelector"):
        out["selector"] = resource["labelSelector"]
    if selector is not None:
        out.setdefault("selector", selector)
    owner = resource.get("controllerSelector") or {}
    if not isinstance(owner, dict):
        raise fields.fail(f"spec.resources[{index}].controllerSelector must be an object")
    if owner.get("kind"):
        # v1alpha1 filtered by the controlling owner's kind; eventwire (like Knative v1) by spec.owner.
        wanted = {key: owner[key] for key in ("apiVersion", "kind") if key in owner}
        if fields.out.setdefault("owner", wanted) != wanted:
            raise fields.fail(
                "spec.resources name different controllerSelectors; eventwire has one spec.owner"
            )
        fields.notes.append(f"spec.resources[{index}].controllerSelector became spec.owner")
    if resource.get("controller"):
        fields.notes.append(
            f"spec.resources[{index}].controller dropped: events reference the object itself; filter by owner "
            "with spec.owner"
        )
    return out


def _apiserver_resources(fields: Fields) -> None:
    resources = fields.src.pop("resources", None)
    selector = fields.src.pop("selector", None)  # v1alpha1: one label selector for every resource
    if resources is None:
        return
    if not isinstance(resources, list):
        raise fields.fail("spec.resources must be a list")
    fields.out["resources"] = [_apiserver_resource(fields, i, r, selector) for i, r in enumerate(resources)]


APISERVER_RESOURCES: Final = custom(
    "spec.resources, spec.selector (v1alpha1)",
    "spec.resources (apiVersion, kind, selector); v1alpha1 resources[].labelSelector and spec.selector → "
    "resources[].selector, resources[].controllerSelector → spec.owner, resources[].controller dropped",
    _apiserver_resources,
)
