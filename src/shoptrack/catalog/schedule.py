"""Import schedules: ``hourly``, ``daily@03:00``, ``weekly`` / ``weekly@mon@03:00``, ``every 6h``.

Clock times are read in the zone of the ``feed_timezone`` setting (UTC by default). A run that
was missed (the worker was down) happens once when the worker is back, then the schedule
continues from that moment: runs are never caught up one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)"
_DAILY = re.compile(rf"^daily(?:@{_TIME})?$")
_WEEKLY = re.compile(rf"^weekly(?:@(?P<day>{'|'.join(_DAYS)})[a-z]*)?(?:@{_TIME})?$")
_EVERY = re.compile(r"^every\s*(?P<n>\d+)\s*(?P<unit>m|min|h|d)$")
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400}
MIN_INTERVAL_S = 5 * 60


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Schedule:
    text: str
    kind: str  # hourly | daily | weekly | every
    hour: int = 0
    minute: int = 0
    weekday: int = 0
    interval_s: int = 0

    def next_after(self, now_ms: int, tz: ZoneInfo | None = None) -> int:
        """The first run strictly after ``now_ms`` (epoch milliseconds)."""
        if self.kind == "every":
            return now_ms + self.interval_s * 1000
        zone = tz or ZoneInfo("UTC")
        now = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(zone)
        if self.kind == "hourly":
            candidate = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            return int(candidate.timestamp() * 1000)
        day = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        step = timedelta(days=1)
        if self.kind == "weekly":
            day += timedelta(days=(self.weekday - day.weekday()) % 7)
            step = timedelta(days=7)
        while day <= now:
            day += step
        # Rebuild the wall-clock time in the zone: a day step across DST keeps 03:00 at 03:00.
        day = datetime(day.year, day.month, day.day, self.hour, self.minute, tzinfo=zone)
        return int(day.timestamp() * 1000)


def parse_schedule(text: str) -> Schedule:
    cleaned = " ".join(text.strip().lower().split())
    if cleaned == "hourly":
        return Schedule(cleaned, "hourly")
    if match := _DAILY.match(cleaned):
        return Schedule(cleaned, "daily", int(match["h"] or 0), int(match["m"] or 0))
    if match := _WEEKLY.match(cleaned):
        day = _DAYS.index(match["day"][:3]) if match["day"] else 0
        return Schedule(cleaned, "weekly", int(match["h"] or 0), int(match["m"] or 0), day)
    if match := _EVERY.match(cleaned):
        seconds = int(match["n"]) * _UNIT_SECONDS[match["unit"]]
        if seconds < MIN_INTERVAL_S:
            raise ScheduleError(f"{text!r}: the shortest interval is every {MIN_INTERVAL_S // 60}m")
        return Schedule(cleaned, "every", interval_s=seconds)
    raise ScheduleError(
        f"{text!r} is not a schedule; use hourly, daily@03:00, weekly, weekly@mon@03:00 or every 6h"
    )
