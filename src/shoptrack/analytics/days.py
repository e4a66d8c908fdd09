"""UTC days as the traffic tables key them (``YYYY-MM-DD``), and periods of them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

DAY_MS = 86_400_000


def utc_day(epoch_ms: int) -> str:
    """The UTC day of a time in ms: one division and a cached format per day."""
    return _day_name(epoch_ms // DAY_MS)


@lru_cache(maxsize=4096)
def _day_name(day_number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day_number)).isoformat()


def today(now_ms: int | None = None) -> date:
    if now_ms is None:
        return datetime.now(tz=UTC).date()
    return date.fromisoformat(utc_day(now_ms))


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
