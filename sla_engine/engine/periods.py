"""Reporting periods: days (2026-11-16), ISO weeks (2026-W46), months (2026-11) and quarters (2026-Q4).

Boundaries are local midnights in the policy's time zone, converted to UTC to compare with
the store's UTC timestamps: a lead that becomes an MQL at 23:30 New York time on 30 November
counts for November although it is already December in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KINDS = ("day", "week", "month", "quarter")
# Average lengths in days, to scale a count goal from one kind of period to another
# (a plan "per month" read as a weekly goal, a weekly target shown for a quarter).
KIND_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}

_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)


class PeriodError(ValueError):
    """A period label we cannot read."""


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class Period:
    """One reporting period: [start, end) as local midnights in a zone."""

    kind: str
    label: str
    start: datetime
    end: datetime

    @property
    def start_utc(self) -> str:
        return _iso(self.start)

    @property
    def end_utc(self) -> str:
        return _iso(self.end)

    @property
    def zone(self) -> ZoneInfo:
        assert isinstance(self.start.tzinfo, ZoneInfo)
        return self.start.tzinfo

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def in_progress(self, as_of: datetime) -> bool:
        return self.contains(as_of)

    def completed(self, as_of: datetime) -> bool:
        return self.end <= as_of

    def elapsed_share(self, as_of: datetime) -> float:
        """How much of the period has passed at as_of, 0 to 1 (the pro-rating factor)."""
        start, end = self.start.astimezone(timezone.utc), self.end.astimezone(timezone.utc)  # real, not wall, time
        total = (end - start).total_seconds()
        done = (as_of.astimezone(timezone.utc) - start).total_seconds()
        return min(max(done / total, 0.0), 1.0)

    def from_instant(self, since: datetime | None) -> Period | None:
        """The part of the period from `since` on (a policy's effective instant): the whole period if
        it starts at or after it, None if it ends at or before it. Same label: it stands for the period."""
        if since is None or since <= self.start:
            return self
        if self.end <= since:
            return None
        return Period(self.kind, self.label, since, self.end)

    def share_of(self, whole: Period) -> float:
        """How much of `whole` (real time) this part of it covers, 0 to 1."""
        total = (whole.end.astimezone(timezone.utc) - whole.start.astimezone(timezone.utc)).total_seconds()
        part = (self.end.astimezone(timezone.utc) - self.start.astimezone(timezone.utc)).total_seconds()
        return min(max(part / total, 0.0), 1.0)

    def previous(self) -> Period:
        return period_of(self.kind, self.start - timedelta(hours=12), self.zone)

    def next(self) -> Period:
        return period_of(self.kind, self.end + timedelta(hours=12), self.zone)

    def weeks(self) -> list[Period]:
        """The ISO weeks that overlap this period, for weekly trends."""
        week = period_of("week", self.start, self.zone)
        found = []
        while week.start < self.end:
            found.append(week)
            week = week.next()
        return found

    def __str__(self) -> str:
        return self.label


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _month_start(year: int, month: int) -> date:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1)


def _build(kind: str, first: date, zone: ZoneInfo) -> Period:
    if kind == "day":
        last = first + timedelta(days=1)
        label = first.isoformat()
    elif kind == "week":
        last = first + timedelta(days=7)
        iso_year, iso_week, _ = first.isocalendar()
        label = f"{iso_year}-W{iso_week:02d}"
    elif kind == "month":
        last = _month_start(first.year, first.month + 1)
        label = f"{first.year}-{first.month:02d}"
    elif kind == "quarter":
        last = _month_start(first.year, first.month + 3)
        label = f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    else:
        raise PeriodError(f"unknown period kind {kind!r} (known: {', '.join(KINDS)})")
    return Period(kind, label, _midnight(first, zone), _midnight(last, zone))


def period_of(kind: str, instant: datetime, zone: ZoneInfo) -> Period:
    """The period of this kind that contains the instant, as seen on the zone's wall clock."""
    local = instant.astimezone(zone).date()
    if kind == "day":
        first = local
    elif kind == "week":
        first = local - timedelta(days=local.weekday())
    elif kind == "month":
        first = local.replace(day=1)
    elif kind == "quarter":
        first = local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1)
    else:
        raise PeriodError(f"unknown period kind {kind!r} (known: {', '.join(KINDS)})")
    return _build(kind, first, zone)


def parse_period(text: str, zone: ZoneInfo) -> Period:
    """Read 2026-11-16, 2026-W46, 2026-11 or 2026-Q4."""
    value = text.strip()
    if match := _DAY.match(value):
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            raise PeriodError(f"{text!r}: no such day") from None
        return _build("day", day, zone)
    if match := _WEEK.match(value):
        year, week = int(match[1]), int(match[2])
        try:
            first = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise PeriodError(f"{text!r}: {year} has no ISO week {week}") from None
        return _build("week", first, zone)
    if match := _QUARTER.match(value):
        return _build("quarter", date(int(match[1]), (int(match[2]) - 1) * 3 + 1, 1), zone)
    if match := _MONTH.match(value):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r}: no month {month}")
        return _build("month", date(int(match[1]), month, 1), zone)
    raise PeriodError(f"{text!r} is not a period: write 2026-11-16, 2026-W46, 2026-11 or 2026-Q4")


def effective_at(effective: date | None, zone_name: str | None) -> datetime | None:
    """When a policy takes effect: local midnight of its `effective` date in its time zone.
    Nothing before this instant is owed under it (docs/semantics.md)."""
    return _midnight(effective, zone_of(zone_name)) if effective is not None else None


def completed_before(kind: str, as_of: datetime, zone: ZoneInfo, count: int) -> list[Period]:
    """The last `count` periods that ended at or before as_of, oldest first."""
    current = period_of(kind, as_of, zone)
    found: list[Period] = []
    period = current
    while len(found) < count:
        period = period.previous()
        found.append(period)
    return found[::-1]


def scale(goal: float, from_kind: str | None, to_kind: str | None) -> float:
    """A count goal per `from_kind` expressed per `to_kind` (a monthly 320 is ~74 a week)."""
    if not from_kind or not to_kind or from_kind == to_kind:
        return goal
    return goal * KIND_DAYS[to_kind] / KIND_DAYS[from_kind]
