"""Numbers, durations, goals and statuses as the dashboard writes them, shared by every format."""

from __future__ import annotations

import re
from typing import Any

from sla_engine.engine.measures import Value
from sla_engine.engine.targets import AT_RISK, MISSED, NO_DATA, NOT_IN_EFFECT, ON_TARGET, TargetRow
from sla_engine.reports.dashboard import MetricLine, OwnerLine, Report, Tile

MARKS: dict[str, str] = {ON_TARGET: "✅", AT_RISK: "⚠️", MISSED: "❌", NO_DATA: "·", NOT_IN_EFFECT: "–"}
OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: Any) -> str:
    """Lead data made safe to print: control and bidi characters gone, whitespace one space."""
    return " ".join(_CONTROL.sub("", "" if value is None else str(value)).split())


def fmt_number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "percent":
        return f"{value:.0f}%" if abs(value - round(value)) < 0.05 else f"{value:.1f}%"
    if unit == "seconds":
        return fmt_duration(value)
    if unit == "count" or unit == "amount":
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def fmt_goal(row: TargetRow) -> str:
    """The goal, and while a count's period runs the pro-rated share it is judged against."""
    if row.goal is None or row.expected is None:
        return "-"
    op = OPS.get(row.goal.op, row.goal.op)
    if row.unit == "count" and row.in_progress and row.goal_value is not None:
        return f"{op} {fmt_number(row.goal_value, 'count')} ({op} {row.expected:,.0f} by now)"
    return f"{op} {fmt_number(row.expected, row.unit)}"


def fmt_period(row: TargetRow) -> str:
    return row.period.label + (" (in progress)" if row.in_progress else "")


def fmt_status(status: str) -> str:
    return f"{MARKS[status]} {status}"


def fmt_group(group: str) -> str:
    return clean(group) or "all"


def target_cells(row: TargetRow) -> dict[str, str]:
    """One target line as text cells: Metric, Group, Period, Target, Current, Status, Owner."""
    return {
        "Metric": row.label, "Group": fmt_group(row.group_label), "Period": fmt_period(row),
        "Target": fmt_goal(row), "Current": fmt_number(row.value, row.unit), "Status": fmt_status(row.status),
        "Owner": (row.owner or "-").capitalize(),
    }


def tile_cells(tile: Tile) -> dict[str, str]:
    """A tile as the weekly review's table reads it: Metric | Target | Current | Status | Owner."""
    return {
        "Metric": tile.label, "Target": fmt_goal(tile.row), "Current": fmt_number(tile.row.value, tile.row.unit),
        "Status": fmt_status(tile.status), "Owner": tile.accountable, "Period": fmt_period(tile.row),
    }


def behind_text(tile: Tile) -> str:
    """The groups not on target, e.g. "behind: marco.rossi@example.com 23%, jonas.weber@… 42%"."""
    if not tile.behind:
        return ""
    parts = [f"{_group_value(row)} {fmt_number(row.value, row.unit)}" for row in tile.behind]
    return f"{len(tile.behind)} of {len(tile.groups)} below goal: " + ", ".join(parts)


def _group_value(row: TargetRow) -> str:
    """The group's values, "(none)" for a lead without one (e.g. an MQL nobody was assigned)."""
    return ", ".join("(none)" if value is None else clean(value) for _, value in row.group)


def owner_cells(line: OwnerLine) -> dict[str, str]:
    def v(value: Value | None, unit: str) -> str:
        return fmt_number(value.value if value else None, unit)

    return {
        "Owner": clean(line.owner), "MQLs": f"{line.mqls:,}", "In window": v(line.contacted, "percent"),
        "Median": v(line.median, "seconds"), "p90": v(line.p90, "seconds"),
        "Attempts": v(line.attempts, "number"), "Feedback": v(line.feedback, "percent"),
        "Accepted": v(line.acceptance, "percent"),
    }


def metric_cells(line: MetricLine) -> dict[str, str]:
    return {"Section": line.section, "Metric": line.name, "Group": fmt_group(line.group),
            "Value": fmt_number(line.value, line.unit), "Sample": f"{line.sample:,}",
            "Owner": line.owner.capitalize()}


def speed_cells(report: Report) -> list[dict[str, str]]:
    return [{"Tier": clean(tier), **{bucket: f"{n:,}" for bucket, n in counts.items()}}
            for tier, counts in report.speed.items()]


def rejection_cells(report: Report) -> list[dict[str, str]]:
    total = sum(n for _, n in report.rejections) or 1
    return [{"Reason": clean(reason), "Leads": f"{n:,}", "Share": fmt_number(100 * n / total, "percent")}
            for reason, n in report.rejections]


def escalation_cells(report: Report) -> list[dict[str, str]]:
    return [{"Due": e.due_at[5:16].replace("T", " "), "Lead": e.lead_id or "target", "Clock": e.window,
             "Level": e.level, "Action": clean(e.action), "To": clean(e.recipient), "State": e.status}
            for e in report.escalations]


def sections(report: Report) -> list[tuple[str, list[dict[str, str]]]]:
    """The detail tables as (title, rows of text cells), shared by text, markdown and csv."""
    return [
        (f"Open escalations ({len(report.escalations):,})", escalation_cells(report)),
        ("Every target and group", [target_cells(row) for row in report.targets]),
        (f"Metrics · {report.period.label}", [metric_cells(line) for line in report.metrics]),
        (f"By owner · {report.period.label}", [owner_cells(line) for line in report.owners]),
        (f"Speed to lead by tier · {report.period.label}", speed_cells(report)),
        (f"Rejection reasons · {report.period.label}", rejection_cells(report)),
    ]
