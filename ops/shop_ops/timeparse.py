"""The times and durations operators type: ISO 8601 moments (UTC unless they carry an offset), or an
age such as 90s, 15m, 2h, 3d meaning that long before now."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 2h or 3d")
    return timedelta(**{_UNITS[match[2]]: float(match[1])})


def moment(text: str, now: datetime) -> datetime:
    """`text` as a moment: an ISO 8601 time, `now`, or a duration before `now`."""
    if text.strip() == "now":
        return now
    if _DURATION.match(text):
        return now - duration(text)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor an age such as 30m") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def age(delta: timedelta | None) -> str:
    """A short human age: 45s, 3m12s, 2h05m, 4d03h; '-' for none."""
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
