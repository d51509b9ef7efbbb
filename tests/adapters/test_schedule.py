"""Cron ticks across daylight-saving changes (no network, no waiting)."""

from __future__ import annotations

import datetime as dt

import pytest

from eventwire_runtime.adapters.schedule import CronSchedule
from eventwire_runtime.delivery.errors import ConfigError

UTC = dt.UTC


def _ticks(schedule: CronSchedule, start: dt.datetime, count: int) -> list[str]:
    out = []
    tick = start
    for _ in range(count):
        tick = schedule.next_after(tick)
        out.append(tick.strftime("%m-%d %H:%M:%S"))
    return out


@pytest.mark.parametrize(
    ("expression", "zone", "start_utc", "expected_utc"),
    [
        # Berlin springs forward at 01:00 UTC on 2026-03-29 (02:00 CET -> 03:00 CEST).
        # Hourly: every real hour fires exactly once; wall 02:00 does not exist and becomes 03:00.
        (
            "0 * * * *",
            "Europe/Berlin",
            "2026-03-28T22:30:00Z",
            ["03-28 23:00:00", "03-29 00:00:00", "03-29 01:00:00", "03-29 02:00:00"],
        ),
        # Daily at 02:30: that wall time is skipped by the clock, so it fires when the clock jumps.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2026-03-28T00:00:00Z",
            ["03-28 01:30:00", "03-29 01:00:00", "03-30 00:30:00"],
        ),
        # Every 30 minutes: the two wall times in the gap collapse into one tick at the jump.
        (
            "*/30 * * * *",
            "Europe/Berlin",
            "2026-03-29T00:10:00Z",
            ["03-29 00:30:00", "03-29 01:00:00", "03-29 01:30:00"],
        ),
        # Berlin falls back at 01:00 UTC on 2026-10-25 (03:00 CEST -> 02:00 CET): the repeated
        # wall 02:30 fires once, at its first occurrence.
        ("30 2 * * *", "Europe/Berlin", "2026-10-24T01:00:00Z", ["10-25 00:30:00", "10-26 01:30:00"]),
        (
            "0 * * * *",
            "Europe/Berlin",
            "2026-10-24T23:30:00Z",
            ["10-25 00:00:00", "10-25 02:00:00", "10-25 03:00:00"],
        ),
        # New York springs forward at 07:00 UTC on 2026-03-08.
        ("0 9 * * *", "America/New_York", "2026-03-07T00:00:00Z", ["03-07 14:00:00", "03-08 13:00:00"]),
        # Six fields: seconds last.
        ("* * * * * */20", "UTC", "2026-01-01T00:00:05Z", ["01-01 00:00:20", "01-01 00:00:40"]),
    ],
)
def test_ticks_are_exactly_once_across_clock_changes(
    expression: str, zone: str, start_utc: str, expected_utc: list[str]
) -> None:
    schedule = CronSchedule.parse(expression, zone)
    assert _ticks(schedule, dt.datetime.fromisoformat(start_utc), len(expected_utc)) == expected_utc


def test_a_day_of_hourly_ticks_across_each_change_has_no_gap_or_double() -> None:
    schedule = CronSchedule.parse("0 * * * *", "Europe/Berlin")
    for start in (dt.datetime(2026, 3, 28, 12, tzinfo=UTC), dt.datetime(2026, 10, 24, 12, tzinfo=UTC)):
        ticks = [schedule.next_after(start)]
        for _ in range(47):
            ticks.append(schedule.next_after(ticks[-1]))
        assert len(set(ticks)) == len(ticks)
        assert ticks == sorted(ticks)
        local_hours = [(t.astimezone(schedule.tz).date(), t.astimezone(schedule.tz).hour) for t in ticks]
        assert len(set(local_hours)) == len(local_hours), "a wall-clock hour fired twice"


def test_cron_tz_prefix_sets_the_zone() -> None:
    schedule = CronSchedule.parse("CRON_TZ=Asia/Tokyo 0 9 * * *")
    assert schedule.tz.key == "Asia/Tokyo"
    assert schedule.next_after(dt.datetime(2026, 1, 1, tzinfo=UTC)).hour == 0  # 09:00 JST


@pytest.mark.parametrize(
    ("expression", "zone", "message"),
    [
        ("61 * * * *", None, "invalid cron schedule"),
        ("", None, "invalid cron schedule"),
        ("0 * * * *", "Mars/Olympus", "unknown IANA time zone"),
        ("CRON_TZ=UTC 0 * * * *", "Europe/Paris", "schedule says"),
    ],
)
def test_bad_schedules_are_rejected_with_a_reason(expression: str, zone: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CronSchedule.parse(expression, zone)
