"""`sla-engine init`: a new policy repository passes check, test and evaluate at once."""

from __future__ import annotations

import json

from sla_engine.cli import main
from tests.test_cli import invoke_in


def test_init_in_an_empty_directory_then_check_test_and_evaluate_all_pass(tmp_path, monkeypatch):
    monkeypatch.delenv("SLA_ENGINE_SMTP_HOST", raising=False)
    repo = tmp_path / "revops-sla"
    made = invoke_in(tmp_path, main, "init", "revops-sla")
    assert made.exit_code == 0, made.output
    assert {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()} == {
        "sla-engine.toml", "policies/one_page.sla", "policies/tests/one_page.test.toml", "data/events.csv",
        ".github/workflows/sla-policies.yml", ".gitignore",
    }
    assert invoke_in(repo, main, "check").exit_code == 0
    assert invoke_in(repo, main, "fmt", "--check").exit_code == 0
    tested = invoke_in(repo, main, "test", "--coverage", "--threshold", "100")
    assert tested.exit_code == 0, tested.output
    assert "9 passed" in tested.output
    evaluated = invoke_in(repo, main, "evaluate", "--format", "json")
    assert evaluated.exit_code == 0, evaluated.output
    run = json.loads(evaluated.output)
    assert run["run"]["sources"][0]["read"] == 11 and run["run"]["sources"][0]["quarantined"] == 0
    statuses = {(i["lead_id"], i["window"]): i["status"] for i in run["instances"]}
    assert statuses[("L001", "sal_contact")] == "met"
    assert statuses[("L002", "review")] == "breached"
    assert statuses[("L003", "rejection_reason")] == "breached"
    assert not any(lead == "L004" for lead, _ in statuses)  # a manager is outside the profile


def test_init_overwrites_nothing(tmp_path):
    (tmp_path / "sla-engine.toml").write_text("policies = 'mine'\n")
    result = invoke_in(tmp_path, main, "init")
    assert result.exit_code == 1
    assert "already has sla-engine.toml" in result.output and "overwrites nothing" in result.output
    assert (tmp_path / "sla-engine.toml").read_text() == "policies = 'mine'\n"
    assert not (tmp_path / "policies").exists()
