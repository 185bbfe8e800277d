"""`sla-engine diff` replays a PostgreSQL store's history as it replays an SQLite store's, and changes neither."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from sla_engine.runner import evaluate_run
from sla_engine.store.backend import open_location
from tests.engine.test_evaluate import activity, assigned, at, created, policy_set
from tests.policytest.helpers import PROJECT_POLICY, invoke
from tests.policytest.test_diff import AS_OF, NEW_POLICY

# The diff's NEW side: NEW_POLICY's tiers and tier 2 goal, and tier 1 given a whole business day,
# so tiers, deadlines, outcomes, escalations and the weekly contact rate all move.
CHANGED = NEW_POLICY.replace("goal tier1 2 business hours", "goal tier1 8 business hours")


def history() -> list:
    """Thirty leads over Mon 23 – Fri 27 Nov, ids in mixed case so byte order matters, some never contacted."""
    events = []
    for n in range(30):
        lead = f"{'Ab'[n % 2]}-{n:02d}"
        day, hour = 23 + n % 5, 9 + n % 7
        events += [created(lead, at(day, hour), lead_score=60 + (n * 7) % 40), assigned(lead, at(day, hour))]
        if n % 6:
            events.append(activity(lead, at(day, hour + n % 4, 30 * (n % 2))))
    return events


@pytest.fixture
def stores(project: Path, pg_url: str) -> dict[str, str]:
    """The same history, judged by `evaluate` under the project's policies, in an SQLite and a PostgreSQL store."""
    (project / "proposed").mkdir()
    (project / "proposed" / "inbound.sla").write_text(CHANGED, encoding="utf-8")
    locations = {"sqlite": str(project / "sla-engine.db"), "postgresql": pg_url}
    for location in locations.values():
        store = open_location(location)
        evaluate_run(policy_set(PROJECT_POLICY), store, [("t", iter(history()))],
                     datetime.fromisoformat(AS_OF))
        store.close()
    return locations


def diff(events: str, output: str) -> str:
    result = invoke("diff", "policies", "proposed", "--events", events, "--as-of", AS_OF, "--format", output,
                    "--limit", "0")
    assert result.exit_code == 0, result.output
    return result.output


def same_but_the_source_and_time(text: str) -> str:
    """A report with the name of its history and the seconds it took taken out: all that may differ."""
    text = re.sub(r"events from .*?\) as of (.*?) in [\d.]+s\.", r"events from HISTORY) as of \1.", text)
    return re.sub(r'"events": ".*?",|"seconds": [\d.]+', "", text)


def test_a_postgresql_store_gives_the_same_report_as_sqlite(stores):
    for output in ("text", "json", "markdown"):
        reports = {name: same_but_the_source_and_time(diff(location, output)) for name, location in stores.items()}
        assert reports["postgresql"] == reports["sqlite"], output
    report = json.loads(diff(stores["postgresql"], "json"))
    summary = report["summary"]
    assert summary["leads"] == 30 and summary["events"] == 85
    assert summary["changed_leads"] >= 10
    assert all(summary["by_kind"][kind] for kind in ("tier", "deadline", "outcome", "escalations"))
    assert report["targets"], "the weekly contact rate changes status too"
    leads = [change["lead_id"] for change in report["changes"]]
    assert leads == sorted(leads) and leads[0].startswith("A")  # byte order: capitals first


def table_rows(url: str) -> dict[str, str]:
    """Every table of the database, its rows in a fixed order, as a digest."""
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [name for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")]
        digests = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            digests[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
        return digests


def test_the_postgresql_store_is_only_read(stores):
    before = table_rows(stores["postgresql"])
    assert {"events", "leads", "window_instances", "outbox", "runs"} <= set(before)
    diff(stores["postgresql"], "text")
    assert table_rows(stores["postgresql"]) == before


def test_the_configured_postgresql_store_is_the_default_history(project, stores):
    (project / "sla-engine.toml").write_text(f'policies = "policies"\ndb = "{stores["postgresql"]}"\n',
                                             encoding="utf-8")
    result = invoke("diff", "policies", "proposed", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "Re-judged 30 lead(s) (85 events from postgresql://sla@" in result.output


def test_a_database_that_is_no_store_is_an_error_that_hides_the_password(project, pg_url):
    secret = pg_url.replace("postgresql://sla@", "postgresql://sla:hunter2@")
    result = invoke("diff", "policies", "policies", "--events", secret, "--as-of", AS_OF)
    assert result.exit_code == 1
    assert "not an sla-engine store" in result.output
    assert "hunter2" not in result.output and "sla:***@" in result.output


def test_with_nobody_watching_the_leads_are_not_counted_first(stores, monkeypatch):
    # The count is a bar's total: a second pass over the events that cron and CI need not pay for.
    from sla_engine.store.replay import PostgresReplay

    def refuse(self, as_of):
        raise AssertionError("counted the leads for a bar nobody sees")

    monkeypatch.setattr(PostgresReplay, "lead_count", refuse)
    assert "Re-judged 30 lead(s)" in diff(stores["postgresql"], "text")
