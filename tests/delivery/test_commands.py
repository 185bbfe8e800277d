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


def evaluated_project(tmp_path, monkeypatch, leads: int = 3, owner_ids: bool = False):
    """A policy repository whose CSV source names rep0/rep1 (or their CRM ids), evaluated by `sla-engine evaluate`."""
    from connectors.csv_writer import write_event_log

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.sla").write_text(POLICY)
    events = lead_events(leads)
    if owner_ids:
        events = [e.model_copy(update={"payload": {**e.payload, "owner": e.payload["owner"].replace(
            "rep", "005REP").replace("@example.com", "")}}) if e.type == "assigned" else e for e in events]
    write_event_log(events, tmp_path / "events.csv")
    (tmp_path / "sla-engine.toml").write_text(
        'policies = "policies"\n[[sources]]\nname = "crm"\ntype = "csv"\npath = "events.csv"\n')
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def listed(runner: CliRunner, *options: str) -> list[dict]:
    result = runner.invoke(main, ["outbox", "--format", "json", *options], obj={})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_outbox_shows_one_reps_queue_by_owner_or_by_recipient(tmp_path, smtp, http_env, monkeypatch):
    runner = evaluated_project(tmp_path, monkeypatch)
    run = runner.invoke(main, ["evaluate", "--as-of", "2026-11-17T16:30:00Z"], obj={})
    assert run.exit_code == 0, run.output
    everything = listed(runner)
    assert len(everything) == 9 and {row["status"] for row in everything} == {"sent"}  # 3 leads × 3 notices
    # rep0 owns L0 and L2: their queue holds every row about those leads, whoever it went to.
    mine = listed(runner, "--owner", "REP0@example.com")
    assert {row["lead_id"] for row in mine} == {"L0", "L2"} and len(mine) == 6
    assert {row["recipient"] for row in mine} == {"email:rep0@example.com", "slack:env:TEST_SLACK_URL",
                                                  "webhook:env:TEST_HOOK_URL"}
    # What went to rep0: the two breach notices by email, by address with or without the channel.
    to_rep0 = listed(runner, "--recipient", "rep0@example.com")
    assert [(row["lead_id"], row["level"]) for row in to_rep0] == [("L0", "on breach"), ("L2", "on breach")]
    assert listed(runner, "--recipient", "email:Rep0@Example.com") == to_rep0
    assert listed(runner, "--owner", "rep1@example.com", "--recipient", "rep0@example.com") == []
    text = runner.invoke(main, ["outbox", "--owner", "rep1@example.com"], obj={})
    assert text.exit_code == 0 and text.stderr.strip() == "3 row(s)"
    assert text.stdout.splitlines()[:3] == [
        "sent     2026-11-17 16:02 UTC  L1  inbound/first_response on breach",
        "         notify owner via email · owner rep1@example.com · to rep1@example.com",
        "         sent 2026-11-17 16:30 UTC",
    ]
    assert all(len(line) <= 100 for line in text.stdout.splitlines())


def test_a_reps_queue_by_email_finds_the_rows_recorded_under_their_crm_owner_id(tmp_path, monkeypatch):
    from sla_engine.connector import Owner

    runner = evaluated_project(tmp_path, monkeypatch, owner_ids=True)
    assert runner.invoke(main, ["evaluate", "--as-of", "2026-11-17T16:30:00Z", "--no-deliver"], obj={}).exit_code == 0
    store = Store(tmp_path / "sla-engine.db")
    with store.transaction():  # the users a CRM sync would have read
        store.owners.replace("crm", [Owner(id="005REP0", email="rep0@example.com", name="Ana Ruiz"),
                                      Owner(id="005REP1", email="rep1@example.com", name="Ben Ode")])
    store.close()
    mine = listed(runner, "--owner", "rep0@example.com")
    assert {row["lead_id"] for row in mine} == {"L0", "L2"} and {row["owner"] for row in mine} == {"005REP0"}
    assert listed(runner, "--owner", "005REP1") == listed(runner, "--owner", "rep1@example.com") != []
    text = runner.invoke(main, ["outbox", "--owner", "rep0@example.com", "--limit", "1"], obj={}).stdout
    assert "owner Ana Ruiz <rep0@example.com>" in text and "to " not in text  # pending: not yet resolved
    # No Slack URL set: those notices fail before anything is claimed, and still say whom they were for.
    assert runner.invoke(main, ["deliver", "--as-of", "2026-11-17T16:30:00Z"], obj={}).exit_code == 3
    failed = listed(runner, "--recipient", "env:TEST_SLACK_URL")
    assert len(failed) == 3 and {(row["status"], row["attempts"]) for row in failed} == {("failed", 1)}


def test_rows_recorded_before_owners_were_kept_stay_readable_and_delivery_fills_them_in(tmp_path, smtp, http_env,
                                                                                         monkeypatch):
    import sqlite3

    from sla_engine.store.db import MIGRATIONS

    runner = evaluated_project(tmp_path, monkeypatch)
    assert runner.invoke(main, ["evaluate", "--as-of", "2026-11-17T16:30:00Z", "--db", "now.db", "--no-deliver"],
                         obj={}).exit_code == 0
    # The same rows in a store of the version before owners were kept, as that version wrote them.
    before_owners = next(n for n, script in enumerate(MIGRATIONS) if "ADD COLUMN owner" in script)
    old = sqlite3.connect(tmp_path / "sla-engine.db")
    for script in MIGRATIONS[:before_owners]:
        old.executescript(script)
    old.execute(f"ATTACH '{tmp_path / 'now.db'}' AS now")
    for table in ("events", "leads", "window_instances", "outbox", "runs"):
        columns = ", ".join(f'"{c[1]}"' for c in old.execute(f"PRAGMA main.table_info({table})"))
        old.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM now.{table}")
    old.execute(f"PRAGMA user_version = {before_owners}")
    old.commit()
    old.close()
    before = listed(runner)
    assert len(before) == 9 and {row["owner"] for row in before} == {None}
    text = runner.invoke(main, ["outbox", "--limit", "1"], obj={})
    assert text.exit_code == 0 and "· owner" not in text.stdout
    assert listed(runner, "--owner", "rep0@example.com") == []
    delivered = runner.invoke(main, ["deliver", "--as-of", "2026-11-17T16:30:00Z"], obj={})
    assert delivered.exit_code == 0, delivered.output
    assert {row["lead_id"] for row in listed(runner, "--owner", "rep0@example.com")} == {"L0", "L2"}
