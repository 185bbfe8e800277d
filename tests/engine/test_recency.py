"""Recency: `count(... within D)` counts the events of the last D before each instant judged, so a
lead can stop qualifying as time passes, with no event at all (docs/semantics.md, Recency)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.events import LeadEvent
from sla_engine.language.check import check_policy_set
from sla_engine.language.fmt import format_source
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import PolicySet, build_policy_set

# "Engaged: two inbound touches in the last 7 days." The clock runs while the lead stays engaged.
POLICY = """\
stage engaged when count(activity where direction == "inbound" within 7d) >= 2

policy nurture {
  window engaged_follow_up {
    starts when becomes engaged
    stops when not engaged
    goal 30d
    restarts on recycle
  }
}
"""
MONDAY = datetime(2026, 11, 2, 12, tzinfo=UTC)


def policy_set(text: str = POLICY) -> PolicySet:
    return build_policy_set([parse_text(text, "p.sla")], {"p.sla": text})


def at(days: float) -> datetime:
    return MONDAY + timedelta(days=days)


def touch(n: int, days: float, direction: str = "inbound") -> LeadEvent:
    return LeadEvent(event_id=f"e{n}", lead_id="L1", occurred_at=at(days), source="test", type="activity",
                     payload={"channel": "email", "direction": direction})


CREATED = LeadEvent(event_id="e0", lead_id="L1", occurred_at=MONDAY, source="test", type="created",
                    payload={"attributes": {}})


def judge(events: list[LeadEvent], as_of: datetime, text: str = POLICY) -> LeadResult:
    return Evaluator(policy_set(text)).evaluate("L1", [CREATED, *events], as_of)


def test_two_touches_within_seven_days_enter_the_stage_at_the_second():
    result = judge([touch(1, 1), touch(2, 3)], at(4))
    assert result.stage_entries == [("engaged", at(3))]
    assert [(i.status, i.started_at) for i in result.instances] == [("running", at(3))]


def test_touches_further_apart_than_the_span_never_count_together():
    assert judge([touch(1, 1), touch(2, 8)], at(9)).stage_entries == []
    # Exactly seven days apart: the first has just left the span when the second comes.
    assert judge([touch(1, 1), touch(2, 8)], at(8)).stage_entries == []


def test_a_lead_stops_qualifying_when_a_touch_leaves_the_span_with_no_event_at_all():
    events = [touch(1, 1), touch(2, 3)]
    just_before = judge(events, at(8) - timedelta(seconds=1))
    assert [i.status for i in just_before.instances] == ["running"]
    assert just_before.next_check == at(8)  # the first touch leaves the span then: judge the lead again
    at_expiry = judge(events, at(8))
    assert [(i.status, i.stopped_at) for i in at_expiry.instances] == [("met", at(8))]
    assert at_expiry.stage_entries == [("engaged", at(3))]  # the entry stays: it happened


def test_a_stage_left_as_time_passed_is_entered_again_when_it_holds_again():
    result = judge([touch(1, 1), touch(2, 3), touch(3, 12), touch(4, 13)], at(14))
    assert result.stage_entries == [("engaged", at(3)), ("engaged", at(13))]


def test_an_event_at_the_very_instant_a_touch_leaves_is_judged_with_it_gone():
    # The second touch's span ends at day 10; the third touch lands exactly then.
    result = judge([touch(1, 1), touch(2, 3), touch(3, 10)], at(11))
    # Day 8: the first leaves (not engaged); day 10: the second leaves as the third comes: one in span.
    assert result.stage_entries == [("engaged", at(3))]


def test_the_next_check_is_the_first_instant_a_counted_event_leaves_its_span():
    result = judge([touch(1, 1), touch(2, 3, direction="outbound")], at(4))
    assert result.next_check == at(8)


def test_a_span_in_business_time_and_a_zero_span_are_refused():
    text = """\
define a = count(activity within 2 business days) >= 1
define b = count(activity within 0h) >= 1
"""
    found = [(d.code, d.pos.line, d.pos.column) for d in check_policy_set(policy_set(text))]
    assert found == [("E218", 1, 34), ("E207", 2, 34)]


def test_fmt_spells_within_canonically_and_is_stable():
    text = 'define engaged = count(activity where direction == "inbound" since mql within 7 days) >= 2\n'
    once = format_source(text)
    assert once == 'define engaged = count(activity where direction == "inbound" since mql within 7d) >= 2\n'
    assert format_source(once) == once
