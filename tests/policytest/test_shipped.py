"""The example policies ship with tests: every one passes, and together they cover the whole set."""

from __future__ import annotations

from pathlib import Path

from sla_engine.policytest.files import find_test_files
from sla_engine.policytest.run import PASS, run_paths

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"


def test_every_policy_file_has_a_test_file():
    tested = {path.name.removesuffix(".test.toml") for path in find_test_files([POLICIES / "tests"])}
    assert {path.stem for path in POLICIES.glob("*.sla")} <= tested


def test_the_shipped_tests_pass_and_cover_the_example_policies():
    run = run_paths([POLICIES])
    failures = [f"{r.test_id}: {r.error or r.mismatches}" for r in run.results if r.status != PASS]
    assert not failures, "\n".join(failures)
    assert len(run.results) >= 50
    (coverage,) = run.coverage
    assert coverage.missing == [], [item.label for item in coverage.missing]
