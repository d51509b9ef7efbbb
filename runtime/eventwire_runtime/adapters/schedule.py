"""Cron ticks as UTC instants, exact across daylight-saving changes.

A schedule names wall-clock times in an IANA time zone. `CronSchedule.next_after` walks those wall
times with croniter on naive datetimes and maps each to one instant:

- a wall time that occurs twice (clocks go back) fires once, at its first occurrence;
- a wall time that does not exist (clocks go forward) fires once, when the clock jumps (the first
  wall time after the gap); several skipped wall times collapse into that one tick;
- instants strictly increase, so no tick is ever sent twice.

Schedules have 5 fields (minute hour day month weekday), or 6 with seconds last, or a croniter
alias (`@hourly`, `@daily`, ...), or `@every <duration>` (Go duration syntax as in Knative's
PingSource, e.g. `90s`, `1h30m`; rounded down to whole seconds, at least 1 s): a fixed interval counted from the
adapter's start, independent of wall time and zone. A `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix
sets the zone, as in Knative's PingSource.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from dataclasses import dataclass

from croniter import croniter

from eventwire_runtime.delivery.errors import ConfigError

UTC = dt.UTC
# Longest daylight-saving gap anywhere is well under a day; bound the walk over it.
_MAX_GAP_MINUTES = 24 * 60
_MAX_COLLAPSED_TICKS = 4 * 3600 + 2
# Go's time.ParseDuration units, in seconds.
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string such as `90s`, `1h30m` or `1.5h` (no sign).

    Raises:
        ConfigError: naming `text` when it is not a Go duration.
    """
    body = text.strip()
    position, total = 0, 0.0
    while position < len(body):
        match = _GO_DURATION.match(body, position)
        if match is None:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if not body or position != len(body) or not math.isfinite(total):
        raise ConfigError(f"invalid @every duration {text!r} (e.g. '90s', '1h30m')")
    return total


def _exists(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def wall_to_instant(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant of naive wall time `wall` in `tz`: first occurrence if repeated, the end of
    the gap if it does not exist."""
    if not _exists(wall, tz):
        probe = wall.replace(second=0, microsecond=0)
        for _ in range(_MAX_GAP_MINUTES):
            probe += dt.timedelta(minutes=1)
            if _exists(probe, tz):
                return probe.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated cron expression in a time zone.

    Attributes:
        expression: the cron fields without any `CRON_TZ=` prefix.
        tz: the IANA zone wall times are read in.
    """

    expression: str
    tz: zoneinfo.ZoneInfo
    every: float | None = None  # seconds, for `@every <duration>`

    @classmethod
    def parse(cls, schedule: str, timezone: str | None = None) -> CronSchedule:
        """Parse a schedule, taking the zone from `timezone` or a `CRON_TZ=`/`TZ=` prefix (default UTC).

        Raises:
            ConfigError: for an invalid expression, an unknown zone, or two different zones.
        """
        text = schedule.strip()
        prefix_zone: str | None = None
        for prefix in ("CRON_TZ=", "TZ="):
            if text.startswith(prefix):
                head, _, text = text.partition(" ")
                prefix_zone = head[len(prefix) :]
                text = text.strip()
        if timezone and prefix_zone and timezone != prefix_zone:
            raise ConfigError(f"schedule says {prefix_zone!r} but timezone is {timezone!r}")
        zone_name = timezone or prefix_zone or "UTC"
        try:
            tz = zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown IANA time zone {zone_name!r} (e.g. 'Europe/Berlin')") from None
        if text.startswith("@every"):
            seconds = parse_go_duration(text[len("@every") :])
            # As Go's cron: whole seconds, rounded down, and at least one.
            return cls(text, tz, float(max(1, math.floor(seconds))))
        if not text or not croniter.is_valid(text):
            raise ConfigError(f"invalid cron schedule {schedule!r} (e.g. '*/5 * * * *')")
        return cls(text, tz)

    def next_after(self, instant: dt.datetime) -> dt.datetime:
        """The first tick strictly after `instant` (aware), as an aware UTC datetime."""
        instant = instant.astimezone(UTC)
        if self.every is not None:
            return instant + dt.timedelta(seconds=self.every)
        wall = instant.astimezone(self.tz).replace(tzinfo=None)
        it = croniter(self.expression, wall)
        # Only ticks collapsed into one daylight-saving gap can fail the test; a gap spans at most
        # a few hours of per-second ticks.
        for _ in range(_MAX_COLLAPSED_TICKS):
            candidate = wall_to_instant(it.get_next(dt.datetime), self.tz)
            if candidate > instant:
                return candidate
        raise ConfigError(f"schedule {self.expression!r} produced no tick after {instant.isoformat()}")
