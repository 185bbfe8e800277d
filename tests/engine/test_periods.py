"""Periods are days, ISO weeks, months and quarters on the policy's wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sla_engine.engine.periods import PeriodError, completed_before, parse_period, period_of, scale, zone_of

NY = zone_of("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_labels_parse_to_local_midnights():
    week = parse_period("2026-W46", NY)
    assert (week.kind, week.label) == ("week", "2026-W46")
    assert week.start_utc == "2026-11-09T05:00:00+00:00" and week.end_utc == "2026-11-16T05:00:00+00:00"
    month = parse_period("2026-11", NY)
    assert month.start_utc == "2026-11-01T04:00:00+00:00"  # still daylight time at midnight on 1 November
    assert month.end_utc == "2026-12-01T05:00:00+00:00"
    quarter = parse_period("2026-Q4", NY)
    assert (quarter.start_utc, quarter.end_utc) == ("2026-10-01T04:00:00+00:00", "2027-01-01T05:00:00+00:00")
    assert parse_period("2026-q4", NY) == quarter and parse_period("2026w46", NY) == week


def test_the_last_evening_of_a_month_belongs_to_that_month_in_the_zone():
    late = utc("2026-12-01T04:30:00")  # 23:30 on Monday 30 November in New York
    assert period_of("month", late, NY).label == "2026-11"
    assert period_of("month", late, zone_of("UTC")).label == "2026-12"
    assert period_of("week", late, NY).label == "2026-W49"
    assert period_of("quarter", late, NY).label == "2026-Q4"
    assert period_of("quarter", utc("2027-01-01T04:59:59"), NY).label == "2026-Q4"
    assert period_of("quarter", utc("2027-01-01T05:00:00"), NY).label == "2027-Q1"


def test_iso_weeks_cross_years():
    assert period_of("week", utc("2027-01-01T12:00:00"), NY).label == "2026-W53"
    assert parse_period("2026-W53", NY).next().label == "2027-W01"
    assert parse_period("2027-W01", NY).previous().label == "2026-W53"
    with pytest.raises(PeriodError):
        parse_period("2025-W53", NY)


def test_a_week_across_the_dst_change_is_a_local_week():
    week = parse_period("2026-W44", NY)  # clocks go back on Sunday 1 November
    start, end = (datetime.fromisoformat(t) for t in (week.start_utc, week.end_utc))
    assert (end - start).total_seconds() == 7 * 86400 + 3600
    assert week.elapsed_share(week.start) == 0 and week.elapsed_share(week.end) == 1
    assert week.elapsed_share(utc("2026-10-29T16:30:00")) == pytest.approx(0.5)  # 84.5 of 169 hours


def test_navigation_and_helpers():
    month = parse_period("2026-11", NY)
    assert month.previous().label == "2026-10" and month.next().label == "2026-12"
    assert [w.label for w in month.weeks()] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48",
                                                "2026-W49"]
    assert [p.label for p in completed_before("week", utc("2026-12-02T17:00:00"), NY, 2)] == ["2026-W47",
                                                                                              "2026-W48"]
    assert scale(320, "month", "month") == 320
    assert scale(320, "month", "quarter") == pytest.approx(960)
    assert scale(100, "week", "month") == pytest.approx(100 * 365.25 / 12 / 7)


def test_a_day_runs_from_local_midnight_to_midnight():
    day = parse_period("2026-11-16", NY)
    assert (day.kind, day.label) == ("day", "2026-11-16")
    assert (day.start_utc, day.end_utc) == ("2026-11-16T05:00:00+00:00", "2026-11-17T05:00:00+00:00")
    assert period_of("day", utc("2026-11-17T04:59:59"), NY) == day  # 23:59:59 in New York
    assert (day.previous().label, day.next().label) == ("2026-11-15", "2026-11-17")
    dst = parse_period("2026-11-01", NY)  # the day clocks go back is 25 hours long
    assert (dst.end - dst.start).total_seconds() == 86400 and dst.elapsed_share(utc("2026-11-02T05:00:00")) == 1.0
    assert dst.end.astimezone(timezone.utc) - dst.start.astimezone(timezone.utc) == timedelta(hours=25)
    assert [p.label for p in completed_before("day", utc("2026-11-17T12:00:00"), NY, 2)] == ["2026-11-15",
                                                                                             "2026-11-16"]
    assert scale(70, "week", "day") == pytest.approx(10)


@pytest.mark.parametrize("text", ["2026-13", "2026", "W46", "2026-Q5", "next week", "2026-02-30"])
def test_bad_labels_say_how_to_write_one(text):
    with pytest.raises(PeriodError):
        parse_period(text, NY)
