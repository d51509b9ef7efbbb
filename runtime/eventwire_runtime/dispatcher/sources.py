"""Routing-table sources: a watched YAML file, or a watch on Channel objects in Kubernetes.

File format (any of):

    channels:                      # short form
    - namespace: default
      name: orders
      delivery: {retry: 3}         # channel default for subscribers without their own
      subscribers:
      - {uid: s1, subscriberUri: "http://...", replyUri: ..., deadLetterSinkUri: ..., delivery: {...}}

or a list of Channel objects (`kind: Channel`, read from `status.subscribers`), bare or as a
`kind: List` with `items:`. A file that fails to parse is logged and the previous table kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable, channel_from_object

log = logging.getLogger(__name__)


def parse_routes(document: Any, provisioner: str | None = None) -> list[ChannelRoute]:
    """Channel routes from a loaded routes document (see the module docstring).

    Raises:
        ConfigError: naming the bad entry.
    """
    if document is None:
        return []
    if isinstance(document, dict):
        items = document.get("channels", document.get("items"))
        if items is None and "metadata" in document:
            items = [document]
    else:
        items = document
    if not isinstance(items, list):
        raise ConfigError("routes file must hold a 'channels' list, a list of Channels or a List's 'items'")
    routes = []
    for i, item in enumerate(items):
        if provisioner is not None and isinstance(item, dict) and "metadata" in item:
            wanted = (item.get("spec") or {}).get("provisioner")
            if wanted is not None and wanted != provisioner:
                continue
        routes.append(channel_from_object(item, where=f"channels[{i}]"))
    return routes


def load_routes_file(path: str, provisioner: str | None = None) -> list[ChannelRoute]:
    """Parse the routes file at `path`.

    Raises:
        ConfigError: for unreadable YAML or an invalid entry, naming the file.
    """
    try:
        text = Path(path).read_text()
        document = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read routes file {path}: {exc}") from None
    try:
        return parse_routes(document, provisioner)
    except ConfigError as exc:
        raise ConfigError(f"routes file {path}: {exc}") from None


async def watch_routes_file(
    path: str, table: RoutingTable, interval: float, provisioner: str | None = None
) -> None:
    """Reload `path` into `table` whenever its mtime, size or inode changes; runs until cancelled."""
    last: tuple[int, int, int] | None = None
    while True:
        try:
            st = os.stat(path)
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp != last:
            last = stamp
            if stamp is None:
                log.error("routes file %s is missing; keeping the current table", path)
            else:
                try:
                    routes = load_routes_file(path, provisioner)
                except ConfigError as exc:
                    log.error("%s; keeping the current table", exc)
                else:
                    table.replace_all(routes)
                    log.info(
                        "routing table loaded",
                        extra={
                            "channels": len(routes),
                            "subscribers": sum(len(r.subscribers) for r in routes),
                        },
                    )
        await asyncio.sleep(interval)
