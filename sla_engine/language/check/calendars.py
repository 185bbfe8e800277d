"""Calendars and time zones: business-hour deadlines are only as right as these."""

from __future__ import annotations

import functools
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

from sla_engine.language import model as m
from sla_engine.language.check.base import CheckerBase
from sla_engine.language.errors import suggest


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone '{name}'"
    return None


class CalendarChecks(CheckerBase):
    """Calendars, their zones, holidays and hours; references to them."""

    def check_calendar(self, calendar: m.CalendarDecl) -> None:
        """Business-hour deadlines are only as right as the calendar they count on."""
        self.check_timezone(calendar.timezone, self.in_block(calendar.pos, "timezone", None))
        self.check_holidays(calendar)
        if not calendar.hours:
            self.report("E212", f"calendar '{calendar.name}' has no `hours`: no business time would ever pass",
                        calendar.pos, "add e.g. `hours mon-fri 09:00-17:00`")
        for hours in calendar.hours:
            for interval in hours.intervals:
                self.check_interval(interval)
        for opened in calendar.open:
            for interval in opened.intervals:
                self.check_interval(interval)
            if opened.day in calendar.closed:
                self.report("E212", f"{opened.day} is both closed and open in calendar '{calendar.name}'",
                            opened.pos, "keep only one of them")

    def check_timezone(self, name: str | None, pos: m.Pos) -> None:
        """An unknown zone would shift every deadline by hours."""
        if name is None:
            return
        problem = _zone_problem(name)
        if problem is not None:
            self.report("E212", problem, pos, suggest(name, _time_zones()) or "use an IANA name such as "
                        "'America/New_York'")

    def check_holidays(self, calendar: m.CalendarDecl) -> None:
        """A holiday country the holidays package does not know would leave every holiday a workday."""
        if calendar.holidays is None:
            return
        try:
            holidays.country_holidays(calendar.holidays)
        except (NotImplementedError, ValueError, KeyError) as error:
            pos = self.in_block(calendar.pos, "holidays", None)
            self.report("E212", f"unknown holiday country '{calendar.holidays}': {error}", pos,
                        "use an ISO country code such as \"US\" or \"DE\"")
            return
        if calendar.subdivision is None:
            return
        try:
            holidays.country_holidays(calendar.holidays, subdiv=calendar.subdivision)
        except (NotImplementedError, ValueError, KeyError) as error:
            pos = self.in_block(calendar.pos, "subdivision", None)
            self.report("E212", f"unknown holiday subdivision '{calendar.subdivision}': {error}", pos)

    def check_interval(self, interval: m.Interval) -> None:
        """09:00-09:00 could mean no time or a whole day; only 00:00-00:00 (all day) is allowed."""
        if interval.start == interval.end and interval.start != time(0):
            self.report("E212", f"interval {interval.start:%H:%M}-{interval.end:%H:%M} has zero length",
                        interval.pos, "use 00:00-00:00 for a whole day")

    def check_calendar_ref(self, name: str, pos: m.Pos) -> None:
        """A misspelt calendar would silently count business time around the clock."""
        if name not in self.ps.calendars and name not in self.broken:
            self.report("E201", f"unknown calendar '{name}'", pos, suggest(name, self.ps.calendars))
