"""`agreement --changes`: two versions of the policies, what changed in the agreement's words."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_engine.cli import main
from sla_engine.language.policy_set import load_policy_set
from sla_engine.reports.agreement_changes import changes, to_text

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def version(tmp_path: Path, name: str, *edits: tuple[str, str], file: str = "inbound_tiered.sla") -> Path:
    """A copy of the shipped policies with text replaced in one file (each edit must apply)."""
    directory = tmp_path / name
    shutil.copytree(POLICIES, directory, ignore=shutil.ignore_patterns("tests"))
    path = directory / file
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)
    return directory


def lines(old: Path, new: Path) -> list[str]:
    return [c.line() for c in changes(load_policy_set([old]), load_policy_set([new]))]


def test_the_same_policies_have_no_change(tmp_path: Path) -> None:
    same = version(tmp_path, "same")
    assert lines(POLICIES, same) == []
    assert "No change to the agreement." in to_text("a", "b", [])


def test_a_changed_goal_reads_as_a_changelog_line(tmp_path: Path) -> None:
    new = version(tmp_path, "new", ('version "2026.1"', 'version "2026.2"'),
                  ("goal tier1 2 business hours", "goal tier1 1 business hour"),
                  ("group by owner\n    goal >= 90%", "group by owner\n    goal >= 95%"))
    assert lines(POLICIES, new) == [
        "Tiered inbound SLA, version: 2026.1 → 2026.2",
        "First contact, Tier 1 goal: 2 business hours on the ny office calendar → 1 business hour on the ny office "
        "calendar",
        "Tier 2 contacted within 24 hours: 90%, goal: at least 90 % → at least 95 %",
    ]


def test_a_relabelled_commitment_is_not_a_change(tmp_path: Path) -> None:
    new = version(tmp_path, "new", ('window first_response "First contact"', 'window first_response "First touch"'))
    assert lines(POLICIES, new) == []


def test_added_and_removed_details_are_named(tmp_path: Path) -> None:
    new = version(tmp_path, "new", ("    warn at 75%\n", ""),
                  ("    escalate on breach {\n      notify revops via slack\n    }\n", ""),
                  ("  tier tier2", '  tier tier3 "Tier 3" when lead_score >= 90\n  tier tier2'))
    assert lines(POLICIES, new) == [
        "Tiered inbound SLA, Tier 3 leads: added — the lead score is at least 90",
        "Lead routing within 5 minutes of MQL, at the deadline: removed (was Revenue Operations is notified by slack)",
        "First contact, warning: removed (was at 75 % of the time)",
    ]


def test_a_changed_definition_escalation_and_calendar(tmp_path: Path) -> None:
    new = version(tmp_path, "new", ('define manager_plus = director_plus or seniority == "manager"',
                                    'define manager_plus = director_plus or seniority in ["manager", "lead"]'),
                  file="shared.sla")
    new = version(tmp_path, "new2", ("hours mon-fri 09:00-12:00, 13:00-17:00", "hours mon-fri 08:00-18:00"),
                  file="calendars.sla")
    found = lines(POLICIES, new)
    assert len(found) == 1 and found[0].startswith("Calendar “ny office”: Business hours on the ny office calendar "
                                                   "are Monday to Friday 09:00–12:00 and 13:00–17:00")
    assert "→ Business hours on the ny office calendar are Monday to Friday 08:00–18:00" in found[0]
    definition = lines(POLICIES, tmp_path / "new")
    assert definition == ["“Manager plus”: either the lead is director plus or the seniority is “manager” → either "
                          "the lead is director plus or the seniority is “manager” or “lead”"]


def test_command_compares_git_revisions(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(POLICIES, repo / "policies", ignore=shutil.ignore_patterns("tests"))

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "v1")
    path = repo / "policies" / "one_page.sla"
    path.write_text(path.read_text().replace("goal >= 80%", "goal >= 85%"))
    git("commit", "-qam", "v2")
    result = CliRunner().invoke(main, ["agreement", "--changes", "HEAD~1", "HEAD", "--policies",
                                       str(repo / "policies")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("## Changes to the agreement: HEAD~1 (")
    assert "- Weekly review: first contact in time, 80% floor, goal: at least 80 % → at least 85 %" in result.output


def test_command_refuses_html_changes_and_unknown_revisions(tmp_path: Path) -> None:
    runner = CliRunner()
    html = runner.invoke(main, ["agreement", "--changes", str(POLICIES), str(POLICIES), "--format", "html"])
    assert html.exit_code == 1  # a usage error: 2 means --fail-on matched
    missing = runner.invoke(main, ["agreement", "--changes", "no-such-rev", str(POLICIES), "--policies",
                                   str(POLICIES)])
    assert missing.exit_code == 1 and "revision" in missing.output and "Traceback" not in missing.output
