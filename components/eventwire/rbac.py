"""The controller's RBAC, defined once as plain data: the Pulumi install renders its ClusterRole
from `CONTROLLER_RULES` and the controller's tests check every request it makes against them.

No Pulumi import here: this module is data and a pure builder.

Why each rule exists:
- our kinds: kopf lists, watches and patches them (progress annotations, finalizers) and the
  reconcilers write their status subresource;
- Brokers and Triggers (eventing group): read, and patch (kopf's annotations) and their status
  (conditions, address, subscriberUri) - no update and no finalizers until their reconcilers
  need them;
- Services, ServiceAccounts, Deployments: children of sources (webhook Service, adapter account,
  adapter Deployment); Services are also watched as destinations and dispatcher Services;
- Roles/ClusterRoles and bindings: ApiServerSource RBAC. `escalate` and `bind` let the
  controller grant get/list/watch on the resources a source watches without holding every
  right itself;
- Secrets (get): a GitHubSource's access token and webhook secret;
- Namespaces (read): an ApiServerSource's namespaceSelector is resolved to namespace names;
- Events: failures reported on the objects (kopf posts core/v1 Events);
- CustomResourceDefinitions: kopf's resource discovery watches them;
- Knative Services: destinations (their status.address.url).
Objects of other kinds with status.address.url need a get rule added by the installer (the
label `AGGREGATE_LABEL` lets an aggregated ClusterRole collect such rules).

`peering_rules(name)` are granted only where the controller runs with kopf's peering (several
replicas, one active; its EVENTWIRE_PEERING names the ClusterKopfPeering): kopf lists and watches
the peering objects and patches its keep-alive into the status of its own one (by name).

`WEBHOOK_ROUTE_RULES` are granted only where GitHub webhooks are routed through an Istio gateway
(the controller's EVENTWIRE_WEBHOOK_DOMAIN is set): each GitHubSource gets a VirtualService,
read, created and patched back on drift (the garbage collector deletes it with its source, so no
delete, list or watch).

`aggregated_user_roles` builds the ClusterRoles that add our kinds to Kubernetes' built-in
edit/admin and view roles (for namespace users, not the controller).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from eventwire.api.kinds import EVENTING_GROUP, KINDS, MESSAGING_GROUP, SOURCES_GROUP

AGGREGATE_LABEL: Final = "eventwire.dev/aggregate-to-controller"

# The plurals of our kinds, from the API's one list of kinds.
MESSAGING_RESOURCES: Final = tuple(kind.plural for kind in KINDS if kind.group == MESSAGING_GROUP)
SOURCE_RESOURCES: Final = tuple(sorted(kind.plural for kind in KINDS if kind.group == SOURCES_GROUP))
EVENTING_RESOURCES: Final = tuple(kind.plural for kind in KINDS if kind.group == EVENTING_GROUP)
READ: Final = ("get", "list", "watch")
WRITE: Final = ("create", "update", "patch", "delete")


def _rule(
    groups: tuple[str, ...], resources: tuple[str, ...], verbs: tuple[str, ...]
) -> dict[str, list[str]]:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def _own_kinds(group: str, plurals: tuple[str, ...]) -> list[dict[str, list[str]]]:
    return [
        _rule((group,), plurals, (*READ, "update", "patch")),
        _rule((group,), tuple(f"{p}/status" for p in plurals), ("get", "update", "patch")),
        _rule((group,), tuple(f"{p}/finalizers" for p in plurals), ("update",)),
    ]


CONTROLLER_RULES: Final[tuple[dict[str, list[str]], ...]] = (
    *_own_kinds(MESSAGING_GROUP, MESSAGING_RESOURCES),
    *_own_kinds(SOURCES_GROUP, SOURCE_RESOURCES),
    _rule((EVENTING_GROUP,), EVENTING_RESOURCES, (*READ, "patch")),
    _rule((EVENTING_GROUP,), tuple(f"{p}/status" for p in EVENTING_RESOURCES), ("get", "patch")),
    _rule(("",), ("services", "serviceaccounts"), (*READ, *WRITE)),
    _rule(("",), ("secrets",), ("get",)),
    _rule(("",), ("namespaces",), READ),
    _rule(("",), ("events",), ("create", "patch")),
    _rule(("events.k8s.io",), ("events",), ("create", "patch")),
    _rule(("apps",), ("deployments",), (*READ, *WRITE)),
    _rule(
        ("rbac.authorization.k8s.io",),
        ("roles", "rolebindings", "clusterroles", "clusterrolebindings"),
        (*READ, *WRITE),
    ),
    _rule(("rbac.authorization.k8s.io",), ("roles", "clusterroles"), ("escalate", "bind")),
    _rule(("apiextensions.k8s.io",), ("customresourcedefinitions",), READ),
    _rule(("serving.knative.dev",), ("services",), READ),
)


WEBHOOK_ROUTE_RULES: Final[tuple[dict[str, list[str]], ...]] = (
    _rule(("networking.istio.io",), ("virtualservices",), ("get", "create", "update", "patch")),
)


KOPF_GROUP: Final = "kopf.dev"
KOPF_PEERINGS: Final = "clusterkopfpeerings"


def peering_rules(name: str) -> tuple[dict[str, list[str]], ...]:
    """The rights of kopf's cluster-wide peering through the ClusterKopfPeering `name`."""
    return (
        _rule((KOPF_GROUP,), (KOPF_PEERINGS,), ("list", "watch")),
        {**_rule((KOPF_GROUP,), (KOPF_PEERINGS,), ("patch",)), "resourceNames": [name]},
    )


def controller_cluster_role(
    name: str,
    labels: Mapping[str, str] | None = None,
    rules: tuple[Mapping[str, Any], ...] = CONTROLLER_RULES,
) -> dict[str, Any]:
    """A ClusterRole manifest with `rules` (default: the controller's CONTROLLER_RULES)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "rules": [{key: list(values) for key, values in rule.items()} for rule in rules],
    }


def allows(
    group: str,
    resource: str,
    verb: str,
    rules: tuple[Mapping[str, Any], ...] = CONTROLLER_RULES,
    name: str | None = None,
) -> bool:
    """Whether `rules` grant `verb` on `resource` (with "/subresource") in `group`; a rule with
    resourceNames grants it only for a request naming one of them (`name`)."""
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and ("resourceNames" not in rule or name in rule["resourceNames"])
        for rule in rules
    )


def aggregated_user_roles(
    prefix: str, group: str, plurals: Sequence[str], view_extra: Sequence[str] = ()
) -> list[tuple[str, dict[str, Any]]]:
    """ClusterRoles `eventwire-<prefix>-edit` and `eventwire-<prefix>-view` that join the built-in
    edit/admin and view roles through aggregation labels: edit grants read and write on `plurals`
    in `group`; view grants read on them, their status and the `view_extra` resources. Returned as
    (`<prefix>-edit`, manifest), (`<prefix>-view`, manifest)."""
    base = {"app.kubernetes.io/part-of": "eventwire"}
    edit = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": f"eventwire-{prefix}-edit",
            "labels": {
                **base,
                "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                "rbac.authorization.k8s.io/aggregate-to-admin": "true",
            },
        },
        "rules": [_rule((group,), tuple(plurals), (*READ, *WRITE))],
    }
    view = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": f"eventwire-{prefix}-view",
            "labels": {**base, "rbac.authorization.k8s.io/aggregate-to-view": "true"},
        },
        "rules": [_rule((group,), (*plurals, *(f"{p}/status" for p in plurals), *view_extra), READ)],
    }
    return [(f"{prefix}-edit", edit), (f"{prefix}-view", view)]
