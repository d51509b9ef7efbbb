"""kopf glue for every source kind: one reconcile that resolves the sink, applies the children
(ServiceAccount, RBAC, adapter Deployment, webhook Service and VirtualService), manages the GitHub webhook and
writes the status; finalizers clean up what owner references cannot (cluster-scoped RBAC, the
GitHub webhook).

It runs on the source's own changes (kopf's change handlers), and through the kind's work queue
when its sink or dead-letter sink changes (`tracking`), its adapter Deployment changes, or a
namespace its namespaceSelector may match changes. Sinks, namespaces and the source itself come
from the cache. Its own children and the GitHub token Secret are read by GET while reconciling:
caching them would mean watching every ServiceAccount, Role, RoleBinding and Secret of the
cluster (kopf filters labels on its side, and Secrets are granted `get` only), which costs more
than the few reads of a source's rare reconciles; a converged source makes no requests."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from eventwire_runtime.api import SOURCES_GROUP
from eventwire_runtime.controller.children import apply_child
from eventwire_runtime.controller.conditions import Conditions, is_ready, now_rfc3339
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented
from eventwire_runtime.controller.destinations import Resolution
from eventwire_runtime.controller.sources import apiserver, kinds, names, resources
from eventwire_runtime.controller.sources import conditions as cond
from eventwire_runtime.controller.sources.github import GitHubHooks, hook_events, hook_payload
from eventwire_runtime.controller.tracking import track_targets
from eventwire_runtime.errors import GitHubError, KubeError, NotOwnedError

log = logging.getLogger(__name__)

SOURCE_KINDS: dict[str, str] = {
    "PingSource": "pingsources",
    "ContainerSource": "containersources",
    "ApiServerSource": "apiserversources",
    "GitHubSource": "githubsources",
    "AwsSqsSource": "awssqssources",
    "GcpPubSubSource": "gcppubsubsources",
}
WEBHOOK_HASH = "sources.eventwire.dev/webhook-hash"


async def secret_value(ctx: Context, namespace: str, selector: Mapping[str, Any] | None) -> str | None:
    """The decoded value of a Secret key (`{name, key}`), None when the Secret or key is missing."""
    if not selector:
        return None
    secret = await ctx.client.get("v1", "Secret", str(selector["name"]), namespace)
    raw = ((secret or {}).get("data") or {}).get(str(selector["key"]))
    return base64.b64decode(raw).decode() if raw is not None else None


def _selected_namespaces(ctx: Context, source: Body) -> list[str] | None:
    """The namespaces an ApiServerSource's non-empty namespaceSelector matches (from the cache),
    else None."""
    selector = (source.get("spec") or {}).get("namespaceSelector")
    if selector is None or kinds.selects_all(selector):
        return None
    return sorted(
        ns["metadata"]["name"]
        for ns in ctx.cache.namespaces()
        if kinds.selector_matches(selector, ns["metadata"]["labels"])
    )


async def _apiserver_rbac(
    ctx: Context, source: Body, conds: Conditions, namespaces: list[str] | None
) -> list[dict[str, Any]]:
    """Its RBAC children, or [] with SufficientPermissions False when a watched kind is unknown."""
    plurals: list[tuple[str, str]] = []
    unknown: list[str] = []
    for res in (source.get("spec") or {}).get("resources") or []:
        try:
            path = await ctx.client.path(str(res["apiVersion"]), str(res["kind"]))
        except KubeError:
            unknown.append(f"{res.get('kind')} ({res.get('apiVersion')})")
            continue
        plurals.append((apiserver.group_of(str(res["apiVersion"])), path.rsplit("/", 1)[-1]))
    if unknown:
        conds.mark_false(
            cond.SUFFICIENT_PERMISSIONS,
            "UnknownResources",
            f"the API server does not serve {', '.join(unknown)}",
        )
        return []
    conds.mark_true(cond.SUFFICIENT_PERMISSIONS)
    return apiserver.make_rbac(source, plurals, resources.service_account_name(source), namespaces)


async def _webhook_route(ctx: Context, source: Body, conds: Conditions) -> None:
    """Route the webhook host through the gateway (a VirtualService), when a webhook domain is set."""
    url = resources.webhook_url(source, ctx.settings)
    if not ctx.settings.webhook_domain:
        conds.mark_true(
            cond.WEBHOOK_ROUTED,
            "InClusterOnly",
            f"EVENTWIRE_WEBHOOK_DOMAIN is not set: {url} (the adapter Service) is reachable only "
            "inside the cluster; no VirtualService is created",
        )
        return
    desired = resources.make_webhook_virtual_service(source, ctx.settings)
    try:
        await apply_child(ctx.client, desired, source["metadata"]["uid"])
    except NotOwnedError as exc:
        conds.mark_false(cond.WEBHOOK_ROUTED, "NotOwned", str(exc))
        return
    except KubeError as exc:
        if exc.status == 404:
            conds.mark_false(
                cond.WEBHOOK_ROUTED,
                "VirtualServiceNotServed",
                f"the API server does not serve Istio VirtualServices ({exc}); install Istio or "
                "unset EVENTWIRE_WEBHOOK_DOMAIN",
            )
        else:
            conds.mark_false(cond.WEBHOOK_ROUTED, "RouteFailed", str(exc))
        return
    conds.mark_true(cond.WEBHOOK_ROUTED, message=f"{url} through gateway {ctx.settings.webhook_gateway}")


async def _github_webhook(ctx: Context, source: Body, conds: Conditions, extra: dict[str, Any]) -> None:
    """Register or update the webhook when an access token is given (only when it changed), once
    its URL routes to the adapter."""
    meta, spec = source["metadata"], source.get("spec") or {}
    status = source.get("status") or {}
    url = resources.webhook_url(source, ctx.settings)
    extra["url"] = url
    if conds.status_of(cond.WEBHOOK_ROUTED) == "False":
        conds.mark_unknown(cond.WEBHOOK_REGISTERED, "WebhookNotRouted", f"{url} does not route yet")
        return
    token_ref = (spec.get("accessToken") or {}).get("secretKeyRef")
    if not token_ref:
        conds.mark_true(
            cond.WEBHOOK_REGISTERED, "NotManaged", f"no accessToken: register {url} in GitHub yourself"
        )
        return
    token = await secret_value(ctx, meta["namespace"], token_ref)
    if token is None:
        conds.mark_false(
            cond.WEBHOOK_REGISTERED,
            "AccessTokenMissing",
            f"Secret key {token_ref.get('name')}/{token_ref.get('key')} does not exist",
        )
        return
    events, app_only = hook_events(spec.get("eventTypes") or [])
    scope = "organisation" if "/" not in str(spec.get("ownerAndRepository")).strip("/") else "repository"
    why = (
        f"{', '.join(app_only)}: GitHub delivers these only to GitHub Apps (or Marketplace and "
        f"Sponsors listings), a {scope} webhook cannot subscribe to them"
    )
    if not events:
        conds.mark_false(cond.WEBHOOK_REGISTERED, "AppOnlyEvents", f"no event to register: {why}")
        return
    secret = await secret_value(ctx, meta["namespace"], (spec.get("secretToken") or {}).get("secretKeyRef"))
    payload = hook_payload(url, events, secret, bool(spec.get("secure")))
    api_url = spec.get("githubAPIURL") or ""
    digest = hashlib.sha256(
        json.dumps([api_url, spec.get("ownerAndRepository"), payload], sort_keys=True).encode()
    )
    wanted = digest.hexdigest()[:16]
    hook_id = status.get("webhookIDKey")
    registered = ("AppOnlyEventsOmitted", f"registered without {why}") if app_only else ("", "")
    if hook_id and (status.get("annotations") or {}).get(WEBHOOK_HASH) == wanted:
        conds.mark_true(cond.WEBHOOK_REGISTERED, *registered)
        return
    hooks = GitHubHooks(api_url, token, ctx.settings.github_timeout)
    try:
        hook_id = await hooks.ensure(str(spec.get("ownerAndRepository")), hook_id, payload)
    except GitHubError as exc:
        conds.mark_false(cond.WEBHOOK_REGISTERED, "WebhookRegistrationFailed", str(exc))
        return
    extra["webhookIDKey"] = hook_id
    extra["annotations"] = {WEBHOOK_HASH: wanted}
    conds.mark_true(cond.WEBHOOK_REGISTERED, *registered)
    if app_only:  # Ready stays True: say once, on the registration, what was left out
        ctx.warn(source, "AppOnlyEventsOmitted", f"the webhook was registered without {why}")


async def _desired(
    ctx: Context, source: Body, sink_uri: str, dead_letter_uri: str | None, conds: Conditions
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(children to apply first, the adapter Deployment) of a source whose sink resolved."""
    kind, spec = source["kind"], source.get("spec") or {}
    if kind == "ContainerSource":
        return [], resources.make_container_deployment(source, sink_uri, dead_letter_uri)
    children: list[dict[str, Any]] = []
    if not spec.get("serviceAccountName"):
        children.append(resources.make_service_account(source))
    namespaces = None
    if kind == "ApiServerSource":
        namespaces = _selected_namespaces(ctx, source)
        children.extend(await _apiserver_rbac(ctx, source, conds, namespaces))
    if kind == "GitHubSource":
        children.append(resources.make_webhook_service(source))
    deployment = resources.make_adapter_deployment(
        source, sink_uri, dead_letter_uri, ctx.settings, namespaces
    )
    return children, deployment


async def _deploy(
    ctx: Context, source: Body, sink: Resolution, dead_letter: Resolution | None, conds: Conditions
) -> None:
    """Apply the children when the sink resolved, then mark Deployed from the Deployment."""
    meta = source["metadata"]
    deployment: Mapping[str, Any] | None
    if conds.status_of(cond.SINK_PROVIDED) == "True":
        children, desired = await _desired(
            ctx, source, sink.uri, dead_letter.uri if dead_letter else None, conds
        )
        for child in children:
            owned = bool(child["metadata"].get("ownerReferences"))  # else tracked by the uid label
            await apply_child(ctx.client, child, meta["uid"] if owned else None)
        if source["kind"] == "ApiServerSource":
            await api_server_rbac_cleanup(ctx, meta["uid"], keep=children)
        if conds.status_of(cond.SUFFICIENT_PERMISSIONS) != "False":
            deployment, _ = await apply_child(ctx.client, desired, meta["uid"])
        else:  # without the rights the adapter would only fail: keep what runs, if anything
            deployment = await ctx.client.get(
                "apps/v1", "Deployment", desired["metadata"]["name"], meta["namespace"]
            )
    else:  # no sink: leave a running adapter as it is
        name = names.adapter_name(meta["name"], source["kind"])
        deployment = await ctx.client.get("apps/v1", "Deployment", name, meta["namespace"])
    available, why = resources.deployment_available(deployment)
    if available:
        conds.mark_true(cond.DEPLOYED)
    elif deployment is None:
        conds.mark_false(cond.DEPLOYED, "NotDeployed", why)
    else:
        conds.mark_unknown(cond.DEPLOYED, "DeploymentUnavailable", why)


@instrumented
async def reconcile(ctx: Context, source: Body) -> Body:
    """Bring a source's children and status in line with its spec; returns it with the new status."""
    kind, meta = source["kind"], source["metadata"]
    namespace = meta["namespace"]
    async with ctx.lock(kind, namespace, meta["name"]):
        current = ctx.fresher(source)
        if current["metadata"].get("deletionTimestamp"):
            return source
        spec = current.get("spec") or {}
        generation = int(current["metadata"].get("generation", 1))
        old_conditions = (current.get("status") or {}).get("conditions")
        conds = cond.condition_set(kind).manage(old_conditions, generation, now_rfc3339())
        sink = await ctx.resolve(spec.get("sink"), namespace)
        dead_letter = await ctx.resolve_dead_letter(current)
        if not sink.ok:
            conds.mark_false(cond.SINK_PROVIDED, sink.reason, f"sink: {sink.message}")
        elif dead_letter is not None and not dead_letter.ok:
            conds.mark_false(cond.SINK_PROVIDED, dead_letter.reason, f"deadLetterSink: {dead_letter.message}")
        else:
            conds.mark_true(cond.SINK_PROVIDED)
        extra: dict[str, Any] = {}
        try:
            await _deploy(ctx, current, sink, dead_letter, conds)
            if kind == "GitHubSource":
                await _webhook_route(ctx, current, conds)
                await _github_webhook(ctx, current, conds, extra)
        except NotOwnedError as exc:
            conds.mark_false(cond.DEPLOYED, "NotOwned", str(exc))
        except KubeError as exc:
            conds.mark_false(cond.DEPLOYED, "ApplyFailed", str(exc))
        status = resources.make_status(current, conds, sink.uri or None, extra)
        return await ctx.report(current, status)


async def source_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile(ctx_of(memo), dict(body))


Key = tuple[str, str, str]  # (kind, namespace, name)


async def process(ctx: Context, key: Key) -> float | None:
    """Reconcile the cached source `key` (enqueued by a change of its sink or its adapter)."""
    cached = ctx.cache.source(*key)
    if cached is None:
        return None
    await reconcile(ctx, cached)
    return None  # sources that are not Ready have kopf's resync timer


def enqueue(memo: Any, kind: str, namespace: str, name: str) -> None:
    ctx = ctx_of(memo)
    ctx.queue("source", lambda key: process(ctx, key)).add((kind, namespace, name))


_KIND_BY_LABEL = {kind.lower(): kind for kind in SOURCE_KINDS}


async def adapter_deployment_event(labels: kopf.Labels, namespace: str | None, memo: Any, **_: Any) -> None:
    """An adapter Deployment changed: its source's Deployed condition follows."""
    kind = _KIND_BY_LABEL.get(str(labels.get(names.SOURCE_KIND_LABEL, "")))
    name = labels.get(names.SOURCE_NAME_LABEL)
    if kind is not None and name and namespace:
        enqueue(memo, kind, namespace, str(name))


async def api_server_rbac_cleanup(ctx: Context, uid: str, keep: Sequence[Mapping[str, Any]] = ()) -> None:
    """Delete the label-tracked RBAC of the ApiServerSource with this uid that is not in `keep`
    (a namespace that stopped matching, a removed selector, or everything on deletion)."""
    wanted = {(c["kind"], c["metadata"].get("namespace"), c["metadata"]["name"]) for c in keep}
    selector = f"{names.SOURCE_UID_LABEL}={uid}"
    for kind in ("RoleBinding", "ClusterRoleBinding", "ClusterRole"):
        for obj in await ctx.client.list(apiserver.RBAC_API, kind, label_selector=selector):
            obj_meta = obj["metadata"]
            if (kind, obj_meta.get("namespace"), obj_meta["name"]) not in wanted:
                await ctx.client.delete(apiserver.RBAC_API, kind, obj_meta["name"], obj_meta.get("namespace"))


async def api_server_source_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Delete the cluster-scoped RBAC of a namespaceSelector source (owner refs cannot), after
    a reconcile in flight (which may still apply it) ended; later ones see the deletion."""
    ctx, meta = ctx_of(memo), body["metadata"]
    async with ctx.lock("ApiServerSource", meta["namespace"], meta["name"]):
        await api_server_rbac_cleanup(ctx, meta["uid"])


async def github_source_deleted(body: kopf.Body, memo: Any, logger: Any, **_: Any) -> None:
    """Remove the webhook the controller registered, after a reconcile in flight (which may still
    register it or apply children) ended; later ones see the deletion."""
    ctx, meta = ctx_of(memo), body["metadata"]
    async with ctx.lock("GitHubSource", meta["namespace"], meta["name"]):
        await _remove_github_webhook(ctx, ctx.fresher(dict(body)), logger)  # its latest hook id


async def _remove_github_webhook(ctx: Context, body: Body, logger: Any) -> None:
    spec, status = body.get("spec") or {}, body.get("status") or {}
    hook_id = status.get("webhookIDKey")
    token_ref = (spec.get("accessToken") or {}).get("secretKeyRef")
    if not hook_id or not token_ref:
        return
    token = await secret_value(ctx, body["metadata"]["namespace"], token_ref)
    if token is None:
        logger.warning(f"cannot remove GitHub webhook {hook_id}: the access token Secret is gone")
        return
    try:
        await GitHubHooks(spec.get("githubAPIURL") or "", token, ctx.settings.github_timeout).delete(
            str(spec.get("ownerAndRepository")), str(hook_id)
        )
    except GitHubError as exc:
        raise kopf.TemporaryError(f"removing the GitHub webhook failed: {exc}", delay=5) from exc


async def namespace_event(memo: Any, **_: Any) -> None:
    """Namespaces came, went or were relabelled: selector-based ApiServerSources follow."""
    for source in ctx_of(memo).cache.sources_of_kind("ApiServerSource"):
        if (source.get("spec") or {}).get("namespaceSelector") is not None:
            meta = source["metadata"]
            enqueue(memo, "ApiServerSource", meta["namespace"], meta["name"])


def _not_ready(body: kopf.Body, **_: Any) -> bool:
    return not is_ready(dict(body))


def register(resync_seconds: float) -> None:
    """Register the handlers of every source kind (called once on import of the package)."""
    for kind, plural in SOURCE_KINDS.items():
        resource = (SOURCES_GROUP, plural)
        handler_id = f"{kind.lower()}_changed"
        kopf.on.create(*resource, id=handler_id)(source_changed)
        kopf.on.update(*resource, id=handler_id)(source_changed)
        kopf.on.resume(*resource, id=handler_id)(source_changed)
        kopf.timer(*resource, id=f"{kind.lower()}_resync", interval=resync_seconds, when=_not_ready)(
            source_changed
        )
    kopf.on.delete(SOURCES_GROUP, "apiserversources", id="apiserversource_cleanup", retries=5)(
        api_server_source_deleted
    )
    kopf.on.delete(SOURCES_GROUP, "githubsources", id="githubsource_cleanup", retries=5)(
        github_source_deleted
    )
    kopf.on.event("", "v1", "namespaces", id="namespace_selector")(namespace_event)
    kopf.on.event(
        "apps", "v1", "deployments", id="adapter_deployment", labels={names.SOURCE_KIND_LABEL: kopf.PRESENT}
    )(adapter_deployment_event)
    track_targets("source_target", set(SOURCE_KINDS), enqueue)
