"""Behind a number: the clocks and leads a target's metric counts, a rep's clocks, the lead owners.

Each list is queried with the same filters the metric uses (its policy, its ``where``, its
period), through the same SQL conditions (``Metrics``), so the list and the number agree.
"""

from __future__ import annotations

from typing import NamedTuple

from sla_engine.engine.measures import Scope
from sla_engine.engine.periods import Period
from sla_engine.language import model as m
from sla_engine.store.conditions import Params
from sla_engine.store.metrics import Metrics

CLOCK_METRICS = ("met_rate", "elapsed")  # the kinds counted over clocks; the others count leads


class ClockRow(NamedTuple):
    """A clock behind a number, as stored; ``owner`` is the lead's current owner."""

    lead_id: str
    status: str
    owner: str | None
    tier: str | None
    window: str
    due_at: str | None
    stopped_at: str | None
    warning_at: str | None
    breached_at: str | None


class LeadRow(NamedTuple):
    """A lead behind a number: whether it counts toward it (``hit``), and when it entered the count."""

    lead_id: str
    hit: bool
    owner: str | None
    tier: str | None
    at: str | None


def _owner(q: Metrics, ps: Params) -> str:
    return q.dialect.text(q.dialect.lead_doc("l"), q.dialect.path(ps, "owner"))


def _clock_columns(q: Metrics, ps: Params, window: str) -> str:
    return (f"wi.lead_id, wi.status, {_owner(q, ps)}, wi.tier, {window}, wi.due_at, wi.stopped_at, "
            "wi.warning_at, wi.breached_at")


def target_clocks(q: Metrics, policy: m.Policy, target: m.Target, period: Period) -> list[ClockRow]:
    """The judged and open clocks a met rate (by deadline) or an elapsed time (by start) reads, by deadline."""
    metric = target.metric
    if metric is None or metric.kind not in CLOCK_METRICS:
        return []
    ps = Params()
    where = q.condition(ps, target.where, q.instance_names()) if target.where is not None else q.true
    column = "wi.due_at" if metric.kind == "met_rate" else "wi.started_at"
    base = (f"FROM window_instances wi JOIN leads l ON l.lead_id = wi.lead_id "
            f"WHERE wi.policy = {ps(policy.name)} AND wi.window = {ps(metric.subject)} "
            f"AND wi.status IN ('met', 'breached', 'running', 'paused') "
            f"AND {column} >= {ps(period.start_utc)} AND {column} < {ps(period.end_utc)}")
    sql = (f"SELECT {_clock_columns(q, ps, 'wi.window')} {base} AND {where} "
           "ORDER BY wi.due_at NULLS FIRST, wi.lead_id, wi.started_at")
    return [ClockRow(*row) for row in q.query(sql, ps, base)]


def target_leads(q: Metrics, policy: m.Policy, target: m.Target, period: Period) -> list[LeadRow]:
    """The leads a count, a rate or a completeness reads in the period, in the order they entered it.

    ``hit``: for a rate, whether the lead reached the outcome; for completeness, whether every
    field is set; for a count, always.
    """
    metric = target.metric
    if metric is None or metric.kind in CLOCK_METRICS:
        return []
    ps = Params()
    names = q.lead_names(ps, policy.name, "s.lead_id")
    scope = Scope(policy=policy.name, where=target.where)
    if metric.kind == "completeness":
        complete = " AND ".join(q.condition(ps, m.IsSet(operand=m.Ref(path=[f])), names)
                                for f in metric.fields) or q.true
        base = (f"FROM events s JOIN leads l ON l.lead_id = s.lead_id WHERE s.type = 'created' "
                f"AND s.occurred_at >= {ps(period.start_utc)} AND s.occurred_at < {ps(period.end_utc)}")
        sql = (f"SELECT s.lead_id, {complete}, {_owner(q, ps)}, {names.tier}, s.occurred_at {base} "
               f"AND {q.lead_filter(ps, scope, names)} ORDER BY s.occurred_at, s.lead_id")
    else:
        stage = metric.subject if metric.kind == "count" else metric.among
        if metric.kind == "rate" and metric.subject in q.policy_set.stages:
            hit = (f"EXISTS (SELECT 1 FROM stage_entries x WHERE x.lead_id = s.lead_id "
                   f"AND x.stage = {ps(metric.subject)} AND x.entered_at >= s.entered_at)")
        elif metric.kind == "rate":
            hit = q.condition(ps, m.Truth(operand=m.Ref(path=[metric.subject or ""])), names)
        else:
            hit = q.true
        # A lead entering the stage twice in the period is listed once, at its first entry.
        base = (f"FROM (SELECT lead_id, min(entered_at) AS entered_at FROM stage_entries WHERE stage = {ps(stage)} "
                f"AND entered_at >= {ps(period.start_utc)} AND entered_at < {ps(period.end_utc)} GROUP BY lead_id) s "
                f"JOIN leads l ON l.lead_id = s.lead_id WHERE {q.true}")
        sql = (f"SELECT s.lead_id, {hit}, {_owner(q, ps)}, {names.tier}, s.entered_at {base} "
               f"AND {q.lead_filter(ps, scope, names)} ORDER BY s.entered_at, s.lead_id")
    return [LeadRow(row[0], bool(row[1]), row[2], row[3], row[4]) for row in q.query(sql, ps, base)]


def owner_clocks(q: Metrics, owners: list[str], period: Period, limit: int) -> tuple[list[ClockRow], list[ClockRow]]:
    """The owners' open clocks, due soonest first, and their clocks breached in the period, latest first.

    ``window`` is ``policy/window`` here: one person's clocks come from several policies.
    """
    if not owners:
        return [], []
    ps = Params()
    marks = ", ".join(ps(owner) for owner in owners)
    columns = _clock_columns(q, ps, "wi.policy || '/' || wi.window")
    base = (f"SELECT {columns} FROM window_instances wi "
            f"JOIN leads l ON l.lead_id = wi.lead_id WHERE {_owner(q, ps)} IN ({marks}) ")
    running = q.query(base + "AND wi.status IN ('running', 'paused') "
                      f"ORDER BY wi.due_at NULLS FIRST, wi.lead_id, wi.policy, wi.window LIMIT {int(limit)}", ps)
    breached = q.query(base + f"AND wi.status = 'breached' AND wi.breached_at >= {ps(period.start_utc)} "
                       f"AND wi.breached_at < {ps(period.end_utc)} "
                       f"ORDER BY wi.breached_at DESC, wi.lead_id, wi.policy, wi.window LIMIT {int(limit)}", ps)
    return [ClockRow(*row) for row in running], [ClockRow(*row) for row in breached]


def owners_seen(q: Metrics) -> list[tuple[str, int]]:
    """Every owner of a lead still in the store (not merged away), with how many leads each holds."""
    ps = Params()
    owner = _owner(q, ps)
    sql = (f"SELECT {owner}, count(*) FROM leads l WHERE {owner} IS NOT NULL "
           f"AND {q.dialect.is_off(q.dialect.lead_doc('l'), q.dialect.path(ps, 'deleted'))} GROUP BY {owner}")
    return sorted((str(row[0]), int(row[1])) for row in q.query(sql, ps))  # in Python: one order on both stores
