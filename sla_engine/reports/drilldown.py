"""Behind a number: the leads a tile counts, a rep's clocks, a manager's team.

The dashboard says "45 % of demo requests answered in time"; these queries list the clocks and
leads that make it, with the same filters the target's metric uses (its policy, its `where`,
its period), so the list and the number agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sla_engine.engine.measures import Scope
from sla_engine.engine.periods import Period
from sla_engine.language import model as m
from sla_engine.store.metrics import Metrics, Params

LIMIT = 500  # rows per list on a page; the count says how many there are in all
ORDER = ("breached", "at risk", "running", "paused", "met", "counted", "reached", "not reached", "complete",
         "incomplete")


@dataclass
class LeadLine:
    """One lead (or one of its clocks) behind a number."""

    lead_id: str
    state: str  # breached, at risk, running, paused, met; counted, reached / not reached, complete / incomplete
    owner: str | None
    tier: str | None
    window: str | None = None
    at: str | None = None  # the clock's deadline, or when the lead entered the stage
    stopped_at: str | None = None


def _owner(ps: Params) -> str:
    return f"json_extract(l.state, {ps('$.owner')})"


def clock_state(status: str, warning_at: str | None, as_of: datetime) -> str:
    """A running clock whose warning has passed is at risk."""
    if status == "running" and warning_at and warning_at <= as_of.isoformat():
        return "at risk"
    return status


def target_leads(q: Metrics, policy: m.Policy, target: m.Target, period: Period,
                 as_of: datetime) -> list[LeadLine]:
    """The clocks or leads the target's number for this period is computed over, worst first."""
    metric = target.metric
    if metric is None:
        return []
    ps = Params()
    if metric.kind in ("met_rate", "elapsed"):
        names = q.instance_names()
        where = q.condition(ps, target.where, names) if target.where is not None else "1"
        column = "wi.due_at" if metric.kind == "met_rate" else "wi.started_at"
        sql = (f"SELECT wi.lead_id, wi.status, {_owner(ps)}, wi.tier, wi.window, wi.due_at, wi.stopped_at, "
               f"wi.warning_at FROM window_instances wi JOIN leads l ON l.lead_id = wi.lead_id "
               f"WHERE wi.policy = {ps(policy.name)} AND wi.window = {ps(metric.subject)} "
               f"AND wi.status IN ('met', 'breached', 'running', 'paused') "
               f"AND {column} >= {ps(period.start_utc)} AND {column} < {ps(period.end_utc)} AND {where} "
               f"ORDER BY wi.due_at")
        lines = [LeadLine(r[0], clock_state(r[1], r[7], as_of), r[2], r[3], r[4], r[5], r[6])
                 for r in q.query(sql, ps)]
    else:
        names = q.lead_names(ps, policy.name, "s.lead_id")
        scope = Scope(policy=policy.name, where=target.where)
        if metric.kind == "completeness":
            complete = " AND ".join(q.condition(ps, m.IsSet(operand=m.Ref(path=[f])), names)
                                    for f in metric.fields) or "1"
            sql = (f"SELECT s.lead_id, {complete}, {_owner(ps)}, {names.tier}, s.occurred_at FROM events s "
                   f"JOIN leads l ON l.lead_id = s.lead_id WHERE s.type = 'created' "
                   f"AND s.occurred_at >= {ps(period.start_utc)} AND s.occurred_at < {ps(period.end_utc)} "
                   f"AND {q.lead_filter(ps, scope, names)} ORDER BY s.occurred_at")
            labels = ("incomplete", "complete")
        else:
            stage = metric.subject if metric.kind == "count" else metric.among
            if metric.kind == "rate" and metric.subject in q.policy_set.stages:
                hit = (f"EXISTS (SELECT 1 FROM stage_entries x WHERE x.lead_id = s.lead_id "
                       f"AND x.stage = {ps(metric.subject)} AND x.entered_at >= s.entered_at)")
            elif metric.kind == "rate":
                hit = q.condition(ps, m.Truth(operand=m.Ref(path=[metric.subject or ""])), names)
            else:
                hit = "1"
            sql = (f"SELECT s.lead_id, {hit}, {_owner(ps)}, {names.tier}, min(s.entered_at) FROM stage_entries s "
                   f"JOIN leads l ON l.lead_id = s.lead_id WHERE s.stage = {ps(stage)} "
                   f"AND s.entered_at >= {ps(period.start_utc)} AND s.entered_at < {ps(period.end_utc)} "
                   f"AND {q.lead_filter(ps, scope, names)} GROUP BY s.lead_id ORDER BY min(s.entered_at)")
            labels = ("counted", "counted") if metric.kind == "count" else ("not reached", "reached")
        lines = [LeadLine(r[0], labels[1] if r[1] else labels[0], r[2], r[3], at=r[4]) for r in q.query(sql, ps)]
    lines.sort(key=lambda line: ORDER.index(line.state) if line.state in ORDER else len(ORDER))
    return lines


def owner_clocks(q: Metrics, owners: list[str], period: Period, as_of: datetime) -> dict[str, list[LeadLine]]:
    """A rep's (or a team's) running clocks, due soonest first, and the clocks breached in the period."""
    if not owners:
        return {"running": [], "breached": []}
    ps = Params()
    marks = ", ".join(ps(owner) for owner in owners)
    base = (f"SELECT wi.lead_id, wi.status, {_owner(ps)}, wi.tier, wi.policy || '/' || wi.window, wi.due_at, "
            f"wi.stopped_at, wi.warning_at, wi.breached_at FROM window_instances wi "
            f"JOIN leads l ON l.lead_id = wi.lead_id WHERE {_owner(ps)} IN ({marks}) ")
    running = q.query(base + f"AND wi.status IN ('running', 'paused') ORDER BY wi.due_at LIMIT {LIMIT}", ps)
    breached = q.query(base + f"AND wi.status = 'breached' AND wi.breached_at >= {ps(period.start_utc)} "
                       f"AND wi.breached_at < {ps(period.end_utc)} ORDER BY wi.breached_at DESC LIMIT {LIMIT}", ps)

    def line(r: tuple[Any, ...]) -> LeadLine:
        return LeadLine(r[0], clock_state(r[1], r[7], as_of), r[2], r[3], r[4], r[8] or r[5], r[6])

    return {"running": [line(r) for r in running], "breached": [line(r) for r in breached]}


def owners_seen(q: Metrics) -> list[tuple[str, int]]:
    """Every lead owner in the store, with how many leads each holds."""
    ps = Params()
    sql = (f"SELECT {_owner(ps)} AS o, count(*) FROM leads l WHERE o IS NOT NULL "
           "AND coalesce(json_extract(l.state, '$.deleted'), 0) = 0 GROUP BY o ORDER BY o")
    return [(str(r[0]), int(r[1])) for r in q.query(sql, ps)]


def teams(q: Metrics) -> list[tuple[str, str | None, list[str]]]:
    """(team, manager, members) for each team the policies declare."""
    found = []
    for name, decl in sorted(q.policy_set.contacts.items()):
        if not decl.is_team:
            continue
        manager = getattr(decl.get("manager"), "value", None)
        members = getattr(decl.get("members"), "items", None) or []
        found.append((name, manager, [str(getattr(item, "value", item)) for item in members]))
    return found
