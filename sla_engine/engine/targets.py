"""Targets judged per period and group, and the escalations of targets missed periods running.

A target's status in a period:

- **on target**: the value meets the goal;
- **at risk**: it misses, but by no more than the tolerance (percentage points for percentage
  goals; for counts and durations a percent tolerance is a percent of the goal, a plain number
  is leads or hours);
- **missed**: it misses by more;
- **no data**: nothing to judge (no MQL entered, no clock came due, a period not started);
- **not in effect**: the period ends before the policy takes effect (`effective`), or the as-of
  is before it: nothing is owed, so nothing is missed. The period containing the effective
  instant counts from it, a count goal pro-rated by the share of the period in effect.

The period in progress is judged against a pro-rated expectation for counts (goal × the
share of the period elapsed) and against the plain goal for rates and durations.

`escalate when missed N periods { ... }` fires when each of the last N completed periods
(per group) was missed; each action goes to the outbox once per period that completes such
a streak, keyed ``target|POLICY|TARGET|GROUP|PERIOD|LEVEL.ACTION``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sla_engine.engine.measures import Results, Scope, Value, project
from sla_engine.engine.periods import (
    KIND_DAYS,
    Period,
    completed_before,
    effective_at,
    parse_period,
    period_of,
    scale,
    zone_of,
)
from sla_engine.engine.status import TargetStatus
from sla_engine.engine.trace import source_text
from sla_engine.events import utc
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet, plan_numbers

ON_TARGET, AT_RISK, MISSED, NO_DATA, NOT_IN_EFFECT = (
    TargetStatus.ON_TARGET, TargetStatus.AT_RISK, TargetStatus.MISSED, TargetStatus.NO_DATA, TargetStatus.NOT_IN_EFFECT)
STATUSES = (ON_TARGET, AT_RISK, MISSED, NO_DATA, NOT_IN_EFFECT)
DEFAULT_PERIOD = "month"


class Metrics(Protocol):
    """What a target rule reads: the policy set, and a metric's values per period and group.

    The store's metric queries (store/metrics.py) answer it; the rule only judges the values.
    """

    @property
    def policy_set(self) -> PolicySet: ...

    def of(self, metric: m.Metric, periods: Sequence[Period], scope: Scope) -> Results: ...
UNITS = {"count": "count", "met_rate": "percent", "rate": "percent", "completeness": "percent",
         "elapsed": "seconds"}


@dataclass(frozen=True)
class Goal:
    """A target's goal in the metric's unit: leads, percentage points or seconds."""

    op: str
    value: float
    unit: str
    source: str | None = None  # the plan number it came from, e.g. "inbound_2026.mqls"


@dataclass
class TargetRow:
    """One target, one period, one group: what the dashboard shows on a line."""

    policy: str
    target: str
    label: str
    owner: str | None
    metric: str
    period: Period
    group: tuple[tuple[str, Any], ...]
    value: float | None
    sample: int
    unit: str
    goal: Goal | None
    goal_value: float | None  # the goal for this period (count goals scaled to its length)
    expected: float | None  # what the value is judged against: goal_value, pro-rated while in progress
    status: TargetStatus
    in_progress: bool

    @property
    def group_label(self) -> str:
        return ", ".join(f"{name}={'-' if value is None else value}" for name, value in self.group)


def metric_text(policy_set: PolicySet, target: m.Target) -> str:
    """The metric as the policy writes it, with its filter."""
    metric = target.metric
    if metric is None:
        return "-"
    if metric.kind == "count":
        text = f"count of {metric.subject}"
    elif metric.kind == "met_rate":
        text = f"met rate of {metric.subject}"
    elif metric.kind == "rate":
        text = f"rate of {metric.subject} among {metric.among}"
    elif metric.kind == "elapsed":
        text = f"{metric.aggregate} elapsed of {metric.subject}"
    else:
        text = f"completeness of [{', '.join(metric.fields)}]"
    if target.where is not None:
        text += f" where {source_text(policy_set, target.where)}"
    return text


def resolve_goal(policy_set: PolicySet, target: m.Target) -> Goal | None:
    """The goal in the metric's unit, per the target's own period."""
    if target.goal is None or target.metric is None:
        return None
    unit = UNITS[target.metric.kind]
    value = target.goal.value
    kind = target.period or DEFAULT_PERIOD
    if isinstance(value, m.Duration):
        return Goal(target.goal.op, value.seconds, unit)
    if isinstance(value, m.Literal_) and isinstance(value.value, int | float):
        amount = float(value.value)
        if unit == "seconds" and value.type == "number":
            amount *= 3600  # a plain number against a duration reads as hours
        return Goal(target.goal.op, amount, unit)
    if isinstance(value, m.Ref) and len(value.path) == 2:
        plan = policy_set.plans.get(value.path[0])
        if plan is None:
            return None
        numbers: dict[str, float] = {**plan_numbers(plan)}
        if plan.revenue is not None:
            numbers["revenue"] = plan.revenue
        if value.path[1] not in numbers:
            return None
        per = (plan.period or kind).removesuffix("s")
        amount = scale(float(numbers[value.path[1]]), per if per in KIND_DAYS else kind, kind)
        return Goal(target.goal.op, amount, unit, source=value.dotted)
    return None


DEFAULT_TOLERANCE = 10.0  # percent of the goal: amber, not red, for a near miss unless the policy says otherwise


def tolerance_band(target: m.Target, goal: Goal, compared_to: float) -> float:
    """How far a value may miss and still be "at risk" rather than "missed"."""
    if target.tolerance is None:
        return abs(compared_to) * DEFAULT_TOLERANCE / 100
    if not target.tolerance:
        return 0.0
    if goal.unit == "percent":
        return target.tolerance
    if target.tolerance_is_percent:
        return abs(compared_to) * target.tolerance / 100
    return target.tolerance * (3600 if goal.unit == "seconds" else 1)


def holds(value: float, op: str, goal: float) -> bool:
    value, goal = round(value, 9), round(goal, 9)
    return {">=": value >= goal, ">": value > goal, "<=": value <= goal, "<": value < goal,
            "==": value == goal, "!=": value != goal}[op]


def judge(value: float | None, op: str, goal: float, band: float) -> TargetStatus:
    if value is None:
        return NO_DATA
    if holds(value, op, goal):
        return ON_TARGET
    gap = {">=": goal - value, ">": goal - value, "<=": value - goal, "<": value - goal,
           "==": abs(value - goal)}.get(op, math.inf)
    return AT_RISK if band > 0 and round(gap, 9) <= round(band, 9) else MISSED


def target_results(q: Metrics, policy: m.Policy, target: m.Target, periods: Sequence[Period]) -> Results:
    """The target's metric for these periods (duplicates dropped), per group, in one query."""
    since = effective_at(policy.effective, policy.timezone)
    unique = [part for p in {p.label: p for p in periods}.values() if (part := p.from_instant(since)) is not None]
    if target.metric is None or not unique:
        return {}
    return q.of(target.metric, unique, Scope(policy=policy.name, where=target.where, group_by=tuple(target.group_by)))


def target_rows(q: Metrics, policy: m.Policy, target: m.Target, periods: Sequence[Period], results: Results,
                as_of: datetime) -> list[TargetRow]:
    """Judge each period and group; count goals scale to the period and pro-rate while it runs."""
    if target.metric is None:
        return []
    as_of = utc(as_of)
    goal = resolve_goal(q.policy_set, target)
    unit = UNITS[target.metric.kind]
    kind = target.period or DEFAULT_PERIOD
    text = metric_text(q.policy_set, target)
    since = effective_at(policy.effective, policy.timezone)
    rows: list[TargetRow] = []
    for period in sorted({p.label: p for p in periods}.values(), key=lambda p: p.start):
        found: list[tuple[tuple[Any, ...], Value | None]] = sorted(
            ((g, v) for (label, g), v in results.items() if label == period.label), key=lambda i: str(i[0]))
        if not found:
            found = [((), Value(0.0, 0, 0.0) if unit == "count" else None)]
        counted = period.from_instant(since)  # the part of the period the policy is in effect
        in_effect = counted is not None and (since is None or since <= as_of)
        for group, result in found:
            started = period.start <= as_of
            value = result.value if result is not None and started and in_effect else None
            in_progress = period.in_progress(as_of)
            goal_value = expected = None
            status = NO_DATA if in_effect else NOT_IN_EFFECT
            if goal is not None and counted is not None and in_effect:
                goal_value = scale(goal.value, kind, period.kind) if unit == "count" else goal.value
                if unit == "count":  # a count goal is owed only for the share of the period in effect
                    goal_value *= counted.share_of(period)
                expected = goal_value * counted.elapsed_share(as_of) if unit == "count" and in_progress else goal_value
                status = judge(value, goal.op, expected, tolerance_band(target, goal, expected))
            rows.append(TargetRow(
                policy=policy.name, target=target.name, label=target.label or target.name, owner=target.owner,
                metric=text, period=period, group=tuple(zip(target.group_by, group, strict=False)),
                value=value, sample=result.sample if result is not None else 0, unit=unit, goal=goal,
                goal_value=goal_value, expected=expected, status=status, in_progress=in_progress,
            ))
    return rows


def evaluate_target(q: Metrics, policy: m.Policy, target: m.Target, periods: Sequence[Period],
                    as_of: datetime) -> list[TargetRow]:
    """The target's rows for each period (of any kind) and group."""
    return target_rows(q, policy, target, periods, target_results(q, policy, target, periods), as_of)


def current_period(policy: m.Policy, target: m.Target, as_of: datetime, period_label: str | None) -> Period:
    """The period a dashboard shows: the one asked for, else the target's own current period."""
    zone = zone_of(policy.timezone)
    if period_label:
        return parse_period(period_label, zone)
    return period_of(target.period or DEFAULT_PERIOD, as_of, zone)


def dashboard_rows(q: Metrics, as_of: datetime, period_label: str | None = None) -> list[TargetRow]:
    """Every target: over the given period (count goals scaled to it), else its own current period."""
    return [
        row
        for policy in q.policy_set.policies.values() for target in policy.targets
        for row in evaluate_target(q, policy, target, [current_period(policy, target, as_of, period_label)], as_of)
    ]


def with_weekly_trend(q: Metrics, policy: m.Policy, target: m.Target, period: Period, weeks: Sequence[Period],
                      as_of: datetime) -> tuple[list[TargetRow], list[TargetRow]]:
    """The target's rows for the period and its weekly trend (all groups together), in one query."""
    results = target_results(q, policy, target, [period, *weeks])
    rows = target_rows(q, policy, target, [period], results, as_of)
    if target.metric is None:
        return rows, []
    labels = {w.label for w in weeks}
    weekly = project({k: v for k, v in results.items() if k[0] in labels}, None, UNITS[target.metric.kind],
                     target.metric.aggregate)
    overall = target.model_copy(update={"group_by": []})
    return rows, target_rows(q, policy, overall, weeks, weekly, as_of)


# ---------------------------------------------------------------- escalations


@dataclass(frozen=True)
class TargetAction:
    """A target escalation's action that became due: a missed streak completed by ``period``.

    Keyed by the period that completed the streak, so each is recorded once. It concerns no
    lead and no clock: the store records it with the target's name where a window's would go.
    """

    policy: str
    target: str
    group: str  # the group's label, "-" for an ungrouped target
    period: str
    level: str
    level_index: int
    action_index: int
    action: dict[str, Any]
    due_at: datetime
    lead_id: str = ""
    cycle: int = 0

    @property
    def key(self) -> str:
        return f"target|{self.policy}|{self.target}|{self.group}|{self.period}|{self.level_index}.{self.action_index}"

    @property
    def window(self) -> str:
        return self.target


def _awaited(level: m.Escalation) -> tuple[int, TargetStatus] | None:
    """How many completed periods in a row, graded what, a target's level waits for: `when missed N
    periods` N missed ones; `when at risk` (the model's warning level) one period at risk."""
    if level.when == "missed" and level.missed_periods:
        return level.missed_periods, MISSED
    if level.when == "warning":
        return 1, AT_RISK
    return None


def target_level_label(level: m.Escalation) -> str:
    """A target's level as its author writes it: `when at risk` is the warning level of a clock."""
    return "when at risk" if level.when == "warning" else level.label


def due_target_escalations(q: Metrics, as_of: datetime, since: datetime | None = None) -> list[TargetAction]:
    """The actions of every `escalate when missed N periods` whose streak is complete, and of every
    `escalate when at risk` whose period completed at risk.

    A streak is judged at every period that completed after ``since`` (the last run's as-of), so
    a run after cron was down for a while records what daily runs would have. Without ``since``
    (a first run) only the streak ending with the last completed period is judged: old history
    does not raise a flood of stale alerts.
    """
    as_of = utc(as_of)
    actions: list[TargetAction] = []
    for policy in q.policy_set.policies.values():
        zone = zone_of(policy.timezone)
        for target in policy.targets:
            levels = [(i, level, awaited) for i, level in enumerate(target.escalations)
                      if (awaited := _awaited(level)) is not None]
            if not levels or target.metric is None or target.goal is None:
                continue
            kind = target.period or DEFAULT_PERIOD
            ends = _streak_ends(kind, as_of, zone, utc(since) if since else None)
            longest = max(length for _, _, (length, _) in levels)
            periods = completed_before(kind, as_of, zone, longest + ends - 1)
            by_group: dict[tuple[tuple[str, Any], ...], dict[str, TargetRow]] = defaultdict(dict)
            for row in evaluate_target(q, policy, target, periods, as_of):
                by_group[row.group][row.period.label] = row
            for _, rows in sorted(by_group.items(), key=lambda item: str(item[0])):
                for end in range(len(periods) - ends + 1, len(periods) + 1):
                    for index, level, (length, grade) in levels:
                        streak = periods[max(0, end - length):end]
                        if len(streak) < length:
                            continue
                        if all(p.label in rows and rows[p.label].status == grade for p in streak):
                            actions.extend(_actions(policy, target, index, level,
                                                    [rows[p.label] for p in streak]))
    return actions


MAX_CATCH_UP_PERIODS = 366
"""How many completed periods one run judges streaks at after an outage (a year of days)."""


def _streak_ends(kind: str, as_of: datetime, zone: ZoneInfo, since: datetime | None) -> int:
    """How many of the last completed periods end a streak to judge: those completed after ``since``."""
    if since is None:
        return 1
    count = 0
    period = period_of(kind, as_of, zone)
    while count < MAX_CATCH_UP_PERIODS:
        period = period.previous()
        if period.end <= since:
            break
        count += 1
    return max(count, 1)


def _actions(policy: m.Policy, target: m.Target, index: int, level: m.Escalation,
             streak: list[TargetRow]) -> list[TargetAction]:
    """One per action of the level, with the streak it is about."""
    last = streak[-1]
    goal = f"{last.goal.op} {last.expected:g}" if last.goal and last.expected is not None else None
    context = {
        "target": target.name, "label": last.label, "group": last.group_label or None,
        "periods": [row.period.label for row in streak], "values": [row.value for row in streak],
        "goal": goal, "unit": last.unit, "grade": str(last.status),
    }
    return [
        TargetAction(policy=policy.name, target=target.name, group=last.group_label or "-", period=last.period.label,
                     level=target_level_label(level), level_index=index, action_index=action_index,
                     action={**m.without_positions(action.model_dump(mode="json")), "target": context},
                     due_at=last.period.end)
        for action_index, action in enumerate(level.actions)
    ]


def targets_may_have_changed(policy_set: PolicySet, last_as_of: datetime | None, as_of: datetime,
                             earliest_new_event: datetime | None) -> bool:
    """Whether a completed period's status can differ from the last run's judgement.

    Completed periods change only when one more period completes, or when events dated
    before the current period arrive; otherwise a cron run can skip the target queries.
    """
    if last_as_of is None:
        return True
    for policy in policy_set.policies.values():
        zone = zone_of(policy.timezone)
        for target in policy.targets:
            if not any(_awaited(level) is not None for level in target.escalations):
                continue
            current = period_of(target.period or DEFAULT_PERIOD, as_of, zone)
            if period_of(target.period or DEFAULT_PERIOD, last_as_of, zone).start != current.start:
                return True
            if earliest_new_event is not None and earliest_new_event < current.start:
                return True
    return False
