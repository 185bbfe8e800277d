"""The weekly review as outbox rows: one message per accountable contact per period, sent once.

`sla-engine report --send` records these rows and delivers them through the notifiers like any
escalation. The key names the period and the contact, so a second cron run in the same period
records nothing new and sends nothing twice; the next period is a new review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sla_engine.engine.periods import Period, period_of, zone_of
from sla_engine.engine.targets import AT_RISK, MISSED
from sla_engine.reports.dashboard import Report, Tile

REVIEW_POLICY = "review"  # as delivery/message.py reads it
REVIEW_WINDOW = "weekly review"


def review_period(zone_name: str | None, as_of: datetime) -> Period:
    """The review covers the last completed ISO week."""
    return period_of("week", as_of, zone_of(zone_name)).previous()


def _short(tile: Tile) -> str:
    from sla_engine.reports.render.cells import clean, fmt_goal, fmt_number

    return f"{clean(tile.label)} {fmt_number(tile.row.value, tile.row.unit)} (goal {fmt_goal(tile.row)})"


def review_counts(report: Report) -> str:
    """How many commitments are on target, at risk, missed: the subject line."""
    return ", ".join(f"{n} {status}" for status, n in report.tally().items() if n)


def review_details(report: Report) -> str:
    """What missed and what is at risk, each with its value against its goal."""
    parts = []
    for status, word in ((MISSED, "Missed"), (AT_RISK, "At risk")):
        tiles = [t for t in report.tiles if t.status == status]
        if tiles:
            parts.append(f"{word}: " + "; ".join(_short(t) for t in tiles) + ".")
    return " ".join(parts) or "Every commitment on target."


@dataclass(frozen=True)
class ReviewAction:
    """One contact's review for one period, as the outbox records it (no lead, no clock)."""

    key: str
    policy: str
    window: str
    level: str
    action: dict[str, Any]
    due_at: datetime
    lead_id: str = ""
    cycle: int = 0


def review_rows(report: Report, contacts: dict[str, Any], as_of: datetime) -> list[ReviewAction]:
    """One notify row per contact accountable for a target (by e-mail when the contact has one), due now."""
    names = sorted({t.accountable_contact for t in report.tiles if t.accountable_contact})
    counts, details = review_counts(report), review_details(report)
    rows = []
    for name in names:
        contact = contacts.get(name)
        channel = "email" if contact is not None and contact.get("email") is not None else None
        rows.append(ReviewAction(
            key=f"review|{report.period.label}|{name}", policy=REVIEW_POLICY, window=REVIEW_WINDOW,
            level=report.period.label,
            action={"action": "notify", "recipient": {"kind": "named", "name": name}, "channel": channel,
                    "review": {"title": f"SLA review {report.period.label}", "counts": counts,
                               "details": details, "period": report.period.label}},
            due_at=as_of.astimezone(timezone.utc),
        ))
    return rows
