"""Running cases: what passes, what fails with expected against actual, and the trace that explains it.

Times are New York wall-clock, November 2026 (the 20th is a Friday, the 26th Thanksgiving), as in
tests/engine/test_evaluate.py, whose policy these cases test.
"""

from __future__ import annotations

from sla_engine.policytest.run import ERROR, FAIL, PASS, run_paths
from tests.policytest.helpers import write

HEAD = """
timezone = "America/New_York"
policy = "inbound"

[lead]
seniority = "director"
"""

TIER1 = """
[[case]]
name = "{name}"
as_of = "{as_of}"
lead = {{ lead_score = 90 }}
events = [
  {{ at = "2026-11-23 09:00", type = "created" }},
  {{ at = "2026-11-23 09:00", type = "assigned", owner = "rep@example.com", owner_manager = "boss@example.com" }},
{extra}]
"""


def case(name: str, as_of: str, expect: str, extra: str = "") -> str:
    return TIER1.format(name=name, as_of=as_of, extra=extra) + expect


def run(project, text: str, pattern: str | None = None):
    write(project, HEAD + text)
    return run_paths([project / "policies"], pattern)


def test_a_case_whose_expectations_hold_passes(project):
    text = case("met in time", "2026-11-24 12:00", """
[case.expect]
stages = { mql = "2026-11-23 09:00" }
[case.expect.first_response]
tier = "tier1"
started = "2026-11-23 09:00"
due = "2026-11-23 11:00"
stopped = "2026-11-23 10:00"
status = "met"
goal = "2 business hours"
calendar = "office"
escalations = []
""", extra='  { at = "2026-11-23 10:00", type = "activity", channel = "call", by = "rep@example.com" },\n')
    (result,) = run(project, text).results
    assert result.status == PASS, result.mismatches


def test_a_failure_shows_expected_against_actual_and_the_tier_conditions(project):
    text = case("late", "2026-11-24 12:00", """
[case.expect.first_response]
tier = "tier2"
due = "2026-11-23 11:00"
status = "met"
""", extra='  { at = "2026-11-23 11:30", type = "activity", channel = "call", by = "rep@example.com" },\n')
    (result,) = run(project, text).results
    assert result.status == FAIL
    got = {(m.field, m.expected, m.actual) for m in result.mismatches}
    assert got == {("tier", "tier2", "tier1"), ("status", "met", "met_late")}
    assert any("tier tier1? `lead_score >= 80 and director_plus` (lead_score=90, director_plus=True) → yes" in line
               for line in result.trace)
    assert result.trace[0].startswith("2026-11-23 09:00:00 EST")  # local time, like the test file
    assert not any("[inbound/cadence]" in line for line in result.trace)  # only the failing window's lines


def test_breached_matches_a_clock_met_late(project):
    text = case("late", "2026-11-24 12:00", '[case.expect.first_response]\nstatus = "breached"\nmet_late = true\n',
                extra='  { at = "2026-11-23 11:30", type = "activity", channel = "call", by = "rep@example.com" },\n')
    assert run(project, text).results[0].status == PASS


def test_escalations_fired_are_compared_as_level_and_action(project):
    text = case("no contact", "2026-11-25 12:00", """
[case.expect.first_response]
status = "breached"
escalations = [
  "at warning: notify owner via email",
  "on breach: notify manager via email",
  "every 24h after breach: notify cro via email",
  "every 24h after breach: notify cro via email",
]
""")
    (result,) = run(project, text).results
    assert result.status == PASS, result.mismatches
    text = text.replace('  "every 24h after breach: notify cro via email",\n', "", 1)
    (result,) = run(project, text).results
    (mismatch,) = result.mismatches
    assert mismatch.field == "escalations"
    assert mismatch.actual.count("every 24h after breach: notify cro via email") == 2


def test_each_row_is_a_test_of_its_own(project):
    text = """
[[case]]
name = "tiers"
as_of = "2026-11-20 17:00"
events = [{ at = "2026-11-20 16:30", type = "created" }]
[[case.rows]]
lead = { lead_score = 90 }
expect.first_response = { tier = "tier1", due = "2026-11-23 10:30" }
[[case.rows]]
lead = { lead_score = 70 }
expect.first_response = { tier = "tier2", due = "2026-11-21 16:30" }
[[case.rows]]
lead = { lead_score = 10, form = "demo_request" }
expect.first_response = { tier = "none", status = "not_applicable" }
[[case.rows]]
name = "a wrong row"
lead = { lead_score = 70 }
expect.first_response = { tier = "tier1" }
"""
    results = run(project, text).results
    assert [(r.name, r.status) for r in results] == [
        ("tiers [lead_score=90]", PASS), ("tiers [lead_score=70]", PASS),
        ("tiers [lead_score=10, form=demo_request]", PASS),
        ("tiers [a wrong row]", FAIL),
    ]
    assert [r.name for r in run(project, text, pattern="wrong").results] == ["tiers [a wrong row]"]


def test_not_started_expects_no_clock(project):
    text = """
[[case]]
name = "not an mql"
as_of = "2026-11-20 17:00"
events = [{ at = "2026-11-20 16:30", type = "created", lead_score = 10 }]
expect.first_response.status = "not_started"
expect.cadence.status = "not_started"
"""
    assert run(project, text).results[0].status == PASS
    (result,) = run(project, text.replace("lead_score = 10", "lead_score = 90")).results
    assert [(m.field, m.expected, m.actual) for m in result.mismatches] == [
        ("status", "not_started", "running")]


def test_a_recycled_lead_is_checked_cycle_by_cycle(project):
    extra = ('  { at = "2026-11-23 09:30", type = "activity", channel = "call", by = "rep@example.com" },\n'
             '  { at = "2026-11-24 09:00", type = "disposition", disposition = "recycled", reason = "timing" },\n'
             '  { at = "2026-11-30 09:00", type = "updated", lead_score = 95 },\n')
    text = case("recycled", "2026-11-30 09:30", """
[[case.expect.first_response]]
status = "met"
[[case.expect.first_response]]
status = "running"
started = "2026-11-30 09:00"
""", extra=extra) + '[case.expect]\nstages = { mql = ["2026-11-23 09:00", "2026-11-30 09:00"] }\n'
    (result,) = run(project, text).results
    assert result.status == PASS, result.mismatches


def test_stage_expectations(project):
    text = case("stages", "2026-11-24 12:00", '[case.expect]\nstages = ["mql"]\n')
    assert run(project, text).results[0].status == PASS
    (result,) = run(project, text.replace('["mql"]', "{ mql = false }")).results
    assert [(m.field, m.expected, m.actual) for m in result.mismatches] == [
        ("mql", "never entered", "entered 2026-11-23 09:00 EST")]


def test_target_values_are_judged_over_every_lead_of_the_case(project):
    text = """
[[case]]
name = "one of two contacted in time"
as_of = "2026-11-27 12:00"
lead_id = "fast"
lead = { lead_score = 90 }
events = [
  { at = "2026-11-23 09:00", type = "created" },
  { at = "2026-11-23 09:00", type = "assigned", owner = "rep@example.com" },
  { at = "2026-11-23 09:30", type = "activity", channel = "call", by = "rep@example.com" },
  { at = "2026-11-23 09:00", type = "created", lead_id = "slow", lead_score = 90, seniority = "vp" },
  { at = "2026-11-23 09:00", type = "assigned", lead_id = "slow", owner = "rep@example.com" },
]
[case.expect.first_response]
status = "met"
[case.expect.slow]
[case.expect.targets.contact_rate]
period = "2026-W48"
value = 50
status = "missed"
sample = 2
"""
    text = text.replace("[case.expect.slow]\n", '[case.expect."inbound/first_response"]\nlead_id = "slow"\n'
                                                 'status = "breached"\n')
    (result,) = run(project, text).results
    assert result.status == PASS, result.mismatches
    (result,) = run(project, text.replace("value = 50", 'value = "100%"')).results
    assert [(m.field, m.expected, m.actual) for m in result.mismatches] == [("value", "100%", "50%")]


def test_unknown_names_are_errors_that_point_at_the_line(project):
    text = case("typo", "2026-11-24 12:00", '[case.expect.first_respnse]\nstatus = "met"\n')
    (result,) = run(project, text).results
    assert result.status == ERROR
    assert ":16: case 'typo': no window named 'first_respnse' (did you mean 'first_response'?" in result.error


def test_a_broken_policy_set_makes_its_cases_errors(project):
    (project / "policies" / "broken.sla").write_text("policy broken {\n  tier x when nosuchfield > 1\n}\n")
    (result,) = run(project, case("x", "2026-11-24 12:00", "")).results
    assert result.status == ERROR
    assert "run `sla-engine check`" in result.error


def test_coverage_counts_what_the_cases_exercised(project):
    text = case("breach", "2026-11-25 12:00", '[case.expect.first_response]\nstatus = "breached"\n')
    (coverage,) = run(project, text).coverage
    missing = {item.label for item in coverage.missing}
    assert missing == {"inbound: tier tier2", "inbound: target contact_rate"}  # a tier 1 lead; no target checked
    assert coverage.by_kind()["definition"] == (1, 1)
    assert coverage.by_kind()["escalation"] == (3, 3)
    assert 0 < coverage.percent < 100


def test_a_failure_trace_shows_when_the_warning_and_each_escalation_level_fall(project):
    # Tier 1 from Mon 09:00: warning 10:30, breach 11:00, reminders every 24h after (Tue and Wed 11:00).
    text = case("never called", "2026-11-25 12:00", '[case.expect.first_response]\nstatus = "met"\n')
    (result,) = run(project, text).results
    assert result.status == FAIL
    falls = [line for line in result.trace if " falls" in line]
    assert falls == [
        "2026-11-23 10:30:00 EST  [inbound/first_response] cycle 1: warning falls",
        "2026-11-23 10:30:00 EST  [inbound/first_response] cycle 1: escalate at warning falls due",
        "2026-11-23 11:00:00 EST  [inbound/first_response] cycle 1: escalate on breach falls due",
        "2026-11-24 11:00:00 EST  [inbound/first_response] cycle 1: escalate every 24h after breach falls due",
        "2026-11-25 11:00:00 EST  [inbound/first_response] cycle 1: escalate every 24h after breach (repeat 2) "
        "falls due",
        "2026-11-26 11:00:00 EST  [inbound/first_response] cycle 1: escalate every 24h after breach (repeat 3) "
        "falls after the as-of; quiet hours move it to Fri 2026-11-27 09:00: not due yet",
    ]
    assert result.trace.index(falls[0]) < result.trace.index(
        next(line for line in result.trace if "breached" in line))  # in time order among the events


def test_a_definition_only_a_target_reads_is_covered_when_a_case_checks_that_target(project):
    from tests.policytest.helpers import PROJECT_POLICY

    demo_target = ('  target demo_contact {\n    metric met rate of first_response\n    where asked_for_demo\n'
                   '    period week\n    goal >= 90%\n  }\n}\n')
    policy = 'define asked_for_demo = form == "demo_request"\n' + PROJECT_POLICY.rstrip()[:-1] + demo_target
    (project / "policies" / "inbound.sla").write_text(policy, encoding="utf-8")
    unchecked = case("breach", "2026-11-25 12:00", '[case.expect.first_response]\nstatus = "breached"\n')
    (coverage,) = run(project, unchecked).coverage
    assert "define asked_for_demo" in {item.label for item in coverage.missing}
    checked = unchecked + '[case.expect.targets.demo_contact]\nperiod = "2026-W48"\nstatus = "no data"\n'
    (coverage,) = run(project, checked).coverage
    assert "define asked_for_demo" not in {item.label for item in coverage.missing}
    assert "inbound: target demo_contact" not in {item.label for item in coverage.missing}
