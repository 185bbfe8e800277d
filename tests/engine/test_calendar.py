"""Business-time arithmetic, written as specifications.

Worked examples first (the cases people ask about), then daylight saving time in four zones,
then properties that must hold for every calendar and instant, then errors.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_engine.engine.calendar import CALENDAR_TIME, BusinessCalendar, CalendarError, always_open

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
KOLKATA = ZoneInfo("Asia/Kolkata")

WEEKDAYS = range(5)
EVERY_DAY = range(7)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0) -> datetime:
    """A local wall-clock time in a zone (fold=1 picks the second of a repeated time)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold)


def utc_at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0) -> datetime:
    """The same, as UTC. Needed to compare repeated-hour times: Python's == between datetimes
    in different zones is always False for them (PEP 495)."""
    return at(zone, year, month, day, hour, minute, fold).astimezone(UTC)


def hours(days: range, *intervals: tuple[time, time]) -> tuple[tuple[int, time, time], ...]:
    """Weekly entries: every interval on every day in `days`."""
    return tuple((day, start, end) for day in days for start, end in intervals)


def calendar(zone: str, weekly: tuple[tuple[int, time, time], ...], **extra: object) -> BusinessCalendar:
    return BusinessCalendar(name="test", timezone=zone, weekly=weekly, **extra)  # type: ignore[arg-type]


NINE_TO_FIVE = hours(WEEKDAYS, (time(9), time(17)))
NY_OFFICE = calendar("America/New_York", NINE_TO_FIVE)
NY_US_HOLIDAYS = calendar("America/New_York", NINE_TO_FIVE, holiday_country="US")
NY_LUNCH = calendar("America/New_York", hours(WEEKDAYS, (time(9), time(12)), (time(13), time(17))))
BERLIN_NIGHTS = calendar("Europe/Berlin", hours(WEEKDAYS, (time(22), time(6))))


# ---------------------------------------------------------------------------- worked examples
def test_friday_afternoon_plus_two_hours_is_monday_morning() -> None:
    friday = at(NEW_YORK, 2026, 6, 5, 16, 30)
    assert friday.weekday() == 4
    assert NY_OFFICE.add(friday, 2 * HOUR) == at(NEW_YORK, 2026, 6, 8, 10, 30)


def test_results_are_utc_whatever_zone_the_input_uses() -> None:
    friday_in_tokyo = at(NEW_YORK, 2026, 6, 5, 16, 30).astimezone(ZoneInfo("Asia/Tokyo"))
    deadline = NY_OFFICE.add(friday_in_tokyo, 2 * HOUR)
    assert deadline.tzinfo is UTC
    assert deadline == datetime(2026, 6, 8, 14, 30, tzinfo=UTC)


def test_a_lead_arriving_on_saturday_starts_counting_at_monday_opening() -> None:
    saturday = at(NEW_YORK, 2026, 6, 6, 11)
    assert NY_OFFICE.add(saturday, 2 * HOUR) == at(NEW_YORK, 2026, 6, 8, 11)


def test_the_lunch_gap_is_skipped() -> None:
    monday = at(NEW_YORK, 2026, 6, 8, 11)
    assert NY_LUNCH.add(monday, 2 * HOUR) == at(NEW_YORK, 2026, 6, 8, 14)
    assert NY_LUNCH.diff(monday, at(NEW_YORK, 2026, 6, 8, 14)) == 2 * HOUR


def test_overnight_shift_runs_into_the_next_day() -> None:
    # Mon-Fri 22:00-06:00: the Friday shift ends on Saturday morning; Sunday night is closed.
    monday_night = at(BERLIN, 2026, 6, 8, 23)
    assert BERLIN_NIGHTS.add(monday_night, 8 * HOUR) == at(BERLIN, 2026, 6, 9, 23)
    assert BERLIN_NIGHTS.is_open(at(BERLIN, 2026, 6, 13, 5))  # Saturday 05:00, Friday's shift
    assert not BERLIN_NIGHTS.is_open(at(BERLIN, 2026, 6, 15, 5))  # Monday 05:00, no Sunday shift
    saturday_early = at(BERLIN, 2026, 6, 13, 5)
    assert BERLIN_NIGHTS.add(saturday_early, 2 * HOUR) == at(BERLIN, 2026, 6, 15, 23)


def test_thanksgiving_is_skipped_with_us_holidays() -> None:
    wednesday = at(NEW_YORK, 2026, 11, 25, 16)
    assert NY_US_HOLIDAYS.add(wednesday, 2 * HOUR) == at(NEW_YORK, 2026, 11, 27, 10)
    assert NY_OFFICE.add(wednesday, 2 * HOUR) == at(NEW_YORK, 2026, 11, 26, 10)
    assert not NY_US_HOLIDAYS.is_open(at(NEW_YORK, 2026, 11, 26, 12))


def test_a_holiday_closes_shifts_starting_on_it_but_not_the_night_before() -> None:
    nights = calendar("Europe/Berlin", hours(WEEKDAYS, (time(22), time(6))), holiday_country="DE")
    assert nights.is_open(at(BERLIN, 2026, 12, 25, 3))  # Thursday's shift runs into Christmas
    assert not nights.is_open(at(BERLIN, 2026, 12, 25, 23))  # Christmas night's shift is closed


def test_a_run_of_closed_dates_is_skipped() -> None:
    closed = frozenset(date(2026, 12, day) for day in range(24, 32))
    office = calendar("America/New_York", NINE_TO_FIVE, closed_dates=closed)
    wednesday = at(NEW_YORK, 2026, 12, 23, 16)
    assert office.add(wednesday, 2 * HOUR) == at(NEW_YORK, 2027, 1, 1, 10)
    with_holidays = calendar("America/New_York", NINE_TO_FIVE, closed_dates=closed, holiday_country="US")
    assert with_holidays.add(wednesday, 2 * HOUR) == at(NEW_YORK, 2027, 1, 4, 10)


def test_an_extra_open_saturday_is_counted() -> None:
    friday = at(NEW_YORK, 2026, 6, 5, 16, 30)
    copy_monday = calendar("America/New_York", NINE_TO_FIVE, open_dates=((date(2026, 6, 6), ()),))
    assert copy_monday.add(friday, 2 * HOUR) == at(NEW_YORK, 2026, 6, 6, 10, 30)
    own_hours = ((date(2026, 6, 6), ((time(10), time(14)),)),)
    short_saturday = calendar("America/New_York", NINE_TO_FIVE, open_dates=own_hours)
    assert short_saturday.add(friday, 2 * HOUR) == at(NEW_YORK, 2026, 6, 6, 11, 30)
    assert short_saturday.add(friday, 5 * HOUR) == at(NEW_YORK, 2026, 6, 8, 9, 30)


def test_an_open_date_overrides_a_holiday() -> None:
    open_thanksgiving = calendar(
        "America/New_York", NINE_TO_FIVE, holiday_country="US", open_dates=((date(2026, 11, 26), ()),)
    )
    assert open_thanksgiving.add(at(NEW_YORK, 2026, 11, 25, 16), 2 * HOUR) == at(NEW_YORK, 2026, 11, 26, 10)


def test_next_open_and_the_half_open_boundaries() -> None:
    opening, closing = at(NEW_YORK, 2026, 6, 8, 9), at(NEW_YORK, 2026, 6, 8, 17)
    assert NY_OFFICE.is_open(opening) and not NY_OFFICE.is_open(closing)
    assert NY_OFFICE.next_open(opening) == opening
    assert NY_OFFICE.next_open(closing) == at(NEW_YORK, 2026, 6, 9, 9)
    assert NY_OFFICE.next_open(at(NEW_YORK, 2026, 6, 6, 11)) == at(NEW_YORK, 2026, 6, 8, 9)


def test_a_count_that_ends_at_closing_time_lands_on_the_next_opening() -> None:
    # Eight hours from Monday 09:00 run out at 17:00, a closing instant; the first open instant
    # with eight hours on the clock is Tuesday 09:00.
    assert NY_OFFICE.add(at(NEW_YORK, 2026, 6, 8, 9), 8 * HOUR) == at(NEW_YORK, 2026, 6, 9, 9)
    assert NY_OFFICE.add(at(NEW_YORK, 2026, 6, 6, 11), timedelta(0)) == at(NEW_YORK, 2026, 6, 8, 9)


def test_diff_counts_business_time_and_is_negative_when_reversed() -> None:
    friday, monday = at(NEW_YORK, 2026, 6, 5, 16), at(NEW_YORK, 2026, 6, 8, 10)
    assert NY_OFFICE.diff(friday, monday) == 2 * HOUR
    assert NY_OFFICE.diff(monday, friday) == -2 * HOUR
    assert NY_OFFICE.diff(friday, friday) == timedelta(0)
    assert NY_US_HOLIDAYS.diff(at(NEW_YORK, 2026, 11, 25, 9), at(NEW_YORK, 2026, 11, 28)) == 16 * HOUR


def test_open_intervals_are_clipped_merged_and_utc() -> None:
    monday = list(NY_LUNCH.open_intervals(at(NEW_YORK, 2026, 6, 8, 10), at(NEW_YORK, 2026, 6, 9)))
    assert monday == [
        (datetime(2026, 6, 8, 14, tzinfo=UTC), datetime(2026, 6, 8, 16, tzinfo=UTC)),
        (datetime(2026, 6, 8, 17, tzinfo=UTC), datetime(2026, 6, 8, 21, tzinfo=UTC)),
    ]
    overlapping = calendar("America/New_York", hours(WEEKDAYS, (time(9), time(13)), (time(12), time(17))))
    day = (at(NEW_YORK, 2026, 6, 8), at(NEW_YORK, 2026, 6, 9))
    assert list(overlapping.open_intervals(*day)) == [(at(NEW_YORK, 2026, 6, 8, 9), at(NEW_YORK, 2026, 6, 8, 17))]
    assert overlapping.diff(*day) == 8 * HOUR  # the overlap hour counts once
    touching = calendar("America/New_York", hours(WEEKDAYS, (time(9), time(17)), (time(17), time(20))))
    assert list(touching.open_intervals(*day)) == [(at(NEW_YORK, 2026, 6, 8, 9), at(NEW_YORK, 2026, 6, 8, 20))]
    assert list(NY_OFFICE.open_intervals(day[1], day[0])) == []


def test_add_business_days_keeps_the_wall_clock_time() -> None:
    friday = at(NEW_YORK, 2026, 6, 5, 16, 30)
    assert NY_OFFICE.add_business_days(friday, 0) == friday
    assert NY_OFFICE.add_business_days(friday, 1) == at(NEW_YORK, 2026, 6, 8, 16, 30)
    assert NY_OFFICE.add_business_days(friday, 5) == at(NEW_YORK, 2026, 6, 12, 16, 30)
    # From Saturday, counting starts at Monday 09:00.
    assert NY_OFFICE.add_business_days(at(NEW_YORK, 2026, 6, 6, 11), 1) == at(NEW_YORK, 2026, 6, 9, 9)
    # Thanksgiving is not an open day.
    assert NY_US_HOLIDAYS.add_business_days(at(NEW_YORK, 2026, 11, 25, 10), 1) == at(NEW_YORK, 2026, 11, 27, 10)


def test_add_business_days_when_the_wall_time_is_closed_on_the_target_day() -> None:
    friday_late, friday_early = at(NEW_YORK, 2026, 6, 5, 16), at(NEW_YORK, 2026, 6, 5, 10)
    short_saturday = calendar("America/New_York", (*NINE_TO_FIVE, (5, time(10), time(14))))
    # 16:00 is after Saturday's only shift: the end of that shift.
    assert short_saturday.add_business_days(friday_late, 1) == at(NEW_YORK, 2026, 6, 6, 14)
    late_saturday = calendar("America/New_York", (*NINE_TO_FIVE, (5, time(13), time(17))))
    # 10:00 is before Saturday's only shift: its opening.
    assert late_saturday.add_business_days(friday_early, 1) == at(NEW_YORK, 2026, 6, 6, 13)


def test_describe_gives_local_wall_clock_text() -> None:
    friday = datetime(2026, 6, 5, 20, 30, tzinfo=UTC)
    assert NY_OFFICE.describe(friday) == "Fri 2026-06-05 16:30 America/New_York"
    assert calendar("Asia/Kolkata", NINE_TO_FIVE).describe(friday) == "Sat 2026-06-06 02:00 Asia/Kolkata"


def test_calendar_time_is_plain_instant_arithmetic() -> None:
    # Instant arithmetic, not Python's wall-clock arithmetic on zoned datetimes: 48 hours from
    # Saturday noon in New York cross the spring-forward night and end at Monday 13:00 EDT.
    start = at(NEW_YORK, 2026, 3, 7, 12)
    assert CALENDAR_TIME.add(start, 48 * HOUR) == start.astimezone(UTC) + 48 * HOUR == at(NEW_YORK, 2026, 3, 9, 13)
    assert always_open("wall clock").diff(start, at(NEW_YORK, 2026, 3, 9, 13)) == 48 * HOUR
    assert CALENDAR_TIME.is_open(start) and CALENDAR_TIME.next_open(start) == start


def test_calendars_compare_by_definition_not_by_cache() -> None:
    twin = calendar("America/New_York", NINE_TO_FIVE)
    NY_OFFICE.add(at(NEW_YORK, 2026, 6, 5, 16), HOUR)
    assert twin == NY_OFFICE and hash(twin) == hash(NY_OFFICE)


# ---------------------------------------------------------------------------- daylight saving time
def length_of_shift(cal: BusinessCalendar, zone: ZoneInfo, shift_day: date) -> timedelta:
    """Business time from noon on a date to noon the day after: the night shift that starts on it."""
    start = datetime.combine(shift_day, time(12), tzinfo=zone)
    return cal.diff(start, datetime.combine(shift_day + timedelta(days=1), time(12), tzinfo=zone))


@pytest.mark.parametrize(
    ("zone", "shift_day", "expected"),
    [
        # New York: clocks spring forward 2026-03-08 02:00, fall back 2026-11-01 02:00.
        ("America/New_York", date(2026, 3, 7), 7),
        ("America/New_York", date(2026, 10, 31), 9),
        # Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00.
        ("Europe/Berlin", date(2026, 3, 28), 7),
        ("Europe/Berlin", date(2026, 10, 24), 9),
        # Sydney (southern hemisphere): 2026-04-05 03:00 -> 02:00, 2026-10-04 02:00 -> 03:00.
        ("Australia/Sydney", date(2026, 4, 4), 9),
        ("Australia/Sydney", date(2026, 10, 3), 7),
        # Kolkata has no DST.
        ("Asia/Kolkata", date(2026, 3, 28), 8),
    ],
)
def test_a_night_shift_across_a_dst_change_is_its_real_length(zone: str, shift_day: date, expected: int) -> None:
    nights = calendar(zone, hours(EVERY_DAY, (time(22), time(6))))
    assert length_of_shift(nights, ZoneInfo(zone), shift_day) == expected * HOUR


def test_new_york_spring_forward_day() -> None:
    office = calendar("America/New_York", hours(EVERY_DAY, (time(9), time(17))))
    early = calendar("America/New_York", hours(EVERY_DAY, (time(0), time(4))))
    sunday = (at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9))
    assert office.diff(*sunday) == 8 * HOUR  # the gap is at night
    assert early.diff(*sunday) == 3 * HOUR  # 02:00-03:00 does not exist
    # From 01:00 EST: one hour to the jump at 02:00 EST = 03:00 EDT, then 30 minutes more.
    assert early.add(at(NEW_YORK, 2026, 3, 8, 1), 90 * MINUTE) == at(NEW_YORK, 2026, 3, 8, 3, 30)


def test_new_york_fall_back_day() -> None:
    early = calendar("America/New_York", hours(EVERY_DAY, (time(0), time(4))))
    assert early.diff(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2)) == 5 * HOUR
    # Both 01:30s are open; the hour 01:00-02:00 counts twice.
    assert early.is_open(at(NEW_YORK, 2026, 11, 1, 1, 30, fold=0))
    assert early.is_open(at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1))
    assert early.add(at(NEW_YORK, 2026, 11, 1, 1, 30), HOUR) == utc_at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)


def test_an_endpoint_in_a_dst_gap_moves_to_the_moment_the_clocks_jump() -> None:
    # Sydney 2026-10-04: 02:00 AEST becomes 03:00 AEDT (16:00 UTC on the 3rd).
    jump = datetime(2026, 10, 3, 16, tzinfo=UTC)
    ends_in_gap = calendar("Australia/Sydney", hours(EVERY_DAY, (time(22), time(2, 30))))
    night = (at(SYDNEY, 2026, 10, 3, 12), at(SYDNEY, 2026, 10, 4, 12))
    assert list(ends_in_gap.open_intervals(*night)) == [(at(SYDNEY, 2026, 10, 3, 22), jump)]
    assert ends_in_gap.diff(*night) == 4 * HOUR
    starts_in_gap = calendar("Australia/Sydney", hours(EVERY_DAY, (time(2, 30), time(6))))
    assert starts_in_gap.next_open(at(SYDNEY, 2026, 10, 4, 1)) == jump
    assert starts_in_gap.diff(at(SYDNEY, 2026, 10, 4), at(SYDNEY, 2026, 10, 5)) == 3 * HOUR


def test_an_ambiguous_endpoint_starts_at_the_first_and_ends_at_the_second_occurrence() -> None:
    # New York 2026-11-01: 01:00-02:00 happens twice.
    ends_ambiguous = calendar("America/New_York", hours(EVERY_DAY, (time(0), time(1, 30))))
    starts_ambiguous = calendar("America/New_York", hours(EVERY_DAY, (time(1, 30), time(3))))
    day = (at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2))
    assert ends_ambiguous.diff(*day) == timedelta(hours=2, minutes=30)
    assert starts_ambiguous.diff(*day) == timedelta(hours=2, minutes=30)
    assert starts_ambiguous.next_open(at(NEW_YORK, 2026, 11, 1)) == utc_at(NEW_YORK, 2026, 11, 1, 1, 30, fold=0)


def test_berlin_and_sydney_night_shifts_count_across_the_change() -> None:
    berlin = calendar("Europe/Berlin", hours(EVERY_DAY, (time(22), time(6))))
    # Saturday 23:00 CET + 7h: 6h until 06:00 CEST (03:00 does not exist), then 1h from 22:00.
    assert berlin.add(at(BERLIN, 2026, 3, 28, 23), 7 * HOUR) == at(BERLIN, 2026, 3, 29, 23)
    assert berlin.add(at(BERLIN, 2026, 10, 24, 23), 7 * HOUR) == at(BERLIN, 2026, 10, 25, 5)
    sydney = calendar("Australia/Sydney", hours(EVERY_DAY, (time(22), time(6))))
    assert sydney.add(at(SYDNEY, 2026, 4, 4, 22), 8 * HOUR) == at(SYDNEY, 2026, 4, 5, 5)
    assert sydney.add(at(SYDNEY, 2026, 10, 3, 22), 8 * HOUR) == at(SYDNEY, 2026, 10, 4, 23)


def test_kolkata_half_hour_offset() -> None:
    office = calendar("Asia/Kolkata", hours(WEEKDAYS, (time(9, 30), time(18))), holiday_country="IN")
    saturday = at(KOLKATA, 2026, 6, 6, 12)
    assert office.next_open(saturday) == datetime(2026, 6, 8, 4, tzinfo=UTC)  # 09:30 IST
    assert office.add(at(KOLKATA, 2026, 6, 5, 17), 2 * HOUR) == datetime(2026, 6, 8, 5, tzinfo=UTC)
    assert office.describe(office.add(at(KOLKATA, 2026, 6, 5, 17), 2 * HOUR)) == "Mon 2026-06-08 10:30 Asia/Kolkata"


def test_add_business_days_across_spring_forward_keeps_wall_time() -> None:
    office = calendar("America/New_York", NINE_TO_FIVE)
    friday = at(NEW_YORK, 2026, 3, 6, 10)
    assert office.add_business_days(friday, 1) == at(NEW_YORK, 2026, 3, 9, 10)
    assert office.add_business_days(friday, 1) - friday == timedelta(days=3, hours=-1)


# ---------------------------------------------------------------------------- properties
ZONES = {"America/New_York": "US", "Europe/Berlin": "DE", "Australia/Sydney": "AU", "Asia/Kolkata": "IN"}


def calendars_for(zone: str, country: str) -> list[BusinessCalendar]:
    return [
        calendar(zone, NINE_TO_FIVE, holiday_country=country),
        calendar(zone, hours(WEEKDAYS, (time(9), time(12)), (time(13), time(17)))),
        calendar(zone, hours(WEEKDAYS, (time(22), time(6))), holiday_country=country),
        # Whole days, but not the always-open shortcut (a closed date long ago): exercises the
        # day-by-day machinery, which must tile time exactly.
        calendar(zone, hours(EVERY_DAY, (time(0), time(0))), closed_dates=frozenset({date(1990, 1, 1)})),
        calendar(zone, hours(EVERY_DAY, (time(0), time(0))), holiday_country=country),
        # Endpoints in DST gaps and repeated hours, overlapping on fall-back days.
        calendar(zone, hours(EVERY_DAY, (time(1, 30), time(2, 30)), (time(2, 45), time(3, 15)), (time(23), time(1)))),
        always_open(),
    ]


CALENDARS = [cal for zone, country in ZONES.items() for cal in calendars_for(zone, country)]
WHOLE_DAYS = [
    calendar(zone, hours(EVERY_DAY, (time(0), time(0))), closed_dates=frozenset({date(1990, 1, 1)})) for zone in ZONES
]

# DST changes in 2026 (UTC): instants near them are drawn often.
TRANSITIONS = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 16, tzinfo=UTC),
    datetime(2026, 10, 3, 16, tzinfo=UTC),
]
anywhere = st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2027, 6, 1), timezones=st.just(UTC))
near_a_change = st.builds(
    lambda change, minutes, micros: change + timedelta(minutes=minutes, microseconds=micros),
    st.sampled_from(TRANSITIONS),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
    st.sampled_from([0, 0, 0, 1, 999_999]),
)
# Inputs arrive in any zone. Comparisons below use UTC: Python's == across zones is always
# False for repeated-hour times, and +/- on same-zone datetimes is wall-clock arithmetic.
instants = st.one_of(anywhere, near_a_change).flatmap(
    lambda t: st.sampled_from([UTC, NEW_YORK, BERLIN, SYDNEY, KOLKATA]).map(t.astimezone)
)
amounts = st.one_of(
    st.integers(0, 12 * 8).map(lambda n: n * timedelta(minutes=30)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=12)),
)
calendars = st.sampled_from(CALENDARS)
fast = settings(max_examples=200, deadline=None)


@fast
@given(calendars, instants, amounts)
def test_add_then_diff_gives_back_the_amount_and_lands_on_open_time(
    cal: BusinessCalendar, t: datetime, amount: timedelta
) -> None:
    deadline = cal.add(t, amount)
    assert deadline.tzinfo is UTC
    assert cal.is_open(deadline)  # stronger than "open or at an interval end"
    assert cal.diff(t, deadline) == amount
    assert deadline >= cal.next_open(t)


@fast
@given(calendars, instants, amounts)
def test_diff_then_add_reaches_u_or_its_next_opening(cal: BusinessCalendar, t: datetime, delta: timedelta) -> None:
    start = cal.next_open(t)  # any open instant
    later = start + delta
    expected = later if cal.is_open(later) else cal.next_open(later)
    assert cal.add(start, cal.diff(start, later)) == expected
    assert cal.next_open(later) == expected


@fast
@given(calendars, instants)
def test_is_open_exactly_when_next_open_is_itself(cal: BusinessCalendar, t: datetime) -> None:
    assert cal.is_open(t) == (cal.next_open(t) == t.astimezone(UTC))
    assert cal.next_open(t) >= t


@fast
@given(calendars, instants, instants, instants)
def test_diff_is_additive(cal: BusinessCalendar, a: datetime, b: datetime, c: datetime) -> None:
    assert cal.diff(a, b) + cal.diff(b, c) == cal.diff(a, c)
    assert cal.diff(a, b) == -cal.diff(b, a)


@fast
@given(calendars, instants, instants, amounts, amounts)
def test_add_is_monotone(cal: BusinessCalendar, t: datetime, u: datetime, x: timedelta, y: timedelta) -> None:
    t, u = sorted((t, u))
    x, y = sorted((x, y))
    assert cal.add(t, x) <= cal.add(t, y)
    assert cal.add(t, x) <= cal.add(u, x)


@fast
@given(calendars, instants, instants)
def test_open_intervals_add_up_to_diff(cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    a, b = sorted((a, b))
    spans = list(cal.open_intervals(a, b))
    assert sum((end - start for start, end in spans), timedelta(0)) == cal.diff(a, b)
    for start, end in spans:
        assert a <= start < end <= b and start.tzinfo is UTC and end.tzinfo is UTC
        assert cal.is_open(start) and cal.is_open(start + (end - start) / 2)
    for (_, end), (start, _) in pairwise(spans):
        assert end < start and not cal.is_open(end)  # merged: a gap separates them


@fast
@given(instants, instants, amounts)
def test_always_open_is_plain_instant_arithmetic(a: datetime, b: datetime, amount: timedelta) -> None:
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    for cal in [CALENDAR_TIME, *WHOLE_DAYS]:
        assert cal.add(a, amount) == a + amount
        assert cal.diff(a, b) == b - a


@fast
@given(calendars, instants, st.integers(0, 10))
def test_add_business_days_moves_forward_by_open_days(cal: BusinessCalendar, t: datetime, days: int) -> None:
    result = cal.add_business_days(t, days)
    assert result.tzinfo is UTC
    assert result >= cal.next_open(t)
    assert cal.add_business_days(t, days + 1) > result


# ---------------------------------------------------------------------------- errors
def test_unknown_time_zone() -> None:
    with pytest.raises(CalendarError, match="unknown time zone 'Mars/Olympus_Mons'"):
        calendar("Mars/Olympus_Mons", NINE_TO_FIVE)


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        (((7, time(9), time(17)),), "weekday must be 0"),
        (((0, time(9), time(9)),), "zero length"),
        (((0, time(9), time(17, tzinfo=UTC)),), "local times"),
    ],
)
def test_bad_weekly_hours(weekly: tuple[tuple[int, time, time], ...], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        calendar("America/New_York", weekly)


def test_unknown_holiday_country_or_subdivision_uses_the_holidays_message() -> None:
    with pytest.raises(CalendarError, match="Country XX not available"):
        calendar("America/New_York", NINE_TO_FIVE, holiday_country="XX")
    with pytest.raises(CalendarError, match="does not have subdivision ZZ"):
        calendar("America/New_York", NINE_TO_FIVE, holiday_country="US", holiday_subdivision="ZZ")
    assert calendar("America/New_York", NINE_TO_FIVE, holiday_country="US", holiday_subdivision="NY")


def test_open_date_without_hours_needs_weekly_hours() -> None:
    with pytest.raises(CalendarError, match="no weekly hours"):
        calendar("UTC", (), open_dates=((date(2026, 6, 6), ()),))


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 6, 5, 16, 30)
    aware = at(NEW_YORK, 2026, 6, 5, 16, 30)
    calls = [
        lambda: NY_OFFICE.is_open(naive),
        lambda: NY_OFFICE.next_open(naive),
        lambda: NY_OFFICE.add(naive, HOUR),
        lambda: NY_OFFICE.diff(aware, naive),
        lambda: NY_OFFICE.open_intervals(naive, aware),
        lambda: NY_OFFICE.add_business_days(naive, 1),
        lambda: NY_OFFICE.describe(naive),
        lambda: CALENDAR_TIME.add(naive, HOUR),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="no time zone"):
            call()


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        NY_OFFICE.add(at(NEW_YORK, 2026, 6, 5, 16, 30), -HOUR)
    with pytest.raises(ValueError, match="negative"):
        NY_OFFICE.add_business_days(at(NEW_YORK, 2026, 6, 5, 16, 30), -1)


def test_an_empty_calendar_never_opens() -> None:
    empty = calendar("UTC", ())
    start = datetime(2026, 6, 5, tzinfo=UTC)
    with pytest.raises(CalendarError, match="no open time in the 3 years"):
        empty.next_open(start)
    with pytest.raises(CalendarError):
        empty.add(start, HOUR)
    assert empty.diff(start, start + timedelta(days=30)) == timedelta(0)
    assert not empty.is_open(start)
