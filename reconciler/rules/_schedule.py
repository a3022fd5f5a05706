"""When a vzdump job last should have started, from its PVE calendar-event schedule (pure).

PVE's schedules are systemd-like calendar events evaluated in the node's local time:
`[WEEKDAYS] [HOURS:MINUTES]`, e.g. `21:00`, `mon..fri 02:30`, `sat`, `*/30`, `0/6:00`, `8..17,22:0/15`, plus
the words minutely, hourly, daily, weekly, monthly. A part left out is `*` for hours with minutes given alone
(`*/30`: every 30 minutes) and 00:00 when only weekdays are given. Dates (`2026-01-01`, `*-*-01`) and seconds
are not understood: `last_start` then answers None, and the caller says nothing rather than guess.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator

from ..record import record

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WORDS = {"minutely": "*:*", "hourly": "*:00", "daily": "00:00", "weekly": "mon 00:00", "monthly": None,
          "yearly": None, "annually": None, "quarterly": None, "semiannually": None}
_SEARCH_DAYS = 8


@record
class Schedule:
    weekdays: frozenset[int]  # 0 = Monday
    hours: tuple[int, ...]  # descending
    minutes: tuple[int, ...]  # descending


def parse_schedule(text: str | None) -> Schedule | None:
    """The schedule, or None when it uses what this reader does not understand."""
    if not text:
        return None
    spec = " ".join(text.strip().lower().split())
    if spec in _WORDS:
        spec = _WORDS[spec]
        if spec is None:
            return None
    parts = spec.split(" ")
    weekdays = frozenset(range(7))
    if parts and re.fullmatch(r"[a-z.,]+", parts[0]):
        days = _weekdays(parts.pop(0))
        if days is None:
            return None
        weekdays = days
    if len(parts) > 1:
        return None
    time = parts[0] if parts else "00:00"
    hour_text, _, minute_text = time.rpartition(":")
    hours = _values(hour_text or "*", 24)
    minutes = _values(minute_text, 60)
    if hours is None or minutes is None or time.count(":") > 1:
        return None
    return Schedule(weekdays, tuple(sorted(hours, reverse=True)), tuple(sorted(minutes, reverse=True)))


def last_start(schedule: Schedule, before: int, zone: str) -> int | None:
    """The latest start at or before epoch `before`, in the last eight days (None if there is none)."""
    return next((start for start in _starts(schedule, before, zone, forward=False) if start <= before), None)


def next_start(schedule: Schedule, after: int, zone: str) -> int | None:
    """The first start after epoch `after`, in the next eight days (None if there is none)."""
    return next((start for start in _starts(schedule, after, zone, forward=True) if start > after), None)


def _starts(schedule: Schedule, epoch: int, zone: str, forward: bool) -> Iterator[int]:
    """The schedule's starts day by day from `epoch`'s day, in time order (forward) or reverse (backward)."""
    tz = zoneinfo.ZoneInfo(zone)
    local = dt.datetime.fromtimestamp(epoch, tz)
    for offset in range(_SEARCH_DAYS + 1):
        day = (local + dt.timedelta(days=offset if forward else -offset)).date()
        if day.weekday() not in schedule.weekdays:
            continue
        for hour in (reversed(schedule.hours) if forward else schedule.hours):
            for minute in (reversed(schedule.minutes) if forward else schedule.minutes):
                yield int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp())


def _weekdays(text: str) -> frozenset[int] | None:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("..")
        if first not in _DAYS or (last and last not in _DAYS):
            return None
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def _values(text: str, limit: int) -> set[int] | None:
    """`*`, `N`, `A..B`, `A/STEP`, `*/STEP`, comma lists of those."""
    values: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\*|\d{1,2})(?:\.\.(\d{1,2}))?(?:/(\d{1,2}))?", part)
        if match is None:
            return None
        start_text, end_text, step_text = match.groups()
        start = 0 if start_text == "*" else int(start_text)
        end = int(end_text) if end_text else (limit - 1 if start_text == "*" or step_text else start)
        step = int(step_text) if step_text else 1
        if step == 0 or start >= limit or end >= limit or start > end:
            return None
        values.update(range(start, end + 1, step))
    return values
