"""Cron ticks as UTC instants, exact across daylight-saving changes.

A schedule names wall-clock times in an IANA time zone. `CronSchedule.next_after` walks those wall
times with croniter on naive datetimes and maps each to one instant:

- a wall time that occurs twice (clocks go back) fires once, at its first occurrence;
- a wall time that does not exist (clocks go forward) fires once, when the clock jumps (the first
  wall time after the gap); several skipped wall times collapse into that one tick;
- instants strictly increase, so no tick is ever sent twice.

Schedules have 5 fields (minute hour day month weekday), or 6 with seconds last, or a croniter
alias (`@hourly`, `@daily`, ...). A `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix sets the zone, as in
Knative's PingSource.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from croniter import croniter

from eventwire_runtime.delivery.errors import ConfigError

UTC = dt.UTC
# Longest daylight-saving gap anywhere is well under a day; bound the walk over it.
_MAX_GAP_MINUTES = 24 * 60
_MAX_COLLAPSED_TICKS = 4 * 3600 + 2


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
        if not text or not croniter.is_valid(text):
            raise ConfigError(f"invalid cron schedule {schedule!r} (e.g. '*/5 * * * *')")
        return cls(text, tz)

    def next_after(self, instant: dt.datetime) -> dt.datetime:
        """The first tick strictly after `instant` (aware), as an aware UTC datetime."""
        instant = instant.astimezone(UTC)
        wall = instant.astimezone(self.tz).replace(tzinfo=None)
        it = croniter(self.expression, wall)
        # Only ticks collapsed into one daylight-saving gap can fail the test; a gap spans at most
        # a few hours of per-second ticks.
        for _ in range(_MAX_COLLAPSED_TICKS):
            candidate = wall_to_instant(it.get_next(dt.datetime), self.tz)
            if candidate > instant:
                return candidate
        raise ConfigError(f"schedule {self.expression!r} produced no tick after {instant.isoformat()}")
