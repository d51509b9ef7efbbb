"""ApiServerSource: watch Kubernetes resources and send one event per add, update and delete.

Environment (besides the common contract in `env`):

    K_SOURCE_CONFIG     required JSON, Knative's adapter config shape:
                        {"resources": [{"apiVersion": "v1", "kind": "Pod",
                                        "selector": {"matchLabels": {...}, "matchExpressions": [...]}}],
                         "namespaces": ["ns1", ...],   # resolved from spec.namespaceSelector
                         "allNamespaces": false,       # true: cluster-wide
                         "namespaceSelector": {...},   # optional LabelSelector: follow matching
                                                       # namespaces as they come and go ({} = all)
                         "mode": "Reference" | "Resource",
                         "owner": {"apiVersion": "apps/v1", "kind": "Deployment"}}   # optional
                        Without a namespaces key and allNamespaces false, NAMESPACE is
                        watched; an empty namespaces list watches no namespace (the adapter
                        idles, ready, until the controller passes matching namespaces).
                        namespaceSelector needs RBAC list/watch on namespaces.
    KUBECONFIG          optional; kubeconfig path when not running in a pod (in a pod the service
                        account of `serviceAccountName` is used).
    APISERVER_WATCH_TIMEOUT
                        optional; seconds each watch request lasts before it is renewed from the
                        last resourceVersion (default 300).

Behaviour: each (resource, namespace) pair is listed, then watched from the list's
resourceVersion with bookmarks; a watch that ends is renewed from the last resourceVersion seen.
A `410 Gone` (history compacted) triggers a re-list that is diffed against the objects already
known: only objects that changed meanwhile produce events (update, add, or delete for those that
vanished), so a re-list never re-sends a flood. The first list after start sends an add for every
existing object, as Knative's does (the adapter keeps no state across restarts; event ids are
`<uid>/<resourceVersion>/<op>` so consumers can drop repeats). Events of one watch are delivered
in order; an event the sink does not accept after retries is logged and counted, and the watch
goes on. Connection errors are retried with the shared backoff (0.5 s doubling, 30 s cap).

Events: see `apiserver_events` (Knative's types, subject and source conventions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from eventwire_runtime.adapters.apiserver_events import (
    Obj,
    Operation,
    ResourceSpec,
    parse_source_config,
    to_event,
)
from eventwire_runtime.adapters.base import BaseAdapter
from eventwire_runtime.adapters.env import AdapterEnv, env_int
from eventwire_runtime.adapters.events import binary_message
from eventwire_runtime.adapters.sender import EventSender
from eventwire_runtime.delivery.backoff import retry_delay
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.delivery.spec import DeliverySpec
from eventwire_runtime.kube import Change, KubeClient, KubeError, ListWatch, Observe

log = logging.getLogger(__name__)

# Reconnect waits after API errors, by the shared formula: 0.5 s doubling, capped at 30 s.
RECONNECT = DeliverySpec(backoff_delay=0.5, backoff_max=30.0)


@dataclass(slots=True)
class WatchedType:
    """A resource as discovery describes it."""

    spec: ResourceSpec
    plural: str
    namespaced: bool

    def path(self, namespace: str | None) -> str:
        group_version = self.spec.api_version
        base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
        if namespace is not None and self.namespaced:
            base += f"/namespaces/{namespace}"
        return f"{base}/{self.plural}"


class ApiServerAdapter(BaseAdapter):
    """Watches the configured resources and sends their changes (see the module docstring)."""

    def __init__(self, env: AdapterEnv, sender: EventSender) -> None:
        super().__init__(env, sender)
        environ = env.environ
        self.config = parse_source_config(environ.get("K_SOURCE_CONFIG"))
        self.watch_timeout = env_int(environ, "APISERVER_WATCH_TIMEOUT", 300, minimum=1)
        self.kubeconfig = environ.get("KUBECONFIG") or None
        if self.config.all_namespaces:
            self.namespaces: list[str | None] = [None]
        else:
            given = self.config.namespaces
            self.namespaces = list(given) if given is not None else [env.namespace]
        kinds = ", ".join(f"{r.kind}.{r.api_version}" for r in self.config.resources)
        if self.config.all_namespaces:
            where = "all namespaces"
        elif self.config.namespace_selector is not None:
            where = f"namespaces matching {self.config.namespace_selector!r}"
        else:
            where = ", ".join(str(n) for n in self.namespaces) or "no namespace (none matched)"
        self.mode = f"{self.config.mode} mode, resilient watch of {kinds} in {where}"
        self._lists_pending = 0
        self.api: KubeClient | None = None
        # namespace -> its watch tasks, when following a namespaceSelector
        self._namespace_tasks: dict[str, list[asyncio.Task[None]]] = {}

    async def run(self) -> None:
        self.api = await KubeClient.connect(self.kubeconfig)  # KubeConfigError is a ConfigError
        try:
            types = [await self._discover(spec) for spec in self.config.resources]
            pairs: list[tuple[WatchedType, str | None]] = []
            tasks: list[asyncio.Task[None]] = []
            if self.config.namespace_selector is not None:
                pairs.extend((w, None) for w in types if not w.namespaced)
                namespaced = [w for w in types if w.namespaced]
                selector = ResourceSpec("v1", "Namespace", self.config.namespace_selector)
                namespaces = WatchedType(selector, "namespaces", namespaced=False)
                follow = self._namespace_follower(namespaced)
                tasks.append(asyncio.create_task(self._watch_forever(namespaces, None, lambda _: follow)))
            else:
                for watched in types:
                    scopes = self.namespaces if watched.namespaced else [None]
                    pairs.extend((watched, ns) for ns in dict.fromkeys(scopes))
            self._lists_pending = len(pairs) + len(tasks)
            tasks.extend(asyncio.create_task(self._watch_forever(w, ns)) for w, ns in pairs)
            if not tasks:  # nothing to watch (no namespace matched): idle until stopped
                self._ready = True
                tasks.append(asyncio.create_task(self._idle()))
            try:
                await asyncio.gather(*tasks)
                # Stopping: per-namespace watches finish their current delivery and return too.
                for namespace_tasks in list(self._namespace_tasks.values()):
                    await asyncio.gather(*namespace_tasks, return_exceptions=True)
            finally:
                for task in [*tasks, *(t for ts in self._namespace_tasks.values() for t in ts)]:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for namespace_tasks in self._namespace_tasks.values():
                    await asyncio.gather(*namespace_tasks, return_exceptions=True)
                self._namespace_tasks.clear()
                self._ready = False
        finally:
            await self.api.close()

    async def _idle(self) -> None:
        await self.stopping.wait()

    def _namespace_follower(self, namespaced: list[WatchedType]) -> Observe:
        """An observer of the Namespace watch that starts and stops per-namespace watches."""

        async def follow(change: Change, obj: Obj) -> None:
            name = str((obj.get("metadata") or {}).get("name", ""))
            if change == "DELETED":
                for task in self._namespace_tasks.pop(name, []):
                    task.cancel()
                log.info("namespace %s no longer watched", name)
                return
            if name and name not in self._namespace_tasks:
                log.info("namespace %s matches; watching it", name)
                self._namespace_tasks[name] = [
                    asyncio.create_task(self._watch_forever(w, name, counts_for_ready=False))
                    for w in namespaced
                ]

        return follow

    # -- discovery ----------------------------------------------------------------------------

    async def _discover(self, spec: ResourceSpec) -> WatchedType:
        assert self.api is not None
        try:
            found = await self.api.resource(spec.api_version, spec.kind)
        except KubeError as exc:
            raise ConfigError(f"apiVersion {spec.api_version!r} is not served ({exc.status})") from None
        if found is None:
            raise ConfigError(f"kind {spec.kind!r} is not served in {spec.api_version!r}")
        return WatchedType(spec, found[0], found[1])

    # -- list and watch -------------------------------------------------------------------------

    async def _watch_forever(
        self,
        watched: WatchedType,
        namespace: str | None,
        observer: Callable[[WatchedType], Observe] | None = None,
        counts_for_ready: bool = True,
    ) -> None:
        """List and watch `watched` in `namespace` until stopped (see `kube.ListWatch`)."""
        assert self.api is not None
        first = [counts_for_ready]

        def listed() -> None:
            if first[0]:
                first[0] = False
                self._lists_pending -= 1
                self._ready = self._lists_pending == 0

        await ListWatch(
            self.api,
            watched.path(namespace),
            (observer or self._observer)(watched),
            stopping=self.stopping,
            reconnect=lambda attempt: retry_delay(RECONNECT, attempt),
            label_selector=watched.spec.selector or "",
            timeout_seconds=self.watch_timeout,
            on_listed=listed,
            logger=log,
        ).run()

    def _observer(self, watched: WatchedType) -> Observe:
        """Sends an event per change of a watched object that passes the owner filter."""
        reported: set[str] = set()  # uids whose add was sent (and not retracted)

        async def observe(change: Change, obj: Obj) -> None:
            uid = str((obj.get("metadata") or {}).get("uid", ""))
            owner = self.config.owner
            operation: Operation
            if change == "DELETED":
                if uid not in reported:
                    return  # never reported, nothing to retract
                reported.discard(uid)
                operation = "delete"
            elif owner is not None and not owner.matches(obj):
                reported.discard(uid)  # reported as an add again once it matches
                return
            else:
                operation = "update" if uid in reported else "add"
                reported.add(uid)
            await self._send(watched, operation, obj)

        return observe

    async def _send(self, watched: WatchedType, operation: Operation, obj: Obj) -> None:
        obj.setdefault("apiVersion", watched.spec.api_version)
        obj.setdefault("kind", watched.spec.kind)
        assert self.api is not None
        event = to_event(
            self.config.mode,
            operation,
            self.api.host,
            watched.spec.api_version,
            watched.spec.kind,
            watched.plural,
            obj,
        )
        headers, body = binary_message(event, self.env.ce_overrides)
        outcome = await self.sender.send(headers, body)
        if not outcome.accepted:
            log.error("%s of %s not delivered: %s", operation, event.subject, outcome.error)
