"""`sla-engine sync` and `evaluate` with sync and push, as cron runs them, against the Salesforce fake."""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.csv_writer import write_event_log
from sla_engine.cli import main
from sla_engine.store.db import Store
from tests.connectors.conftest import SF_SESSION
from tests.engine.test_evaluate import POLICY, assigned, created

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
REP = "005000000000001AAA"
AS_OF = "2026-11-05T18:00:00Z"


@pytest.fixture
def project(crm_project, salesforce, monkeypatch) -> Path:
    fake, _ = salesforce
    crm_project.configure(crm_project.salesforce("crm", """lookback_seconds = 0
fields = { lead_score = "Lead_Score__c", seniority = "Seniority__c" }

[[sources.push_status]]
window = "first_response"
tier = "SLA_Tier__c"
status = "SLA_Status__c"
due_at = "SLA_Due__c"
breached_at = "SLA_Breached_At__c"
"""))
    monkeypatch.chdir(crm_project.folder)
    for n in range(3):
        lead = fake.add_lead(T0 + timedelta(minutes=n), OwnerId=REP, Lead_Score__c=95, Seniority__c="director")
        if n == 0:
            fake.add("Task", T0 + timedelta(minutes=30), WhoId=lead, OwnerId=REP, TaskSubtype="Call",
                     CallType="Outbound", IsClosed=True)
    return crm_project.folder


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_sync_pulls_into_the_store_with_a_summary_and_then_reads_nothing_new(project, salesforce):
    first = invoke("sync")
    assert first.exit_code == 0, first.output
    assert "crm: 7 read, 7 new, 0 quarantined" in first.output  # 3 created, 3 assigned, 1 call
    assert "Lead: up to 20" in first.output
    store = Store(project / "sla-engine.db")
    assert set(store.sync_state.cursors("crm")) == {"Lead", "LeadHistory", "Task", "Event", "EventStart"}
    assert store.count("runs") == 0  # a sync is not an evaluate run
    store.close()
    second = invoke("sync", "--source", "crm", "--format", "json")
    assert json.loads(second.output)[0]["counts"]["new_events"] == 0


def test_evaluate_syncs_then_pushes_and_a_dry_run_only_shows_what_would_be_written(project, salesforce):
    fake, _ = salesforce
    dry = invoke("evaluate", "--as-of", AS_OF, "--push", "crm", "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output
    would = {(u["lead_id"], u["window"]): u for u in json.loads(dry.output)["push"]["would_write"]}
    lead0, lead1, _ = sorted(fake.records["Lead"])
    assert would[(lead0, "first_response")]["status"] == "met"
    assert would[(lead1, "first_response")]["status"] == "breached"
    assert not fake.calls("PATCH") and not Store(project / "sla-engine.db").count("events")

    real = invoke("evaluate", "--as-of", AS_OF, "--push", "crm", "--no-deliver")
    assert real.exit_code == 0, real.output
    assert "push crm: 3 written, 0 failed" in real.output
    assert fake.records["Lead"][lead1]["SLA_Status__c"] == "breached"
    assert fake.records["Lead"][lead1]["SLA_Tier__c"] == "tier1"
    assert fake.records["Lead"][lead1]["SLA_Due__c"] == "2026-11-02T16:01:00.000Z"
    patches = len(fake.calls("PATCH"))

    again = invoke("evaluate", "--as-of", AS_OF, "--push", "crm", "--no-deliver")
    assert again.exit_code == 0, again.output
    assert len(fake.calls("PATCH")) == patches  # nothing changed: nothing sent


def test_no_sync_judges_the_store_without_asking_any_source(project, salesforce):
    fake, _ = salesforce
    assert invoke("evaluate", "--as-of", AS_OF, "--no-sync").exit_code == 0
    assert fake.requests == []


def test_a_rejected_session_fails_the_run_with_a_message_that_hides_the_secret(project, monkeypatch):
    monkeypatch.setenv("SF_SESSION_ID", "00Dexpired!" + SF_SESSION)
    result = invoke("evaluate", "--as-of", AS_OF)
    assert result.exit_code == 1
    assert "401 INVALID_SESSION_ID" in result.output
    assert SF_SESSION not in result.output


def test_a_literal_secret_in_the_configuration_is_refused_without_being_echoed(project):
    config = project / "sla-engine.toml"
    config.write_text(config.read_text().replace('{ env = "SF_SESSION_ID" }', f'"{SF_SESSION}"'))
    result = invoke("sync")
    assert result.exit_code == 1
    assert "secrets are never written in configuration" in result.output
    assert SF_SESSION not in result.output


def test_push_csv_writes_current_status_safe_from_formula_injection(tmp_path, monkeypatch):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "inbound.sla").write_text(POLICY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    t = datetime(2026, 11, 23, 9, tzinfo=UTC)
    evil = ["=HYPERLINK(\"http://x\")", "+1+1", "@SUM(A1)", "-2", "plain"]
    events = [e for lead in evil for e in (created(lead, t, lead_score=95), assigned(lead, t))]
    write_event_log(events, tmp_path / "events.csv")
    result = invoke("evaluate", "policies", "--source", "csv:events.csv", "--as-of", "2026-11-23T20:00:00Z",
                    "--push", "csv:out/status.csv", "--no-deliver")
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "status.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["lead_id"] for row in rows} == {"'=HYPERLINK(\"http://x\")", "'+1+1", "'@SUM(A1)", "'-2", "plain"}
    assert {row["window"] for row in rows} == {"first_response", "cadence"}
    assert all(not row[c].startswith(("=", "+", "-", "@")) for row in rows for c in row)
    assert not [p for p in os.listdir(tmp_path / "out") if p.endswith(".tmp")]
