"""`report --send`: the weekly review goes to each accountable contact once per period."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sla_engine.cli import main as cli
from tests.reports.dataset import POLICY, build_store
from tests.test_cli import invoke_in


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "p.sla").write_text(POLICY, encoding="utf-8")
    (root / "sla-engine.toml").write_text('policies = "policies"\n', encoding="utf-8")
    _, store = build_store(root / "sla-engine.db")
    store.close()
    return root


def outbox(root: Path) -> list[dict]:
    import sqlite3

    with sqlite3.connect(root / "sla-engine.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM outbox WHERE policy = 'review' ORDER BY key")]


def test_the_review_is_recorded_and_sent_once_per_period_across_runs(project, smtp):
    first = invoke_in(project, cli, "report", "--send", "--as-of", "2026-11-25T17:00:00Z")
    assert first.exit_code == 0, first.output
    rows = outbox(project)
    assert [r["key"] for r in rows] == ["review|2026-W47|cro"]  # the last completed week; cro is accountable
    assert rows[0]["status"] == "sent" and rows[0]["recipient"]
    action = json.loads(rows[0]["action"])
    assert action["review"]["counts"] == "2 on target, 3 missed"
    assert "Contacted within the window 50% (goal ≥ 90%)" in action["review"]["details"]
    assert len(smtp.messages) == 1 and smtp.messages[0]["To"] == "cro@example.com"
    mail = smtp.messages[0]
    assert mail["Subject"] == "SLA review 2026-W47: 2 on target, 3 missed"
    assert "Contacted within the window 50%" in mail.get_body(("plain",)).get_content()
    again = invoke_in(project, cli, "report", "--send", "--as-of", "2026-11-27T09:00:00Z")
    assert again.exit_code == 0, again.output
    assert [(r["key"], r["status"]) for r in outbox(project)] == [("review|2026-W47|cro", "sent")]
    assert len(smtp.messages) == 1  # nothing sent twice
    later = invoke_in(project, cli, "report", "--send", "--as-of", "2026-12-02T17:00:00Z")
    assert later.exit_code == 0, later.output
    assert [r["key"] for r in outbox(project)] == ["review|2026-W47|cro", "review|2026-W48|cro"]
    assert len(smtp.messages) == 2
