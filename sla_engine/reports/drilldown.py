"""Behind a number: the leads a tile counts, a rep's clocks, a manager's team.

The dashboard says "45 % of demo requests answered in time"; these lists show the clocks and
leads that make it (queried by ``store.drilldown`` with the metric's own filters, so the list and
the number agree), each in the words of the page: at risk, breached, reached, incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sla_engine.engine.periods import Period
from sla_engine.language import model as m
from sla_engine.store import drilldown as rows
from sla_engine.store.metrics import Metrics

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


def clock_state(status: str, warning_at: str | None, as_of: datetime) -> str:
    """A running clock whose warning has passed is at risk."""
    if status == "running" and warning_at and warning_at <= as_of.isoformat():
        return "at risk"
    return status


def _clock_line(row: rows.ClockRow, as_of: datetime, at: str | None) -> LeadLine:
    return LeadLine(row.lead_id, clock_state(row.status, row.warning_at, as_of), row.owner, row.tier, row.window,
                    at, row.stopped_at)


def target_leads(q: Metrics, policy: m.Policy, target: m.Target, period: Period,
                 as_of: datetime) -> list[LeadLine]:
    """The clocks or leads the target's number for this period is computed over, worst first."""
    metric = target.metric
    if metric is None:
        return []
    if metric.kind in rows.CLOCK_METRICS:
        lines = [_clock_line(row, as_of, row.due_at) for row in rows.target_clocks(q, policy, target, period)]
    else:
        labels = {"completeness": ("incomplete", "complete"), "count": ("counted", "counted")}.get(
            metric.kind, ("not reached", "reached"))
        lines = [LeadLine(row.lead_id, labels[row.hit], row.owner, row.tier, at=row.at)
                 for row in rows.target_leads(q, policy, target, period)]
    lines.sort(key=lambda line: ORDER.index(line.state) if line.state in ORDER else len(ORDER))
    return lines


def owner_clocks(q: Metrics, owners: list[str], period: Period, as_of: datetime) -> dict[str, list[LeadLine]]:
    """A rep's (or a team's) running clocks, due soonest first, and the clocks breached in the period."""
    running, breached = rows.owner_clocks(q, owners, period, LIMIT)
    return {"running": [_clock_line(row, as_of, row.breached_at or row.due_at) for row in running],
            "breached": [_clock_line(row, as_of, row.breached_at or row.due_at) for row in breached]}


def owners_seen(q: Metrics) -> list[tuple[str, int]]:
    """Every lead owner in the store, with how many leads each holds."""
    return rows.owners_seen(q)


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
