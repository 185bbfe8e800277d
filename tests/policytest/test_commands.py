"""`sla-engine test` as CI runs it: exit codes, --run, coverage thresholds and the three formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tests.policytest.helpers import invoke, write

PASSING = """
timezone = "America/New_York"

[[case]]
name = "tier 1 lead due Monday"
as_of = "2026-11-20 17:00"
lead = { lead_score = 90, seniority = "vp" }
events = [{ at = "2026-11-20 16:30", type = "created" }]
expect.first_response = { tier = "tier1", due = "2026-11-23 10:30", status = "running" }
"""
FAILING = """
[[case]]
name = "tier 2 <lead> & co"
as_of = "2026-11-20 17:00"
lead = { lead_score = 70 }
events = [{ at = "2026-11-20 16:30", type = "created" }]
expect.first_response = { tier = "tier1" }
"""


def test_all_passing_exits_0_and_lists_tests_with_verbose(project):
    write(project, PASSING)
    result = invoke("test", "-v")
    assert result.exit_code == 0, result.output
    assert "ok   policies/tests/inbound.test.toml:4: tier 1 lead due Monday" in result.output
    assert "1 passed" in result.output


def test_a_failure_exits_1_with_expected_against_actual(project):
    write(project, PASSING + FAILING)
    result = invoke("test")
    assert result.exit_code == 1
    assert "FAIL policies/tests/inbound.test.toml:11: tier 2 <lead> & co" in result.output
    assert "tier             expected tier1" in result.output
    assert "actual   tier2" in result.output
    assert "trace (times in America/New_York):" in result.output
    assert "tier tier2? `lead_score >= 65` (lead_score=70) → yes" in result.output
    assert "1 passed, 1 failed" in result.output


def test_run_selects_tests_by_pattern(project):
    write(project, PASSING + FAILING)
    assert invoke("test", "--run", "monday").exit_code == 0
    result = invoke("test", "--run", "nothing matches this")
    assert result.exit_code == 1 and "no tests found" in result.output


def test_a_bad_test_file_is_an_error_with_its_line(project):
    write(project, PASSING.replace('type = "created"', 'type = "made"'))
    result = invoke("test", "policies/tests/inbound.test.toml")
    assert result.exit_code == 1
    assert "policies/tests/inbound.test.toml:8: case 'tier 1 lead due Monday': events[1]: unknown event type" \
        in result.output


def test_coverage_and_threshold(project):
    write(project, PASSING)
    result = invoke("test", "--coverage")
    assert result.exit_code == 0
    assert "coverage of policies: " in result.output
    assert "policies/inbound.sla:" in result.output and "tier tier2 (never given to a clock)" in result.output
    result = invoke("test", "--threshold", "95")
    assert result.exit_code == 1
    assert "is below the threshold of 95%" in result.output
    assert invoke("test", "--threshold", "10").exit_code == 0


def test_json_report(project):
    write(project, PASSING + FAILING)
    payload = json.loads(invoke("test", "--format", "json", "--coverage").stdout)
    assert payload["summary"] == {**payload["summary"], "passed": 1, "failed": 1, "errors": 0}
    failed = next(t for t in payload["tests"] if t["status"] == "fail")
    assert failed["mismatches"] == [{"subject": "first_response (cycle 1)", "field": "tier", "expected": "tier1",
                                     "actual": "tier2"}]
    assert failed["trace"]
    assert 0 < payload["coverage"]["percent"] < 100


def test_junit_report_is_standard_xml(project, tmp_path):
    write(project, PASSING + FAILING)
    out = tmp_path / "report.xml"
    result = invoke("test", "--format", "junit", "--out", str(out))
    assert result.exit_code == 1
    root = ET.parse(out).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "2", "1")
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["tier 1 lead due Monday", "tier 2 <lead> & co"]
    failure = cases[1].find("failure")
    assert failure is not None and "expected tier1" in failure.text
    assert failure.get("message") == "first_response (cycle 1): tier expected tier1, actual tier2"
