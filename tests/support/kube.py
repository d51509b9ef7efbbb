"""A Kubernetes API fake that speaks real HTTP: discovery, list, watch, get, create, replace,
patch (merge and JSON patch), delete with finalizers and owner-reference garbage collection, and
the status subresource.

Why not `kmock.KubernetesEmulator`? kopf 1.45.2 ran discovery against kmock 0.8 but never started
a list/watch because kmock's discovery reports `verbs: []` (and `namespaced: null`) for every
resource that is not declared with an explicit `ResourceInfo`, and kopf drops resources whose
verbs lack list/watch ("Non-watchable resources will not be served"). Declaring the verbs fixes
discovery, but the emulator still lacks what an operator and a resilient watcher depend on:
resourceVersions (its lists answer "..."), uid/generation/creationTimestamp, a status subresource
that keeps status and spec apart, JSON patch with `test` (kopf's finalizer patches), label and
field selectors, watch resumption from a resourceVersion with 410 Gone, and garbage collection of
owned children. Those would replace nearly all of its request handling, so this module is a
focused fake on aiohttp instead; it implements only those semantics, documented per method.

Use:

    with running_kube() as kube:          # a server on a free 127.0.0.1 port, in its own thread
        kube.install_crds(render_crds())   # or kube.create(crd) to have watchers see it
        kube.write_kubeconfig(path)        # for kopf / the runtime's client (eventwire_runtime.kube)
        kube.create({"apiVersion": "v1", "kind": "Service", ...})
        kube.wait_for(lambda: kube.get("v1", "Service", "svc", "ns") is not None, timeout=5)

`KubeApiFake` itself is loop-agnostic: its object store is guarded by a thread lock and every
watch stream is woken with `call_soon_threadsafe`, so tests may call the sync helpers from any
thread; `await fake.start()` runs it in the current loop instead of a thread.

Our custom resources are validated like an API server validates them, on create, on update and
on status writes: their CRD's OpenAPI schema and CEL rules (transition rules against the old
object), through `eventwire.api.resource_errors`; an invalid object is answered 422 Invalid with
every field error. Stricter than an API server in one way: an unknown field is rejected rather
than pruned, so a controller writing a field the CRD lacks fails instead of losing it silently.

Simplifications (deliberate): strategic-merge patches are applied as JSON merge patches (lists
are replaced, not merged); no admission webhooks or defaulting, and no schema validation of
built-in kinds; `limit` is ignored (lists come in one page); namespaces need not exist before
objects are created in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.waiting import eventually

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and how discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    has_status: bool = False
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, has_status=True),
    ResourceType("", "v1", "services", "Service", has_status=True, short_names=("svc",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    ResourceType("", "v1", "secrets", "Secret"),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("", "v1", "pods", "Pod", has_status=True, short_names=("po",)),
    ResourceType("", "v1", "events", "Event", short_names=("ev",)),
    ResourceType("apps", "v1", "deployments", "Deployment", has_status=True, short_names=("deploy",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
    ),
)

# A Knative Serving Service, for tests of destination resolution (the real one is a CRD).
KNATIVE_SERVICE = ResourceType("serving.knative.dev", "v1", "services", "Service", has_status=True)

# An Istio VirtualService (a CRD in a real cluster): GitHubSource webhook routes.
ISTIO_VIRTUAL_SERVICE = ResourceType("networking.istio.io", "v1", "virtualservices", "VirtualService")

_CRDS = BUILTIN_TYPES[-1]


class ApiError(Exception):
    """A failed request, answered as a Kubernetes `Status` with `code`."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def json_patch(doc: Any, ops: Iterable[Mapping[str, Any]]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test); a failure raises 422."""
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, parts = op.get("op"), _pointer(str(op.get("path", "")))
        try:
            if kind == "test":
                if _walk(doc, parts) != op.get("value"):
                    raise ApiError(422, "Invalid", f"test failed at {op['path']}")
                continue
            if kind in ("move", "copy"):
                value = copy.deepcopy(_walk(doc, _pointer(str(op["from"]))))
                if kind == "move":
                    doc = json_patch(doc, [{"op": "remove", "path": op["from"]}])
                doc = json_patch(doc, [{"op": "add", "path": op["path"], "value": value}])
                continue
            if not parts:
                if kind in ("add", "replace"):
                    doc = copy.deepcopy(op["value"])
                    continue
                raise ApiError(422, "Invalid", f"cannot {kind} the whole document")
            parent, last = _walk(doc, parts[:-1]), parts[-1]
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
                else:
                    parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            elif kind == "replace":
                index = int(last) if isinstance(parent, list) else last
                if not isinstance(parent, list) and last not in parent:
                    raise KeyError(last)
                parent[index] = copy.deepcopy(op["value"])
            else:
                raise ApiError(422, "Invalid", f"unknown JSON patch op {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(422, "Invalid", f"JSON patch {kind} {op.get('path')!r} failed: {exc!r}") from None
    return doc


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a labelSelector string (=, ==, !=, in, notin, key, !key)."""
    for term in _split_selector(selector):
        set_match = re.fullmatch(r"([^\s]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if set_match:
            key, op, raw = set_match.groups()
            values = {v.strip() for v in raw.split(",") if v.strip()}
            if (op == "in") != (key in labels and labels[key] in values):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_matches(selector: str, obj: Obj) -> bool:
    """Whether `obj` satisfies a fieldSelector of `path=value` / `path!=value` terms."""
    for term in _split_selector(selector):
        negate = "!=" in term
        path, value = (s.strip() for s in term.replace("==", "=").replace("!=", "=").split("=", 1))
        actual: Any = obj
        for part in path.split("."):
            actual = actual.get(part) if isinstance(actual, dict) else None
        if (str(actual if actual is not None else "") == value) == negate:
            return False
    return True


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Watcher:
    rtype: ResourceType
    namespace: str | None
    label_selector: str
    field_selector: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)

    def wants(self, obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        return (
            (self.namespace is None or meta.get("namespace") == self.namespace)
            and label_selector_matches(self.label_selector, meta.get("labels") or {})
            and field_selector_matches(self.field_selector, obj)
        )


Key = tuple[ResourceType, str, str]  # (type, namespace or "", name)


class KubeApiFake:
    """An in-memory Kubernetes API server. See the module docstring for what it implements.

    Args:
        history: how many change events are kept for watches that resume from a resourceVersion;
            a watch from an older version gets 410 Gone (also forced by `compact()`).
        validate: whether our custom resources are validated against their CRDs (see the module
            docstring); benchmarks may turn it off to measure the client, not the fake.
    """

    def __init__(self, history: int = 10_000, validate: bool = True):
        self._validate = validate
        self._lock = threading.RLock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._objects: dict[Key, Obj] = {}
        self._rv = 0
        self._history: deque[tuple[int, ResourceType, str, Obj]] = deque(maxlen=history)
        self._oldest_rv = 0  # watches from below this version are too old
        self._watchers: list[_Watcher] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query), for assertions
        self._failures: list[list[Any]] = []  # [method, path fragment, status, times left]
        for rtype in BUILTIN_TYPES:
            self.add_type(rtype)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- the resource registry ------------------------------------------------------------------

    def add_type(self, rtype: ResourceType) -> None:
        """Serve `rtype` (discovery, CRUD, watch)."""
        with self._lock:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def install_crds(self, crds: Iterable[Obj]) -> None:
        """Serve each CRD's resources and store the CRD objects (as `kubectl apply` would)."""
        for crd in crds:
            self.create(crd)

    def _register_crd(self, crd: Obj) -> None:
        spec = crd["spec"]
        names = spec["names"]
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            self.add_type(
                ResourceType(
                    group=spec["group"],
                    version=version["name"],
                    plural=names["plural"],
                    kind=names["kind"],
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    has_status="status" in (version.get("subresources") or {}),
                    short_names=tuple(names.get("shortNames", [])),
                    categories=tuple(names.get("categories", [])),
                )
            )

    def type_for(self, api_version: str, kind_or_plural: str) -> ResourceType:
        """The served type with this apiVersion and kind (or plural); KeyError if unknown."""
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rtype in self._types.values():
                if (rtype.group, rtype.version) == (group, version) and kind_or_plural in (
                    rtype.kind,
                    rtype.plural,
                ):
                    return rtype
        raise KeyError(f"the fake does not serve {api_version} {kind_or_plural}")

    # -- the object store (thread-safe, usable directly by tests) --------------------------------

    def _key(self, rtype: ResourceType, namespace: str | None, name: str) -> Key:
        return (rtype, (namespace or "") if rtype.namespaced else "", name)

    def _emit(self, event_type: str, rtype: ResourceType, obj: Obj) -> None:
        snapshot = copy.deepcopy(obj)
        self._history.append((self._rv, rtype, event_type, snapshot))
        if len(self._history) == self._history.maxlen:
            self._oldest_rv = self._history[0][0]
        event = {"type": event_type, "object": snapshot}
        for watcher in list(self._watchers):
            if watcher.rtype == rtype and watcher.wants(snapshot):
                watcher.loop.call_soon_threadsafe(watcher.queue.put_nowait, event)

    def _check_valid(self, obj: Obj, old: Obj | None) -> None:
        """422 Invalid, naming every field error, when `obj` is one of our kinds and breaks its
        CRD's schema or CEL rules (`old`: the stored object, for transition rules). Like an API
        server, it does not run `eventwire validate`'s checks beyond those (semantics.py: a
        Trigger's CESQL is stored even when it does not parse; the controller reports it)."""
        from eventwire.api import kind_for, resource_errors
        from eventwire.api.semantics import semantic_errors

        if not self._validate or kind_for(obj["apiVersion"], obj["kind"]) is None:
            return
        beyond_the_schema = set(semantic_errors(str(obj["kind"]), obj, []))
        errors = [error for error in resource_errors(obj, old) if error not in beyond_the_schema]
        if errors:
            details = "; ".join(str(error) for error in errors)
            raise ApiError(
                422, "Invalid", f'{obj["kind"]} "{obj["metadata"].get("name", "")}" is invalid: {details}'
            )

    def _bump(self, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def create(self, obj: Obj, namespace: str | None = None) -> Obj:
        """Create `obj` (its apiVersion/kind pick the type); 409 if it exists."""
        rtype = self.type_for(obj["apiVersion"], obj["kind"])
        return self._create(rtype, obj, namespace)

    def _create(self, rtype: ResourceType, body: Obj, namespace: str | None) -> Obj:
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if rtype.has_status:
            obj.pop("status", None)
        with self._lock:
            key = self._key(rtype, meta.get("namespace"), meta["name"])
            if key in self._objects:
                raise ApiError(409, "AlreadyExists", f"{rtype.plural} {meta['name']!r} already exists")
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
            meta.pop("deletionTimestamp", None)
            self._check_valid(obj, None)
            self._bump(obj)
            self._objects[key] = obj
            self._emit("ADDED", rtype, obj)
            if rtype == _CRDS:
                self._register_crd(obj)
            return copy.deepcopy(obj)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """A copy of the object, or None."""
        rtype = self.type_for(api_version, kind)
        with self._lock:
            obj = self._objects.get(self._key(rtype, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = ""
    ) -> list[Obj]:
        """Copies of the objects of a type (all namespaces when `namespace` is None)."""
        return self._list(self.type_for(api_version, kind), namespace, label_selector, "")[0]

    def _list(
        self, rtype: ResourceType, namespace: str | None, labels: str, fields: str
    ) -> tuple[list[Obj], int]:
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (t, ns, _), obj in sorted(self._objects.items(), key=lambda kv: kv[0][1:])
                if t == rtype
                and (namespace is None or ns == namespace)
                and label_selector_matches(labels, obj["metadata"].get("labels") or {})
                and field_selector_matches(fields, obj)
            ]
            return items, self._rv

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        subresource: str = "",
        json_patch_ops: bool = False,
    ) -> Obj:
        """Merge-patch (or JSON-patch) an object, honouring the status subresource split."""
        rtype = self.type_for(api_version, kind)
        return self._update(
            rtype, namespace, name, subresource, lambda old: _apply(old, patch, json_patch_ops)
        )

    def replace(self, obj: Obj, *, subresource: str = "") -> Obj:
        """PUT semantics: the whole object, 409 on a stale metadata.resourceVersion."""
        rtype = self.type_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]

        def replace(old: Obj) -> Obj:
            wanted = meta.get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f"the object has been modified; {wanted} is stale")
            return copy.deepcopy(obj)

        return self._update(rtype, meta.get("namespace"), meta["name"], subresource, replace)

    def _update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        subresource: str,
        change: Callable[[Obj], Obj],
    ) -> Obj:
        with self._lock:
            key = self._key(rtype, namespace, name)
            old = self._objects.get(key)
            if old is None:
                raise ApiError(404, "NotFound", f"{rtype.plural} {name!r} not found")
            new = change(copy.deepcopy(old))
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patched object is not an object")
            # Identity and server-owned metadata cannot change through an update.
            new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
            new_meta = new.setdefault("metadata", {})
            for owned in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if owned in old["metadata"]:
                    new_meta[owned] = old["metadata"][owned]
                else:
                    new_meta.pop(owned, None)
            new_meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if rtype.has_status:
                if subresource == "status":  # only the status changes
                    new = {**copy.deepcopy(old), "status": new.get("status")}
                    if new["status"] is None:
                        new.pop("status")
                else:  # everything but the status changes
                    new.pop("status", None)
                    if "status" in old:
                        new["status"] = copy.deepcopy(old["status"])
            if new == old:
                return copy.deepcopy(old)  # a no-op: no new resourceVersion, no event
            self._check_valid(new, old)
            if _spec_of(new) != _spec_of(old):
                new_meta["generation"] = old["metadata"].get("generation", 1) + 1
            self._bump(new)
            if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
                self._remove(key, new)
                return copy.deepcopy(new)
            self._objects[key] = new
            self._emit("MODIFIED", rtype, new)
            return copy.deepcopy(new)

    def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None, *, orphan: bool = False
    ) -> Obj:
        """Delete an object: finalizers delay it; owned children are collected unless `orphan`."""
        return self._delete(self.type_for(api_version, kind), namespace, name, orphan)

    def _delete(self, rtype: ResourceType, namespace: str | None, name: str, orphan: bool) -> Obj:
        with self._lock:
            key = self._key(rtype, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                raise ApiError(404, "NotFound", f"{rtype.plural} {name!r} not found")
            meta = obj["metadata"]
            if meta.get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    obj = copy.deepcopy(obj)
                    obj["metadata"].update(deletionTimestamp=_now(), deletionGracePeriodSeconds=0)
                    self._bump(obj)
                    self._objects[key] = obj
                    self._emit("MODIFIED", rtype, obj)
                return copy.deepcopy(obj)
            self._remove(key, obj, orphan=orphan)
            return copy.deepcopy(obj)

    def _remove(self, key: Key, obj: Obj, orphan: bool = False) -> None:
        self._objects.pop(key, None)
        self._bump(obj)
        self._emit("DELETED", key[0], obj)
        if orphan:
            return
        uid = obj["metadata"]["uid"]
        # Garbage collection: a child goes when none of its owners is left.
        live_uids = {o["metadata"]["uid"] for o in self._objects.values()}
        for child_key, child in list(self._objects.items()):
            owners = child["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == uid for ref in owners) and not any(
                ref.get("uid") in live_uids for ref in owners
            ):
                with contextlib.suppress(ApiError):  # already collected through another owner
                    self._delete(child_key[0], child_key[1], child_key[2], orphan=False)
        if key[0].kind == "Namespace":
            for child_key in [k for k in self._objects if k[1] == key[2] and k[0].namespaced]:
                with contextlib.suppress(ApiError):
                    self._delete(child_key[0], child_key[1], child_key[2], orphan=False)

    def compact(self) -> None:
        """Forget the change history, so every watch resuming from an older version gets 410 Gone."""
        with self._lock:
            self._history.clear()
            self._oldest_rv = self._rv

    def fail(self, method: str, path_contains: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` HTTP requests of `method` whose path contains `path_contains`
        with a `status` error (induced API failures for reconciler tests)."""
        with self._lock:
            self._failures.append([method.upper(), path_contains, status, times])

    def _induced_failure(self, method: str, path: str) -> ApiError | None:
        with self._lock:
            for failure in self._failures:
                if failure[0] == method and failure[1] in path and failure[3] > 0:
                    failure[3] -= 1
                    return ApiError(failure[2], "InducedFailure", f"induced {failure[2]} for {method} {path}")
        return None

    # -- waiting, for tests -----------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """`tests.support.waiting.eventually` (kept for the test folders not moved to it yet)."""
        return eventually(predicate, timeout, what)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig (JSON is valid YAML) that points kopf and the runtime's client here."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    # -- HTTP -------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port) in the running loop; returns the base URL."""
        self._runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.loop.call_soon_threadsafe(watcher.queue.put_nowait, None)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        try:
            induced = self._induced_failure(request.method, request.path)
            if induced is not None:
                raise induced
            return await self._route(request)
        except ApiError as exc:
            return web.json_response(exc.status(), status=exc.code)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return web.json_response(
                ApiError(400, "BadRequest", f"bad request: {exc!r}").status(), status=400
            )

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET":
            discovery = self._discovery(parts)
            if discovery is not None:
                return web.json_response(discovery)
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"no route for {request.path}")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise ApiError(404, "NotFound", f"no resource in {request.path}")
        with self._lock:
            rtype = self._types.get((group, version, rest[0]))
        if rtype is None:
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource {request.path}"
            )
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else ""
        if subresource and not (subresource == "status" and rtype.has_status):
            raise ApiError(404, "NotFound", f"{rtype.plural} has no subresource {subresource!r}")
        query = request.query
        if name is None:
            if request.method == "GET" and query.get("watch") in ("true", "1"):
                return await self._watch(request, rtype, namespace)
            if request.method == "GET":
                items, rv = self._list(
                    rtype, namespace, query.get("labelSelector", ""), query.get("fieldSelector", "")
                )
                return web.json_response(
                    {
                        "apiVersion": rtype.api_version,
                        "kind": f"{rtype.kind}List",
                        "metadata": {"resourceVersion": str(rv), "continue": ""},
                        "items": items,
                    }
                )
            if request.method == "POST":
                return web.json_response(self._create(rtype, await request.json(), namespace), status=201)
            raise ApiError(405, "MethodNotAllowed", f"{request.method} on a collection")
        if request.method == "GET":
            with self._lock:
                obj = self._objects.get(self._key(rtype, namespace, name))
                if obj is None:
                    raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found')
                return web.json_response(copy.deepcopy(obj))
        if request.method == "PATCH":
            content_type = request.headers.get("Content-Type", "")
            if "apply-patch" in content_type:
                raise ApiError(
                    415, "UnsupportedMediaType", "server-side apply is not implemented by the fake"
                )
            body = await request.json()
            is_json_patch = "json-patch" in content_type
            updated = self._update(
                rtype, namespace, name, subresource, lambda old: _apply(old, body, is_json_patch)
            )
            return web.json_response(updated)
        if request.method == "PUT":
            body = await request.json()
            body.setdefault("metadata", {}).update(name=name)
            if namespace:
                body["metadata"]["namespace"] = namespace

            def replace(old: Obj) -> Obj:
                wanted = body["metadata"].get("resourceVersion")
                if wanted and wanted != old["metadata"]["resourceVersion"]:
                    raise ApiError(409, "Conflict", "the object has been modified; please apply your changes")
                return dict(body)

            return web.json_response(self._update(rtype, namespace, name, subresource, replace))
        if request.method == "DELETE":
            options: Obj = {}
            if request.can_read_body:
                with contextlib.suppress(json.JSONDecodeError):
                    options = await request.json() or {}
            policy = query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
            return web.json_response(self._delete(rtype, namespace, name, orphan=policy == "Orphan"))
        raise ApiError(405, "MethodNotAllowed", f"{request.method} on an object")

    def _discovery(self, parts: list[str]) -> Obj | None:
        with self._lock:
            types = list(self._types.values())
        if parts == ["version"]:
            return {
                "major": "1",
                "minor": "33",
                "gitVersion": "v1.33.0-eventwire-fake",
                "platform": "linux/amd64",
            }
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if parts == ["apis"]:
            groups: dict[str, list[str]] = {}
            for rtype in types:
                if rtype.group and rtype.version not in groups.setdefault(rtype.group, []):
                    groups[rtype.group].append(rtype.version)
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [_group_info(group, versions) for group, versions in sorted(groups.items())],
            }
        if len(parts) == 2 and parts[0] == "apis":
            versions = [t.version for t in types if t.group == parts[1]]
            if not versions:
                raise ApiError(404, "NotFound", f"no group {parts[1]}")
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_info(parts[1], sorted(set(versions)))}
        if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
            served = [t for t in types if (t.group, t.version) == (group, version)]
            if not served:
                raise ApiError(404, "NotFound", f"no group version {group}/{version}")
            resources: list[Obj] = []
            for rtype in served:
                resources.append(
                    {
                        "name": rtype.plural,
                        "singularName": rtype.singular,
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": VERBS,
                        "shortNames": list(rtype.short_names),
                        "categories": list(rtype.categories),
                    }
                )
                if rtype.has_status:
                    resources.append(
                        {
                            "name": f"{rtype.plural}/status",
                            "singularName": "",
                            "namespaced": rtype.namespaced,
                            "kind": rtype.kind,
                            "verbs": ["get", "patch", "update"],
                        }
                    )
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": rtype.api_version,
                "resources": resources,
            }
        return None

    async def _watch(
        self, request: web.Request, rtype: ResourceType, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        since_raw = query.get("resourceVersion", "")
        watcher = _Watcher(
            rtype,
            namespace,
            query.get("labelSelector", ""),
            query.get("fieldSelector", ""),
            asyncio.get_running_loop(),
        )
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        initial: list[Obj] = []
        with self._lock:
            since = int(since_raw) if since_raw.isdigit() else 0
            if since_raw and since_raw != "0" and since < self._oldest_rv:
                gone = ApiError(410, "Expired", f"too old resource version: {since} ({self._oldest_rv})")
                initial = [{"type": "ERROR", "object": gone.status()}]
            elif since:
                initial = [
                    {"type": event_type, "object": copy.deepcopy(obj)}
                    for rv, t, event_type, obj in self._history
                    if t == rtype and rv > since and watcher.wants(obj)
                ]
                self._watchers.append(watcher)
            else:
                items, rv = self._list(rtype, namespace, watcher.label_selector, watcher.field_selector)
                initial = [{"type": "ADDED", "object": obj} for obj in items]
                if query.get("sendInitialEvents") == "true":
                    initial.append(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "apiVersion": rtype.api_version,
                                "kind": rtype.kind,
                                "metadata": {
                                    "resourceVersion": str(rv),
                                    "annotations": {"k8s.io/initial-events-end": "true"},
                                },
                            },
                        }
                    )
                self._watchers.append(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for event in initial:
                await response.write(json.dumps(event).encode() + b"\n")
            if initial and initial[0]["type"] == "ERROR":
                return response
            deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
            while True:
                remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:
                    break
                await response.write(json.dumps(event).encode() + b"\n")
        except ConnectionResetError:
            pass  # the client went away
        finally:
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)
        return response


def _spec_of(obj: Obj) -> Obj:
    """What bumps metadata.generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _apply(old: Obj, patch: Any, as_json_patch: bool) -> Obj:
    result = json_patch(old, patch) if as_json_patch else merge_patch(old, patch)
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "a patch must leave an object")
    return result


def _group_info(group: str, versions: list[str]) -> Obj:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


@contextlib.contextmanager
def running_kube(fake: KubeApiFake | None = None) -> Iterator[KubeApiFake]:
    """Run a `KubeApiFake` on a free 127.0.0.1 port in a background thread until the block ends."""
    fake = fake or KubeApiFake()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="kube-api-fake", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=10)
        yield fake
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
