"""The text summary an `evaluate` run prints: counts per window and tier, then what is new."""

from __future__ import annotations

from collections import defaultdict

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sla_engine.engine.status import ClockStatus
from sla_engine.runner import RunReport
from sla_engine.safe_text import one_line

STATUS_COLUMNS = (ClockStatus.MET, ClockStatus.BREACHED, ClockStatus.RUNNING, ClockStatus.PAUSED,
                  ClockStatus.CANCELLED, ClockStatus.NOT_APPLICABLE)
MAX_LISTED = 25
HEADERS: dict[str, str] = {ClockStatus.NOT_APPLICABLE: "n/a"}


def render_run(report: RunReport, console: Console | None = None) -> None:
    """Print with rich; every line and cell goes in as Text, never as markup, and without control
    characters (rich keeps ESC): a source's name or a lead's field can hold an escape sequence."""
    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            console.width = 200  # cron logs and pipes: never cut a lead id short

    mode = "dry run" if report.dry_run else f"run {report.run_id}"
    git = f" · git {report.git_commit[:10]}" if report.git_commit else ""
    console.print(_line(f"sla-engine evaluate · {mode} · as of {report.as_of:%Y-%m-%d %H:%M} UTC"))
    console.print(_line(f"policies {report.policy_hash}{git}"))
    for source in report.sources:
        console.print(_line(
            f"source {source.name}: {source.read:,} rows read, {source.accepted:,} accepted, "
            f"{source.quarantined:,} quarantined, {source.new_events:,} new or changed events"
        ))
        if source.conflicts:
            console.print(_line(
                f"  {source.conflicts:,} events of {source.name} reused an id already read with other content: "
                "the first was kept, the others quarantined with the reason"
            ))
    scope = ("leads with new events or due deadlines, and those the policy change affects" if report.full
             else "leads with new events or due deadlines")
    by = f" (judged by {report.processes} processes)" if report.processes > 1 else ""
    console.print(_line(f"{report.leads_evaluated:,} leads evaluated{by}: {scope}"))
    if report.rejudge_left:
        console.print(_line(
            f"{report.rejudge_left:,} leads the policy change affects are left for the next runs "
            "(each run judges due deadlines first, then goes on with them); targets wait until they are done"
        ))

    table = _table("Window instances by status")
    for column in ("policy", "window", "tier", *STATUS_COLUMNS):
        numbers = column in STATUS_COLUMNS
        table.add_column(HEADERS.get(column, column), justify="right" if numbers else "left", no_wrap=not numbers)
    grouped: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for (policy, window, tier, status), count in report.status_counts.items():
        grouped[(policy, window, tier)][status] = count
    for (policy, window, tier), counts in sorted(grouped.items()):
        table.add_row(_line(policy), _line(window), _line(tier),
                      *(f"{counts.get(s, 0):,}" for s in STATUS_COLUMNS))
    console.print(table)
    console.print(_line(
        f"new breaches: {report.new_breach_count:,} · new warnings: {report.new_warning_count:,} · "
        f"actions due: {report.actions_due:,}"
    ))
    if report.new_breaches:
        breaches = _table("New breaches (times in UTC)")
        for column in ("lead", "policy / window", "tier", "due", "stopped"):
            breaches.add_column(column, no_wrap=True)
        for row in report.new_breaches[:MAX_LISTED]:
            breaches.add_row(
                _line(row["lead_id"]), _line(f"{row['policy']} / {row['window']}"), _line(row["tier"] or "-"),
                _line(_short(row["due_at"])), _line(_short(row["stopped_at"])),
            )
        console.print(breaches)
        if report.new_breach_count > MAX_LISTED:
            console.print(_line(f"… and {report.new_breach_count - MAX_LISTED:,} more (--format json lists all)"))


def _table(title: str) -> Table:
    """A table that fits 100 columns: a rule under the header, one space between columns, one line a row."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True,
                 pad_edge=False)


def _line(value: object) -> Text:
    return Text(one_line(value))


def _short(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


def render_joined(report: RunReport, console: Console | None = None) -> None:
    """What a process that joined another's run judged: one line (the run's own process prints the run)."""
    console = console or Console(highlight=False)
    console.print(_line(f"sla-engine evaluate · joined run {report.run_id} · as of {report.as_of:%Y-%m-%d %H:%M} UTC"))
    console.print(_line(
        f"{report.judged:,} leads judged here · new breaches: {report.new_breach_count:,} · "
        f"new warnings: {report.new_warning_count:,} · actions due: {report.actions_due:,}"))
