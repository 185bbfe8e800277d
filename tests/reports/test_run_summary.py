"""What a process that joined another's run prints: where it joined and what it judged, each line within
100 columns, and a run judged by several processes says so."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from rich.console import Console

from sla_engine.reports.run_summary import render_joined, render_run
from sla_engine.runner import RunReport


def report(**fields) -> RunReport:
    made = RunReport(run_id=42, as_of=datetime(2026, 10, 30, 18, tzinfo=timezone.utc), policy_hash="19548c48741f7518",
                     git_commit=None, dry_run=False, status_counts=Counter())
    for name, value in fields.items():
        setattr(made, name, value)
    return made


def printed(render, made: RunReport) -> list[str]:
    console = Console(width=100, record=True, highlight=False)
    render(made, console)
    return console.export_text().splitlines()


def test_a_joined_process_says_which_run_and_what_it_judged_in_two_lines_of_100_columns():
    lines = printed(render_joined, report(judged=1_234_567, new_breach_count=12_345, new_warning_count=678,
                                          actions_due=91_011))
    assert lines == [
        "sla-engine evaluate · joined run 42 · as of 2026-10-30 18:00 UTC",
        "1,234,567 leads judged here · new breaches: 12,345 · new warnings: 678 · actions due: 91,011",
    ]


def test_a_run_judged_by_several_processes_says_how_many():
    lines = printed(render_run, report(leads_evaluated=5_000, judged=5_000, processes=3))
    assert "5,000 leads evaluated (judged by 3 processes): leads with new events or due deadlines" in lines
    alone = printed(render_run, report(leads_evaluated=5_000, judged=5_000))
    assert "5,000 leads evaluated: leads with new events or due deadlines" in alone
