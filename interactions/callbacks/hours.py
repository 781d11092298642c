"""Opening hours in a time zone (the contact centre's, a customer's), and the next moment two sets allow.

Hours are written per weekday in local wall-clock time, e.g. ``mon-fri 08:00-20:00; sat 09:00-13:00``,
or ``daily 00:00-24:00``. Every interval becomes aware UTC instants for each local date with zoneinfo, so a
day that is 23 or 25 hours long (a DST change) gets the right instants. A wall-clock time that does not exist
on a spring-forward day (02:30 when the clocks jump from 02:00 to 03:00) is the moment of the change, when
the clock passes it: hours ending then close at the change, hours starting then open at it (zoneinfo alone
would read it with the offset before the change, an hour late). One that occurs twice is its first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(r"\A(?P<days>[a-z]{3}(?:-[a-z]{3})?|daily)\s+(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)\Z")
# How far ahead one step of the search for an allowed moment looks, and how far it looks at most: weekly
# hours repeat every week, but where two zones' daylight saving differs their overlap may open only some
# months of the year (a London centre and New Zealand customers, April to September). A window was cut to
# 31 days: a request whose first allowed moment was later was refused, and a callback expired early.
HORIZON = timedelta(days=31)
SEARCH_LIMIT = timedelta(days=400)


class InvalidHours(ValueError):
    """A malformed hours specification or time zone."""


def zone(name: str) -> ZoneInfo:
    """A zone tzdata knows. Leniently: it reads zones already stored (a customer's, the business's);
    what a request gives is checked strictly first (catalogue.zones.iana_zone)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidHours(f"{name!r} is not an IANA time zone") from exc


def _minutes(text: str, spec: str) -> int:
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise InvalidHours(f"{text!r} in {spec!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


@dataclass(frozen=True)
class WeeklyHours:
    """Open intervals per weekday (0 = Monday), in minutes after local midnight; 1440 is the day's end."""

    days: tuple[tuple[tuple[int, int], ...], ...]
    tz: ZoneInfo

    @classmethod
    def parse(cls, spec: str, tz: str | ZoneInfo) -> WeeklyHours:
        days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for rule in (r.strip().lower() for r in re.split(r"[;,]", spec)):
            if not rule:
                continue
            match = _RULE.match(rule)
            if match is None:
                raise InvalidHours(f"{rule!r}: write rules like 'mon-fri 08:00-20:00' or 'daily 00:00-24:00'")
            start, end = _minutes(match["start"], rule), _minutes(match["end"], rule)
            if end <= start:
                raise InvalidHours(f"{rule!r}: the end must be after the start (use 24:00 for midnight)")
            names = match["days"]
            if names == "daily":
                chosen = range(7)
            else:
                first, _, last = names.partition("-")
                if first not in DAYS or (last and last not in DAYS):
                    raise InvalidHours(f"{rule!r}: days are {', '.join(DAYS)}")
                a, b = DAYS.index(first), DAYS.index(last or first)
                chosen = [(a + i) % 7 for i in range((b - a) % 7 + 1)]
            for day in chosen:
                days[day].append((start, end))
        return cls(tuple(tuple(sorted(d)) for d in days), tz if isinstance(tz, ZoneInfo) else zone(tz))

    @classmethod
    def always(cls) -> WeeklyHours:
        return cls(tuple(((0, 1440),) for _ in DAYS), ZoneInfo("UTC"))

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open intervals overlapping [start, end), as aware UTC instants, merged where they touch."""
        result: list[tuple[datetime, datetime]] = []
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        last = end.astimezone(self.tz).date()
        while day <= last:
            for a, b in self.days[day.weekday()]:
                lo, hi = self._instant(day, a), self._instant(day, b)
                if hi <= start or lo >= end:
                    continue
                if result and lo <= result[-1][1]:
                    result[-1] = (result[-1][0], max(result[-1][1], hi))
                else:
                    result.append((lo, hi))
            day += timedelta(days=1)
        return result

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes == 1440:
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.tz)
        at = local.astimezone(UTC)
        wall = local.replace(tzinfo=None)
        if at.astimezone(self.tz).replace(tzinfo=None) == wall:
            return at
        # The clocks jump over it: the change is after the same wall time read with the offset after it
        # (fold=1) and at or before `at`. The first second whose wall time is past it.
        lo, hi = int(local.replace(fold=1).timestamp()), int(at.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.tz).replace(tzinfo=None) >= wall:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)

    def is_open(self, at: datetime) -> bool:
        return any(lo <= at < hi for lo, hi in self.intervals(at, at + timedelta(seconds=1)))


def next_allowed(
    start: datetime, schedules: list[WeeklyHours], *, until: datetime | None = None
) -> datetime | None:
    """The earliest instant at or after `start` (and before `until`) that every schedule allows, or None if
    none does within SEARCH_LIMIT (a year and more: hours that never meet in it never meet)."""
    end = start + SEARCH_LIMIT if until is None else min(until, start + SEARCH_LIMIT)
    step = start
    while step < end:
        step_end = min(step + HORIZON, end)
        allowed = [(step, step_end)]
        for schedule in schedules:
            allowed = _intersect(allowed, schedule.intervals(step, step_end))
        for lo, hi in allowed:
            if hi > step and hi > lo:
                return max(lo, start)
        step = step_end
    return None


def _intersect(
    a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    result, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            result.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result
