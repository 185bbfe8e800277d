"""The SLA dashboard: one report model, rendered as text, markdown, json, csv or html.

Lead data (owners, sources, campaigns, rejection reasons, group values) comes from CRMs and
web forms, so every renderer treats it as hostile: rich gets it as Text, never markup;
markdown escapes | and the markdown specials; csv prefixes a cell that a spreadsheet would run
as a formula (= + - @ tab CR) with a single quote; html escapes everything and is one
self-contained file whose content security policy forbids fetching anything or running script.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sla_engine.engine.evaluate import utc
from sla_engine.engine.periods import Period, parse_period, period_of, zone_of
from sla_engine.engine.targets import (
    AT_RISK,
    MISSED,
    NO_DATA,
    ON_TARGET,
    TargetRow,
    current_period,
    with_weekly_trend,
)
from sla_engine.language.policy_set import PolicySet
from sla_engine.reports import metrics as mx
from sla_engine.reports.metrics import Metrics, Value
from sla_engine.store import owners
from sla_engine.store.db import Store

FORMATS = ("text", "markdown", "json", "csv", "html")
MARKS: dict[str, str] = {ON_TARGET: "✅", AT_RISK: "⚠️", MISSED: "❌", NO_DATA: "·"}
COLORS: dict[str, str] = {ON_TARGET: "#2e7d32", AT_RISK: "#e6a100", MISSED: "#c62828", NO_DATA: "#9e9e9e"}
RICH_STYLES: dict[str, str] = {ON_TARGET: "green", AT_RISK: "yellow", MISSED: "red", NO_DATA: "dim"}
OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}
TREND_WEEKS = 12


# ---------------------------------------------------------------- the model


@dataclass
class MetricLine:
    """A dashboard metric with no target: MQLs by source, speed to lead by tier, ..."""

    section: str
    name: str
    group: str
    value: float | None
    unit: str  # count, percent, seconds, amount, number
    sample: int
    owner: str


@dataclass
class OwnerLine:
    owner: str
    mqls: int
    contacted: Value | None
    median: Value | None
    p90: Value | None
    attempts: Value | None
    feedback: Value | None
    acceptance: Value | None


@dataclass
class Trend:
    policy: str
    target: str
    label: str
    unit: str
    rows: list[TargetRow]


@dataclass
class Report:
    period: Period
    as_of: datetime
    generated_at: datetime
    policy_hash: str
    explicit_period: bool
    targets: list[TargetRow] = field(default_factory=list)
    metrics: list[MetricLine] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    speed: dict[str, dict[str, int]] = field(default_factory=dict)
    owners: list[OwnerLine] = field(default_factory=list)
    rejections: list[tuple[str, int]] = field(default_factory=list)

    @property
    def title(self) -> str:
        state = " (in progress)" if self.period.in_progress(self.as_of) else ""
        return f"SLA dashboard · {self.period.label}{state} · as of {self.as_of:%Y-%m-%d %H:%M} UTC"


def report_zone(policy_set: PolicySet) -> str:
    """The dashboard's own metrics use the first policy's time zone (UTC without one)."""
    return next((p.timezone for p in policy_set.policies.values() if p.timezone), "UTC")


def build_report(policy_set: PolicySet, store: Store, as_of: datetime, period: str | None = None) -> Report:
    """Everything the dashboard shows, computed over the store as the last run left it."""
    as_of = utc(as_of)
    q = Metrics(store, policy_set)
    zone = zone_of(report_zone(policy_set))
    chosen = parse_period(period, zone) if period else period_of("month", as_of, zone)
    report = Report(period=chosen, as_of=as_of, generated_at=datetime.now(timezone.utc),
                    policy_hash=policy_set.content_hash, explicit_period=bool(period))
    last = min(chosen.end - timedelta(seconds=1), max(as_of, chosen.start))
    weeks = [period_of("week", last, zone)]
    while len(weeks) < TREND_WEEKS:
        weeks.insert(0, weeks[0].previous())
    for policy in policy_set.policies.values():
        policy_weeks = [parse_period(w.label, zone_of(policy.timezone)) for w in weeks]
        for target in policy.targets:
            rows, trend = with_weekly_trend(q, policy, target, current_period(policy, target, as_of, period),
                                            policy_weeks, as_of)
            report.targets.extend(rows)
            if trend:
                report.trends.append(Trend(policy.name, target.name, target.label or target.name,
                                           trend[0].unit, trend))
    report.metrics = dashboard_metrics(q, chosen)
    report.speed = mx.speed_distribution(q, chosen)
    people = owners.all_owners(store)
    report.owners = [replace(line, owner=owners.short_label(people[line.owner])) if line.owner in people else line
                     for line in owner_lines(q, chosen)]
    report.rejections = mx.rejection_reasons(q, chosen)
    return report


def _lines(section: str, name: str, values: dict[tuple[Any, ...], Value], unit: str, owner: str,
           by: str | None = None) -> list[MetricLine]:
    lines = []
    if by is None and () not in values:  # the total is always shown: zero MQLs, or no data
        values = {(): Value(0.0 if unit == "count" else None, 0)}
    for group, value in sorted(values.items(), key=lambda item: str(item[0])):
        label = f"{by}={'-' if group[0] is None else group[0]}" if by and group else ""
        lines.append(MetricLine(section, name, label, value.value, unit, value.sample, owner))
    return lines


def dashboard_metrics(q: Metrics, period: Period) -> list[MetricLine]:
    """The issue's list, in the order a business review reads it."""
    out: list[MetricLine] = []
    out += _lines("Volume", "MQLs delivered", mx.mqls_delivered(q, period), "count", "marketing")
    for by in ("tier", "source", "campaign"):
        out += _lines("Volume", "MQLs delivered", mx.mqls_delivered(q, period, by), "count", "marketing", by)
    out += _lines("Quality", "Acceptance rate", mx.acceptance_rate(q, period), "percent", "joint")
    out += _lines("Quality", "Acceptance rate", mx.acceptance_rate(q, period, "tier"), "percent", "joint", "tier")
    sql, opportunity, mql = q.stage("sql"), q.stage("opportunity"), q.stage("mql")
    if sql and mql:
        out += _lines("Quality", "MQL → SQL", mx.conversion(q, period, sql, mql), "percent", "joint")
    if sql and opportunity:
        out += _lines("Quality", "SQL → opportunity", mx.conversion(q, period, opportunity, sql), "percent", "joint")
    for aggregate in ("median", "p90"):
        name = f"Speed to lead ({aggregate})"
        out += _lines("Speed", name, mx.speed_to_lead(q, period, aggregate), "seconds", "sales")
        out += _lines("Speed", name, mx.speed_to_lead(q, period, aggregate, "tier"), "seconds", "sales", "tier")
    out += _lines("Speed", "Contacted within the window", mx.contacted_within_window(q, period), "percent", "sales")
    out += _lines("Speed", "Contacted within the window", mx.contacted_within_window(q, period, "tier"),
                  "percent", "sales", "tier")
    out += _lines("Follow-up", "Attempts per MQL", mx.attempts_per_lead(q, period), "number", "sales")
    out += _lines("Follow-up", "Channels per MQL", mx.channels_per_lead(q, period), "number", "sales")
    out += _lines("Feedback", "Feedback completion", mx.feedback_completion(q, period), "percent", "sales")
    rejections = mx.rejection_reasons(q, period)
    rejected = sum(n for _, n in rejections)
    if rejected:
        with_reason = sum(n for reason, n in rejections if reason != "(no reason)")
        out.append(MetricLine("Feedback", "Rejections with a reason", "", 100 * with_reason / rejected,
                              "percent", rejected, "sales"))
    money = mx.pipeline_and_revenue(q, period)
    out.append(MetricLine("Revenue", "Pipeline from SLA-covered leads", "", money["pipeline"].value, "amount",
                          money["pipeline"].sample, "joint"))
    out.append(MetricLine("Revenue", "Revenue from SLA-covered leads", "", money["revenue"].value, "amount",
                          money["revenue"].sample, "joint"))
    out += _lines("Data", "Enrichment completeness", mx.enrichment_completeness(q, period), "percent", "marketing")
    return out


def owner_lines(q: Metrics, period: Period) -> list[OwnerLine]:
    """Per rep: MQLs, the SLA adherence number, speed, attempts, feedback, acceptance."""
    def one(values: dict[tuple[Any, ...], Value]) -> dict[Any, Value]:
        return {group[0]: value for group, value in values.items() if group}

    cohort = q.cohort(period, "owner")
    contacted = one(mx.contacted_within_window(q, period, "owner"))
    median = one(mx.speed_to_lead(q, period, "median", "owner"))
    p90 = one(mx.speed_to_lead(q, period, "p90", "owner"))
    attempts = one(mx.attempts_per_lead(q, period, "owner"))
    feedback = one(mx.feedback_completion(q, period, "owner"))
    acceptance = one(mx.acceptance_rate(q, period, "owner"))
    owners = {group[0] for group in cohort} | set(contacted) | set(median)
    return [
        OwnerLine(str(owner), cohort[(owner,)].mqls if (owner,) in cohort else 0, contacted.get(owner),
                  median.get(owner), p90.get(owner), attempts.get(owner), feedback.get(owner), acceptance.get(owner))
        for owner in sorted(owners, key=str) if owner is not None
    ]


# ---------------------------------------------------------------- formatting


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
    if row.goal is None or row.expected is None:
        return "-"
    op = OPS.get(row.goal.op, row.goal.op)
    if row.unit == "count" and row.in_progress:
        return f"{op} {fmt_number(row.goal_value, 'count')} ({op} {row.expected:,.0f} so far)"
    return f"{op} {fmt_number(row.expected, row.unit)}"


def fmt_period(row: TargetRow) -> str:
    return row.period.label + (" (in progress)" if row.in_progress else "")


def fmt_status(status: str) -> str:
    return f"{MARKS[status]} {status}"


def fmt_group(group: str) -> str:
    return group or "all"


def target_cells(row: TargetRow) -> dict[str, str]:
    """One dashboard line as text cells: Metric, Group, Period, Target, Current, Status, Owner."""
    return {
        "Metric": row.label, "Group": fmt_group(row.group_label), "Period": fmt_period(row),
        "Target": fmt_goal(row), "Current": fmt_number(row.value, row.unit), "Status": fmt_status(row.status),
        "Owner": (row.owner or "-").capitalize(),
    }


def owner_cells(line: OwnerLine) -> dict[str, str]:
    def v(value: Value | None, unit: str) -> str:
        return fmt_number(value.value if value else None, unit)

    return {
        "Owner": line.owner, "MQLs": f"{line.mqls:,}", "Contacted in window": v(line.contacted, "percent"),
        "Speed (median)": v(line.median, "seconds"), "Speed (p90)": v(line.p90, "seconds"),
        "Attempts per MQL": v(line.attempts, "number"), "Feedback": v(line.feedback, "percent"),
        "Accepted": v(line.acceptance, "percent"),
    }


def metric_cells(line: MetricLine) -> dict[str, str]:
    return {"Section": line.section, "Metric": line.name, "Group": fmt_group(line.group),
            "Value": fmt_number(line.value, line.unit), "Sample": f"{line.sample:,}",
            "Owner": line.owner.capitalize()}


def speed_cells(report: Report) -> list[dict[str, str]]:
    return [{"Tier": tier, **{bucket: f"{n:,}" for bucket, n in counts.items()}}
            for tier, counts in report.speed.items()]


def rejection_cells(report: Report) -> list[dict[str, str]]:
    total = sum(n for _, n in report.rejections) or 1
    return [{"Reason": reason, "Leads": f"{n:,}", "Share": fmt_number(100 * n / total, "percent")}
            for reason, n in report.rejections]


def sections(report: Report) -> list[tuple[str, list[dict[str, str]]]]:
    """The report's tables as (title, rows of text cells), shared by text, markdown and csv."""
    return [
        ("Targets", [target_cells(row) for row in report.targets]),
        (f"Metrics · {report.period.label}", [metric_cells(line) for line in report.metrics]),
        (f"By owner · {report.period.label}", [owner_cells(line) for line in report.owners]),
        (f"Speed to lead by tier · {report.period.label}", speed_cells(report)),
        (f"Rejection reasons · {report.period.label}", rejection_cells(report)),
    ]


# ---------------------------------------------------------------- text (rich)


def render_text(report: Report, console: Any = None) -> None:
    """Print the dashboard with rich; every data cell is a Text, so nothing is read as markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if console is None:  # piped (cron mail, a file): wide enough not to wrap the dashboard
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(Text(report.title, style="bold"))
    console.print(Text(f"policies {report.policy_hash}"))
    for title, rows in sections(report):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for column in rows[0]:
            numeric = column not in ("Metric", "Group", "Period", "Owner", "Section", "Reason", "Tier", "Status",
                                     "Target")
            table.add_column(column, justify="right" if numeric else "left", overflow="fold")
        for row in rows:
            cells = []
            for column, text in row.items():
                status = text.split(" ", 1)[1] if column == "Status" and " " in text else None
                cells.append(Text(text, style=RICH_STYLES.get(status or "", "")))
            table.add_row(*cells)
        console.print(table)


def to_text(report: Report, width: int = 160) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, record=True, highlight=False, color_system=None)
    render_text(report, console)
    return console.export_text(styles=False)


# ---------------------------------------------------------------- markdown

_MD_SPECIALS = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: str) -> str:
    """Safe in a GitHub table cell and in Slack: entities for & < >, backslashes for the rest."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIALS.sub(r"\\\1", text)


def to_markdown(report: Report) -> str:
    lines = [f"## {md_escape(report.title)}", ""]
    for title, rows in sections(report):
        if not rows:
            continue
        lines += [f"### {md_escape(title)}", ""]
        columns = list(rows[0])
        lines.append("| " + " | ".join(md_escape(c) for c in columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        for row in rows:
            lines.append("| " + " | ".join(md_escape(row[c]) for c in columns) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- json

def _value(value: Value | None) -> dict[str, Any] | None:
    return None if value is None else {"value": value.value, "sample": value.sample}


def to_dict(report: Report) -> dict[str, Any]:
    def target(row: TargetRow) -> dict[str, Any]:
        return {
            "policy": row.policy, "target": row.target, "label": row.label, "owner": row.owner,
            "metric": row.metric, "period": row.period.label, "in_progress": row.in_progress,
            "group": {name: value for name, value in row.group}, "value": row.value, "unit": row.unit,
            "sample": row.sample, "goal": None if row.goal is None else {
                "op": row.goal.op, "value": row.goal.value, "source": row.goal.source},
            "expected": row.expected, "status": row.status,
        }

    return {
        "period": report.period.label, "period_start": report.period.start_utc, "period_end": report.period.end_utc,
        "as_of": report.as_of.isoformat(), "generated_at": report.generated_at.isoformat(),
        "policy_hash": report.policy_hash,
        "targets": [target(row) for row in report.targets],
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


# ---------------------------------------------------------------- csv

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


# ---------------------------------------------------------------- html

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232b;
       margin: 24px auto; max-width: 1180px; padding: 0 16px; background: #fafbfc; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.sub { color: #5b6570; margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #dde1e6; }
th, td { padding: 6px 10px; border-bottom: 1px solid #eceff2; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; white-space: nowrap; }
.s-on-target { background: #e3f3e5; color: #1b5e20; } .s-at-risk { background: #fff4d6; color: #7a5200; }
.s-missed { background: #fde3e3; color: #8e1b1b; } .s-no-data { background: #eceff1; color: #455a64; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
figure { margin: 0; background: #fff; border: 1px solid #dde1e6; padding: 8px 10px; }
figcaption { font-weight: 600; font-size: 13px; margin-bottom: 4px; }
svg text { font: 10px system-ui, sans-serif; fill: #47515c; }
.bar { display: inline-block; height: 10px; background: #5c7cfa; vertical-align: middle; }
.muted { color: #8a949e; }
"""


def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def _status_pill(status: str) -> str:
    return f'<span class="status s-{status.replace(" ", "-")}">{e(fmt_status(status))}</span>'


def _table(rows: list[dict[str, str]], numeric: Iterable[str] = (), css: str = "", status: bool = False) -> str:
    if not rows:
        return '<p class="muted">No data for this period.</p>'
    numeric = set(numeric)
    head = "".join(f"<th>{e(c)}</th>" for c in rows[0])
    body = []
    for row in rows:
        cells = []
        for column, text in row.items():
            if status and column == "Status":
                cells.append(f"<td>{_status_pill(text.split(' ', 1)[1])}</td>")
            else:
                cls = ' class="num"' if column in numeric else ""
                cells.append(f"<td{cls}>{e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{e(css)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def trend_svg(trend: Trend) -> str:
    """Weekly values as bars coloured by status, the goal as a dashed line."""
    width, height, left, bottom, top = 360, 150, 40, 22, 10
    rows = trend.rows
    values = [r.value for r in rows if r.value is not None]
    goals = [r.expected for r in rows if r.expected is not None and not r.in_progress]
    peak = max([*values, *goals, 1.0 if trend.unit != "percent" else 100.0]) * 1.1
    plot_w, plot_h = width - left - 8, height - top - bottom
    step = plot_w / max(len(rows), 1)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{e(trend.label)}: weekly trend">']
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="#b0b8c1"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{e(fmt_number(peak / 1.1, trend.unit))}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>')
    for i, row in enumerate(rows):
        x = left + i * step + step * 0.15
        label = row.period.label.split("-")[-1]
        parts.append(f'<text x="{x + step * 0.35:.1f}" y="{height - 6}" text-anchor="middle">{e(label)}</text>')
        tip = f"{row.period.label}: {fmt_number(row.value, row.unit)} (goal {fmt_goal(row)}, {row.status})"
        if row.value is None:
            parts.append(f'<text x="{x + step * 0.35:.1f}" y="{top + plot_h - 3}" text-anchor="middle">'
                         f'·<title>{e(tip)}</title></text>')
            continue
        h = max(plot_h * row.value / peak, 1.0)
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="{COLORS[row.status]}"><title>{e(tip)}</title></rect>')
    if goals:
        goal = goals[-1]
        y = top + plot_h - plot_h * goal / peak
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#1d232b" '
                     f'stroke-dasharray="4 3"><title>{e("goal " + fmt_number(goal, trend.unit))}</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def speed_svg(tier: str, counts: dict[str, int]) -> str:
    """One tier's first contacts per speed bucket, as horizontal bars."""
    width, row_h, left = 360, 18, 56
    height = row_h * len(counts) + 8
    peak = max(counts.values(), default=0) or 1
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{e("speed to lead, tier " + tier)}">']
    for i, (bucket, n) in enumerate(counts.items()):
        y = 4 + i * row_h
        w = (width - left - 50) * n / peak
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{e(bucket)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" fill="#5c7cfa">'
                     f'<title>{e(f"{bucket}: {n:,}")}</title></rect>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}">{n:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: Report) -> str:
    """One self-contained page: no script, nothing fetched, every piece of data escaped."""
    numeric_targets = ("Current",)
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f'<p class="sub">policies {e(report.policy_hash)} · generated {e(f"{report.generated_at:%Y-%m-%d %H:%M}")} '
        "UTC · ✅ on target · ⚠️ at risk (inside the tolerance) · ❌ missed</p>",
        "<h2>SLA performance</h2>",
        _table([target_cells(r) for r in report.targets], numeric_targets, "dashboard", status=True),
        f"<h2>Metrics · {e(report.period.label)}</h2>",
        _table([metric_cells(m) for m in report.metrics], ("Value", "Sample"), "metrics"),
        "<h2>Weekly trend per target</h2>",
    ]
    if report.trends:
        out.append('<div class="grid">')
        for trend in report.trends:
            out.append(f"<figure><figcaption>{e(trend.label)} <span class=\"muted\">({e(trend.policy)})</span>"
                       f"</figcaption>{trend_svg(trend)}</figure>")
        out.append("</div>")
    else:
        out.append('<p class="muted">The policies declare no targets.</p>')
    out.append(f"<h2>Speed to lead by tier · {e(report.period.label)}</h2>")
    if report.speed:
        out.append('<div class="grid">')
        for tier, counts in report.speed.items():
            out.append(f"<figure><figcaption>{e(tier)}</figcaption>{speed_svg(tier, counts)}</figure>")
        out.append("</div>")
    else:
        out.append('<p class="muted">No first contact in this period.</p>')
    out.append(f"<h2>By owner · {e(report.period.label)}</h2>")
    owner_rows = [owner_cells(o) for o in report.owners]
    out.append(_table(owner_rows, [c for c in (owner_rows[0] if owner_rows else {}) if c != "Owner"], "owners"))
    out.append(f"<h2>Rejection reasons · {e(report.period.label)}</h2>")
    total = sum(n for _, n in report.rejections) or 1
    if report.rejections:
        rows = "".join(
            f'<tr><td>{e(reason)}</td><td class="num">{n:,}</td><td class="num">'
            f'{e(fmt_number(100 * n / total, "percent"))}</td><td><span class="bar" '
            f'style="width:{240 * n / total:.0f}px"></span></td></tr>'
            for reason, n in report.rejections
        )
        out.append('<table class="rejections"><thead><tr><th>Reason</th><th>Leads</th><th>Share</th><th></th>'
                   f"</tr></thead><tbody>{rows}</tbody></table>")
    else:
        out.append('<p class="muted">No rejected MQLs in this period.</p>')
    out.append("</body></html>")
    return "\n".join(out)


def render(report: Report, output: str) -> str:
    """The report in one of FORMATS, as a string."""
    return {"text": to_text, "markdown": to_markdown, "json": to_json, "csv": to_csv, "html": to_html}[output](report)
