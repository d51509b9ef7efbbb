"""Routing table from the Kubernetes API: list Channels and Brokers, then watch them.

Brokers (`eventing.eventwire.dev/v1`, routed from `status.triggers`, see broker.py) are watched
the same way as Channels, by a second watcher over the same table; everything below holds for
both kinds.

Reads `messaging.eventwire.dev/v1` Channels (all namespaces, or `EVENTWIRE_KUBE_NAMESPACE`) and
their `status.subscribers` (the controller's resolved routing entries). With
`EVENTWIRE_PROVISIONER` set, only the Channels that provisioner serves: `status.provisioner`, the
controller's resolution (a Channel naming none gets the cluster default), else `spec.provisioner`;
a Channel with neither is left out until the controller has resolved it, so two dispatchers never
consume the same channel; one that loses its resolution for a while (no default provisioner for
a moment) keeps the route it had.

Only a successful full list replaces the table; watch events then upsert or remove single
channels. A channel leaving the table (another provisioner serves it) is no longer routed but its
durable state is kept; only the watch's DELETED event deletes it (see routing.py). A dropped watch
resumes from the last resourceVersion; 410 Gone (history compacted) triggers a fresh list. A
Channel whose status is invalid is logged and skipped (its previous routes stay). Errors back off
0.5 s doubling to 10 s, and are reported on the table (/readyz names the last one).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from eventwire_runtime.api import MESSAGING_GROUP, VERSION
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher.broker import broker_from_object
from eventwire_runtime.dispatcher.routing import (
    BROKER,
    BROKER_PREFIX,
    CHANNEL,
    ChannelRoute,
    RoutingTable,
    channel_from_object,
)
from eventwire_runtime.dispatcher.settings import Settings

log = logging.getLogger(__name__)

EVENTING_GROUP = "eventing.eventwire.dev"  # Broker and Trigger (eventwire_runtime.api has no name for it yet)


def serving_provisioner(channel: dict[str, Any]) -> str | None:
    """The provisioner that serves `channel`: the controller's resolution, else the one it names."""
    resolved = (channel.get("status") or {}).get("provisioner")
    return resolved or (channel.get("spec") or {}).get("provisioner")


class _Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


class ChannelWatcher:
    """List+watch loop over Channels (or, with `kind=BROKER`, Brokers); `run()` until cancelled."""

    def __init__(self, settings: Settings, table: RoutingTable, kind: str = CHANNEL) -> None:
        assert settings.kube_api_url is not None
        self.settings = settings
        self.table = table
        self.kind = kind
        self.what = "Brokers" if kind == BROKER else "Channels"
        base = settings.kube_api_url.rstrip("/")
        ns = settings.kube_namespace
        scope = f"/namespaces/{ns}" if ns else ""
        if kind == BROKER:
            self.url = f"{base}/apis/{EVENTING_GROUP}/{VERSION}{scope}/brokers"
        else:
            self.url = f"{base}/apis/{MESSAGING_GROUP}/{VERSION}{scope}/channels"
        self.resource_version = ""

    def _key(self, meta: dict[str, Any]) -> tuple[str, str]:
        namespace, name = _key(meta)
        return (namespace, BROKER_PREFIX + name) if self.kind == BROKER else (namespace, name)

    def _headers(self) -> dict[str, str]:
        try:
            token = Path(self.settings.kube_token_file).read_text().strip()
        except OSError:
            return {}
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.url.startswith("https://"):
            return False
        if Path(self.settings.kube_ca_file).exists():
            return ssl.create_default_context(cafile=self.settings.kube_ca_file)
        return True

    def _route(self, obj: dict[str, Any]) -> ChannelRoute | None:
        """The channel's route; None when another provisioner serves it; its previous route (or
        None) while no provisioner is resolved."""
        meta = obj.get("metadata") or {}
        wanted = self.settings.provisioner
        if wanted is not None:
            serving = serving_provisioner(obj)
            if serving is None:  # unresolved for now: not a reason to drop anything
                return self.table.channels.get(self._key(meta))
            if serving != wanted:
                return None
        try:
            where = f"{self.what[:-1]} {meta.get('namespace')}/{meta.get('name')}"
            if self.kind == BROKER:
                return broker_from_object(obj, where=where)
            return channel_from_object(obj, where=where)
        except ConfigError as exc:
            log.error("ignoring invalid routing entries: %s", exc)
            raise

    async def run(self) -> None:
        delay = 0.5
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        ) as session:
            while True:
                try:
                    if not self.resource_version:
                        await self._list(session)
                    await self._watch(session)
                    delay = 0.5
                except _Gone:
                    log.info("watch expired (410); listing %s again", self.what)
                    self.resource_version = ""
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    log.warning("%s watch failed: %s; retrying in %.1fs", self.what, exc, delay)
                    if not self.table.loaded:
                        self.table.report_problem("kubernetes", f"cannot list {self.what}: {exc}")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                except Exception as exc:  # an answer of an unexpected shape: the watch goes on
                    log.exception("%s watch failed; retrying in %.1fs", self.what, delay)
                    self.table.report_problem(
                        "kubernetes", f"{self.what} watch failed: {type(exc).__name__}: {exc}"
                    )
                    self.resource_version = ""
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)

    async def _list(self, session: aiohttp.ClientSession) -> None:
        async with session.get(self.url, headers=self._headers(), ssl=self._ssl()) as resp:
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=await resp.text()
                )
            body = await resp.json()
        if not isinstance(body, dict) or not isinstance(body.get("items") or [], list):
            raise ValueError(f"the {self.what} list is not a Kubernetes List")
        routes = []
        previous = self.table.channels
        for obj in body.get("items") or []:
            try:
                route = self._route(obj)
            except ConfigError:
                route = previous.get(self._key(obj.get("metadata") or {}))
            if route is not None:
                routes.append(route)
        self.table.replace_all(routes, self.kind)
        self.resource_version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        log.info("routing table loaded from Kubernetes", extra={self.what.lower(): len(routes)})

    async def _watch(self, session: aiohttp.ClientSession) -> None:
        params = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "300"}
        if self.resource_version:
            params["resourceVersion"] = self.resource_version
        async with session.get(self.url, params=params, headers=self._headers(), ssl=self._ssl()) as resp:
            if resp.status == 410:
                raise _Gone
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=await resp.text()
                )
            async for line in resp.content:
                if line.strip():
                    self._apply(json.loads(line))

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone
            raise ValueError(f"watch error: {obj.get('message')}")
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.resource_version = str(meta["resourceVersion"])
        if kind == "BOOKMARK":
            return
        namespace, name = self._key(meta)
        if kind == "DELETED":
            self.table.remove(namespace, name, deleted=True)
            return
        try:
            route = self._route(obj)
        except ConfigError:
            return
        if route is None:
            self.table.remove(namespace, name)
        else:
            self.table.upsert(route)


def _key(meta: dict[str, Any]) -> tuple[str, str]:
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "")


async def watch_channels(settings: Settings, table: RoutingTable) -> None:
    """Keep `table` in step with the cluster's Channels and Brokers until cancelled."""
    async with asyncio.TaskGroup() as group:
        group.create_task(ChannelWatcher(settings, table).run(), name="watch-channels")
        group.create_task(ChannelWatcher(settings, table, BROKER).run(), name="watch-brokers")
