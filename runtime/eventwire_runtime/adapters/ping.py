"""PingSource: a fixed event on a cron schedule.

Environment (besides the common contract in `env`):

    PING_SCHEDULE       required; cron expression, 5 fields (6 with seconds last), an alias such
                        as `@hourly`, or `@every <Go duration>` (e.g. `@every 90s`), optionally
                        prefixed `CRON_TZ=<zone> `.
    PING_TIMEZONE       optional IANA zone the schedule is read in (default UTC).
    PING_DATA           optional; the event data as text.
    PING_DATA_BASE64    optional; the event data base64-encoded (binary data). Not with PING_DATA.
    PING_CONTENT_TYPE   optional; datacontenttype of the data (default text/plain when data is
                        set, none otherwise).
    PING_JITTER         optional; each tick waits a uniformly random 0..PING_JITTER seconds
                        (plain seconds or ISO-8601; default 0) so many sources spread their load.

Events: type `dev.knative.sources.ping`, source `/apis/v1/namespaces/<NAMESPACE>/pingsources/<NAME>`
(Knative's), a new UUID id, `time` the scheduled tick instant. Ticks follow `schedule.CronSchedule`:
exactly one per scheduled wall time across daylight-saving changes. Each tick is sent in its own
task so a slow or retrying sink does not delay the next one (the in-flight limit still applies).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import logging
import random
import time

from eventwire_runtime.adapters.base import BaseAdapter
from eventwire_runtime.adapters.env import AdapterEnv, env_seconds, env_str
from eventwire_runtime.adapters.events import SourceEvent, binary_message
from eventwire_runtime.adapters.schedule import CronSchedule
from eventwire_runtime.adapters.sender import EventSender
from eventwire_runtime.delivery.errors import ConfigError

log = logging.getLogger(__name__)

PING_TYPE = "dev.knative.sources.ping"
# Longest single sleep: re-reading the clock this often tolerates wall-clock steps (NTP).
_MAX_SLEEP = 30.0


class PingAdapter(BaseAdapter):
    """Sends PING_DATA at every tick of PING_SCHEDULE (see the module docstring)."""

    def __init__(self, env: AdapterEnv, sender: EventSender) -> None:
        super().__init__(env, sender)
        environ = env.environ
        self.schedule = CronSchedule.parse(
            env_str(environ, "PING_SCHEDULE"), environ.get("PING_TIMEZONE") or None
        )
        text = environ.get("PING_DATA")
        encoded = environ.get("PING_DATA_BASE64")
        if text and encoded:
            raise ConfigError("set PING_DATA or PING_DATA_BASE64, not both")
        self.data = b""
        if encoded:
            try:
                self.data = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ConfigError("PING_DATA_BASE64 is not valid base64") from None
        elif text:
            self.data = text.encode("utf-8")
        default_type = "text/plain" if self.data else None
        self.content_type = environ.get("PING_CONTENT_TYPE") or default_type
        self.jitter = env_seconds(environ, "PING_JITTER", 0.0)
        self.source = f"/apis/v1/namespaces/{env.namespace}/pingsources/{env.name}"
        self.mode = f"cron {self.schedule.expression!r} in {self.schedule.tz.key}"
        self._tasks: set[asyncio.Task[None]] = set()

    def event_for(self, tick: dt.datetime) -> SourceEvent:
        """The event sent for the tick at instant `tick`."""
        return SourceEvent(
            type=PING_TYPE, source=self.source, data=self.data, datacontenttype=self.content_type, time=tick
        )

    async def run(self) -> None:
        self._ready = True
        tick = self.schedule.next_after(dt.datetime.now(dt.UTC))
        try:
            while not self.stopping.is_set():
                if await self._sleep_until(tick):
                    break
                task = asyncio.create_task(self._fire(tick))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                tick = self.schedule.next_after(tick)
            # Drain: ticks already fired finish their delivery.
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            for task in self._tasks:
                task.cancel()

    async def _sleep_until(self, tick: dt.datetime) -> bool:
        """Sleep until wall-clock instant `tick` in bounded steps; True when stopping."""
        while True:
            remaining = tick.timestamp() - time.time()
            if remaining <= 0:
                return self.stopping.is_set()
            if await self.sleep_or_stop(min(remaining, _MAX_SLEEP)):
                return True

    async def _fire(self, tick: dt.datetime) -> None:
        if self.jitter:
            await asyncio.sleep(random.uniform(0, self.jitter))
        headers, body = binary_message(self.event_for(tick), self.env.ce_overrides)
        outcome = await self.sender.send(headers, body)
        if not outcome.accepted:
            log.error(
                "tick %s not delivered after %d attempt(s): %s",
                tick.isoformat(),
                outcome.attempts,
                outcome.error,
            )
