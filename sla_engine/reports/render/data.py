"""The dashboard as data: json (everything, for tools) and csv (one row per number, for spreadsheets)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from sla_engine.engine.measures import Value
from sla_engine.engine.targets import TargetRow
from sla_engine.reports.dashboard import Report, Tile
from sla_engine.reports.render.cells import fmt_goal, fmt_number, owner_cells


def _value(value: Value | None) -> dict[str, Any] | None:
    return None if value is None else {"value": value.value, "sample": value.sample}


def _target(row: TargetRow) -> dict[str, Any]:
    return {
        "policy": row.policy, "target": row.target, "label": row.label, "owner": row.owner,
        "metric": row.metric, "period": row.period.label, "in_progress": row.in_progress,
        "group": {name: value for name, value in row.group}, "value": row.value, "unit": row.unit,
        "sample": row.sample, "goal": None if row.goal is None else {
            "op": row.goal.op, "value": row.goal.value, "source": row.goal.source},
        "expected": row.expected, "status": row.status,
    }


def _tile(tile: Tile) -> dict[str, Any]:
    return {
        "policy": tile.policy, "target": tile.target, "label": tile.label, "side": tile.side,
        "accountable": tile.accountable, "counts": tile.counts, "status": tile.status,
        "value": tile.row.value, "unit": tile.row.unit, "expected": tile.row.expected,
        "goal": tile.row.goal_value, "period": tile.row.period.label, "in_progress": tile.row.in_progress,
        "history": [{"period": r.period.label, "value": r.value, "expected": r.expected, "status": r.status}
                    for r in tile.history],
        "behind": [{"group": dict(r.group), "value": r.value, "status": r.status} for r in tile.behind],
    }


def to_dict(report: Report) -> dict[str, Any]:
    return {
        "period": report.period.label, "period_start": report.period.start_utc, "period_end": report.period.end_utc,
        "as_of": report.as_of.isoformat(), "generated_at": report.generated_at.isoformat(),
        "policy_hash": report.policy_hash,
        "summary": report.tally(),
        "tiles": [_tile(tile) for tile in report.tiles],
        "open_escalations": [e.__dict__ for e in report.escalations],
        "targets": [_target(row) for row in report.targets],
        "metrics": [line.__dict__ for line in report.metrics],
        "trends": [{"policy": t.policy, "target": t.target, "label": t.label, "unit": t.unit,
                    "weeks": [{"period": r.period.label, "value": r.value, "expected": r.expected,
                               "status": r.status} for r in t.rows]} for t in report.trends],
        "speed_to_lead_distribution": report.speed,
        "owners": [{"owner": o.owner, "mqls": o.mqls, "contacted_within_window": _value(o.contacted),
                    "speed_median_seconds": _value(o.median), "speed_p90_seconds": _value(o.p90),
                    "attempts_per_mql": _value(o.attempts), "feedback_completion": _value(o.feedback),
                    "acceptance_rate": _value(o.acceptance)} for o in report.owners],
        "rejection_reasons": [{"reason": reason, "leads": n} for reason, n in report.rejections],
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False, default=str)


CSV_COLUMNS = ("section", "name", "group", "period", "target", "current", "value", "unit", "status", "owner",
               "sample")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will show, never run: formula starters get a leading quote."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_text(value: float | None, unit: str) -> str:
    return "" if value is None else fmt_number(value, unit)


def csv_rows(report: Report) -> Iterable[dict[str, Any]]:
    for row in report.targets:
        yield {"section": "target", "name": row.label, "group": row.group_label, "period": row.period.label,
               "target": fmt_goal(row), "current": _csv_text(row.value, row.unit), "value": row.value,
               "unit": row.unit, "status": row.status, "owner": row.owner, "sample": row.sample}
    for line in report.metrics:
        yield {"section": line.section.lower(), "name": line.name, "group": line.group,
               "period": report.period.label, "current": _csv_text(line.value, line.unit), "value": line.value,
               "unit": line.unit, "owner": line.owner, "sample": line.sample}
    for owner in report.owners:
        for name, cell in owner_cells(owner).items():
            if name != "Owner":
                yield {"section": "owner", "name": name, "group": f"owner={owner.owner}",
                       "period": report.period.label, "current": "" if cell == "-" else cell}
    for tier, counts in report.speed.items():
        for bucket, n in counts.items():
            yield {"section": "speed to lead", "name": bucket, "group": f"tier={tier}",
                   "period": report.period.label, "current": n, "value": n, "unit": "count"}
    for reason, n in report.rejections:
        yield {"section": "rejection reasons", "name": reason, "period": report.period.label, "current": n,
               "value": n, "unit": "count"}


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({column: csv_safe(row.get(column)) for column in CSV_COLUMNS})
    return buffer.getvalue()
