"""A calendar's open time as a table of spans with running totals, so add and diff bisect.

Walking shifts day by day costs a few microseconds a day; an SLA engine asks for a deadline
or an elapsed time at almost every clock start, pause and escalation. This table holds the
union of a calendar's shifts between two local dates as sorted, disjoint spans, each with the
business time before it. Then:

* the business time before an instant (its *position*) is one bisect, so
  ``diff(a, b) = position(b) - position(a)``;
* ``add(t, x)`` is the instant whose position is ``position(t) + x``: one more bisect, over
  the running totals at each span's end (strictly above the target, so a count ending at a
  closing instant lands on the next opening, as the walk does).

Instants are whole microseconds since the Unix epoch: sums and differences are exact, like
timedelta arithmetic. The table is extended forward a block of days at a time and rebuilt
further back when asked about an earlier instant; it answers only inside the part it knows
completely, and the calendar falls back to its day-by-day walk for anything else.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
BLOCK = timedelta(days=92)  # days of shifts added at a time
Span = tuple[datetime, datetime]


def micros(t: datetime) -> int:
    """An aware instant as whole microseconds since the epoch."""
    return (t - EPOCH) // MICROSECOND


def instant(us: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


class OpenTime:
    """The union of a calendar's shifts from `first_day` to `last_day` (local dates).

    Exact for instants from `known_from` (two whole days after `first_day`: a shift ends at
    most a day after the date it starts on, plus a DST jump) up to `known_until` (the start of
    the day after `last_day`: later shifts start at or after it).
    """

    def __init__(self, shifts_of: Callable[[date], tuple[Span, ...]], day_start: Callable[[date], datetime]) -> None:
        self._shifts_of = shifts_of  # the shifts starting on a local date, sorted, as UTC instants
        self._day_start = day_start  # the first instant of a local date
        self.first_day: date | None = None
        self.last_day: date | None = None
        self.known_from = 0
        self.known_until = 0
        self.ordered = True  # False if shifts ever came out of order: then only the walk is trusted
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []  # business time from the table's first span to each span's start
        self.after: list[int] = []  # ... to each span's end

    def knows(self, a: int, b: int) -> bool:
        """Whether open time from instant a up to instant b is all in the table."""
        return self.ordered and self.known_from <= a and b < self.known_until

    def cover(self, day: date, until: int) -> None:
        """Extend the table to know from `day` (a local date) up to instant `until`."""
        if self.first_day is None or self.last_day is None or day - timedelta(days=2) < self.first_day:
            last = day + BLOCK if self.last_day is None else max(self.last_day, day + BLOCK)
            first = day - max(BLOCK, (last - day) // 2)  # earlier queries are likely: reach back too
            self._build(first, last)
        while self.ordered and self.known_until <= until:
            assert self.last_day is not None
            self._extend(self.last_day + BLOCK)

    def position(self, t: int) -> int:
        """Business time in the table before instant t."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        return self.before[i] + min(t, self.ends[i]) - self.starts[i]

    def at_position(self, target: int) -> int | None:
        """The first open instant whose position is `target`; None past the table's last span."""
        j = bisect_right(self.after, target)
        if j == len(self.after):
            return None
        return self.starts[j] + target - self.before[j]

    def next_open(self, t: int) -> int | None:
        """t if open, else the next span's start; None past the table's last span."""
        i = bisect_right(self.ends, t)
        if i == len(self.ends):
            return None
        return max(self.starts[i], t)

    def is_open(self, t: int) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    # ------------------------------------------------------------------ building
    def _build(self, first: date, last: date) -> None:
        self.first_day, self.last_day = first, first - timedelta(days=1)
        self.starts, self.ends, self.before, self.after = [], [], [], []
        self.ordered = True
        self.known_from = micros(self._day_start(first + timedelta(days=2)))
        self._extend(last)

    def _extend(self, last: date) -> None:
        """Add the shifts of the days after `last_day` up to `last`, merging touching spans."""
        assert self.last_day is not None
        starts, ends, before, after = self.starts, self.ends, self.before, self.after
        day = self.last_day + timedelta(days=1)
        while day <= last:
            for start_time, end_time in self._shifts_of(day):
                start, end = micros(start_time), micros(end_time)
                if starts and start < starts[-1]:
                    self.ordered = False
                if starts and start <= ends[-1]:
                    if end > ends[-1]:
                        after[-1] += end - ends[-1]
                        ends[-1] = end
                    continue
                total = after[-1] if after else 0
                starts.append(start)
                ends.append(end)
                before.append(total)
                after.append(total + end - start)
            day += timedelta(days=1)
        self.last_day = last
        self.known_until = micros(self._day_start(last + timedelta(days=1)))
