"""Objects for controller tests: eventwire resources with uid/generation as the API server sets
them, and the Kubernetes objects they reference. `make_*(name, namespace, **overrides)`."""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Mapping
from typing import Any

from tests.api.factories import make

MESSAGING = "messaging.eventwire.dev/v1"
SOURCES = "sources.eventwire.dev/v1"


def served(obj: dict[str, Any], generation: int = 1, uid: str | None = None) -> dict[str, Any]:
    """`obj` as the API server returns it: with uid and generation."""
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("uid", uid or str(uuid.uuid5(uuid.NAMESPACE_URL, obj["metadata"]["name"])))
    obj["metadata"].setdefault("generation", generation)
    return obj


def make_provisioner(name: str = "default", **spec: Any) -> dict[str, Any]:
    return make("ClusterChannelProvisioner", name, spec={"type": "in-memory", **spec})


def make_channel(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return make("Channel", name, namespace, spec=dict(spec))


def make_subscription(name: str, namespace: str, channel: str, **spec: Any) -> dict[str, Any]:
    return make(
        "Subscription",
        name,
        namespace,
        spec={"channel": {"apiVersion": MESSAGING, "kind": "Channel", "name": channel}, **spec},
    )


def make_source(kind: str, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """A valid source of `kind` (tests/api/factories' defaults) with `spec` fields replaced."""
    source = make(kind, name, namespace)
    source["spec"].update(copy.deepcopy(spec))
    return source


def make_service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": 80}]},
    }


def make_secret(name: str, namespace: str, **data: bytes) -> dict[str, Any]:
    """A Secret with `data` base64-encoded, as the API server stores it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


def service_ref(name: str) -> dict[str, Any]:
    return {"ref": {"apiVersion": "v1", "kind": "Service", "name": name}}


def condition(obj: dict[str, Any] | None, type_: str = "Ready") -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def env_of(deployment: dict[str, Any], container: int = 0) -> dict[str, Any]:
    """A container's env as {name: value or valueFrom}."""
    env = deployment["spec"]["template"]["spec"]["containers"][container].get("env") or []
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in env}


def apply(kube: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """Create `obj` in the fake, validating eventwire resources against their CRD first."""
    from eventwire.api import kind_for, validate_resource

    if kind_for(obj["apiVersion"], obj["kind"]) is not None:
        validate_resource(obj)
    created: dict[str, Any] = kube.create(obj)
    return created


def requests_outside_rbac(
    requests: list[tuple[str, str]], rules: tuple[Mapping[str, Any], ...] | None = None
) -> list[str]:
    """The API requests (method, path?query) that `rules` (default: the controller's ClusterRole)
    would forbid."""
    from urllib.parse import parse_qs, urlsplit

    from eventwire.rbac import CONTROLLER_RULES, allows

    denied = []
    for method, raw in requests:
        url = urlsplit(raw)
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) > 2:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) > 3:
            group, rest = parts[1], parts[3:]
        else:
            continue  # /version and friends: non-resource URLs every account may read
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            rest = rest[2:]
        if not rest:
            continue  # discovery of a group version
        resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
        named = len(rest) > 1
        if method == "GET":
            verb = "watch" if parse_qs(url.query).get("watch") == ["true"] else ("get" if named else "list")
        else:
            verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[method]
        name = rest[1] if named else None
        if not allows(group, resource, verb, rules or CONTROLLER_RULES, name):
            denied.append(f"{verb} {group or 'core'}/{resource} ({method} {raw})")
    return denied


EVENTING = "eventing.eventwire.dev/v1"


def make_broker(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return make("Broker", name, namespace, spec=dict(spec))


def make_trigger(name: str, namespace: str, broker: str, **spec: Any) -> dict[str, Any]:
    """A Trigger of `broker`; `subscriber` defaults to a plain URI."""
    return make(
        "Trigger",
        name,
        namespace,
        spec={"broker": broker, "subscriber": {"uri": f"http://{name}.example/"}, **spec},
    )
