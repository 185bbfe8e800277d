"""The report over a quarter stays fast: a guard at 20,000 leads (100,000 are measured by hand,
see tests/reports/synthetic.py and docs/reports.md)."""

from __future__ import annotations

import time
from datetime import timedelta

from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set
from sla_engine.reports.dashboard import build_report, render
from sla_engine.store.db import Store
from tests.reports.synthetic import POLICY_TEXT, QUARTER_START, fill

LEADS = 20_000


def test_a_quarter_of_20000_leads_reports_in_a_few_seconds(tmp_path):
    store = Store(tmp_path / "s.db")
    fill(store, LEADS, QUARTER_START)
    policies = build_policy_set([parse_text(POLICY_TEXT, "p.sla")], {"p.sla": POLICY_TEXT})
    started = time.perf_counter()
    report = build_report(policies, store, QUARTER_START + timedelta(days=92), "2026-Q4")
    for output in ("text", "html", "csv", "json", "markdown"):
        render(report, output)
    elapsed = time.perf_counter() - started
    store.close()
    mqls = next(row for row in report.targets if row.target == "mql_volume")
    assert mqls.value == LEADS  # every synthetic lead is an MQL of the quarter
    assert elapsed < 12, f"{elapsed:.1f}s"  # about 1.5 s on the 2-core reference machine
