"""SLA metrics computed in SQL over the store, per period and per group.

What each metric means (docs/reports.md says the same for policy authors):

- ``count of STAGE``: distinct leads entering STAGE in the period (``stage_entries.entered_at``).
- ``met rate of WINDOW``: met / (met + breached) over the window's clocks whose deadline
  (``due_at``) falls in the period. Running and paused clocks are not judged yet; cancelled and
  not-applicable ones owe nothing. This is the SLA adherence number.
- ``rate of X among Y``: of the leads entering stage Y in the period, the share that entered
  stage X at or after that entry; when X is not a stage, the share for which X (a definition or
  a boolean field) holds over the lead's current fields.
- ``AGG elapsed of WINDOW`` (average, median, pNN): business time from start to stop, less
  paused time, of the window's met or breached clocks that have stopped, started in the period,
  on each clock's own calendar (as ``runner.timing`` computes it). Median is the middle value
  (the mean of the two middles); pNN is the nearest rank.
- ``completeness of [fields]``: the share of leads created in the period (their ``created``
  event) with every field set (not missing, not "" and not an empty list).

A target's ``where`` and ``group by`` read the lead's current fields, plus ``tier``, ``policy``
and ``window``. For lead metrics ``tier`` is the tier the policy's most recent clock gave the
lead, ``policy`` is the target's policy and ``window`` is unset; lead metrics count only leads
the policy's ``applies when`` holds for, and never deleted (merged) leads. For clock metrics
they are the clock's own. How a condition or a name becomes SQL is ``store/conditions.py``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sla_engine.engine.calendar import CALENDAR_TIME, BusinessCalendar
from sla_engine.engine.clock import elapsed_business
from sla_engine.engine.compile import build_calendar
from sla_engine.engine.measures import (
    Group,
    MetricError,
    Results,
    Scope,
    Value,
    aggregator,
    count_value,
    share_value,
)
from sla_engine.engine.periods import Period
from sla_engine.language import model as m
from sla_engine.store.conditions import Params, SqlConditions

DEFAULT_ENRICHMENT = ("company_size", "industry", "annual_revenue")
REJECTED = ("rejected", "disqualified")
SPEED_BUCKETS: tuple[tuple[str, float], ...] = (
    ("≤ 15m", 15 * 60), ("≤ 1h", 3600), ("≤ 2h", 2 * 3600), ("≤ 4h", 4 * 3600),
    ("≤ 8h", 8 * 3600), ("≤ 24h", 24 * 3600), ("≤ 48h", 48 * 3600), ("> 48h", math.inf),
)



@dataclass
class Cohort:
    """A period's MQLs (for one group) and what sales did about them."""

    mqls: int = 0
    judged: int = 0
    accepted: int = 0
    rejected: int = 0
    attempts: int = 0
    channels: int = 0
    contacted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


COHORT_KEYS = ("tier", "owner", "source", "campaign")



@dataclass
class Metrics(SqlConditions):
    """The metric queries, over the store, with the policy set's conditions as SQL."""

    calendars: dict[str, BusinessCalendar] = field(init=False)
    _memo: dict[Any, Any] = field(default_factory=dict, init=False)
    _seconds: dict[tuple[str, str, str | None, float | None], float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.calendars = {name: build_calendar(decl) for name, decl in self.policy_set.calendars.items()}

    # ------------------------------------------------------------ the five target metrics
    # Each query selects its rows once (lead or clock, time, groups, measure) in a materialized
    # CTE, then joins them to the periods: a row in a quarter and in one of its weeks is read once.
    # ``base`` is the rows a query reads before its conditions: what PostgreSQL judges in Python.

    def count(self, stage: str, periods: Sequence[Period], scope: Scope = Scope()) -> Results:
        ps = Params()
        names = self.lead_names(ps, scope.policy, "s.lead_id")
        select, _ = self.groups(ps, scope.group_by, names)
        base = (f"FROM stage_entries s JOIN leads l ON l.lead_id = s.lead_id "
                f"WHERE s.stage = {ps(stage)} AND {_range(ps, 's.entered_at', periods)}")
        inner = f"SELECT s.entered_at AS t, s.lead_id AS lead{select} {base} AND {self.lead_filter(ps, scope, names)}"
        sql = _by_period(ps, periods, inner, len(scope.group_by), "count(DISTINCT r.lead)")
        results = {(row[0], tuple(row[1:-1])): count_value(row[-1]) for row in self.query(sql, ps, base)}
        if not scope.group_by:
            for period in periods:
                results.setdefault((period.label, ()), count_value(0))
        return results

    def met_rate(self, windows: Iterable[tuple[str, str]], periods: Sequence[Period],
                 scope: Scope = Scope()) -> Results:
        ps = Params()
        names = self.instance_names()
        select, _ = self.groups(ps, scope.group_by, names)
        where = self.condition(ps, scope.where, names) if scope.where is not None else self.true
        base = (f"FROM window_instances wi JOIN leads l ON l.lead_id = wi.lead_id "
                f"WHERE {self._windows(ps, windows)} AND wi.status IN ('met', 'breached') "
                f"AND {_range(ps, 'wi.due_at', periods)}")
        inner = f"SELECT wi.due_at AS t, wi.status = 'met' AS hit{select} {base} AND {where}"
        sql = _by_period(ps, periods, inner, len(scope.group_by), "sum(CASE WHEN r.hit THEN 1 ELSE 0 END), count(*)")
        return {(row[0], tuple(row[1:-2])): share_value(row[-2], row[-1]) for row in self.query(sql, ps, base)}

    def rate(self, outcome: str, among: str, periods: Sequence[Period], scope: Scope = Scope()) -> Results:
        if among not in self.policy_set.stages:
            raise MetricError(f"`rate of {outcome} among {among}`: {among} is not a stage")
        ps = Params()
        names = self.lead_names(ps, scope.policy, "y.lead_id")
        select, _ = self.groups(ps, scope.group_by, names)
        if outcome in self.policy_set.stages:
            reached = (f"EXISTS (SELECT 1 FROM stage_entries x WHERE x.lead_id = y.lead_id "
                       f"AND x.stage = {ps(outcome)} AND x.entered_at >= y.entered_at)")
        else:
            reached = self.condition(ps, m.Truth(operand=m.Ref(path=[outcome])), names)
        base = (f"FROM stage_entries y JOIN leads l ON l.lead_id = y.lead_id "
                f"WHERE y.stage = {ps(among)} AND {_range(ps, 'y.entered_at', periods)}")
        inner = (f"SELECT y.entered_at AS t, y.lead_id AS lead, {reached} AS hit{select} {base} "
                 f"AND {self.lead_filter(ps, scope, names)}")
        sql = _by_period(ps, periods, inner, len(scope.group_by),
                         "count(DISTINCT CASE WHEN r.hit THEN r.lead END), count(DISTINCT r.lead)")
        return {(row[0], tuple(row[1:-2])): share_value(row[-2], row[-1]) for row in self.query(sql, ps, base)}

    def elapsed_seconds(self, windows: Iterable[tuple[str, str]], periods: Sequence[Period],
                        scope: Scope = Scope()) -> dict[tuple[str, Group], list[float]]:
        """Each stopped met/breached clock's business time, by period and group."""
        ps = Params()
        names = self.instance_names()
        select, _ = self.groups(ps, scope.group_by, names)
        where = self.condition(ps, scope.where, names) if scope.where is not None else self.true
        base = (f"FROM window_instances wi JOIN leads l ON l.lead_id = wi.lead_id "
                f"WHERE {self._windows(ps, windows)} AND wi.status IN ('met', 'breached') "
                f"AND wi.stopped_at IS NOT NULL AND {_range(ps, 'wi.started_at', periods)}")
        inner = (f"SELECT wi.started_at AS t{select}, wi.stopped_at AS stopped, wi.calendar AS calendar, "
                 f"wi.paused_seconds AS paused {base} AND {where}")
        sql = _by_period(ps, periods, inner, len(scope.group_by), "r.t, r.stopped, r.calendar, r.paused",
                         aggregate=False)
        found: dict[tuple[str, Group], list[float]] = defaultdict(list)
        for row in self.query(sql, ps, base):
            started, stopped, calendar, paused = row[-4:]
            found[(row[0], tuple(row[1:-4]))].append(self.business_seconds(started, stopped, calendar, paused))
        for values in found.values():
            values.sort()  # one order whatever the database's plan: a sum in another order differs in its last bits
        return found

    def elapsed(self, aggregate: str, windows: Iterable[tuple[str, str]], periods: Sequence[Period],
                scope: Scope = Scope()) -> Results:
        reduce = aggregator(aggregate)
        return {key: Value(reduce(values), len(values), values=values)
                for key, values in self.elapsed_seconds(windows, periods, scope).items()}

    def completeness(self, fields: Sequence[str], periods: Sequence[Period], scope: Scope = Scope()) -> Results:
        ps = Params()
        names = self.lead_names(ps, scope.policy, "c.lead_id")
        select, _ = self.groups(ps, scope.group_by, names)
        complete = " AND ".join(
            self.condition(ps, m.IsSet(operand=m.Ref(path=[name])), names) for name in fields
        ) or self.true
        base = (f"FROM events c JOIN leads l ON l.lead_id = c.lead_id "
                f"WHERE c.type = 'created' AND {_range(ps, 'c.occurred_at', periods)}")
        inner = (f"SELECT c.occurred_at AS t, c.lead_id AS lead, {complete} AS hit{select} {base} "
                 f"AND {self.lead_filter(ps, scope, names)}")
        sql = _by_period(ps, periods, inner, len(scope.group_by),
                         "count(DISTINCT CASE WHEN r.hit THEN r.lead END), count(DISTINCT r.lead)")
        return {(row[0], tuple(row[1:-2])): share_value(row[-2], row[-1]) for row in self.query(sql, ps, base)}

    def of(self, metric: m.Metric, periods: Sequence[Period], scope: Scope) -> Results:
        """A target's metric, dispatched on its kind."""
        windows = [(scope.policy, metric.subject or "")] if scope.policy else self.windows_named(metric.subject or "")
        if metric.kind == "count":
            return self.count(metric.subject or "", periods, scope)
        if metric.kind == "met_rate":
            return self.met_rate(windows, periods, scope)
        if metric.kind == "rate":
            return self.rate(metric.subject or "", metric.among or "", periods, scope)
        if metric.kind == "elapsed":
            return self.elapsed(metric.aggregate or "median", windows, periods, scope)
        return self.completeness(metric.fields, periods, scope)

    # ------------------------------------------------------------ helpers
    def pipeline_and_revenue(self, period: Period) -> dict[str, Value]:
        """Opportunities opened and deals won in the period by SLA-covered leads: count and amount."""
        ps = Params()
        d = self.dialect
        sql = (
            "SELECT type, count(*), sum(amount) FROM (SELECT DISTINCT e.type, e.lead_id, "
            f"{d.number(d.lead_doc('l'), d.path(ps, 'opportunity_amount'))} AS amount "
            "FROM events e JOIN leads l ON l.lead_id = e.lead_id "
            f"WHERE e.occurred_at >= {ps(period.start_utc)} AND e.occurred_at < {ps(period.end_utc)} "
            f"AND (e.type = 'converted' OR (e.type = 'opportunity_closed' "
            f"AND {d.is_one('e.payload', d.path(ps, 'won'))})) "
            f"AND {d.is_off(d.lead_doc('l'), d.path(ps, 'deleted'))} "
            "AND EXISTS (SELECT 1 FROM window_instances w WHERE w.lead_id = e.lead_id "
            "AND w.status != 'not_applicable')) found GROUP BY type"
        )
        found = {"pipeline": Value(0.0, 0), "revenue": Value(0.0, 0)}
        for kind, n, total in self.query(sql, ps):
            found["pipeline" if kind == "converted" else "revenue"] = Value(float(total or 0), int(n))
        return found

    def _windows(self, ps: Params, windows: Iterable[tuple[str, str]]) -> str:
        pairs = [f"(wi.policy = {ps(policy)} AND wi.window = {ps(window)})" for policy, window in windows]
        return "(" + " OR ".join(pairs) + ")" if pairs else self.dialect.false

    def windows_named(self, name: str) -> list[tuple[str, str]]:
        return [(p.name, w.name) for p in self.policy_set.policies.values() for w in p.windows if w.name == name]

    def role_windows(self, role: str) -> list[tuple[str, str]]:
        """The window each policy declares with this role (`role speed_to_lead`), never a guess."""
        return [(p.name, w.name) for p in self.policy_set.policies.values() for w in p.windows if w.role == role]

    def speed_windows(self) -> list[tuple[str, str]]:
        """The speed-to-lead clocks: the windows declared `role speed_to_lead`."""
        return self.role_windows("speed_to_lead")

    def business_seconds(self, started: str, stopped: str, calendar: str | None, paused: float | None) -> float:
        """Business time from start to stop less time paused, as runner.timing computes it (memoized)."""
        key = (started, stopped, calendar, paused)
        if key not in self._seconds:
            start, stop = datetime.fromisoformat(started), datetime.fromisoformat(stopped)
            cal = self.calendars.get(calendar or "", CALENDAR_TIME)
            self._seconds[key] = elapsed_business(cal, start, stop, paused or 0).total_seconds()
        return self._seconds[key]

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """One query answers several dashboard lines (total, by tier, by owner): run it once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def stage(self, *candidates: str) -> str | None:
        """The first of these stage names the policy set declares."""
        return next((name for name in candidates if name in self.policy_set.stages), None)

    def cohort_leads(self, period: Period) -> list[tuple[Any, ...]]:
        """The period's MQLs, one row each: tier, owner, source, campaign, disposition, reason,
        outbound attempts and distinct channels since the lead became an MQL."""
        stage = self.stage("mql")
        if stage is None:
            return []
        ps = Params()
        d = self.dialect
        names = self.lead_names(ps, None, "c.lead_id")
        keys = ", ".join(self.value(ps, key, names) for key in COHORT_KEYS)
        cohort = ("FROM (SELECT lead_id, min(entered_at) AS entered_at FROM stage_entries "
                  f"WHERE stage = {ps(stage)} AND entered_at >= {ps(period.start_utc)} "
                  f"AND entered_at < {ps(period.end_utc)} GROUP BY lead_id) c JOIN leads l ON l.lead_id = c.lead_id")
        sql = (
            f"SELECT {keys}, {d.text(d.lead_doc('l'), d.path(ps, 'disposition'))}, "
            f"{d.text(d.lead_doc('l'), d.path(ps, 'disposition_reason'))}, "
            f"count(e.event_id), count(DISTINCT {d.text('e.payload', d.path(ps, 'channel'))}) {cohort} "
            f"LEFT JOIN events e ON e.lead_id = c.lead_id AND {d.unindexed('e.type')} = 'activity' "
            "AND e.occurred_at >= c.entered_at "
            f"AND coalesce({d.text('e.payload', d.path(ps, 'direction'))}, 'outbound') = 'outbound' "
            f"WHERE {self.lead_filter(ps, Scope(), names)} GROUP BY c.lead_id, l.lead_id"
        )
        return self.memo(("cohort leads", period.label), lambda: self.query(sql, ps, f"{cohort} WHERE {self.true}"))

    def cohort(self, period: Period, by: str | None = None) -> dict[Group, Cohort]:
        """The period's MQLs and what sales did about them, in total or per tier, owner, source, campaign."""
        if by is not None and by not in COHORT_KEYS:
            raise MetricError(f"the MQL cohort groups by {', '.join(COHORT_KEYS)}, not {by!r}")
        return self.memo(("cohort", period.label, by), lambda: self._tally(period, by))

    def _tally(self, period: Period, by: str | None) -> dict[Group, Cohort]:
        index = COHORT_KEYS.index(by) if by else None
        found: dict[Group, Cohort] = {}
        width = len(COHORT_KEYS)
        for row in self.cohort_leads(period):
            disposition, reason, attempts, channels = row[width:]
            c = found.setdefault((row[index],) if index is not None else (), Cohort())
            c.mqls += 1
            c.judged += disposition is not None
            c.accepted += disposition == "accepted"
            if disposition in REJECTED:
                c.rejected += 1
                label = str(reason).strip() if reason is not None and str(reason).strip() else "(no reason)"
                c.reasons[label] = c.reasons.get(label, 0) + 1
            c.attempts += attempts
            c.channels += channels
            c.contacted += attempts > 0
        return found


# ---------------------------------------------------------------- SQL building blocks


def _periods_cte(ps: Params, periods: Sequence[Period]) -> str:
    rows = ", ".join(f"({ps(p.label)}, {ps(p.start_utc)}, {ps(p.end_utc)})" for p in periods)
    return f"WITH periods(label, start_at, end_at) AS (VALUES {rows})"


def _range(ps: Params, column: str, periods: Sequence[Period]) -> str:
    """The span of all the periods, so SQLite reads only that slice of the time index."""
    low = min(p.start_utc for p in periods)
    high = max(p.end_utc for p in periods)
    return f"{column} >= {ps(low)} AND {column} < {ps(high)}"


def _by_period(ps: Params, periods: Sequence[Period], inner: str, width: int, columns: str,
               aggregate: bool = True) -> str:
    """Rows selected once (`t` is their instant), then matched to every period that holds them."""
    groups = "".join(f", r.g{i}" for i in range(width))
    sql = (f"{_periods_cte(ps, periods)}, r AS MATERIALIZED ({inner}) "
           f"SELECT p.label{groups}, {columns} FROM r JOIN periods p ON r.t >= p.start_at AND r.t < p.end_at")
    return sql + (f" GROUP BY p.label{groups}" if aggregate else "")





def speed_bucket(seconds: float) -> str:
    for label, limit in SPEED_BUCKETS:
        if seconds <= limit:
            return label
    return SPEED_BUCKETS[-1][0]
