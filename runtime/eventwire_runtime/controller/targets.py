"""Late binding: re-reconcile the objects that point at a destination when the destination moves.

Each Subscription and source is indexed by the targets its Destinations reference. When a
Kubernetes Service, a Channel or a Knative Service changes (appears, gets an address, goes), the
objects that reference it are reconciled at once; nothing polls. Targets of other kinds (any
object with status.address.url) are covered by the resync timer of objects that are not Ready.
Owned adapter Deployments re-run their source's reconcile, so Deployed follows availability.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from eventwire_runtime.api import MESSAGING_API_VERSION, MESSAGING_GROUP, SOURCES_API_VERSION, SOURCES_GROUP
from eventwire_runtime.controller.channel import handlers as channels
from eventwire_runtime.controller.context import Body, Context, ctx_of
from eventwire_runtime.controller.destinations import TargetKey, ref_target
from eventwire_runtime.controller.sources import handlers as sources
from eventwire_runtime.controller.sources import names
from eventwire_runtime.controller.subscription import handlers as subscriptions

Reconcile = Callable[[Context, Body], Awaitable[Any]]


def referenced_targets(spec: Mapping[str, Any], namespace: str) -> set[TargetKey]:
    """Every ref among subscriber, reply, sink and the dead-letter sink of a spec."""
    candidates = [
        spec.get("subscriber"),
        spec.get("reply"),
        spec.get("sink"),
        (spec.get("delivery") or {}).get("deadLetterSink"),
    ]
    return {ref_target(dest["ref"], namespace) for dest in candidates if dest and dest.get("ref")}


def _index(kind: str) -> Callable[..., dict[TargetKey, tuple[str, str, str]]]:
    """A kopf index function: target -> (kind, namespace, name) of the referring object."""

    def index(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[TargetKey, tuple[str, str, str]]:
        return dict.fromkeys(referenced_targets(dict(spec), namespace), (kind, namespace, name))

    return index


DEPENDENTS: dict[str, tuple[str, str, Reconcile]] = {
    "Subscription": (MESSAGING_GROUP, "subscriptions", subscriptions.reconcile),
    "Channel": (MESSAGING_GROUP, "channels", channels.reconcile),  # its dead-letter sink
    **{kind: (SOURCES_GROUP, plural, sources.reconcile) for kind, plural in sources.SOURCE_KINDS.items()},
}


async def reconcile_dependents(ctx: Context, key: TargetKey, indexes: Mapping[str, Any]) -> None:
    for index_name, index in indexes.items():
        if not index_name.endswith("_targets"):
            continue
        for kind, namespace, name in list(index.get(key, [])):
            group = DEPENDENTS[kind][0]
            api_version = MESSAGING_API_VERSION if group == MESSAGING_GROUP else SOURCES_API_VERSION
            obj = await ctx.client.get(api_version, kind, name, namespace)
            if obj is not None:
                await DEPENDENTS[kind][2](ctx, obj)


async def target_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    meta = body["metadata"]
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    key = TargetKey(group, str(body.get("kind", "")), str(meta.get("namespace", "")), str(meta["name"]))
    await reconcile_dependents(ctx_of(memo), key, kwargs)


_KIND_BY_LABEL = {kind.lower(): kind for kind in sources.SOURCE_KINDS}


async def adapter_deployment_event(labels: kopf.Labels, namespace: str | None, memo: Any, **_: Any) -> None:
    kind = _KIND_BY_LABEL.get(str(labels.get(names.SOURCE_KIND_LABEL, "")))
    name = labels.get(names.SOURCE_NAME_LABEL)
    if kind is None or not name:
        return
    ctx = ctx_of(memo)
    source = await ctx.client.get(SOURCES_API_VERSION, kind, str(name), namespace)
    if source is not None:
        await sources.reconcile(ctx, source)


def register() -> None:
    for kind, (group, plural, _) in DEPENDENTS.items():
        kopf.index(group, plural, id=f"{kind.lower()}_targets")(_index(kind))
    kopf.on.event("", "v1", "services", id="service_target")(target_event)
    kopf.on.event(MESSAGING_GROUP, "channels", id="channel_target")(target_event)
    kopf.on.event("serving.knative.dev", "v1", "services", id="knative_service_target")(target_event)
    kopf.on.event(
        "apps", "v1", "deployments", id="adapter_deployment", labels={names.SOURCE_KIND_LABEL: kopf.PRESENT}
    )(adapter_deployment_event)
