"""The API's records shown on pages: their ISO times written as the dashboard writes times."""

from __future__ import annotations

from typing import Any

TIME_FIELDS = (
    "due_at",
    "decided_at",
    "sent_at",
    "next_attempt_at",
    "started_at",
    "finished_at",
    "updated_at",
    "price_at",
    "stock_at",
)


def readable_times(item: dict[str, Any]) -> dict[str, Any]:
    """A copy with ISO 8601 UTC times as ``fmt_time`` writes them (to the second, "UTC")."""
    out = dict(item)
    for name in TIME_FIELDS:
        value = out.get(name)
        if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
            out[name] = f"{value[:10]} {value[11:19]} UTC"
    return out
