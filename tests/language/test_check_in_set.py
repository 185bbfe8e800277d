"""Checking some files of a policy set, as a pre-commit hook does: names come from the whole set,
problems only from the files given."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sla_engine.language.check import check_files_of_set, check_paths
from sla_engine.language.errors import Diagnostic

SHIPPED = Path(__file__).resolve().parents[2] / "policies"

VOCABULARY = """\
field industry: text
define warm = lead_score >= 65
stage mql when warm
contact cro { email "cro@example.com" }
"""

POLICY = """\
policy inbound {
  tier hot when warm
  window first_touch {
    starts when becomes mql
    stops on activity
    goal 4h
    escalate on breach { notify cro }
  }
}
"""


@pytest.fixture
def policy_set(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "vocabulary.sla").write_text(VOCABULARY, encoding="utf-8")
    (directory / "inbound.sla").write_text(POLICY, encoding="utf-8")
    return directory


def where(diagnostics: list[Diagnostic]) -> list[tuple[str, str, int, int]]:
    return [(d.pos.file, d.code, d.pos.line, d.pos.column) for d in diagnostics]


def test_a_shipped_policy_checked_alone_knows_the_names_of_its_set(tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    shutil.copytree(SHIPPED, directory)
    one = directory / "inbound_tiered.sla"
    alone, _ = check_paths([one])
    assert len([d for d in alone if d.code == "E201"]) > 10  # without the set, every shared name is unknown
    diagnostics, sources = check_files_of_set([one], directory)
    assert diagnostics == []
    assert list(sources) == [str(one)]


def test_only_the_given_files_problems_are_reported(policy_set: Path) -> None:
    (policy_set / "other.sla").write_text("define broken = lead_score >\ndefine typo = indstry == \"x\"\n",
                                          encoding="utf-8")
    given = policy_set / "new.sla"
    given.write_text("define d = warm and lead_scor > 3\n", encoding="utf-8")
    diagnostics, sources = check_files_of_set([given], policy_set)
    assert where(diagnostics) == [(str(given), "E201", 1, 21)]
    assert set(sources) == {str(given)}


def test_diagnostics_name_the_file_as_it_was_given(policy_set: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (policy_set / "new.sla").write_text("define d = lead_scor > 3\n", encoding="utf-8")
    monkeypatch.chdir(policy_set.parent)
    diagnostics, sources = check_files_of_set([Path("policies/new.sla")], policy_set.resolve())
    assert where(diagnostics) == [(os.path.join("policies", "new.sla"), "E201", 1, 12)]
    assert diagnostics[0].render(sources["policies/new.sla"]).splitlines()[1] == "    define d = lead_scor > 3"


def test_warnings_are_only_the_given_files_too(policy_set: Path) -> None:
    (policy_set / "other.sla").write_text('define o = disposition == "acepted"\n', encoding="utf-8")
    given = policy_set / "new.sla"
    given.write_text('define n = disposition == "rejectd"\n', encoding="utf-8")
    warnings: list[Diagnostic] = []
    check_files_of_set([given], policy_set, warnings=warnings)
    assert where(warnings) == [(str(given), "W301", 1, 27)]


def test_a_name_declared_again_in_the_given_file_is_reported_there(policy_set: Path) -> None:
    given = policy_set / "zz_new.sla"  # sorted after vocabulary.sla, so its stage is the second
    given.write_text("stage mql when lead_score > 10\n", encoding="utf-8")
    diagnostics, _ = check_files_of_set([given], policy_set)
    assert where(diagnostics) == [(str(given), "E203", 1, 7)]
    assert diagnostics[0].message.startswith("stage 'mql' is already declared at ")


def test_a_file_outside_the_set_is_checked_alone_beside_one_inside(policy_set: Path, tmp_path: Path) -> None:
    outside = tmp_path / "scratch.sla"
    outside.write_text("define d = warm\n", encoding="utf-8")
    inside = policy_set / "inbound.sla"
    diagnostics, sources = check_files_of_set([inside, outside], policy_set)
    assert where(diagnostics) == [(str(outside), "E201", 1, 12)]  # `warm` is the set's, not the scratch file's
    assert set(sources) == {str(inside), str(outside)}


def test_with_no_file_of_the_set_it_is_check_paths(policy_set: Path, tmp_path: Path) -> None:
    outside = tmp_path / "scratch.sla"
    outside.write_text("define d = lead_scor > 1\n", encoding="utf-8")
    assert check_files_of_set([outside], policy_set) == check_paths([outside])
    assert check_files_of_set([outside], tmp_path / "no-such-directory") == check_paths([outside])


def test_a_directory_inside_the_set_reports_its_own_files(policy_set: Path) -> None:
    sub = policy_set / "emea"
    sub.mkdir()
    (sub / "emea.sla").write_text("define e = warm and lead_scor > 1\n", encoding="utf-8")
    (policy_set / "other.sla").write_text("define o = nope\n", encoding="utf-8")
    diagnostics, _ = check_files_of_set([sub], policy_set)
    assert where(diagnostics) == [(str(sub / "emea.sla"), "E201", 1, 21)]
