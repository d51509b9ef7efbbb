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
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

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
from eventwire_runtime.kube import KubeClient, KubeConfigError, KubeError

log = logging.getLogger(__name__)

# Reconnect waits after API errors, by the shared formula: 0.5 s doubling, capped at 30 s.
RECONNECT = DeliverySpec(backoff_delay=0.5, backoff_max=30.0)


class GoneError(Exception):
    """The watch's resourceVersion is too old (410): re-list."""


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


@dataclass(slots=True)
class _Known:
    """Objects this watch has reported, by uid: resourceVersion and last object."""

    objects: dict[str, tuple[str, Obj]] = field(default_factory=dict)


# Handles one change seen by a list or watch: (watched type, known objects, ADDED|MODIFIED|DELETED, object).
Observer = Callable[[WatchedType, _Known, str, Obj], Awaitable[None]]


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
        try:
            self.api = await KubeClient.connect(self.kubeconfig)
        except KubeConfigError as exc:
            raise ConfigError(str(exc)) from None
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
                tasks.append(asyncio.create_task(self._watch_forever(namespaces, None, follow)))
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

    def _namespace_follower(self, namespaced: list[WatchedType]) -> Observer:
        """An observer of the Namespace watch that starts and stops per-namespace watches."""

        async def follow(_: WatchedType, known: _Known, change: str, obj: Obj) -> None:
            meta = obj.get("metadata") or {}
            name = str(meta.get("name", ""))
            uid = str(meta.get("uid", ""))
            if change == "DELETED":
                known.objects.pop(uid, None)
                for task in self._namespace_tasks.pop(name, []):
                    task.cancel()
                log.info("namespace %s no longer watched", name)
                return
            known.objects[uid] = (str(meta.get("resourceVersion", "")), obj)
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
        observe: Observer | None = None,
        counts_for_ready: bool = True,
    ) -> None:
        observe = observe or self._observe
        known = _Known()
        resource_version: str | None = None
        failures = 0
        first = True
        while not self.stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = await self._relist(watched, namespace, known, observe)
                    if first and counts_for_ready:
                        first = False
                        self._lists_pending -= 1
                        self._ready = self._lists_pending == 0
                resource_version = await self._watch_once(
                    watched, namespace, known, resource_version, observe
                )
                failures = 0
            except GoneError:
                log.info("watch of %s in %s expired (410 Gone); re-listing", watched.plural, namespace or "*")
                resource_version = None
            except (KubeError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures += 1
                delay = retry_delay(RECONNECT, failures)
                log.warning("watch of %s failed (%s); retrying in %.1fs", watched.plural, exc, delay)
                if await self.sleep_or_stop(delay):
                    return

    async def _relist(
        self,
        watched: WatchedType,
        namespace: str | None,
        known: _Known,
        observe: Observer,
    ) -> str:
        assert self.api is not None
        query = {"labelSelector": watched.spec.selector} if watched.spec.selector else {}
        try:
            listing = await self.api.request("GET", watched.path(namespace), **query)
        except KubeError as exc:
            if exc.status == 410:
                raise GoneError(str(exc)) from None
            raise
        seen: set[str] = set()
        for obj in listing.get("items") or []:
            obj.setdefault("apiVersion", watched.spec.api_version)
            obj.setdefault("kind", watched.spec.kind)
            uid = str(obj.get("metadata", {}).get("uid", ""))
            seen.add(uid)
            await observe(watched, known, "ADDED", obj)
        for uid in [u for u in known.objects if u not in seen]:
            _, last = known.objects[uid]
            await observe(watched, known, "DELETED", last)
        return str((listing.get("metadata") or {}).get("resourceVersion", "0"))

    async def _watch_once(
        self,
        watched: WatchedType,
        namespace: str | None,
        known: _Known,
        resource_version: str,
        observe: Observer,
    ) -> str:
        assert self.api is not None
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout),
        }
        if watched.spec.selector:
            query["labelSelector"] = watched.spec.selector
        try:
            async with self.api.stream(watched.path(namespace), self.watch_timeout + 30, **query) as response:
                async for line in self._lines(response):
                    event = json.loads(line)
                    kind = event.get("type")
                    obj = event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise GoneError(obj.get("message", ""))
                        raise ValueError(f"watch error: {obj.get('message', obj)}")
                    version = (obj.get("metadata") or {}).get("resourceVersion")
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        await observe(watched, known, kind, obj)
                    if version:
                        resource_version = str(version)
        except KubeError as exc:
            if exc.status == 410:
                raise GoneError(str(exc)) from None
            raise
        return resource_version

    async def _lines(self, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """Newline-delimited watch events of any size, until the stream ends or `stop()`."""
        buffer = b""
        chunks = response.content.iter_any().__aiter__()
        while True:
            read = asyncio.ensure_future(chunks.__anext__())
            if not await self.wait_unless_stopped(read):
                read.cancel()
                return
            try:
                chunk = read.result()
            except StopAsyncIteration:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield line

    async def _observe(self, watched: WatchedType, known: _Known, change: str, obj: Obj) -> None:
        """Update `known` with one change and send its event unless it repeats what we sent."""
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        version = str(meta.get("resourceVersion", ""))
        owner = self.config.owner
        if owner is not None and not owner.matches(obj):
            known.objects.pop(uid, None)
            return
        operation: Operation
        if change == "DELETED":
            if known.objects.pop(uid, None) is None and uid:
                return  # never reported, nothing to retract
            operation = "delete"
        else:
            previous = known.objects.get(uid)
            if previous is not None and previous[0] == version:
                return  # a re-list or resumed watch repeating what we already sent
            operation = "add" if previous is None else "update"
            known.objects[uid] = (version, obj)
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
