"""Routing-table sources: a watched YAML file, or a watch on Channel objects in Kubernetes.

File format (any of):

    channels:                      # short form
    - namespace: default
      name: orders
      delivery: {retry: 3}         # channel default for subscribers without their own
      subscribers:
      - {uid: s1, subscriberUri: "http://...", replyUri: ..., deadLetterSinkUri: ..., delivery: {...}}

or a list of Channel objects (`kind: Channel`, read from `status.subscribers`), bare or as a
`kind: List` with `items:`. Brokers go in a `brokers:` list (broker.py has their format) or as
`kind: Broker` objects among the items. Each channel may list tombstones, `deletedSubscribers: [{uid}]`:
the only way to delete a subscription's durable state (see routing.py).

The previous table is kept, never replaced by an empty one, when the file is missing, empty or
comment-only (a file rewritten in place is empty for a moment: only an explicit `channels: []`
empties the table), or unreadable in any way (bad bytes, bad YAML, too deeply nested, invalid
entries). Each such failure is logged, counted (`table.report_problem`: /readyz answers 503
naming it, the errors metric counts it) and the watch goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.dispatcher import guards
from eventwire_runtime.dispatcher.broker import broker_from_object
from eventwire_runtime.dispatcher.routing import ChannelRoute, RoutingTable, channel_from_object

log = logging.getLogger(__name__)


def parse_routes(document: Any, provisioner: str | None = None) -> list[ChannelRoute]:
    """Channel routes from a loaded routes document (see the module docstring).

    Raises:
        ConfigError: naming the bad entry, or saying the document is empty (an empty document
            is no table at all; `channels: []` is an empty one).
    """
    if document is None:
        raise ConfigError("routes file is empty (write 'channels: []' for an empty table)")
    brokers: Any = []
    if isinstance(document, dict):
        brokers = document.get("brokers") or []
        items = document.get("channels", document.get("items"))
        if items is None and "metadata" in document:
            items = [document]
        if items is None and "brokers" in document:
            items = []
    else:
        items = document
    if not isinstance(items, list):
        raise ConfigError("routes file must hold a 'channels' list, a list of Channels or a List's 'items'")
    if not isinstance(brokers, list):
        raise ConfigError("routes file: 'brokers' must be a list")
    routes = []
    for i, item in enumerate(items):
        if provisioner is not None and isinstance(item, dict) and "metadata" in item:
            wanted = (item.get("spec") or {}).get("provisioner")
            if wanted is not None and wanted != provisioner:
                continue
        if isinstance(item, dict) and item.get("kind") == "Broker":
            routes.append(broker_from_object(item, where=f"items[{i}]"))
        else:
            routes.append(channel_from_object(item, where=f"channels[{i}]"))
    routes.extend(broker_from_object(item, where=f"brokers[{i}]") for i, item in enumerate(brokers))
    return routes


def load_routes_file(path: str, provisioner: str | None = None) -> list[ChannelRoute]:
    """Parse the routes file at `path`.

    Raises:
        ConfigError: for unreadable YAML or an invalid entry, naming the file.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
        document = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:  # ValueError: a bad date
        raise ConfigError(f"cannot read routes file {path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"cannot read routes file {path}: nested too deeply") from None
    try:
        return parse_routes(document, provisioner)
    except ConfigError as exc:
        raise ConfigError(f"routes file {path}: {exc}") from None


async def watch_routes_file(
    path: str, table: RoutingTable, interval: float, provisioner: str | None = None
) -> None:
    """Reload `path` into `table` whenever its mtime, size or inode changes; runs until cancelled.

    Never dies: any failure keeps the current table and is reported (see the module docstring).
    """
    last: tuple[int, int, int] | None = None
    while True:
        try:
            st = os.stat(path)
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp != last:
            last = stamp
            try:
                if stamp is None:
                    raise ConfigError(f"routes file {path} is missing")
                routes = load_routes_file(path, provisioner)
            except ConfigError as exc:
                log.error("%s; keeping the current table", exc)
                table.report_problem("file", str(exc))
            except Exception as exc:  # task boundary: a bug in reading must not end the watch for good
                guards.caught(
                    "routes_file", log, "reading routes file %s failed; keeping the current table", path
                )
                table.report_problem("file", f"cannot read routes file {path}: {type(exc).__name__}: {exc}")
            else:
                table.replace_all(routes)
                log.info(
                    "routing table loaded",
                    extra={
                        "channels": len(routes),
                        "subscribers": sum(len(r.subscribers) for r in routes),
                        "paused": sum(len(r.paused) for r in routes),
                    },
                )
        await asyncio.sleep(interval)
