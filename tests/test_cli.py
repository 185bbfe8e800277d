"""The command line as a cron job sees it: exit codes, JSON, configuration, explain."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from connectors.csv_writer import write_event_log
from sla_engine.cli import LAZY_COMMANDS, main
from tests.engine.test_evaluate import POLICY, activity, assigned, at, created

REQUIRED_INSTANCE_KEYS = {
    "lead_id", "policy", "window", "cycle", "tier", "started_at", "due_at", "stopped_at", "status",
    "elapsed_business_seconds", "remaining_business_seconds",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "inbound.sla").write_text(POLICY, encoding="utf-8")
    events = [
        created("fast", at(23, 9), lead_score=95, name="<b>Robert'); DROP TABLE leads;--</b>"),
        assigned("fast", at(23, 9, 1)), activity("fast", at(23, 9, 30)),
        created("slow", at(23, 9), lead_score=95), assigned("slow", at(23, 9, 1)),
        created("[red]evil[/red]", at(23, 9), lead_score=95), assigned("[red]evil[/red]", at(23, 9, 1)),
    ]
    write_event_log(events, tmp_path / "events.csv")
    (tmp_path / "sla-engine.toml").write_text(
        'policies = "policies"\n\n[[sources]]\nname = "crm"\ntype = "csv"\npath = "events.csv"\n',
        encoding="utf-8",
    )
    return tmp_path


def invoke_in(directory: Path, command: click.Command, *args: str):
    """Run a command in the project directory, as cron would, and come back."""
    before = os.getcwd()
    os.chdir(directory)
    try:
        return CliRunner().invoke(command, list(args), catch_exceptions=False)
    finally:
        os.chdir(before)


def invoke(project: Path, *args: str):
    return invoke_in(project, main, *args)


def test_evaluate_json_lists_each_instance_with_its_timing(project):
    result = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--format", "json", "--no-deliver")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["run"]["sources"][0] == {
        "source": "crm", "read": 7, "accepted": 7, "quarantined": 0, "new_events": 7, "conflicts": 0,
    }
    instances = {(i["lead_id"], i["window"]): i for i in payload["instances"]}
    assert set(instances[("fast", "first_response")]) >= REQUIRED_INSTANCE_KEYS
    assert instances[("fast", "first_response")]["status"] == "met"
    assert instances[("fast", "first_response")]["elapsed_business_seconds"] == 30 * 60
    slow = instances[("slow", "first_response")]
    assert slow["status"] == "breached" and slow["remaining_business_seconds"] is None
    cadence = instances[("slow", "cadence")]
    assert cadence["status"] == "running" and cadence["remaining_business_seconds"] > 0
    assert (project / "sla-engine.db").exists()  # beside the policies by default


def test_fail_on_breach_exits_2_for_new_breaches_only(project):
    first = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--fail-on", "breach", "--no-deliver")
    assert first.exit_code == 2
    again = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--fail-on", "breach", "--no-deliver")
    assert again.exit_code == 0


def test_text_summary_escapes_lead_data(project):
    result = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver")
    assert result.exit_code == 0
    assert "new breaches: 2" in result.output
    assert "slow" in result.output
    assert "[red]evil[/red]" in result.output  # printed as data, never as markup


def test_text_summary_prints_no_control_character_from_any_field(project):
    # A source named by its path: a file name may hold an escape sequence (clear screen, a fake prompt).
    hostile = project / "ev\x1b[2J\x1b[31mil\x07.csv"
    shutil.copy(project / "events.csv", hostile)
    result = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver",
                    "--source", f"csv:{hostile.name}")
    assert result.exit_code == 0, result.output
    assert "source csv:ev[2J[31mil.csv: 7 rows read" in result.output  # shown, without its ESC and BEL
    assert "\x1b" not in result.output and "\x07" not in result.output


def test_a_bad_policy_stops_evaluate_with_positioned_errors(project):
    (project / "policies" / "broken.sla").write_text("define x = lead_scor >= 1\n", encoding="utf-8")
    result = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z")
    assert result.exit_code == 1
    assert "broken.sla:1:12" in result.output


def test_explain_shows_the_deadline_arithmetic(project):
    invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z")
    result = invoke(project, "explain", "slow", "--as-of", "2026-11-23T17:00:00Z", "--window", "first_response")
    assert result.exit_code == 0, result.output
    assert "2026-11-23 09:00:00 EST  [inbound/first_response] clock starts (cycle 1, tier tier1); " \
           "2 business hours on office → due Mon 2026-11-23 11:00" in result.output
    assert "breached" in result.output
    assert "cadence" not in result.output


def test_explain_shows_every_time_in_one_zone_and_says_which(project):
    invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver")
    result = invoke(project, "explain", "slow", "--as-of", "2026-11-23T17:00:00Z")
    lines = result.output.splitlines()
    assert lines[:2] == ["lead slow as of Mon 2026-11-23 12:00 EST",
                         "times in America/New_York (the zone of policy inbound)"]
    assert "UTC" not in result.output and "Z " not in result.output  # no stamp left in another zone
    assert "inbound/first_response cycle 1: breached; tier tier1; goal 2 business hours on office; " \
           "due Mon 2026-11-23 11:00" in result.output
    in_utc = invoke(project, "explain", "slow", "--as-of", "2026-11-23T17:00:00Z", "--zone", "UTC")
    assert in_utc.output.splitlines()[:2] == ["lead slow as of Mon 2026-11-23 17:00 UTC", "times in UTC"]
    assert "2026-11-23 14:00:00 UTC  [inbound/first_response] clock starts (cycle 1, tier tier1); " \
           "2 business hours on office → due Mon 2026-11-23 16:00" in in_utc.output
    payload = json.loads(invoke(project, "explain", "slow", "--as-of", "2026-11-23T17:00:00Z",
                                "--format", "json").output)
    assert payload["zone"] == "America/New_York"
    assert payload["trace"][0].startswith("2026-11-23 09:00:00 EST  created")
    wrong = invoke(project, "explain", "slow", "--zone", "Mars/Olympus")
    assert wrong.exit_code == 1 and "unknown time zone 'Mars/Olympus'" in wrong.output


def test_check_reports_every_error_and_exits_1(project, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.sla").write_text("define x = lead_scor >= 1\ndefine y = indstry == \"Software\"\n")
    result = invoke(project, "check", str(bad))
    assert result.exit_code == 1
    assert "a.sla:1:12" in result.output and "a.sla:2:12" in result.output
    assert "did you mean 'industry'?" in result.output


def test_check_of_one_file_of_the_configured_set_resolves_names_against_the_set_as_pre_commit_runs_it(project):
    (project / "policies" / "zz_regional.sla").write_text(
        "policy regional {\n  calendar office\n  window w {\n    starts when becomes mql\n"
        "    stops on activity\n    goal 2 business hours\n    escalate on breach { notify cro }\n  }\n}\n",
        encoding="utf-8")
    result = invoke(project, "check", "policies/zz_regional.sla")
    assert result.exit_code == 0, result.output
    assert "ok: 1 file(s), no errors" in result.output


def test_check_of_some_files_reports_only_theirs(project):
    (project / "policies" / "broken.sla").write_text("define broken = lead_score >\n", encoding="utf-8")
    (project / "policies" / "new.sla").write_text("define d = director_plus and lead_scor > 3\n", encoding="utf-8")
    result = invoke(project, "check", "policies/new.sla")
    assert result.exit_code == 1
    assert "policies/new.sla:1:30: E201 unknown name 'lead_scor'" in result.output
    assert "broken.sla" not in result.output and "'director_plus'" not in result.output
    assert "1 error(s) in 1 file(s)" in result.output


def test_the_shipped_pre_commit_hooks_run_commands_and_options_that_exist():
    manifest = (Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    entries = re.findall(r"^  entry: sla-engine (.+)$", manifest, re.MULTILINE)
    assert entries == ["check", "fmt --check"]
    for entry in entries:
        assert CliRunner().invoke(main, [*entry.split(), "--help"]).exit_code == 0, entry
    assert manifest.count(r"files: \.sla$") == 2


def test_check_and_fmt_pass_on_the_shipped_policies(project):
    shipped = Path(__file__).resolve().parents[1] / "policies"
    target = project / "shipped"
    shutil.copytree(shipped, target)
    assert invoke(project, "check", str(target)).exit_code == 0
    assert invoke(project, "fmt", "--check", str(target)).exit_code == 0


def test_an_overlapping_run_exits_75_with_a_clear_message(project):
    from sla_engine.store.db import Store

    store = Store(project / "sla-engine.db")
    with store.locked():
        result = invoke(project, "evaluate", "--lock-timeout", "0.2", "--as-of", "2026-11-23T17:00:00Z")
    assert result.exit_code == 75  # EX_TEMPFAIL: try again later
    assert "another sla-engine run holds" in result.output


def test_the_commands_imported_when_named_load_under_the_names_help_lists():
    listed = CliRunner().invoke(main, ["--help"]).output
    for name in LAZY_COMMANDS:
        command = main.get_command(click.Context(main), name)
        assert command is not None and command.name == name and f"  {name} " in listed


def _help_in_a_fresh_process(import_lazy_commands_first: bool) -> tuple[str, list[str]]:
    """`sla-engine --help` and the command modules it left imported."""
    code = ("import sys, click\nfrom sla_engine.cli import LAZY_COMMANDS, main\n"
            f"if {import_lazy_commands_first}:\n"
            "    for name in LAZY_COMMANDS:\n        main.get_command(click.Context(main), name)\n"
            "sys.argv = ['sla-engine', '--help']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "modules = {t.target.partition(':')[0] for t in LAZY_COMMANDS.values()}\n"
            "print(*(m for m in sys.modules if m in modules), file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    return run.stdout, run.stderr.split()


def test_help_lists_the_lazy_commands_exactly_as_their_own_help_would_without_importing_them():
    listed, imported = _help_in_a_fresh_process(import_lazy_commands_first=False)
    assert imported == []
    from_their_own_help, imported = _help_in_a_fresh_process(import_lazy_commands_first=True)
    assert len(imported) == 7  # the reports, web, delivery, policytest, scaffold, doctor and migrate commands
    assert listed == from_their_own_help


# ---------------------------------------------------------------- exit codes, as cron reads them


def test_a_run_whose_alerts_could_not_be_sent_exits_3_even_when_fail_on_matched(project, monkeypatch):
    monkeypatch.delenv("SLA_ENGINE_SMTP_HOST", raising=False)
    result = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--fail-on", "breach")
    assert result.exit_code == 3, result.output
    assert "failed" in result.output and "SLA_ENGINE_SMTP_HOST" in result.output
    retried = invoke(project, "deliver", "--as-of", "2026-11-23T17:05:00Z")
    assert retried.exit_code == 3  # still nothing can be sent: `deliver` alone says so too


def test_a_run_that_delivers_nothing_exits_2_on_a_fail_on_match_and_0_when_clean(project):
    assert invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver",
                  "--fail-on", "breach").exit_code == 2
    assert invoke(project, "deliver", "--dry-run", "--as-of", "2026-11-23T17:00:00Z").exit_code == 0


def test_a_bad_option_exits_1_never_2_which_means_fail_on_matched(project):
    result = invoke(project, "evaluate", "--fail-on", "typo")
    assert result.exit_code == 1 and "'typo' is not one of" in result.output
    assert invoke(project, "evaluate", "--no-such-flag").exit_code == 1


@pytest.mark.parametrize(("args", "reason"), [
    (["explain", "slow", "--window", "nope"], "no window named 'nope' in the policies; they declare: cadence, "
                                              "first_response"),
    (["plan", "--revenue", "300000", "--deal-size", "25000", "--per", "fortnight"],
     "'fortnight' is not a period: use one of week, month, quarter"),
    (["plan", "--revenue", "-5", "--deal-size", "25000"], "-5 is not a revenue goal"),
    (["plan", "--revenue", "300000", "--deal-size", "0"], "0 is not a deal size"),
    (["plan", "--per", "week"], "--per says which period --revenue is for: give --revenue too"),
])
def test_bad_values_are_refused_with_the_reason(project, args, reason):
    invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver")
    result = invoke(project, *args)
    assert result.exit_code == 1
    assert reason in " ".join(result.output.split())


def test_explain_as_json_lists_each_clock_and_its_deadline(project):
    invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver")
    result = invoke(project, "explain", "slow", "--as-of", "2026-11-23T17:00:00Z", "--window", "first_response",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    (clock,) = payload["instances"]
    assert (clock["window"], clock["status"]) == ("first_response", "breached")
    assert clock["due_at"] == "2026-11-23T16:00:00+00:00"  # Mon 11:00 in New York
    assert payload["trace"] and all("/cadence]" not in line for line in payload["trace"])


def test_shell_completion_offers_every_command_lazy_ones_included():
    env = {"_SLA_ENGINE_COMPLETE": "bash_complete", "COMP_WORDS": "sla-engine d", "COMP_CWORD": "1"}
    result = CliRunner().invoke(main, [], prog_name="sla-engine", env=env)
    offered = {line.split(",")[1] for line in result.output.splitlines()}
    assert offered == {"deliver", "diff", "doctor"}


def test_every_command_names_the_policies_with_policies_the_configured_directory_by_default(project):
    (project / "policies").rename(project / "sla")
    (project / "sla-engine.toml").write_text((project / "sla-engine.toml").read_text().replace(
        'policies = "policies"', 'policies = "sla"'))
    assert invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver").exit_code == 0
    again = ["--as-of", "2026-11-23T17:00:00Z", "--policies", "sla"]
    assert invoke(project, "evaluate", *again, "--no-deliver").exit_code == 0
    assert invoke(project, "deliver", *again, "--dry-run").exit_code == 0
    assert invoke(project, "explain", "slow", *again).exit_code == 0
    twice = invoke(project, "evaluate", "sla", "--policies", "elsewhere")
    assert twice.exit_code == 1 and "the policies are given twice" in twice.output


def test_quarantined_rows_are_listed_with_their_reason_and_line(project):
    header = (project / "events.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    with (project / "events.csv").open("a", encoding="utf-8") as handle:
        handle.write(",".join(["bad1", "x1", "2026-13-01T09:00:00Z", "created"] + [""] * (len(header) - 4)) + "\n")
    invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver")
    text = invoke(project, "quarantine")
    assert text.exit_code == 0, text.output
    assert "events.csv:9  occurred_at '2026-13-01T09:00:00Z' is not a timestamp" in text.output
    assert '"lead_id": "x1"' in text.output and "1 quarantined row(s)" in text.output
    (row,) = json.loads(invoke(project, "quarantine", "--format", "json", "--source", "crm").stdout)
    assert row["line"] == 9 and row["raw"]["lead_id"] == "x1"
    assert json.loads(invoke(project, "quarantine", "--format", "json", "--source", "other").stdout) == []


def test_evaluate_dry_run_shows_the_run_then_one_line_per_message_not_their_bodies(project):
    result = invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "--- email to" not in result.output  # the bodies are `deliver --dry-run`'s
    assert "email:" not in result.output
    assert result.output.index("new breaches: 2") < result.output.index("deliver: would send")


def test_report_explain_and_deliver_default_to_the_last_runs_as_of(project):
    invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver")
    explained = invoke(project, "explain", "slow")
    assert explained.exit_code == 0 and "lead slow as of Mon 2026-11-23 12:00 EST" in explained.output
    dry = invoke(project, "deliver", "--dry-run")  # as of now, a day's maximum age would expire every one
    assert dry.exit_code == 0 and "would send 4 message(s)" in dry.output, dry.output


def test_evaluate_refuses_to_go_back_in_time_and_says_how_to_look_back(project):
    assert invoke(project, "evaluate", "--as-of", "2026-11-23T17:00:00Z", "--no-deliver").exit_code == 0
    result = invoke(project, "evaluate", "--as-of", "2026-11-20T17:00:00Z", "--no-deliver")
    assert result.exit_code == 1
    assert "earlier than the last run's as-of 2026-11-23T17:00:00" in result.output
    assert "--db past.db --as-of 2026-11-20T17:00:00" in result.output
    looked_back = invoke(project, "explain", "slow", "--as-of", "2026-11-20T17:00:00Z")
    assert looked_back.exit_code == 0 and "lead slow as of Fri 2026-11-20" in looked_back.output
