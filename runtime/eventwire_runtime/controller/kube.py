"""A small asyncio Kubernetes API client for the reconcilers (get, list, create, patch, delete).

kopf watches and patches the objects it serves; the reconcilers also read what those objects
reference and manage children of other kinds, which this client does. It authenticates with the
same credentials kopf logged in with (`ConnectionInfo`), and resolves kinds to plurals through
discovery, cached per group/version.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

Obj = dict[str, Any]


class KubeError(Exception):
    """A Kubernetes API request failed; `status` is the HTTP status (0 for a transport error)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status


class KubeClient:
    """Async access to a Kubernetes API server.

    Args:
        server: the API base URL, e.g. https://10.0.0.1:443.
        headers: sent with every request (Authorization).
        ssl_context: for https servers; None uses the default verification.
        timeout: seconds per request.
        on_error: called with (method, status) for every failed request (status 0: no answer),
            e.g. to count them.
    """

    def __init__(
        self,
        server: str,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 15.0,
        on_error: Callable[[str, int], None] | None = None,
    ):
        self.server = server.rstrip("/")
        self._on_error = on_error
        self._headers = dict(headers or {})
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._plurals: dict[str, dict[str, tuple[str, bool]]] = {}

    @classmethod
    def from_connection_info(
        cls, info: Any, on_error: Callable[[str, int], None] | None = None
    ) -> KubeClient:
        """Build from kopf's `ConnectionInfo` (server, token or basic auth, CA, client cert)."""
        headers = {}
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        context: ssl.SSLContext | None = None
        if str(info.server).startswith("https"):
            context = ssl.create_default_context(
                cafile=info.ca_path or None,
                cadata=info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data,
            )
            if info.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if info.certificate_path:
                context.load_cert_chain(info.certificate_path, info.private_key_path)
        auth = None
        if info.username and info.password:
            auth = aiohttp.BasicAuth(info.username, info.password).encode()
            headers["Authorization"] = auth
        return cls(str(info.server), headers, context, on_error=on_error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json", **params: str
    ) -> Any:
        """One request; returns the decoded JSON. Raises KubeError for non-2xx and transport errors."""
        try:
            return await self._request(method, path, body, content_type, params)
        except KubeError as exc:
            if self._on_error is not None:
                self._on_error(method, exc.status)
            raise

    async def _request(
        self, method: str, path: str, body: Any, content_type: str, params: Mapping[str, str]
    ) -> Any:
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            async with self._sess().request(
                method,
                self.server + path,
                json=body,
                headers=headers,
                params=params or None,
                ssl=self._ssl or True,
            ) as rsp:
                if rsp.status >= 400:
                    try:
                        message = (await rsp.json()).get("message", rsp.reason)
                    except (aiohttp.ContentTypeError, ValueError):
                        message = await rsp.text()
                    raise KubeError(rsp.status, f"{method} {path}: {message}")
                return await rsp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(0, f"{method} {path}: {exc!r}") from exc

    async def _resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced) of a kind, from discovery; None when the server does not serve it."""
        if api_version not in self._plurals:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listing = await self.request("GET", path)
            except KubeError as exc:
                if exc.status == 404:
                    return None  # not cached: the CRD may be installed later
                raise
            self._plurals[api_version] = {
                r["kind"]: (r["name"], bool(r.get("namespaced")))
                for r in listing.get("resources", [])
                if "/" not in r["name"]
            }
        return self._plurals[api_version].get(kind)

    async def path(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        name: str | None = None,
        sub: str = "",
    ) -> str:
        found = await self._resource(api_version, kind)
        if found is None:
            raise KubeError(404, f"the server does not serve {kind} in {api_version}")
        plural, namespaced = found
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """The object, or None if it (or its kind) does not exist."""
        try:
            result: Obj = await self.request("GET", await self.path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def get_object(self, api_version: str, kind: str, name: str, namespace: str | None) -> Obj | None:
        """`ObjectLookup` for destination resolution."""
        return await self.get(api_version, kind, name, namespace)

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = ""
    ) -> list[Obj]:
        params = {"labelSelector": label_selector} if label_selector else {}
        try:
            result = await self.request("GET", await self.path(api_version, kind, namespace), **params)
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        return list(result.get("items", []))

    async def create(self, obj: Obj) -> Obj:
        meta = obj.get("metadata", {})
        path = await self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        result: Obj = await self.request("POST", path, obj)
        return result

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        sub: str = "",
    ) -> Obj:
        """A JSON merge patch (of the status subresource with sub="status")."""
        path = await self.path(api_version, kind, namespace, name, sub)
        result: Obj = await self.request("PATCH", path, patch, "application/merge-patch+json")
        return result

    async def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete (background propagation); False if it was already gone."""
        try:
            path = await self.path(api_version, kind, namespace, name)
            await self.request("DELETE", path, propagationPolicy="Background")
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True
