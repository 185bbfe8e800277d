"""The open-time table (engine.open_time) against the day-by-day walk it replaces.

BusinessCalendar answers add, diff, next_open and is_open from a table of open spans; the walk
stays in the calendar as the straightforward method. Both must give the same answer (or the
same error) for any instant, amount, zone, holiday and shape of hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_engine.engine.calendar import BusinessCalendar, CalendarError

# Long counts on sparse hours run decades ahead, past the years the `holidays` package knows.
pytestmark = pytest.mark.filterwarnings("ignore:Requested Holidays are available only")

# Zones with DST (some at midnight, one of 30 minutes, one negative), half-hour offsets, none.
ZONES = [
    "America/New_York", "Europe/London", "Europe/Dublin", "Australia/Sydney", "Australia/Lord_Howe",
    "America/Santiago", "America/Havana", "Asia/Tehran", "Asia/Kolkata", "Africa/Casablanca", "UTC",
]
HOLIDAYS = {"America/New_York": ("US", "NY"), "Europe/London": ("GB", None), "Australia/Sydney": ("AU", "NSW"),
            "Asia/Kolkata": ("IN", None)}
WEEKDAYS, EVERY_DAY = range(5), range(7)

HOURS: list[tuple[tuple[int, time, time], ...]] = [
    tuple((d, time(9), time(17)) for d in WEEKDAYS),
    tuple((d, s, e) for d in WEEKDAYS for s, e in ((time(9), time(12)), (time(13), time(17)))),
    tuple((d, time(22), time(6)) for d in WEEKDAYS),  # overnight
    tuple((d, time(0), time(0)) for d in EVERY_DAY[:6]),  # whole days but Sunday
    # endpoints at midnight and in DST gaps, overlapping and touching shifts
    tuple((d, s, e) for d in EVERY_DAY for s, e in (
        (time(23, 30), time(0, 30)), (time(0), time(1)), (time(1, 30), time(2, 30)), (time(2, 30), time(3, 15)))),
    ((2, time(10, 15), time(10, 16)), (5, time(7), time(19, 45))),  # a minute on Wednesdays, Saturdays
]


def make(zone: str, weekly: tuple[tuple[int, time, time], ...], with_holidays: bool) -> BusinessCalendar:
    country, subdivision = HOLIDAYS.get(zone, (None, None)) if with_holidays else (None, None)
    return BusinessCalendar(
        name="t", timezone=zone, weekly=weekly, holiday_country=country, holiday_subdivision=subdivision,
        closed_dates=frozenset({date(2026, 12, 24), date(2026, 12, 31), date(2027, 1, 4)}),
        open_dates=((date(2026, 11, 28), ((time(10), time(14)),)), (date(2026, 12, 25), ())),
    )


CALENDARS = [make(zone, weekly, with_holidays) for zone in ZONES for weekly in HOURS for with_holidays in (True, False)]
# Open on a few dates only: long stretches with nothing open, and an end after which nothing opens.
SPARSE = BusinessCalendar(
    name="sparse", timezone="America/New_York", weekly=(),
    open_dates=tuple((date(2025 + n // 4, 1 + 3 * (n % 4), 1), ((time(9), time(10)),)) for n in range(10)),
)
EMPTY = BusinessCalendar(name="empty", timezone="Europe/London", weekly=())
calendars = st.sampled_from([*CALENDARS, SPARSE, EMPTY])

instants = st.one_of(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(2016, 1, 1), max_value=datetime(2032, 1, 1), timezones=st.just(UTC)),
    # near local midnights and the spring and autumn changes of both hemispheres
    st.builds(lambda day, minutes: datetime.combine(day, time(0), UTC) + timedelta(minutes=minutes),
              st.sampled_from([date(2026, m, d) for m in (3, 4, 9, 10, 11) for d in range(1, 31, 2)]),
              st.integers(-30 * 60, 30 * 60)),
).flatmap(lambda t: st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]).map(
    t.astimezone))
amounts = st.one_of(
    st.integers(0, 200).map(lambda n: n * timedelta(minutes=15)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(minutes=1)]),
)
many = settings(max_examples=200, deadline=None)


def outcome(call: Callable[[], Any]) -> Any:
    """The value, or the error's type and message."""
    try:
        return call()
    except CalendarError as error:
        return CalendarError, str(error)


@many
@given(calendars, instants, amounts)
def test_add_is_the_walk(cal: BusinessCalendar, t: datetime, amount: timedelta) -> None:
    u = t.astimezone(UTC)
    got = outcome(lambda: cal.add(t, amount))
    assert got == outcome(lambda: cal._add_by_walking(u, amount))
    if isinstance(got, datetime):
        assert got.tzinfo is UTC


@many
@given(calendars, instants, instants)
def test_diff_is_the_walk(cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    start, end = sorted((a.astimezone(UTC), b.astimezone(UTC)))
    assert cal.diff(start, end) == cal._diff_by_walking(start, end)
    assert cal.diff(end, start) == -cal._diff_by_walking(start, end)


@many
@given(calendars, instants)
def test_next_open_and_is_open_are_the_walk(cal: BusinessCalendar, t: datetime) -> None:
    u = t.astimezone(UTC)
    assert outcome(lambda: cal.next_open(t)) == outcome(lambda: cal._next_open_by_walking(u))
    assert cal.is_open(t) == cal._is_open_by_walking(u)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), instants, st.integers(0, 12))
def test_add_business_days_on_a_fresh_calendar_is_the_same(cal: BusinessCalendar, t: datetime, days: int) -> None:
    """The table's state (what it has built so far) never changes an answer."""
    fresh = BusinessCalendar(cal.name, cal.timezone, cal.weekly, cal.holiday_country, cal.holiday_subdivision,
                             cal.closed_dates, cal.open_dates)
    assert outcome(lambda: cal.add_business_days(t, days)) == outcome(lambda: fresh.add_business_days(t, days))
