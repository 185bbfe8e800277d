"""A policy judges nothing before it takes effect (docs/semantics.md, Effective date).

The policy below takes effect on Wednesday 18 November 2026, local midnight in New York
(05:00 UTC). All times are New York.
"""

from __future__ import annotations

from sla_engine.engine.evaluate import Evaluator
from tests.engine.test_evaluate import POLICY, assigned, at, created, disposition, policy_set, updated

EFFECTIVE = POLICY.replace("policy inbound {\n",
                           'policy inbound {\n  effective 2026-11-18\n  timezone "America/New_York"\n')
LATER = at(30, 12)


def judge(events, as_of=LATER, text=EFFECTIVE):
    result = Evaluator(policy_set(text)).evaluate("L1", events, as_of)
    return {(i.window, i.cycle): i for i in result.instances}, result.actions


def test_a_clock_that_would_start_before_the_effective_date_does_not_start():
    clocks, actions = judge([created("L1", at(17, 10), lead_score=90), assigned("L1", at(17, 10, 2))])
    assert clocks == {} and actions == []  # no instance, no breach, no escalation two weeks later
    # The same history under the policy without a date: a breached clock and its escalations.
    clocks, actions = judge([created("L1", at(17, 10), lead_score=90), assigned("L1", at(17, 10, 2))], text=POLICY)
    assert clocks[("first_response", 1)].status == "breached" and actions


def test_a_clock_starting_exactly_at_the_effective_instant_starts():
    clocks, _ = judge([created("L1", at(18, 0), lead_score=90)], as_of=at(18, 1))
    assert clocks[("first_response", 1)].started_at == at(18, 0)


def test_the_effective_instant_is_local_midnight_in_the_policy_zone():
    # 23:59 on the 17th in New York is already the 18th in UTC: still before the date.
    clocks, _ = judge([created("L1", at(17, 23, 59), lead_score=90)], as_of=at(18, 1))
    assert clocks == {}


def test_events_before_the_date_still_build_the_lead():
    # Created (a director) before the date, scored into tier 1 after it: the clock starts then, in tier 1.
    events = [created("L1", at(16, 10), lead_score=40), assigned("L1", at(16, 10, 5)),
              updated("L1", at(19, 10), lead_score=90)]
    clocks, _ = judge(events, as_of=at(19, 11))
    first = clocks[("first_response", 1)]
    assert (first.started_at, first.tier, first.due_at) == (at(19, 10), "tier1", at(19, 12))


def test_an_mql_from_before_the_date_is_owed_nothing_until_it_becomes_one_again():
    before = [created("L1", at(16, 10), lead_score=90), assigned("L1", at(16, 10, 5))]
    clocks, _ = judge([*before, updated("L1", at(19, 10), lead_score=95)], as_of=at(19, 11))
    assert ("first_response", 1) not in clocks  # still the MQL it became on the 16th: no new start
    recycled = [*before, disposition("L1", at(19, 10), "recycled"), updated("L1", at(20, 10), lead_score=95)]
    clocks, _ = judge(recycled, as_of=at(20, 11))
    first = clocks[("first_response", 1)]  # the first clock after the date is cycle 1
    assert first.started_at == at(20, 10) and ("first_response", 2) not in clocks


def test_an_event_start_before_the_date_starts_nothing_and_one_after_it_does():
    events = [created("L1", at(17, 9), lead_score=40), assigned("L1", at(17, 10))]
    clocks, _ = judge(events, as_of=at(19, 11))
    assert ("cadence", 1) not in clocks
    clocks, _ = judge([*events, assigned("L1", at(19, 10), owner="other@example.com")], as_of=at(19, 11))
    assert clocks[("cadence", 1)].started_at == at(19, 10)


def test_the_trace_says_why_no_clock_started():
    evaluator = Evaluator(policy_set(EFFECTIVE))
    result = evaluator.evaluate("L1", [created("L1", at(17, 10), lead_score=90)], at(17, 11), explain=True)
    words = [" ".join(str(part) for part in line.parts) for line in result.trace]
    assert any("the policy takes effect only at" in text for text in words), words
