"""`ListWatch`: the objects of one collection, kept current through list + watch.

A collection is listed, then watched from the list's resourceVersion with bookmarks; a watch
that ends (its timeout, a cut connection) resumes from the last resourceVersion seen, so nothing
is missed or repeated. A `410 Gone` (the server compacted that history) re-lists, and the list is
diffed against the objects already known: only what changed meanwhile is reported (a vanished
object as DELETED), so a re-list never replays the whole collection. Errors are retried after
`reconnect(attempt)` seconds; `stopping` ends the loop between reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import aiohttp

from eventwire_runtime.errors import GoneError, KubeError
from eventwire_runtime.kube._client import KubeClient, Obj

log = logging.getLogger(__name__)

Change = Literal["ADDED", "MODIFIED", "DELETED"]
Observe = Callable[[Change, Obj], Awaitable[None]]


class ListWatch:
    """Reports every change of the objects at `path` to `observe`, once per resourceVersion.

    Args:
        client: the API client.
        path: the collection, e.g. /api/v1/namespaces/ns1/pods.
        observe: called with ADDED (first seen), MODIFIED (a new resourceVersion) or DELETED (a
            known object went), in the order the server reports them.
        stopping: set to end `run`.
        reconnect: seconds to wait before retry `attempt` (1, 2, ...) after an error.
        label_selector: a labelSelector query, "" for all objects.
        timeout_seconds: how long each watch request lasts before it is renewed.
        on_listed: called after each complete list (the first one makes a consumer ready).
        on_error: called with each error the loop retries after (a consumer's readiness report).
        logger: where re-lists and retries are logged (the consumer's, by default this module's).
    """

    def __init__(
        self,
        client: KubeClient,
        path: str,
        observe: Observe,
        *,
        stopping: asyncio.Event,
        reconnect: Callable[[int], float],
        label_selector: str = "",
        timeout_seconds: int = 300,
        on_listed: Callable[[], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        logger: logging.Logger = log,
    ):
        self.client = client
        self.path = path
        self._observe = observe
        self._stopping = stopping
        self._reconnect = reconnect
        self._selector = {"labelSelector": label_selector} if label_selector else {}
        self._timeout = timeout_seconds
        self._on_listed = on_listed
        self._on_error = on_error
        self._log = logger
        self.known: dict[str, tuple[str, Obj]] = {}  # uid -> (resourceVersion, object)
        self.listing = False  # True while a list is reported (a consumer may wait for on_listed)

    async def run(self) -> None:
        resource_version: str | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = await self._list()
                    if self._on_listed is not None:
                        self._on_listed()
                resource_version = await self._watch(resource_version)
                failures = 0
            except GoneError:
                self._log.info("watch of %s expired (410 Gone); re-listing", self.path)
                resource_version = None
            except (KubeError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures += 1
                delay = self._reconnect(failures)
                self._log.warning("watch of %s failed (%s); retrying in %.1fs", self.path, exc, delay)
                if self._on_error is not None:
                    self._on_error(exc)
                if await self._sleep_or_stop(delay):
                    return

    async def _report(self, change: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        uid, version = str(meta.get("uid", "")), str(meta.get("resourceVersion", ""))
        if change == "DELETED":
            if self.known.pop(uid, None) is not None or not uid:
                await self._observe("DELETED", obj)
            return
        previous = self.known.get(uid)
        if previous is not None and previous[0] == version:
            return  # a re-list or resumed watch repeating what was reported
        self.known[uid] = (version, obj)
        await self._observe("ADDED" if previous is None else "MODIFIED", obj)

    async def _list(self) -> str:
        try:
            listing = await self.client.request("GET", self.path, **self._selector)
        except KubeError as exc:
            if exc.status == 410:
                raise GoneError(str(exc)) from None
            raise
        items = listing.get("items") or [] if isinstance(listing, dict) else None
        if not isinstance(items, list) or not all(isinstance(obj, dict) for obj in items):
            raise ValueError(f"the answer to GET {self.path} is not a Kubernetes List")
        seen: set[str] = set()
        self.listing = True
        try:
            for obj in items:
                seen.add(str((obj.get("metadata") or {}).get("uid", "")))
                await self._report("ADDED", obj)
            for uid in [u for u in self.known if u not in seen]:
                await self._report("DELETED", self.known[uid][1])
        finally:
            self.listing = False
        return str((listing.get("metadata") or {}).get("resourceVersion", "0"))

    async def _watch(self, resource_version: str) -> str:
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self._timeout),
            **self._selector,
        }
        try:
            async with self.client.stream(self.path, self._timeout + 30, **query) as response:
                async for line in self._lines(response):
                    event = json.loads(line)
                    kind = event.get("type")
                    obj = event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise GoneError(obj.get("message", ""))
                        raise ValueError(f"watch error: {obj.get('message', obj)}")
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        await self._report(kind, obj)
                    version = (obj.get("metadata") or {}).get("resourceVersion")
                    if version:
                        resource_version = str(version)
        except KubeError as exc:
            if exc.status == 410:
                raise GoneError(str(exc)) from None
            raise
        return resource_version

    async def _lines(self, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """Newline-delimited watch events of any size, until the stream ends or `stopping`."""
        buffer = b""
        chunks = response.content.iter_any().__aiter__()
        while True:
            read = asyncio.ensure_future(chunks.__anext__())
            stopper = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({read, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
            if not read.done():
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

    async def _sleep_or_stop(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._stopping.wait()
        except TimeoutError:
            return False
        return True
