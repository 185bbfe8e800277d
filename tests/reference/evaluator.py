"""A reference evaluator: docs/semantics.md read literally, event by event and minute by minute.

It exists to be obviously right, not fast. It shares nothing with ``sla_engine.engine`` but a
calendar's ``is_open`` test: conditions are interpreted from the policy model as written, the
lead is folded here, and every business-time question (a deadline, a warning, elapsed time, an
escalation's instant) is answered by walking the calendar one minute at a time. There are no
caches of its own reasoning and no dependency tracking; the only thing remembered is what
``is_open`` said about a minute, so a walk can be repeated without asking again.

Generated histories put every event on a whole minute and every calendar changes on whole
minutes (DST jumps are whole hours), so "is the minute starting at m open" answers for the
whole minute.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sla_engine.engine.calendar import BusinessCalendar
from sla_engine.events import LeadEvent
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet, plan_numbers
from sla_engine.language.vocabulary import EVENT_FIELDS

MINUTE = 60
DAY = 86400
WALK_LIMIT_MINUTES = 120 * 24 * 60  # a walk that finds nothing open for 120 days is a bug in the test
MAX_REPEATS = 500
RUNNING, PAUSED, MET, BREACHED, CANCELLED, NOT_APPLICABLE = (
    "running", "paused", "met", "breached", "cancelled", "not_applicable",
)

# Rules the known wrong-verdict classes are about, recorded on the instances they shaped.
RECYCLE_ENDS_BREACH = "class 1: an ended breached clock stays ended"
STOP_WHILE_PAUSED = "class 2: a stop or end while paused counts the pause"
RETARGET_AFTER_PAUSE = "class 3: re-targeting re-measures pauses on the new calendar"
PAUSE_AFTER_BREACH = "class 4: a pause after a breach leaves elapsed time"
WARNING_IN_BUSINESS_TIME = "class 7: the warning falls at P% of the goal's business time"
LEVEL_IN_PAUSE = "class 7: no level is due while paused"
STAGE_AT_RECYCLE = "open point: a stage that starts to hold at a recycle is entered there"


# ---------------------------------------------------------------- time as whole seconds

def seconds(t: datetime) -> float:
    return t.timestamp()


def instant(s: float) -> datetime:
    """Seconds since the epoch as a UTC instant, to the microsecond."""
    whole = math.floor(s)
    micro = round((s - whole) * 1_000_000)
    return datetime.fromtimestamp(whole, UTC) + timedelta(microseconds=micro)


# ---------------------------------------------------------------- calendars

class Clockface:
    """Which minutes a calendar is open, asked of ``BusinessCalendar.is_open`` one minute at a time.

    ``None`` as the calendar means calendar time: every minute counts. The answers are kept a UTC
    day at a time, with the day's count of open minutes, so a walk may step over a whole day.
    """

    def __init__(self, name: str, calendar: BusinessCalendar | None, zone: str = "UTC") -> None:
        self.name = name
        self.calendar = calendar
        self.zone = ZoneInfo(zone)
        self._days: dict[int, tuple[list[bool], int]] = {}  # what is_open answered, by UTC day

    def day(self, day_start: int) -> tuple[list[bool], int]:
        """Each minute of the UTC day starting at day_start: open or not; and how many are open."""
        found = self._days.get(day_start)
        if found is None:
            minutes = [self.calendar is None or self.calendar.is_open(instant(day_start + k * MINUTE))
                       for k in range(DAY // MINUTE)]
            found = self._days[day_start] = (minutes, sum(minutes))
        return found

    def open_at(self, s: float) -> bool:
        """Whether the minute holding instant s is open."""
        if self.calendar is None:
            return True
        day_start = int(s - s % DAY)
        return self.day(day_start)[0][int(s - day_start) // MINUTE]

    def business(self, a: float, b: float) -> float:
        """Open seconds in [a, b), counted minute by minute (a whole day at once)."""
        if b <= a:
            return 0.0
        if self.calendar is None:
            return b - a
        total = 0.0
        t = a
        while t < b:
            if t % DAY == 0 and t + DAY <= b:
                total += self.day(int(t))[1] * MINUTE
                t += DAY
                continue
            edge = t - t % MINUTE + MINUTE
            if self.open_at(t):
                total += min(edge, b) - t
            t = edge
        return total

    def reach(self, start: float, amount: float, pauses: list[tuple[float, float]]) -> float:
        """The first open, unpaused instant by which `amount` of open, unpaused time has passed since start."""
        return self.reach_each(start, [amount], pauses)[0]

    def reach_each(self, start: float, amounts: list[float], pauses: list[tuple[float, float]]) -> list[float]:
        """reach() for several amounts, in one walk: minute by minute, or a whole day at once when
        no pause touches it and no amount is reached in it."""
        found: dict[float, float] = {}
        wanted = sorted(set(amounts))
        used = 0.0
        t = start
        for _ in range(WALK_LIMIT_MINUTES):
            if (t % DAY == 0 and not any(p < t + DAY and t < r for p, r in pauses)
                    and used + self.day(int(t))[1] * MINUTE <= wanted[0]):
                used += self.day(int(t))[1] * MINUTE
                t += DAY
                continue
            edge = t - t % MINUTE + MINUTE
            if self.open_at(t) and not any(p <= t < r for p, r in pauses):
                while wanted and used + (edge - t) > wanted[0]:
                    found[wanted[0]] = t + (wanted[0] - used)
                    wanted.pop(0)
                if not wanted:
                    return [found[amount] for amount in amounts]
                used += edge - t
            t = edge
        raise AssertionError(f"{self.name}: nothing open within 120 days of {instant(start)}")

    def next_open(self, s: float) -> float:
        return self.reach(s, 0.0, [])

    def open_day(self, day: date) -> bool:
        """A local date on which the calendar opens (generated calendars have no overnight shifts)."""
        first = seconds(datetime.combine(day, time(0), tzinfo=self.zone))
        last = seconds(datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone))
        return self.business(first, last) > 0

    def add_business_days(self, start: float, days: int) -> float:
        """The same local time on the Nth following open day (docs/language.md)."""
        first = self.next_open(start)
        if days == 0:
            return first
        local = instant(first).astimezone(self.zone)
        day, wall = local.date(), local.time().replace(fold=0)
        for _ in range(days):
            day += timedelta(days=1)
            while not self.open_day(day):
                day += timedelta(days=1)
        target = seconds(datetime.combine(day, wall, tzinfo=self.zone))
        if self.open_at(target):
            return target
        day_start = seconds(datetime.combine(day, time(0), tzinfo=self.zone))
        t = math.floor(target / MINUTE) * MINUTE - MINUTE
        while t >= day_start:
            if self.open_at(t):
                return t + MINUTE  # the end of the last shift of that day before the target
            t -= MINUTE
        return self.next_open(target)


def clockface_of(decl: m.CalendarDecl) -> Clockface:
    """A calendar built from its declaration, for its is_open test only."""
    weekly = tuple((day, i.start, i.end) for hours in decl.hours for day in hours.days for i in hours.intervals)
    calendar = BusinessCalendar(
        name=decl.name, timezone=decl.timezone or "UTC", weekly=weekly, holiday_country=decl.holidays,
        holiday_subdivision=decl.subdivision, closed_dates=frozenset(decl.closed),
        open_dates=tuple((o.day, tuple((i.start, i.end) for i in o.intervals)) for o in decl.open),
    )
    return Clockface(decl.name, calendar, decl.timezone or "UTC")


CALENDAR_TIME = Clockface("calendar time", None)


# ---------------------------------------------------------------- the lead

@dataclass
class Lead:
    """The fold of a lead's events so far, and what conditions read besides its fields."""

    fields: dict[str, Any] = field(default_factory=dict)
    previous_owners: list[str] = field(default_factory=list)
    history: list[tuple[LeadEvent, Any]] = field(default_factory=list)  # each event, with the owner before it
    stage_now: dict[str, bool] = field(default_factory=dict)
    condition_was: dict[str, bool] = field(default_factory=dict)  # each stage's condition after the event before
    stage_entered: dict[str, datetime] = field(default_factory=dict)
    entered_now: set[str] = field(default_factory=set)
    entered_at_recycle: set[str] = field(default_factory=set)  # stages a recycle event entered
    now: datetime | None = None  # the instant judged: an event's, or one where an event leaves a `within` span

    def fold(self, event: LeadEvent) -> bool:
        """Apply one event (docs/events.md); True if it is a recycle."""
        p, kind, f = event.payload, str(event.type), self.fields
        if kind == "created":
            f.update({k: v for k, v in p.get("attributes", {}).items() if v is not None})
            f.setdefault("created_at", event.occurred_at)
        elif kind == "updated":
            for key, value in p.get("changes", {}).items():
                if key == "owner":
                    self.set_owner(value)
                else:
                    f[key] = value
        elif kind == "status_changed":
            target = p.get("field") or "status"
            f[target] = p.get("new")
            return target == "status" and str(p.get("new") or "").casefold() == "recycled"
        elif kind == "assigned":
            self.set_owner(p["owner"])
            if p.get("owner_manager"):
                f["owner_manager"] = p["owner_manager"]
            if p.get("team"):
                f["team"] = p["team"]
            f["assigned_at"] = event.occurred_at
        elif kind == "disposition":
            f["disposition"] = p["disposition"]
            f["disposition_reason"] = p.get("reason")
            f["disposition_at"] = event.occurred_at
            return p["disposition"] == "recycled"
        elif kind == "converted":
            f["converted"] = True
            f["converted_at"] = event.occurred_at
            if p.get("amount") is not None:
                f["opportunity_amount"] = p["amount"]
        elif kind == "opportunity_closed":
            f["won"] = bool(p.get("won"))
            f["lost"] = not p.get("won")
            if p.get("amount") is not None:
                f["opportunity_amount"] = p["amount"]
        elif kind == "deleted":
            f["deleted"] = True
        return False

    def set_owner(self, owner: Any) -> None:
        current = self.fields.get("owner")
        if current and current != owner and current not in self.previous_owners:
            self.previous_owners.append(current)
        self.fields["owner"] = owner
        self.fields["previous_owners"] = list(self.previous_owners)


# ---------------------------------------------------------------- conditions, interpreted

def _text(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _line_up(a: Any, b: Any) -> tuple[Any, Any]:
    """Both sides of a comparison as the docs say: text ignores case, sources send numbers and instants as text."""
    a, b = _text(a), _text(b)
    if isinstance(a, date) and not isinstance(a, datetime):
        a = datetime.combine(a, time(0), tzinfo=UTC)
    if isinstance(b, date) and not isinstance(b, datetime):
        b = datetime.combine(b, time(0), tzinfo=UTC)
    number = (int, float)
    if isinstance(a, str) and isinstance(b, number) and not isinstance(b, bool):
        a = _maybe_number(a)
    elif isinstance(b, str) and isinstance(a, number) and not isinstance(a, bool):
        b = _maybe_number(b)
    elif isinstance(a, datetime) and isinstance(b, str):
        b = _maybe_instant(b)
    elif isinstance(b, datetime) and isinstance(a, str):
        a = _maybe_instant(a)
    return a, b


def _maybe_number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _maybe_instant(text: str) -> Any:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


OPS = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


@dataclass
class Scope:
    """What a condition sees: the lead, the event being judged (for event fields), the clock's start."""

    lead: Lead
    event: LeadEvent | None = None
    event_kind: str | None = None
    window_start: datetime | None = None
    policy: str | None = None  # whose own definitions and stages the names may mean (docs/language.md)
    defining: str | None = None  # the policy's own declaration being read: its name means the shared one


class Interpreter:
    """Conditions read from the policy files as written: a policy's own names are resolved here,
    by scope, not through the scoped names the engine is given."""

    def __init__(self, policy_set: PolicySet) -> None:
        self.ps = policy_set
        self.plans = {name: plan_numbers(plan) for name, plan in policy_set.plans.items()}
        self.shared: dict[str, m.Node] = {}
        self.own: dict[str, dict[str, m.Node]] = {}
        self.policies: list[m.Policy] = []
        for policy_file in policy_set.files:
            for decl in policy_file.declarations:
                if isinstance(decl, m.Policy):
                    self.policies.append(decl)
                    own = self.own.setdefault(decl.name, {})
                    for local in [*decl.definitions, *decl.stages]:
                        own.setdefault(local.name, local)
                elif isinstance(decl, m.Definition | m.ScoreDecl | m.Stage):
                    self.shared.setdefault(decl.name, decl)
        # Every stage a lead may enter, keyed "name" (shared) or "policy/name" (a policy's own).
        self.stages: list[tuple[str, str | None, m.Stage]] = [
            (name, None, decl) for name, decl in self.shared.items() if isinstance(decl, m.Stage)]
        for policy, own in self.own.items():
            self.stages += [(f"{policy}/{name}", policy, decl) for name, decl in own.items()
                            if isinstance(decl, m.Stage)]

    def declaration(self, name: str, scope: Scope) -> tuple[str | None, m.Node | None]:
        """(owner policy or None, declaration) a bare name means where ``scope`` reads it."""
        own = self.own.get(scope.policy or "", {})
        if name in own and name != scope.defining:
            return scope.policy, own[name]
        return None, self.shared.get(name)

    def stage_key(self, name: str, scope: Scope) -> str:
        owner, decl = self.declaration(name, scope)
        return f"{owner}/{name}" if owner is not None and isinstance(decl, m.Stage) else name

    def holds(self, expr: m.Node, scope: Scope) -> bool:
        if isinstance(expr, m.And):
            return all(self.holds(item, scope) for item in expr.items)
        if isinstance(expr, m.Or):
            return any(self.holds(item, scope) for item in expr.items)
        if isinstance(expr, m.Not):
            return not self.holds(expr.operand, scope)
        if isinstance(expr, m.Becomes):
            return self.stage_key(expr.stage, scope) in scope.lead.entered_now
        if isinstance(expr, m.Truth):
            value = self.value(expr.operand, scope)
            return value.casefold() in ("true", "yes", "1") if isinstance(value, str) else bool(value)
        if isinstance(expr, m.IsSet):
            return _missing(self.value(expr.operand, scope)) == expr.missing
        if isinstance(expr, m.Matches):
            value = self.value(expr.operand, scope)
            return isinstance(value, str) and re.search(expr.pattern, value, re.IGNORECASE) is not None
        if isinstance(expr, m.Member):
            value = self.value(expr.operand, scope)
            if value is None:
                return False
            options = [_text(self.listed(item, scope)) for item in expr.values.items]
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, dict | list) and _text(item) in options:
                    return not expr.negated
            return expr.negated
        if isinstance(expr, m.Between):
            got, low, high = (self.value(x, scope) for x in (expr.operand, expr.low, expr.high))
            if got is None or low is None or high is None:
                return False
            try:
                a, lo = _line_up(got, low)
                b, hi = _line_up(got, high)
                return lo <= a and b <= hi
            except TypeError:
                return False
        if isinstance(expr, m.Compare):
            a, b = self.value(expr.left, scope), self.value(expr.right, scope)
            if a is None or b is None:
                return False
            try:
                return bool(OPS[expr.op](*_line_up(a, b)))
            except TypeError:
                return False
        raise TypeError(f"not a condition: {type(expr).__name__}")

    def value(self, node: m.Node, scope: Scope) -> Any:
        if isinstance(node, m.Literal_):
            return node.value
        if isinstance(node, m.Duration):
            return node.seconds
        if isinstance(node, m.ListValue):
            return [self.value(item, scope) for item in node.items]
        if isinstance(node, m.Count):
            return self.count(node, scope)
        if isinstance(node, m.Ref):
            if len(node.path) == 2:
                return self.plans.get(node.path[0], {}).get(node.path[1])
            return self.name(node.path[0], scope)
        return None

    def listed(self, item: m.Node, scope: Scope) -> Any:
        """An item of a list literal: a bare name there is the text of the name (an enum value)."""
        if isinstance(item, m.Ref) and len(item.path) == 1:
            return item.path[0]
        return self.value(item, scope)

    def name(self, name: str, scope: Scope) -> Any:
        if scope.event_kind is not None and name in EVENT_FIELDS.get(scope.event_kind, {}):
            return scope.event.payload.get(name) if scope.event is not None else None
        owner, decl = self.declaration(name, scope)
        # A definition reads the lead, not the event; a shared one sees only shared names.
        lead_only = Scope(scope.lead, window_start=scope.window_start, policy=owner,
                          defining=name if owner is not None else None)
        if isinstance(decl, m.Definition):
            return self.holds(decl.expr, lead_only)
        if isinstance(decl, m.ScoreDecl):
            return self.score(decl, lead_only)
        if isinstance(decl, m.Stage):
            return self.stage_holds(decl, lead_only)
        return scope.lead.fields.get(name)

    def stage_holds(self, stage: m.Stage, scope: Scope) -> bool:
        """``scope``: where the stage's own body is read (its owner policy, and its name as `defining`)."""
        if stage.expr is not None:
            return self.holds(stage.expr, Scope(scope.lead, window_start=scope.window_start, policy=scope.policy,
                                                defining=scope.defining))
        wanted = [_text(self.value(v, scope)) for v in (stage.from_values.items if stage.from_values else [])]
        return _text(scope.lead.fields.get(stage.from_field or "status")) in wanted

    def score(self, score: m.ScoreDecl, scope: Scope) -> float:
        total = 0.0
        for rule in score.rules:
            if rule.when is not None and self.holds(rule.when, scope):
                total += rule.points
            elif rule.when is None and rule.per is not None:
                try:
                    per = float(self.name(rule.per, scope) or 0)
                except (TypeError, ValueError):
                    per = 0.0
                total += rule.points * per
        return min(total, score.cap) if score.cap is not None else total

    def count(self, node: m.Count, scope: Scope) -> int:
        floor = None
        if node.since == "start":
            floor = scope.window_start
        elif node.since is not None:
            floor = scope.lead.stage_entered.get(self.stage_key(node.since, scope))
            if floor is None:
                return 0
        total, seen = 0, set()
        for event, owner in scope.lead.history:
            if str(event.type) != node.event or (floor is not None and event.occurred_at < floor):
                continue
            if node.within is not None and scope.lead.now is not None and not (
                    event.occurred_at <= scope.lead.now < event.occurred_at + timedelta(seconds=node.within.seconds)):
                continue  # `within D`: an event counts from its instant until D later
            by = event.payload.get("by")
            if node.by_owner and (by is None or owner is None or str(by).casefold() != str(owner).casefold()):
                continue
            inner = Scope(scope.lead, event, node.event, scope.window_start, scope.policy, scope.defining)
            if node.where is not None and not self.holds(node.where, inner):
                continue
            total += 1
            if node.distinct is not None:
                seen.add(_text(event.payload.get(node.distinct)))
        return len(seen) if node.distinct is not None else total


# ---------------------------------------------------------------- clocks

@dataclass
class Clock:
    """One instance of one window for one lead, with every pause it went through."""

    policy: m.Policy
    window: m.Window
    cycle: int
    tier: str | None
    started: float
    goal: m.Goal | None = None
    goal_seconds: float = 0.0  # the goal's business time
    face: Clockface = CALENDAR_TIME
    status: str = RUNNING
    due: float | None = None
    warning: float | None = None
    breached_at: float | None = None
    stopped: float | None = None
    ended: float | None = None  # a breached clock ended by a recycle, deletion or disqualification
    cancelled_reason: str | None = None
    met_late: bool = False
    pauses: list[list[float | None]] = field(default_factory=list)  # [paused at, resumed at or None]
    tags: set[str] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return self.stopped is not None or self.ended is not None or self.status in (CANCELLED, NOT_APPLICABLE)

    @property
    def paused_since(self) -> float | None:
        return self.pauses[-1][0] if self.pauses and self.pauses[-1][1] is None else None

    def ended_pauses(self) -> list[tuple[float, float]]:
        return [(p, r) for p, r in self.pauses if r is not None]

    def paused_seconds(self) -> float:
        return sum(self.face.business(p, r) for p, r in self.ended_pauses())

    def set_goal(self, goal: m.Goal, face: Clockface) -> None:
        """Aim at a goal, and measure its business time from the start (docs/semantics.md)."""
        self.goal, self.face = goal, face
        duration = goal.duration
        if duration.business_days:
            self.goal_seconds = face.business(self.started, face.add_business_days(self.started, duration.days))
        else:
            self.goal_seconds = duration.seconds

    def reckon(self) -> None:
        """Deadline and warning from the start, skipping every ended pause (docs/semantics.md)."""
        if self.goal is None or self.breached_at is not None:
            return
        pauses = self.ended_pauses()
        goal = self.goal_seconds
        amounts = [goal]  # the deadline, then the warnings counted in running time
        plain_before = []  # `warn N before due` in calendar time on a business goal: due - N
        for warning in self.window.warnings:
            if warning.percent is not None:
                amounts.append(goal * warning.percent / 100)
            elif warning.before is not None:
                before = warning.before.seconds
                if warning.before.business or not self.goal.duration.business:
                    if before < goal:
                        amounts.append(goal - before)
                else:
                    plain_before.append(before)
        reached = self.face.reach_each(self.started, amounts, pauses)
        self.due = reached[0]
        candidates = reached[1:] + [self.due - before for before in plain_before]
        self.warning = min(candidates) if candidates else None
        if pauses and candidates:
            self.tags.add(WARNING_IN_BUSINESS_TIME)

    def breach_check(self, t: float) -> None:
        """A running clock whose deadline is strictly before t breached at the deadline."""
        if (self.finished or self.status == BREACHED or self.paused_since is not None
                or self.due is None or not self.due < t):
            return
        self.status = BREACHED
        self.breached_at = self.due

    def end_pause(self, t: float) -> None:
        if self.paused_since is None:
            return
        self.pauses[-1][1] = t
        if self.breached_at is None:
            self.status = RUNNING
            self.reckon()


class ReferenceEvaluator:
    """docs/semantics.md for one lead at a time: ``evaluate(events, as_of)``."""

    def __init__(self, policy_set: PolicySet) -> None:
        self.ps = policy_set
        self.interp = Interpreter(policy_set)
        self.faces = {name: clockface_of(decl) for name, decl in policy_set.calendars.items()}
        self.windows = [(policy, window) for policy in self.interp.policies for window in policy.windows]

    def face_for(self, policy: m.Policy, window: m.Window, goal: m.Goal) -> Clockface:
        if not goal.duration.business:
            return CALENDAR_TIME
        name = goal.calendar or window.calendar or policy.calendar
        return self.faces.get(name or "", CALENDAR_TIME)

    # ------------------------------------------------------------ one lead
    def evaluate(self, events: list[LeadEvent], as_of: datetime, elapsed: bool = True) -> dict[str, Any]:
        now = seconds(as_of)
        lead = Lead(stage_now={key: False for key, _, _ in self.interp.stages})
        clocks: list[list[Clock]] = [[] for _ in self.windows]
        start_was = [False] * len(self.windows)
        recycled_since_start = [False] * len(self.windows)
        for t, event in self.moments(events, now):
            when = instant(t)
            for instances in clocks:
                if instances:
                    instances[-1].breach_check(t)
            lead.now = when
            recycled = False
            if event is not None:
                owner_before = lead.fields.get("owner")
                recycled = lead.fold(event)
                lead.history.append((event, owner_before))
            self.judge_stages(lead, when, recycled)
            for index, (policy, window) in enumerate(self.windows):
                instances = clocks[index]
                clock = instances[-1] if instances else None
                if clock is not None and not clock.finished:
                    self.on_event(clock, lead, event, t, moved_by_time=event is None)
                if recycled:
                    recycled_since_start[index] = True
                    if clock is not None and not clock.finished and window.restarts_on_recycle:
                        self.end(clock, t, "recycled")
                if window.start is None:
                    continue
                fired = self.fires(window.start, lead, event, when, policy.name)
                if window.start.event is None:
                    fired, start_was[index] = fired and not start_was[index], fired
                if not fired:
                    continue
                if clock is not None and not (window.restarts_on_recycle and recycled_since_start[index]
                                              and clock.finished):
                    continue
                applies = policy.applies
                if applies is not None and not self.interp.holds(applies, Scope(lead, policy=policy.name)):
                    continue
                if policy.effective is not None and when < datetime.combine(
                        policy.effective, time(0), tzinfo=ZoneInfo(policy.timezone or "UTC")):
                    continue  # nothing is owed before the policy takes effect: no clock, no cycle
                recycled_since_start[index] = False
                instances.append(self.start(policy, window, len(instances) + 1, lead, t))
            for index, (policy, window) in enumerate(self.windows):
                becomes = {self.interp.stage_key(name, Scope(lead, policy=policy.name))
                           for name in _becomes(window.start)}
                if clocks[index] and lead.entered_at_recycle & becomes:
                    clocks[index][-1].tags.add(STAGE_AT_RECYCLE)
        result: dict[str, Any] = {"instances": {}, "actions": {}}
        for (policy, window), instances in zip(self.windows, clocks, strict=True):
            for clock in instances:
                clock.breach_check(now)
                key = f"{policy.name}|{window.name}|{clock.cycle}"
                result["instances"][key] = self.row(clock, now, elapsed)
                result["actions"].update(self.due_actions(clock, key, now))
        return result

    def judge_stages(self, lead: Lead, t: datetime, recycled: bool) -> None:
        """Stages after an event (docs/semantics.md, Stages). A recycle leaves every stage the lead
        was in; there it enters only a stage whose condition did not hold before and holds after."""
        lead.entered_now = set()
        if recycled:
            lead.stage_entered.clear()  # `since STAGE` counts from the entries after the recycle (zero until then)
        for name, owner, stage in self.interp.stages:
            now = self.interp.stage_holds(stage, Scope(lead, policy=owner, defining=stage.name if owner else None))
            was, lead.condition_was[name] = lead.condition_was.get(name, False), now
            if recycled and (lead.stage_now[name] or was):
                lead.stage_now[name] = False
                continue
            if now and not lead.stage_now[name]:
                lead.entered_now.add(name)
                lead.stage_entered[name] = t
                if recycled:
                    lead.entered_at_recycle.add(name)
            lead.stage_now[name] = now

    def fires(self, trigger: m.Trigger, lead: Lead, event: LeadEvent | None, window_start: datetime,
              policy: str) -> bool:
        if trigger.event is None:
            assert trigger.condition is not None
            return self.interp.holds(trigger.condition, Scope(lead, window_start=window_start, policy=policy))
        if event is None or str(event.type) != trigger.event:
            return False
        if trigger.by_owner:
            owner = lead.history[-1][1]
            by = event.payload.get("by")
            if not by or not owner or str(by).casefold() != str(owner).casefold():
                return False
        scope = Scope(lead, event, trigger.event, window_start, policy)
        return trigger.where is None or self.interp.holds(trigger.where, scope)

    def tier_of(self, policy: m.Policy, lead: Lead, window_start: datetime) -> str | None:
        for tier in policy.tiers:
            if tier.when is None or self.interp.holds(tier.when, Scope(lead, window_start=window_start,
                                                                       policy=policy.name)):
                return tier.name
        return None

    def start(self, policy: m.Policy, window: m.Window, cycle: int, lead: Lead, t: float) -> Clock:
        tier = self.tier_of(policy, lead, instant(t))
        goal = window.goal_for(tier) if (tier or not policy.tiers) else None
        clock = Clock(policy, window, cycle, tier, t)
        if goal is None:
            clock.status = NOT_APPLICABLE
            return clock
        clock.set_goal(goal, self.face_for(policy, window, goal))
        clock.reckon()
        self.on_event(clock, lead, None, t)
        return clock

    def moments(self, events: list[LeadEvent], now: float) -> list[tuple[float, LeadEvent | None]]:
        """Each event up to the as-of, and each instant where an event leaves a `within D` count
        (its instant + D) that no event falls on, up to the as-of: there time alone judges again."""
        spans: dict[str, set[float]] = {}

        def walk(node: Any) -> None:
            if isinstance(node, m.Count) and node.within is not None:
                spans.setdefault(node.event, set()).add(node.within.seconds)
            if isinstance(node, m.Node):
                for name in type(node).model_fields:
                    walk(getattr(node, name))
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(list(self.interp.shared.values()))
        walk(self.interp.policies)
        happened = [e for e in sorted(events, key=lambda e: (e.occurred_at, e.event_id))
                    if seconds(e.occurred_at) <= now]
        at_events = {seconds(e.occurred_at) for e in happened}
        ticks = {seconds(e.occurred_at) + span for e in happened for span in spans.get(str(e.type), ())}
        found: list[tuple[float, LeadEvent | None]] = [(seconds(e.occurred_at), e) for e in happened]
        found += [(tick, None) for tick in ticks if tick <= now and tick not in at_events]
        return sorted(found, key=lambda moment: moment[0])  # stable: events keep their order

    def on_event(self, clock: Clock, lead: Lead, event: LeadEvent | None, t: float,
                 moved_by_time: bool = False) -> None:
        """Re-target, then stop, else end, else pause or resume (docs/semantics.md, Clocks).

        ``event`` None: the start instant, or (``moved_by_time``) an instant where only time passed."""
        start = instant(clock.started)
        if clock.breached_at is None:
            tier = self.tier_of(clock.policy, lead, start)
            goal = clock.window.goal_for(tier) if tier is not None else None
            if tier is not None and tier != clock.tier and goal is not None:
                face = self.face_for(clock.policy, clock.window, goal)
                if clock.ended_pauses() and face is not clock.face:
                    clock.tags.add(RETARGET_AFTER_PAUSE)
                clock.tier = tier
                clock.set_goal(goal, face)
                clock.reckon()
        if self.stops(clock.window.stop, lead, event, start, clock.policy.name):
            if clock.paused_since is not None:
                clock.tags.add(STOP_WHILE_PAUSED)
            clock.end_pause(t)
            clock.stopped = t
            if clock.breached_at is not None:
                clock.met_late = True
            elif clock.due is not None and t > clock.due:
                clock.status, clock.breached_at, clock.met_late = BREACHED, clock.due, True
            else:
                clock.status = MET
            return
        f = lead.fields
        if (f.get("deleted") or f.get("disposition") == "disqualified") and not moved_by_time and (
                event is None or str(event.type) in ("deleted", "disposition")):
            self.end(clock, t, "deleted" if f.get("deleted") else "disqualified")
            return
        pause = clock.window.pause
        if pause is None:
            return
        paused = self.interp.holds(pause, Scope(lead, window_start=start, policy=clock.policy.name))
        if paused and clock.paused_since is None:
            clock.pauses.append([t, None])
            if clock.breached_at is None:
                clock.status = PAUSED
            else:
                clock.tags.add(PAUSE_AFTER_BREACH)
        elif not paused and clock.paused_since is not None:
            clock.end_pause(t)

    def stops(self, stop: m.Trigger | None, lead: Lead, event: LeadEvent | None, start: datetime,
              policy: str) -> bool:
        if stop is None:
            return False
        if event is None and stop.event is not None:
            return False  # an event stop needs an event after the start
        return self.fires(stop, lead, event, start, policy)

    def end(self, clock: Clock, t: float, reason: str) -> None:
        """Deleted, disqualified, or recycled with `restarts on recycle`: the clock ends for good."""
        if clock.paused_since is not None:
            clock.tags.add(STOP_WHILE_PAUSED)
        clock.end_pause(t)
        clock.cancelled_reason = reason
        if clock.breached_at is not None:
            clock.ended = t
            clock.tags.add(RECYCLE_ENDS_BREACH)
        else:
            clock.status = CANCELLED
            clock.stopped = t

    # ------------------------------------------------------------ results
    def row(self, clock: Clock, now: float, with_elapsed: bool = True) -> dict[str, Any]:
        """What the engine stores for an instance, with its elapsed time at the as-of."""
        def when(s: float | None) -> datetime | None:
            return None if s is None else instant(s)

        status = clock.status
        elapsed = None
        if clock.goal is not None and with_elapsed:
            end = clock.stopped if clock.stopped is not None else clock.ended if clock.ended is not None else now
            if clock.paused_since is not None:
                end = min(end, clock.paused_since)
            elapsed = max(clock.face.business(clock.started, end) - clock.paused_seconds(), 0.0)
        return {
            "cycle": clock.cycle, "tier": clock.tier, "status": status,
            "started_at": when(clock.started), "due_at": when(clock.due), "warning_at": when(clock.warning),
            "stopped_at": when(clock.stopped), "breached_at": when(clock.breached_at), "ended_at": when(clock.ended),
            "met_late": clock.met_late, "cancelled_reason": clock.cancelled_reason,
            "goal": m.format_duration(clock.goal.duration) if clock.goal else None,
            "calendar": clock.face.name if clock.goal else None,
            "paused_since": when(clock.paused_since),
            "elapsed": elapsed, "tags": sorted(clock.tags),
        }

    def level_instants(self, clock: Clock, level: m.Escalation, now: float) -> list[float]:
        assert clock.due is not None
        if level.when == "warning":
            return [clock.warning] if clock.warning is not None else []
        if level.when == "breach":
            return [clock.due]
        if level.after is None:
            return []
        found, at = [], clock.due
        for _ in range(MAX_REPEATS if level.when == "every_after_breach" else 1):
            step = level.after.seconds
            at = clock.face.reach(at, step, []) if level.after.business else at + step
            found.append(at)
            if at > now:
                break
        return found

    def due_actions(self, clock: Clock, key: str, now: float) -> dict[str, datetime]:
        """Each due action's key and fire time (docs/semantics.md, Warnings and escalations)."""
        if clock.goal is None or clock.due is None:
            return {}
        window = clock.window
        closed_at = clock.stopped if clock.stopped is not None else clock.ended
        due: dict[str, datetime] = {}
        for index, level in enumerate(window.escalations):
            quiet = level.quiet_hours or window.quiet_hours
            face = self.faces.get(quiet) if quiet else None
            for repeat, at in enumerate(self.level_instants(clock, level, now)):
                if closed_at is not None and at >= closed_at:
                    break
                if any(p <= at and (r is None or at < r) for p, r in clock.pauses):
                    clock.tags.add(LEVEL_IN_PAUSE)
                    continue
                fire = face.next_open(at) if face is not None else at
                if fire > now:
                    break
                for action_index in range(len(level.actions)):
                    due[f"{key}|{index}.{repeat}|{action_index}"] = instant(fire)
        return due


def _becomes(trigger: m.Trigger | None) -> set[str]:
    """The stages a start condition asks `becomes` of."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, m.Becomes):
            found.add(node.stage)
        elif isinstance(node, m.Node):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, list):
            for item in node:
                walk(item)
    if trigger is not None:
        walk(trigger.condition)
    return found
