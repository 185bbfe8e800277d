"""Business-time arithmetic for SLA clocks ("Tier 1 contacted within 2 business hours").

A :class:`BusinessCalendar` says when a team works. Every deadline, pause and report in the
engine is computed through it, so the rules below are exact and tested as properties.

Rules
-----
* **Shifts are built in local wall-clock time, day by day, then turned into instants.** The
  weekly hours of a local date give that date's shifts; each is converted to UTC on its own, so
  daylight saving time is right: on the New York spring-forward day (2026-03-08, gap 02:00-03:00)
  a 09:00-17:00 day is still 8 real hours and a 00:00-04:00 shift is 3 real hours; on the
  fall-back day (2026-11-01) 00:00-04:00 is 5 real hours.
* **Shift endpoints.** ``end <= start`` means the shift ends on the next day; an end of
  ``time(0)`` is midnight at the end of the day, so ``00:00-00:00`` is the whole day. Any other
  ``start == end`` is rejected as zero length (it could mean 0 or 24 hours).
* **DST gaps.** A wall-clock endpoint that does not exist (inside a spring-forward gap) moves
  forward to the first valid instant, the moment the clocks jump: a shift ending at 02:30 on a
  day whose clocks go 02:00 -> 03:00 ends at 03:00. (Python's ``fold=0`` round trip would give
  03:30 instead, one gap length later; we do not use it.)
* **DST overlaps.** An ambiguous wall-clock endpoint (a repeated hour) uses the first
  occurrence (``fold=0``) for a start and the second (``fold=1``) for an end, so a shift keeps
  the whole repeated hour.
* **Half-open intervals.** Open time is the union of the shifts, each ``[start, end)``: the
  opening instant is open, the closing instant is not (unless another shift starts there).
* **Holidays and closed dates close the shifts that START on that date**; an overnight shift
  from the day before still runs into it. An open date adds its intervals to that date and
  overrides a holiday or closed entry for it (the weekly hours of that weekday apply again).
* **add() lands on open time.** ``add(t, x)`` is the first *open* instant by which ``x`` of
  business time has passed since ``t``. When the count runs out exactly at a closing instant
  the answer is the next opening, because the clock still reads ``x`` there and nothing is
  open in between. This makes the inverse exact: for open ``t`` and later ``u``,
  ``add(t, diff(t, u)) == next_open(u)``, which is ``u`` itself whenever ``u`` is open.
* All inputs must be timezone-aware datetimes; all outputs are aware UTC datetimes. Compare
  results in UTC: Python's ``==`` between datetimes in different zones is always False for a
  repeated-hour time (PEP 495), and ``+``/``-`` on datetimes in one zone is wall-clock arithmetic.

Speed: shifts are cached per local date and holidays per year. ``add``, ``diff``,
``next_open`` and ``is_open`` bisect a table of the open spans with running totals
(engine.open_time), so each costs a few microseconds whatever the distance; the day-by-day
walk they replace stays as the reference and answers what the table cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from sla_engine.engine.open_time import MICROSECOND, OpenTime, instant, micros

__all__ = ["CALENDAR_TIME", "BusinessCalendar", "CalendarError", "always_open"]

ONE_DAY = timedelta(days=1)
MIDNIGHT = time(0)
# next_open() and friends give up when nothing opens for this long.
SEARCH_LIMIT_DAYS = 3 * 366
# add() and next_open() answer from the open-time table when the answer is closer than this
# (so no stretch without open time long enough to make the walk give up lies in between).
TABLE_REACH_US = 1000 * 86_400 * 1_000_000  # 1000 days, in microseconds
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

Wall = tuple[time, time]
Span = tuple[datetime, datetime]


class CalendarError(Exception):
    """A calendar is invalid, or cannot answer (nothing opens within three years)."""


@dataclass(frozen=True)
class BusinessCalendar:
    """When a team works: weekly hours in one time zone, minus holidays and closed dates,
    plus extra open dates. See the module docstring for the exact rules."""

    name: str
    timezone: str
    weekly: tuple[tuple[int, time, time], ...]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    open_dates: tuple[tuple[date, tuple[tuple[time, time], ...]], ...] = ()

    # Derived in __post_init__; not part of equality, hashing or repr.
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _hours: tuple[tuple[Wall, ...], ...] = field(init=False, repr=False, compare=False)
    _extra: dict[date, tuple[Wall, ...]] = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)
    _day_cache: dict[date, tuple[Span, ...]] = field(init=False, repr=False, compare=False)
    _holiday_cache: dict[int, frozenset[date]] = field(init=False, repr=False, compare=False)
    _open_time: OpenTime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept any iterables, store hashable tuples so the calendar can be a dict key.
        set_ = object.__setattr__
        set_(self, "weekly", tuple(tuple(entry) for entry in self.weekly))
        set_(self, "closed_dates", frozenset(self.closed_dates))
        set_(self, "open_dates", tuple((day, tuple(map(tuple, walls))) for day, walls in self.open_dates))
        for day in self.closed_dates:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise CalendarError(f"calendar {self.name!r}: closed date {day!r} is not a date")
        set_(self, "_zone", _load_zone(self.timezone))
        set_(self, "_hours", self._weekly_hours())
        set_(self, "_extra", self._extra_hours())
        self._check_holidays()
        set_(self, "_always_open", self._is_always_open())
        set_(self, "_day_cache", {})
        set_(self, "_holiday_cache", {})
        set_(self, "_open_time", OpenTime(self._day_shifts, self._day_start))

    # ------------------------------------------------------------------ construction helpers
    def _weekly_hours(self) -> tuple[tuple[Wall, ...], ...]:
        """Group the weekly entries by weekday, validating each one."""
        by_day: list[list[Wall]] = [[] for _ in range(7)]
        where = f"calendar {self.name!r}"
        for entry in self.weekly:
            if len(entry) != 3:
                raise CalendarError(f"{where}: weekly entry {entry!r} is not (weekday, start, end)")
            weekday, start, end = entry
            if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
                raise CalendarError(f"{where}: weekday must be 0 (Mon) to 6 (Sun), got {weekday!r}")
            by_day[weekday].append(self._checked_wall(start, end, DAY_NAMES[weekday]))
        return tuple(tuple(walls) for walls in by_day)

    def _extra_hours(self) -> dict[date, tuple[Wall, ...]]:
        """Open dates with their intervals; no intervals means the first working weekday's."""
        default = next((walls for walls in self._hours if walls), ())
        extra: dict[date, tuple[Wall, ...]] = {}
        for day, walls in self.open_dates:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise CalendarError(f"calendar {self.name!r}: open date {day!r} is not a date")
            checked = tuple(self._checked_wall(start, end, day.isoformat()) for start, end in walls)
            if not checked and not default:
                raise CalendarError(f"calendar {self.name!r}: open date {day} has no hours and no weekly hours to copy")
            extra[day] = extra.get(day, ()) + (checked or default)
        return extra

    def _checked_wall(self, start: time, end: time, where: str) -> Wall:
        """Reject non-times, times with a zone, and zero-length intervals."""
        for value in (start, end):
            if not isinstance(value, time) or value.tzinfo is not None:
                raise CalendarError(f"calendar {self.name!r}: {where} hours need local times, got {value!r}")
        start, end = start.replace(fold=0), end.replace(fold=0)
        if start == end and start != MIDNIGHT:
            interval = f"{start:%H:%M}-{end:%H:%M}"
            raise CalendarError(f"calendar {self.name!r}: {where} interval {interval} has zero length")
        return start, end

    def _check_holidays(self) -> None:
        """Fail at construction, with the `holidays` package's message, on an unknown country."""
        if self.holiday_country is None:
            if self.holiday_subdivision is not None:
                raise CalendarError(f"calendar {self.name!r}: a holiday subdivision needs a holiday country")
            return
        try:
            holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)
        except NotImplementedError as error:
            raise CalendarError(f"calendar {self.name!r}: {error}") from error

    def _is_always_open(self) -> bool:
        """Open 24x7 with nothing closed: add/diff become plain instant arithmetic."""
        whole_day = (MIDNIGHT, MIDNIGHT)
        no_closures = self.holiday_country is None and not self.closed_dates
        return no_closures and all(whole_day in walls for walls in self._hours)

    # ------------------------------------------------------------------ public API
    def is_open(self, t: datetime) -> bool:
        """Whether the team is working at instant t (shifts are half-open: the end is closed)."""
        u = _as_utc(t)
        if self._always_open:
            return True
        start = micros(u)
        table = self._table_between(u, start, start)
        if table is not None:
            return table.is_open(start)
        return self._is_open_by_walking(u)

    def next_open(self, t: datetime) -> datetime:
        """t itself if open, else the next opening instant: where an SLA clock starts running.

        Raises CalendarError if nothing opens within three years (an empty calendar)."""
        u = _as_utc(t)
        if self._always_open:
            return u
        found = self._from_table(u, lambda table, start: table.next_open(start))
        return found if found is not None else self._next_open_by_walking(u)

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals between two instants, clipped to [start, end), in order, with
        touching or overlapping shifts merged: what a timeline or report draws."""
        a, b = _as_utc(start), _as_utc(end)
        return self._merged(a, b)

    def add(self, t: datetime, amount: timedelta) -> datetime:
        """The deadline: the first open instant by which `amount` of business time has passed
        since t. Counting starts at next_open(t); a zero amount gives next_open(t). When the
        count ends exactly at a closing instant, the answer is the next opening."""
        u = _as_utc(t)
        if not isinstance(amount, timedelta):
            raise TypeError(f"amount must be a timedelta, got {type(amount).__name__}")
        if amount < timedelta(0):
            raise ValueError(f"amount must not be negative, got {amount}")
        if self._always_open:
            return u + amount
        count = amount // MICROSECOND
        found = self._from_table(u, lambda table, start: table.at_position(table.position(start) + count))
        return found if found is not None else self._add_by_walking(u, amount)

    def diff(self, a: datetime, b: datetime) -> timedelta:
        """Business time from a to b (negative if b is before a): how much SLA clock has run."""
        start, end = _as_utc(a), _as_utc(b)
        if end < start:
            return -self.diff(end, start)
        if self._always_open:
            return end - start
        a_us, b_us = micros(start), micros(end)
        table = self._table_between(start, a_us, b_us)
        if table is not None:
            return timedelta(microseconds=table.position(b_us) - table.position(a_us))
        return self._diff_by_walking(start, end)

    def add_business_days(self, t: datetime, days: int) -> datetime:
        """The same local wall-clock time `days` open days later ("reply within 2 business days").

        Rule: move t to next_open(t) and note its local date and wall-clock time; step forward
        `days` open days (local dates after that date with at least one shift, after holidays,
        closed and open dates). On that day take the same wall-clock time (a time in a DST gap
        moves to the first valid instant; a repeated time takes its first occurrence). If that
        instant is open, it is the answer; otherwise the end of the last shift of that day that
        starts before it; if none does, the next opening after it. `days == 0` gives
        next_open(t)."""
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days must be an int, got {type(days).__name__}")
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        first = self.next_open(t)
        if days == 0:
            return first
        local = first.astimezone(self._zone)
        day, wall = local.date(), local.time().replace(fold=0)
        for _ in range(days):
            day = self._next_open_day(day)
        target = self._instant(day, wall, is_end=False)
        if self.is_open(target):
            return target
        ends_before = [end for start, end in self._day_shifts(day) if start < target]
        if ends_before:
            return ends_before[-1]
        return self.next_open(target)

    def describe(self, t: datetime | None) -> str:
        """Local wall-clock text for explanations, e.g. ``"Fri 2026-11-20 16:30 America/New_York"``: with
        the date, since a deadline five business days away is not this week's Tuesday."""
        if t is None:
            return "never"
        local = _as_utc(t).astimezone(self._zone)
        return f"{DAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M} {self.timezone}"

    # ------------------------------------------------------------------ the open-time table
    def _table_between(self, a: datetime, start: int, end: int) -> OpenTime | None:
        """The open-time table, extended to know open time from a (`start` in microseconds) up to
        `end`; None if it cannot."""
        table = self._open_time
        if not table.knows(start, end):
            table.cover(self._local_date(a), end)
        return table if table.knows(start, end) else None

    def _from_table(self, u: datetime, answer: Callable[[OpenTime, int], int | None]) -> datetime | None:
        """`answer(table, u)` (an instant at or after u) once the table knows up to it; None when
        that is further than TABLE_REACH_US, or the table cannot say (the walk answers instead)."""
        start = micros(u)
        reach = start + TABLE_REACH_US
        table = self._table_between(u, start, start)
        while table is not None:
            found = answer(table, start)
            if found is not None and found < table.known_until:
                return instant(found) if found < reach else None
            if table.known_until > reach:
                return None
            table = self._table_between(u, start, table.known_until)
        return None

    # ------------------------------------------------------------------ day-by-day machinery
    def _is_open_by_walking(self, u: datetime) -> bool:
        day = self._local_date(u)
        return any(
            start <= u < end for offset in (-2, -1, 0, 1) for start, end in self._day_shifts(day + offset * ONE_DAY)
        )

    def _next_open_by_walking(self, u: datetime) -> datetime:
        start, _ = next(self._pieces(u))
        return start

    def _add_by_walking(self, u: datetime, amount: timedelta) -> datetime:
        remaining = amount
        for start, end in self._pieces(u):
            if remaining < end - start:
                return start + remaining
            remaining -= end - start
        raise AssertionError("unreachable: _pieces() yields forever or raises")

    def _diff_by_walking(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta(0)
        for piece_start, piece_end in self._pieces(start, until=end):
            if piece_start >= end:
                break
            total += min(piece_end, end) - piece_start
        return total

    def _merged(self, a: datetime, b: datetime) -> Iterator[tuple[datetime, datetime]]:
        """open_intervals() after argument checks (so bad input fails at the call)."""
        if a >= b:
            return
        if self._always_open:
            yield a, b
            return
        current: Span | None = None
        for start, end in self._pieces(a, until=b):
            if start >= b:
                break
            end = min(end, b)
            if current is not None and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (start, end)
        if current is not None:
            yield current

    def _pieces(self, t: datetime, until: datetime | None = None) -> Iterator[Span]:
        """Open time from t on, as disjoint pieces in order (pieces may touch), the first
        clipped to start at t. Walks shifts day by day, trimming overlaps between them.

        With `until`, stops after the last local date that can hold a shift starting before
        it. Without, goes on for ever, raising CalendarError after three years with nothing."""
        # Shifts start on their own local date and end at most a day later (a DST jump may push
        # an end a little further), so two days back covers every shift that can contain t.
        day = self._local_date(t) - 2 * ONE_DAY
        last_day = None if until is None else self._local_date(until) + ONE_DAY
        covered = t  # open time before this instant has been yielded or is not wanted
        quiet_days = 0
        while last_day is None or day <= last_day:
            found = False
            for start, end in self._day_shifts(day):
                if end > covered:
                    yield max(start, covered), end
                    covered = end
                    found = True
            quiet_days = 0 if found else quiet_days + 1
            if until is None and quiet_days > SEARCH_LIMIT_DAYS + 2:
                raise CalendarError(f"calendar {self.name!r} has no open time in the 3 years after {t.isoformat()}")
            day += ONE_DAY

    def _next_open_day(self, day: date) -> date:
        """The first local date after `day` on which at least one shift starts."""
        for _ in range(SEARCH_LIMIT_DAYS):
            day += ONE_DAY
            if self._day_shifts(day):
                return day
        raise CalendarError(f"calendar {self.name!r} has no open day in the 3 years after {day}")

    def _day_shifts(self, day: date) -> tuple[Span, ...]:
        """The shifts that start on a local date, as UTC instants sorted by start (cached)."""
        shifts = self._day_cache.get(day)
        if shifts is None:
            shifts = self._compute_day_shifts(day)
            self._day_cache[day] = shifts
        return shifts

    def _compute_day_shifts(self, day: date) -> tuple[Span, ...]:
        """Weekly hours (unless closed and not reopened) plus open-date hours, as instants."""
        walls = self._extra.get(day, ())
        if day in self._extra or not self._is_closed(day):
            walls = self._hours[day.weekday()] + walls
        shifts = []
        for start_wall, end_wall in walls:
            end_day = day if end_wall > start_wall else day + ONE_DAY
            start = self._instant(day, start_wall, is_end=False)
            end = self._instant(end_day, end_wall, is_end=True)
            if start < end:  # both ends in one DST gap leaves nothing
                shifts.append((start, end))
        return tuple(sorted(shifts))

    def _is_closed(self, day: date) -> bool:
        """Whether a local date is a holiday or an extra closed date."""
        return day in self.closed_dates or day in self._holidays(day.year)

    def _holidays(self, year: int) -> frozenset[date]:
        """The holiday dates of one year (cached; the `holidays` package is slow to build)."""
        if self.holiday_country is None:
            return frozenset()
        dates = self._holiday_cache.get(year)
        if dates is None:
            found = holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision, years=year)
            dates = frozenset(found.keys())
            self._holiday_cache[year] = dates
        return dates

    def _local_date(self, u: datetime) -> date:
        return u.astimezone(self._zone).date()

    def _day_start(self, day: date) -> datetime:
        """The first instant of a local date."""
        return self._instant(day, MIDNIGHT, is_end=False)

    def _instant(self, day: date, wall: time, *, is_end: bool) -> datetime:
        """A local wall-clock time on a date as a UTC instant, by the DST rules above: an
        ambiguous time is its first occurrence for a start and its second for an end; a time
        in a gap is the first valid instant after it (when the clocks jump)."""
        local = datetime.combine(day, wall, tzinfo=self._zone).replace(fold=1 if is_end else 0)
        instant = local.astimezone(UTC)
        wall_clock = local.replace(tzinfo=None, fold=0)
        if instant.astimezone(self._zone).replace(tzinfo=None, fold=0) == wall_clock:
            return instant
        return self._gap_end(local, wall_clock)

    def _gap_end(self, local: datetime, wall_clock: datetime) -> datetime:
        """The first instant whose local wall clock reads `wall_clock` or later, for a wall
        time inside a DST gap. The two folds bracket the jump; bisect to the microsecond."""
        candidates = sorted(local.replace(fold=fold).astimezone(UTC) for fold in (0, 1))
        before, after = candidates  # before the jump reads earlier than wall_clock, after reads later
        step = timedelta(microseconds=1)
        while after - before > step:
            middle = before + (after - before) // 2
            if middle.astimezone(self._zone).replace(tzinfo=None, fold=0) >= wall_clock:
                after = middle
            else:
                before = middle
        return after


def always_open(name: str = "24x7") -> BusinessCalendar:
    """A calendar open all the time, for goals measured in calendar time: add and diff on it
    are plain instant arithmetic."""
    whole_week = tuple((day, MIDNIGHT, MIDNIGHT) for day in range(7))
    return BusinessCalendar(name=name, timezone="UTC", weekly=whole_week)


def _load_zone(key: str) -> ZoneInfo:
    """The IANA zone, or a CalendarError that says what was wrong."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise CalendarError(
            f"unknown time zone {key!r}: use an IANA name such as 'America/New_York' ({error})"
        ) from error


def _as_utc(t: datetime) -> datetime:
    """An aware datetime as UTC; naive datetimes are refused (they hide bugs in deadlines)."""
    if not isinstance(t, datetime):
        raise TypeError(f"expected a datetime, got {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"datetime {t.isoformat()} has no time zone; pass an aware datetime")
    return t.astimezone(UTC)


# The calendar for goals measured in calendar time ("within 48h", not "within 2 business days").
CALENDAR_TIME: BusinessCalendar = always_open("calendar time")
