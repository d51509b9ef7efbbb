"""`KubeClient`: JSON objects in and out over kubernetes_asyncio's authenticated API client.

Why kubernetes_asyncio: it is the asyncio port of the official client, released with every
Kubernetes minor version, and runs on aiohttp, which the runtime already uses everywhere; its
configuration loaders cover in-cluster service accounts (with token rotation) and every
kubeconfig credential type. Its generated typed API does not fit a controller that handles any
kind by apiVersion/kind (our CRDs, Istio, Knative), so requests go through its generic
`call_api` with JSON bodies, and kinds resolve to paths through discovery here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.config.config_exception import ConfigException

from eventwire_runtime.errors import KubeConfigError, KubeError

Obj = dict[str, Any]
_JSON_RESPONSE = {200: "object", 201: "object", 202: "object"}


def _api_path(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def _stripped_token(configuration: k8s.Configuration) -> None:
    token = configuration.api_key.get("BearerToken")
    if isinstance(token, str) and token != token.rstrip():
        configuration.api_key["BearerToken"] = token.rstrip()


def _load_service_account(configuration: k8s.Configuration, **options: Any) -> None:
    """The library's in-cluster loader (`options` as it takes them), with the token stripped of
    trailing white space: the loader sends the file's text as is, and a token file ending with a
    newline (written by hand or by a tool, not by the kubelet) would make every request fail
    with a forbidden control character in its Authorization header. The loader's refresh hook
    (run before each request, re-reading a rotated token) restores the raw text, so it is wrapped."""
    k8s_config.load_incluster_config(client_configuration=configuration, **options)  # type: ignore[no-untyped-call]
    refresh: Callable[..., None] | None = getattr(configuration, "refresh_api_key_hook", None)

    def refresh_stripped(config: k8s.Configuration, *args: Any) -> None:
        if refresh is not None:
            refresh(config, *args)
        _stripped_token(config)

    configuration.refresh_api_key_hook = refresh_stripped
    _stripped_token(configuration)


class KubeClient:
    """One authenticated connection to the API server.

    Args:
        configuration: kubernetes_asyncio's configuration (host and credentials).
        on_error: called with (method, status) for every failed request (metrics).
    """

    def __init__(self, configuration: k8s.Configuration, on_error: Callable[[str, int], None] | None = None):
        self._configuration = configuration
        self._on_error = on_error
        self._plurals: dict[str, dict[str, tuple[str, bool]]] = {}
        self._client: k8s.ApiClient | None = None
        self._refresher: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        return str(self._configuration.host).rstrip("/")

    @property
    def _api(self) -> k8s.ApiClient:
        """Created on first use: its HTTP session belongs to the running event loop."""
        if self._client is None:
            self._client = k8s.ApiClient(self._configuration)
        return self._client

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, on_error: Callable[[str, int], None] | None = None
    ) -> KubeClient:
        """Credentials from a kubeconfig (`kubeconfig`, else $KUBECONFIG) when one is named, else
        the pod's service account when running in a pod, else ~/.kube/config.

        Raises:
            KubeConfigError: naming why no credentials could be loaded.
        """
        configuration = k8s.Configuration()
        path = kubeconfig or os.environ.get("KUBECONFIG") or None
        try:
            if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                # The service account token is re-read when the kubelet rotates it.
                _load_service_account(configuration)
                return cls(configuration, on_error)
            loader = await k8s_config.load_kube_config(config_file=path, client_configuration=configuration)
        except (ConfigException, OSError, ValueError) as exc:
            raise KubeConfigError(f"cannot load Kubernetes credentials: {exc}") from None
        client = cls(configuration, on_error)
        # Tokens of exec plugins and GCP expire: the library's refresher renews them (for other
        # credentials it returns at once).
        client._refresher = asyncio.create_task(k8s_config.refresh_token(loader, configuration))
        return client

    @classmethod
    def for_url(cls, url: str, on_error: Callable[[str, int], None] | None = None) -> KubeClient:
        """An unauthenticated client of `url` (`kubectl proxy`, the tests' API fake)."""
        return cls(k8s.Configuration(host=url.rstrip("/")), on_error)

    @classmethod
    def for_service_account(
        cls, url: str, token_file: str, ca_file: str, on_error: Callable[[str, int], None] | None = None
    ) -> KubeClient:
        """A client of `url` with a service account's token (re-read when the kubelet rotates it)
        and CA bundle, through the library's in-cluster loader; unauthenticated (`kubectl proxy`,
        the tests' API fake) when the token file is missing.

        Raises:
            KubeConfigError: the token file exists but the CA bundle does not, or cannot be read.
        """
        if not os.path.isfile(token_file):
            return cls.for_url(url, on_error)
        configuration = k8s.Configuration()
        # The loader takes the server from these two variables; `url` replaces it below.
        environ = {"KUBERNETES_SERVICE_HOST": "kubernetes.invalid", "KUBERNETES_SERVICE_PORT": "443"}
        try:
            _load_service_account(
                configuration, token_filename=token_file, cert_filename=ca_file, environ=environ
            )
        except (ConfigException, OSError, ValueError) as exc:
            raise KubeConfigError(f"cannot load the service account's credentials: {exc}") from None
        configuration.host = url.rstrip("/")
        return cls(configuration, on_error)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _failed(self, method: str, status: int, message: str) -> KubeError:
        if self._on_error is not None:
            self._on_error(method, status)
        return KubeError(status, message)

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json", **params: str
    ) -> Any:
        """One request; returns the decoded JSON. Raises KubeError for non-2xx and transport errors."""
        try:
            return await self._api.call_api(
                path,
                method,
                query_params=list(params.items()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                response_types_map=_JSON_RESPONSE,
                _return_http_data_only=True,
            )
        except k8s.ApiException as exc:
            status = int(exc.status or 0)
            raise self._failed(method, status, f"{method} {path}: {_message(exc.body, exc.reason)}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failed(method, 0, f"{method} {path}: {exc!r}") from exc

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, read_timeout: float, **params: str
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streaming GET (a watch): the open response, released when the block ends.

        Raises:
            KubeError: for a non-2xx answer (410 Gone included) or a transport error.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=read_timeout)
        try:
            response: aiohttp.ClientResponse = await self._api.call_api(
                path,
                "GET",
                query_params=list(params.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
                _return_http_data_only=True,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failed("GET", 0, f"GET {path}: {exc!r}") from exc
        try:
            if response.status >= 400:
                text = await response.text()
                raise self._failed("GET", response.status, f"GET {path}: {_message(text, response.reason)}")
            yield response
        finally:
            response.release()

    async def resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced) of a kind, from discovery; None when the server does not serve it."""
        if api_version not in self._plurals:
            try:
                listing = await self.request("GET", _api_path(api_version))
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
        found = await self.resource(api_version, kind)
        if found is None:
            raise KubeError(404, f"the server does not serve {kind} in {api_version}")
        plural, namespaced = found
        base = _api_path(api_version)
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


def _message(body: Any, reason: Any) -> str:
    """The `message` of a Kubernetes Status body, else the body or the HTTP reason."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    try:
        decoded = json.loads(body) if isinstance(body, str) and body else None
    except ValueError:
        decoded = None
    if isinstance(decoded, Mapping) and decoded.get("message"):
        return str(decoded["message"])
    return str(body or reason or "no answer")[:300]
