"""`sla-engine deliver` and `sla-engine outbox` from the command line."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from sla_engine.cli import main
from sla_engine.cli.delivery import deliver, outbox
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from tests.delivery.conftest import POLICY, lead_events, make_policy_set
from tests.engine.test_evaluate import at


def cli() -> click.Group:
    group = click.Group(commands={"deliver": deliver, "outbox": outbox}, params=main.params, callback=main.callback)
    return group


def setup(tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "test.sla").write_text(POLICY)
    store = Store(tmp_path / "sla-engine.db")
    evaluate_run(make_policy_set(), store, [("t", iter(lead_events(1)))], at(17, 11, 30))
    store.close()
    return policies


def test_dry_run_then_deliver_then_inspect_the_outbox(tmp_path, smtp, http_env, monkeypatch):
    policies = setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    as_of = "2026-11-17T16:30:00Z"
    dry = runner.invoke(cli(), ["deliver", str(policies), "--dry-run", "--as-of", as_of], obj={})
    assert dry.exit_code == 0, dry.output
    assert "--- email to rep0@example.com" in dry.stdout and "would send 3" in dry.stderr
    pending = runner.invoke(cli(), ["outbox", "--db", "sla-engine.db", "--status", "pending"], obj={})
    assert pending.stdout.count("pending") == 3
    real = runner.invoke(cli(), ["deliver", str(policies), "--as-of", as_of, "--format", "json"], obj={})
    assert real.exit_code == 0, real.output
    assert json.loads(real.stdout)["sent"] == 3
    sent = runner.invoke(cli(), ["outbox", "--db", "sla-engine.db", "--format", "json"], obj={})
    assert {row["status"] for row in json.loads(sent.stdout)} == {"sent"}
    assert len(smtp.messages) == 1 and len(http_env.posts) == 2


def test_the_delivery_section_of_the_configuration_sets_digest_and_maximum_age_and_flags_override_it(
        tmp_path, http_env, monkeypatch):
    setup(tmp_path)
    (tmp_path / "sla-engine.toml").write_text('policies = "policies"\n[delivery]\nmax_age = "2h"\ndigest = "day"\n')
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    days_later = "2026-11-18T16:30:00Z"
    dry = runner.invoke(cli(), ["deliver", "--dry-run", "--as-of", days_later, "--format", "json"], obj={})
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["expired"] == 3  # dry-run JSON is only JSON: no message printed beside it
    kept = runner.invoke(cli(), ["deliver", "--dry-run", "--as-of", days_later, "--max-age", "never"], obj={})
    assert "would send 3" in kept.stderr
    real = runner.invoke(cli(), ["deliver", "--as-of", days_later], obj={})
    assert real.exit_code == 0 and "retired 0 obsolete" in real.stderr and "3 expired" in real.stderr
    listed = runner.invoke(cli(), ["outbox", "--status", "expired"], obj={})
    assert listed.stdout.count("expired") == 3 and "why: due 2026-11-17T16:01, more than 2h" in listed.stdout
    bad = runner.invoke(cli(), ["deliver", "--max-age", "soon"], obj={})
    assert bad.exit_code == 2 and "not a duration like 90m" in bad.output
    broken = tmp_path / "sla-engine.toml"
    broken.write_text('policies = "policies"\n[delivery]\ndigest = "hourly"\n')
    refused = runner.invoke(cli(), ["deliver", "--dry-run"], obj={})
    assert refused.exit_code != 0 and "delivery.digest" in refused.output
