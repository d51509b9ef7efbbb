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

Both go through the runtime's one Kubernetes client (eventwire_runtime.kube): `ListWatch` lists,
watches from the list's resourceVersion, resumes a dropped watch and re-lists after 410 Gone.
Only a successful, well-shaped full list replaces the table (per kind); watch events then upsert
or remove single channels. A channel leaving the table (another provisioner serves it, or it
vanished while the watch history was compacted) is no longer routed but its durable state is
kept; only the watch's DELETED event deletes it (see routing.py). A Channel whose status is
invalid is logged and skipped (its previous routes stay). Errors back off 0.5 s doubling to 10 s
and are reported on the table (/readyz names the last one); the loop never ends on an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from eventwire_runtime.api import MESSAGING_GROUP, VERSION
from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher import guards
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
from eventwire_runtime.kube import Change, KubeClient, KubeError, ListWatch, Obj

log = logging.getLogger(__name__)

EVENTING_GROUP = "eventing.eventwire.dev"  # Broker and Trigger (eventwire_runtime.api has no name for it yet)


def serving_provisioner(channel: dict[str, Any]) -> str | None:
    """The provisioner that serves `channel`: the controller's resolution, else the one it names."""
    resolved = (channel.get("status") or {}).get("provisioner")
    return resolved or (channel.get("spec") or {}).get("provisioner")


def _backoff(attempt: int) -> float:
    return min(0.5 * 2.0 ** min(attempt - 1, 5), 10.0)


class ChannelWatcher:
    """List+watch loop over Channels (or, with `kind=BROKER`, Brokers); `run()` until cancelled."""

    def __init__(self, settings: Settings, table: RoutingTable, kind: str = CHANNEL) -> None:
        assert settings.kube_api_url is not None
        self.settings = settings
        self.table = table
        self.kind = kind
        self.what = "Brokers" if kind == BROKER else "Channels"
        ns = settings.kube_namespace
        scope = f"/namespaces/{ns}" if ns else ""
        if kind == BROKER:
            self.path = f"/apis/{EVENTING_GROUP}/{VERSION}{scope}/brokers"
        else:
            self.path = f"/apis/{MESSAGING_GROUP}/{VERSION}{scope}/channels"
        self.watch: ListWatch | None = None

    def _key(self, meta: dict[str, Any]) -> tuple[str, str]:
        namespace, name = _key(meta)
        return (namespace, BROKER_PREFIX + name) if self.kind == BROKER else (namespace, name)

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
        attempt = 0
        while True:
            client: KubeClient | None = None
            try:
                s = self.settings
                assert s.kube_api_url is not None
                client = KubeClient.for_service_account(s.kube_api_url, s.kube_token_file, s.kube_ca_file)
                self.watch = ListWatch(
                    client,
                    self.path,
                    self._observe,
                    stopping=asyncio.Event(),  # never set: the task is cancelled instead
                    reconnect=_backoff,
                    on_listed=self._listed,
                    on_error=self._failed,
                    logger=log,
                )
                await self.watch.run()
            except KubeError as exc:  # no usable credentials (ListWatch retries the API's own errors)
                attempt += 1
                delay = _backoff(attempt)
                log.error("%s watch cannot start: %s; retrying in %.1fs", self.what, exc, delay)
                self.table.report_problem("kubernetes", f"{self.what} watch cannot start: {exc}")
                await asyncio.sleep(delay)
            except Exception as exc:  # task boundary: a bug applying an object must not end the watch
                attempt += 1
                delay = _backoff(attempt)
                guards.caught("kube_watch", log, "%s watch failed; retrying in %.1fs", self.what, delay)
                self.table.report_problem(
                    "kubernetes", f"{self.what} watch failed: {type(exc).__name__}: {exc}"
                )
                await asyncio.sleep(delay)
            finally:
                if client is not None:
                    await client.close()

    def _failed(self, exc: Exception) -> None:
        """A list or watch failure ListWatch retries: named on /readyz until this kind's first list."""
        if self.kind not in self.table.loaded_kinds:
            self.table.report_problem("kubernetes", f"cannot list {self.what}: {exc}")

    def _listed(self) -> None:
        """A complete list: it replaces this kind's routes as a whole."""
        assert self.watch is not None
        routes = []
        previous = self.table.channels
        for _, obj in self.watch.known.values():
            try:
                route = self._route(obj)
            except ConfigError:
                route = previous.get(self._key(obj.get("metadata") or {}))
            if route is not None:
                routes.append(route)
        self.table.replace_all(routes, self.kind)
        log.info("routing table loaded from Kubernetes", extra={self.what.lower(): len(routes)})

    async def _observe(self, change: Change, obj: Obj) -> None:
        if self.watch is not None and self.watch.listing:
            return  # a list is applied as a whole by _listed (what vanished is no deletion)
        namespace, name = self._key(obj.get("metadata") or {})
        if change == "DELETED":
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
