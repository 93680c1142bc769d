"""Billing periods: calendar months and days in a time zone, and rolling windows of N hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ROLLING = re.compile(r"^rolling[ :]?(\d+)\s*h(ours?)?$")


@dataclass(frozen=True, slots=True)
class Period:
    """A kind of period: ``month`` or ``day`` (calendar, in ``tz``), or ``rolling`` over ``hours``."""

    kind: str
    tz: ZoneInfo
    hours: int = 0

    @classmethod
    def parse(cls, spec: str, tz: str = "UTC") -> Period:
        """``"month"``, ``"day"`` or ``"rolling 5h"`` / ``"rolling:24h"``; raises ValueError otherwise."""
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        text = spec.strip().lower()
        if text in ("month", "monthly", "calendar_month"):
            return cls("month", zone)
        if text in ("day", "daily"):
            return cls("day", zone)
        match = _ROLLING.match(text)
        if match and int(match.group(1)) > 0:
            return cls("rolling", zone, int(match.group(1)))
        raise ValueError(f"unknown period {spec!r} (use 'month', 'day' or 'rolling Nh')")

    @property
    def label(self) -> str:
        return f"rolling {self.hours}h" if self.kind == "rolling" else self.kind

    def bounds(self, now: float) -> tuple[float, float]:
        """Start (inclusive) and end (exclusive) of the period containing ``now``, as epoch seconds.

        Calendar periods are computed on the local wall clock, so a month in Europe/Paris starts at
        local midnight whatever the DST offset; a rolling period is the ``hours`` before ``now``.
        """
        if self.kind == "rolling":
            return now - self.hours * 3600.0, now
        local = datetime.fromtimestamp(now, self.tz)
        if self.kind == "day":
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            end = (start + timedelta(days=1)).replace(tzinfo=None)
        else:
            start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
            end = start.replace(tzinfo=None, year=year, month=month)
        # Rebuild from naive wall-clock times so the offset is the one in force at each boundary.
        return (
            start.replace(tzinfo=None).replace(tzinfo=self.tz).timestamp(),
            end.replace(tzinfo=self.tz).timestamp(),
        )
