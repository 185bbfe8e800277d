"""`sla-engine diff`: the same history judged under two policy sets, from directories or git revisions."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from connectors.csv_writer import write_event_log
from sla_engine.engine.evaluate import Evaluator
from sla_engine.policytest.diff import CLOCK_GONE, NEW_CLOCK, compare_lead
from sla_engine.store.db import Store
from tests.engine.test_evaluate import activity, assigned, at, created, policy_set
from tests.policytest.helpers import PROJECT_POLICY, invoke

AS_OF = "2026-11-30T12:00:00-05:00"
# Tier 2 lose their 24h calendar-time goal for 4 business hours; tier 1 starts at 85, not 80.
NEW_POLICY = PROJECT_POLICY.replace("goal tier2 24h", "goal tier2 4 business hours").replace(
    "lead_score >= 80 and director_plus", "lead_score >= 85 and director_plus")


def history() -> list:
    """Four leads, Mon 23 Nov: a, b tier 1 either way; c (score 82) tier 1 only before; d tier 2."""
    events = []
    for lead, score, contact in (("a", 95, (23, 10)), ("b", 90, (23, 9, 30)), ("c", 82, (23, 16)),
                                 ("d", 70, (23, 15))):
        events += [created(lead, at(23, 9), lead_score=score), assigned(lead, at(23, 9)),
                   activity(lead, at(*contact))]
    return events


@pytest.fixture
def events_csv(project: Path) -> Path:
    write_event_log(history(), project / "events.csv")
    return project / "events.csv"


@pytest.fixture
def new_policies(project: Path) -> Path:
    directory = project / "proposed"
    directory.mkdir()
    (directory / "inbound.sla").write_text(NEW_POLICY, encoding="utf-8")
    return directory


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_compare_lead_names_each_kind_of_change():
    old, new = Evaluator(policy_set(PROJECT_POLICY)), Evaluator(policy_set(NEW_POLICY))
    events = [created("c", at(23, 9), lead_score=82), assigned("c", at(23, 9)), activity("c", at(23, 16))]
    changes = compare_lead("c", old.evaluate("c", events, at(30, 12)), new.evaluate("c", events, at(30, 12)))
    first = next(c for c in changes if c.window == "first_response")
    assert first.kinds == ["tier", "deadline"]  # contacted at 16:00: late under either goal
    assert (first.old.tier, first.new.tier) == ("tier1", "tier2")
    assert (first.old.status, first.new.status) == ("met_late", "met_late")
    gone = compare_lead("c", old.evaluate("c", events, at(30, 12)), Evaluator(policy_set("")).evaluate(
        "c", events, at(30, 12)))
    assert {c.kinds[0] for c in gone} == {CLOCK_GONE}
    added = compare_lead("c", Evaluator(policy_set("")).evaluate("c", events, at(30, 12)),
                         old.evaluate("c", events, at(30, 12)))
    assert {c.kinds[0] for c in added} == {NEW_CLOCK}


def test_directories_and_a_csv_history(project, events_csv, new_policies):
    result = invoke("diff", "policies", "proposed", "--events", f"csv:{events_csv}", "--as-of", AS_OF,
                    "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"]["leads"] == 4
    assert report["summary"]["changed_leads"] == 2  # c changes tier, d changes deadline
    assert {k: v for k, v in report["summary"]["by_kind"].items() if v} == {
        "tier": 1, "deadline": 2, "outcome": 1, "escalations": 1}
    first = {(c["lead_id"], c["window"]): c for c in report["changes"]}
    assert (first[("c", "first_response")]["old"]["tier"], first[("c", "first_response")]["new"]["tier"]) == (
        "tier1", "tier2")
    d = first[("d", "first_response")]
    assert d["old"]["due_at"] == "2026-11-24T14:00:00+00:00"  # 24h after Mon 09:00
    assert d["new"]["due_at"] == "2026-11-23T18:00:00+00:00"  # 4 business hours: Mon 13:00, contacted 15:00
    assert (d["old"]["status"], d["new"]["status"]) == ("met", "met_late")
    assert d["new"]["escalations"] == ["at warning: notify owner via email", "on breach: notify manager via email"]
    totals = {(t["window"], t["tier"]): (t["old"], t["new"]) for t in report["totals"]}
    assert totals[("first_response", "tier1")] == ({"met": 2, "breached": 1}, {"met": 2})
    assert totals[("first_response", "tier2")] == ({"met": 1}, {"breached": 2})


def test_markdown_puts_the_summary_first_and_folds_the_details(project, events_csv, new_policies):
    result = invoke("diff", "policies", "proposed", "--events", f"csv:{events_csv}", "--as-of", AS_OF,
                    "--format", "markdown", "--limit", "1")
    text = result.output
    assert text.startswith("### sla-engine diff: `policies` → `proposed`")
    assert "2 of 4 lead(s) change (tier 1, deadline 2, outcome 1, escalations 1)." in text
    assert text.index("#### Clocks per window and tier") < text.index("<details>")
    assert "| inbound/first\\_response | tier2 | 1 → 0 (-1) | 0 → 2 (+2) | 0 |" in text
    assert "2026-11-23 11:00 EST" in text  # the times of the policy's calendar
    assert "Changed leads (2, first 1)" in text and "… and 1 more lead(s)." in text


def test_markdown_escapes_what_the_data_says(project, new_policies):
    hostile = "<img src=x>|`x`"
    write_event_log([created(hostile, at(23, 9), lead_score=82), assigned(hostile, at(23, 9))],
                    project / "events.csv")
    text = invoke("diff", "policies", "proposed", "--events", "csv:events.csv", "--as-of", AS_OF,
                  "--format", "markdown").output
    assert "&lt;img src=x&gt;\\|\\`x\\`" in text
    assert "<img" not in text


def test_fail_on_change_exits_2_and_identical_policies_change_nothing(project, events_csv, new_policies):
    args = ["--events", f"csv:{events_csv}", "--as-of", AS_OF, "--fail-on-change"]
    assert invoke("diff", "policies", "proposed", *args).exit_code == 2
    same = invoke("diff", "policies", "policies", *args)
    assert same.exit_code == 0
    assert "The policies are the same in both" in same.output


def test_git_revisions_of_the_policies_and_the_configured_store_read_only(project, new_policies):
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "policies", "sla-engine.toml")
    git(project, "commit", "-q", "-m", "policies")
    shutil.copy(new_policies / "inbound.sla", project / "policies" / "inbound.sla")
    git(project, "commit", "-q", "-am", "faster tier 2")
    store = Store(project / "sla-engine.db")  # where sla-engine.toml puts it: beside the policies
    store.events.upsert(history(), 1)
    store.close()
    before = hashlib.sha256((project / "sla-engine.db").read_bytes()).hexdigest()
    result = invoke("diff", "HEAD~1", "HEAD", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    head = git(project, "rev-parse", "HEAD")[:8]
    assert result.output.startswith("sla-engine diff HEAD~1 (")
    assert f"→ HEAD ({head})" in result.output
    assert "2 of 4 lead(s) change" in result.output
    assert "c  inbound/first_response cycle 1" in result.output
    assert "tier: tier1 → tier2" in result.output
    assert hashlib.sha256((project / "sla-engine.db").read_bytes()).hexdigest() == before
    # Uncommitted work is a directory: the working copy against the last commit.
    assert "The policies are the same" in invoke("diff", "HEAD", "policies", "--as-of", AS_OF).output


def test_a_revision_before_the_policies_existed_shows_every_clock_as_new(project, events_csv):
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "sla-engine.toml")
    git(project, "commit", "-q", "-m", "empty")
    git(project, "add", "policies")
    git(project, "commit", "-q", "-m", "policies")
    result = invoke("diff", "HEAD~1", "HEAD", "--events", f"csv:{events_csv}", "--as-of", AS_OF, "--format", "json")
    report = json.loads(result.output)
    assert report["summary"]["changed_leads"] == 4
    assert report["summary"]["by_kind"][NEW_CLOCK] == 4


def test_unknown_revisions_and_missing_stores_are_errors(project, events_csv):
    git(project, "init", "-q", "-b", "main")
    result = invoke("diff", "no-such-branch", "policies", "--events", f"csv:{events_csv}")
    assert result.exit_code == 1
    assert "'no-such-branch' is neither a directory nor a git revision" in result.output
    result = invoke("diff", "policies", "policies", "--events", "missing.db")
    assert result.exit_code == 1 and "no such store" in result.output


def test_a_policy_set_with_errors_is_refused(project, events_csv, new_policies):
    (new_policies / "inbound.sla").write_text(NEW_POLICY.replace("goal tier2", "goal tier9"), encoding="utf-8")
    result = invoke("diff", "policies", "proposed", "--events", f"csv:{events_csv}")
    assert result.exit_code == 1
    assert "proposed: the policy set has" in result.output


def test_target_statuses_that_change_are_listed(project, events_csv, new_policies):
    # Tier 1 gets a whole business day: c, contacted at 16:00, is met, and week 48 goes from 3 of 4 to 4 of 4.
    (new_policies / "inbound.sla").write_text(
        PROJECT_POLICY.replace("goal tier1 2 business hours", "goal tier1 8 business hours"), encoding="utf-8")
    result = invoke("diff", "policies", "proposed", "--events", f"csv:{events_csv}", "--as-of", AS_OF,
                    "--format", "json")
    (target,) = json.loads(result.output)["targets"]
    assert {k: target[k] for k in ("target", "period", "group", "old_status", "new_status")} == {
        "target": "contact_rate", "period": "2026-W48", "group": "all", "old_status": "missed",
        "new_status": "on target"}
    assert (target["old_value"], target["new_value"]) == (75.0, 100.0)
    text = invoke("diff", "policies", "proposed", "--events", f"csv:{events_csv}", "--as-of", AS_OF).output
    assert "1 target period(s) change status." in text
    assert "inbound/contact_rate  2026-W48  all    missed (75%)  on target (100%)" in text


def test_a_csv_history_is_read_by_the_csv_plugin_with_its_unreadable_rows_counted(project, events_csv,
                                                                                   new_policies):
    with events_csv.open("a", encoding="utf-8") as log:
        log.write(events_csv.read_text(encoding="utf-8").splitlines()[1].replace("created", "teleported") + "\n")
    result = invoke("diff", "policies", "proposed", "--events", f"csv:{events_csv}", "--as-of", AS_OF,
                    "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"]["leads"] == 4 and report["summary"]["rejected_rows"] == 1
    missing = invoke("diff", "policies", "proposed", "--events", f"csv:{project / 'nowhere.csv'}", "--as-of", AS_OF)
    assert missing.exit_code == 1 and "nowhere.csv" in missing.output
