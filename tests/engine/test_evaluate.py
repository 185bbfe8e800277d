"""Scenarios for judging one lead: each reads as a rule of docs/semantics.md, with a fixed as-of."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla_engine.engine.evaluate import Evaluator
from sla_engine.events import LeadEvent
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set

NY = ZoneInfo("America/New_York")

POLICY = """
define director_plus = seniority in ["director", "vp", "c_level"]
stage mql when lead_score >= 65 or form == "demo_request"
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
  holidays "US"
}
team pool { members ["a@example.com", "b@example.com"] }
contact cro { email "cro@example.com" }

policy inbound {
  calendar office
  tier tier1 "Tier 1" when lead_score >= 80 and director_plus
  tier tier2 "Tier 2" when lead_score >= 65
  otherwise not covered

  window first_response {
    starts when becomes mql
    stops on activity by owner where direction == "outbound"
    pauses while status == "Nurture"
    goal tier1 2 business hours
    goal tier2 24h
    warn at 75%
    restarts on recycle
    escalate at warning { notify owner via email }
    escalate on breach { notify manager via email }
    escalate every 24h after breach quiet hours office { notify cro via email }
  }

  window cadence {
    starts on assigned
    stops when count(activity by owner since start) >= 3
      and count(distinct channel of activity by owner since start) >= 2
    goal 5 business days
  }
}
"""


def policy_set(text: str = POLICY):
    return build_policy_set([parse_text(text, "test.sla")], {"test.sla": text})


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A wall-clock instant in New York, November 2026 (the 20th is a Friday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def created(lead: str, t: datetime, **attributes) -> LeadEvent:
    attributes.setdefault("seniority", "director")
    return LeadEvent.build(source="t", lead_id=lead, type="created", occurred_at=t,
                           payload={"attributes": attributes})


def assigned(lead: str, t: datetime, owner: str = "rep@example.com") -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=lead, type="assigned", occurred_at=t,
                           payload={"owner": owner, "owner_manager": "boss@example.com"})


def activity(lead: str, t: datetime, by: str = "rep@example.com", channel: str = "call",
             direction: str = "outbound") -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=lead, type="activity", occurred_at=t,
                           payload={"channel": channel, "by": by, "direction": direction}, key=channel)


def updated(lead: str, t: datetime, **changes) -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=lead, type="updated", occurred_at=t,
                           payload={"changes": changes})


def status(lead: str, t: datetime, new: str) -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=lead, type="status_changed", occurred_at=t,
                           payload={"field": "status", "new": new})


def disposition(lead: str, t: datetime, value: str, reason: str | None = None) -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=lead, type="disposition", occurred_at=t,
                           payload={"disposition": value, "reason": reason})


def deleted(lead: str, t: datetime) -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=lead, type="deleted", occurred_at=t, payload={})


def judge(events, as_of, window="first_response", text=POLICY):
    result = Evaluator(policy_set(text)).evaluate("L1", events, as_of)
    return [i for i in result.instances if i.window == window], result


def tier1_lead(t: datetime) -> list[LeadEvent]:
    return [created("L1", t, lead_score=90), assigned("L1", t + timedelta(minutes=2))]


def test_business_hours_deadline_skips_the_weekend():
    (instance,), _ = judge(tier1_lead(at(20, 16, 30)), as_of=at(20, 17))
    assert instance.tier == "tier1"
    assert instance.due_at == at(23, 10, 30)
    assert instance.status == "running"


def test_contact_before_the_deadline_is_met():
    events = [*tier1_lead(at(20, 16, 30)), activity("L1", at(23, 10))]
    (instance,), _ = judge(events, as_of=at(24, 12))
    assert (instance.status, instance.stopped_at, instance.met_late) == ("met", at(23, 10), False)


def test_contact_by_someone_else_does_not_stop_the_clock():
    events = [*tier1_lead(at(20, 16, 30)), activity("L1", at(23, 10), by="other@example.com")]
    (instance,), _ = judge(events, as_of=at(23, 10, 15))
    assert instance.status == "running"


def test_a_late_contact_is_met_late_and_stays_breached():
    events = [*tier1_lead(at(20, 16, 30)), activity("L1", at(23, 11))]
    (instance,), _ = judge(events, as_of=at(24, 12))
    assert instance.status == "breached"
    assert instance.met_late is True
    assert instance.breached_at == at(23, 10, 30)


def test_no_contact_is_breached_once_the_deadline_passes():
    (before,), _ = judge(tier1_lead(at(20, 16, 30)), as_of=at(23, 10, 30))
    (after,), _ = judge(tier1_lead(at(20, 16, 30)), as_of=at(23, 10, 31))
    assert before.status == "running"
    assert after.status == "breached" and after.stopped_at is None


def test_tier2_goal_is_in_calendar_time():
    events = [created("L1", at(20, 16, 30), lead_score=70), assigned("L1", at(20, 16, 32))]
    (instance,), _ = judge(events, as_of=at(20, 17))
    assert instance.tier == "tier2"
    assert instance.due_at == at(21, 16, 30)


def test_a_lead_no_tier_covers_is_not_applicable():
    events = [created("L1", at(20, 10), form="demo_request", lead_score=10)]
    (instance,), result = judge(events, as_of=at(23, 10))
    assert instance.status == "not_applicable"
    assert not result.actions


def test_pause_extends_the_deadline_by_the_business_time_spent_paused():
    events = [*tier1_lead(at(23, 9)), status("L1", at(23, 10), "Nurture"), status("L1", at(23, 13), "Working")]
    (paused,), _ = judge(events[:3], as_of=at(24, 12))
    assert paused.status == "paused"
    (instance,), _ = judge(events, as_of=at(23, 13, 30))
    assert instance.status == "running"
    assert instance.due_at == at(23, 14)  # 2h goal + 3h paused from 09:00


def test_delete_before_the_deadline_cancels_and_after_it_keeps_the_breach():
    (cancelled,), _ = judge([*tier1_lead(at(23, 9)), deleted("L1", at(23, 10))], as_of=at(24, 9))
    assert (cancelled.status, cancelled.cancelled_reason) == ("cancelled", "deleted")
    (breached,), _ = judge([*tier1_lead(at(23, 9)), deleted("L1", at(23, 12))], as_of=at(24, 9))
    assert breached.status == "breached"


def test_disqualified_before_the_deadline_cancels():
    events = [*tier1_lead(at(23, 9)), disposition("L1", at(23, 9, 30), "disqualified", "student")]
    (instance,), _ = judge(events, as_of=at(24, 9))
    assert (instance.status, instance.cancelled_reason) == ("cancelled", "disqualified")


def test_warning_and_breach_escalations_fall_due_once_each():
    _, result = judge(tier1_lead(at(23, 9)), as_of=at(23, 10, 45))
    assert [(a.level, a.due_at) for a in result.actions] == [("at warning", at(23, 10, 30))]
    _, result = judge(tier1_lead(at(23, 9)), as_of=at(23, 12))
    assert [a.level for a in result.actions] == ["at warning", "on breach"]
    assert len({a.key for a in result.actions}) == 2


def test_a_clock_met_before_the_warning_escalates_nothing():
    _, result = judge([*tier1_lead(at(23, 9)), activity("L1", at(23, 9, 30))], as_of=at(30, 9))
    assert result.actions == []


def test_repeated_reminders_respect_quiet_hours():
    _, result = judge(tier1_lead(at(23, 9)), as_of=at(26, 12))
    reminders = [a for a in result.actions if a.level.startswith("every")]
    # Due Mon 11:00; reminders every 24h: Tue 11:00, Wed 11:00; Thu 26 Nov is Thanksgiving,
    # so the third moves to Fri 09:00, after as-of.
    assert [a.due_at for a in reminders] == [at(24, 11), at(25, 11)]
    assert result.next_check == at(27, 9)


def test_recycle_starts_a_new_cycle_when_the_lead_becomes_mql_again():
    events = [
        *tier1_lead(at(23, 9)), activity("L1", at(23, 9, 30)),
        disposition("L1", at(24, 9), "recycled", "timing"),
        updated("L1", at(30, 9), lead_score=95),
    ]
    instances, _ = judge(events, as_of=at(30, 9, 30))
    assert [(i.cycle, i.status) for i in instances] == [(1, "met"), (2, "running")]
    assert instances[1].started_at == at(30, 9)


def test_a_tier_change_retargets_and_keeps_elapsed_time():
    events = [created("L1", at(23, 9), lead_score=70), assigned("L1", at(23, 9, 1)),
              updated("L1", at(23, 10), lead_score=90)]
    (instance,), _ = judge(events, as_of=at(23, 10, 30))
    assert instance.tier == "tier1"
    assert instance.due_at == at(23, 11)


def test_counting_stop_needs_three_attempts_across_two_channels():
    base = [created("L1", at(23, 9), lead_score=90), assigned("L1", at(23, 9))]
    calls = [activity("L1", at(23, 10 + i), channel="call") for i in range(3)]
    (running,), _ = judge(base + calls, as_of=at(24, 9), window="cadence")
    assert running.status == "running"
    (met,), _ = judge(base + calls + [activity("L1", at(24, 9), channel="email")], as_of=at(24, 10),
                      window="cadence")
    assert (met.status, met.stopped_at) == ("met", at(24, 9))
    assert met.due_at == at(1, 9, month=12)  # 5 open days after Mon 23 Nov, skipping Thanksgiving


def test_out_of_order_input_gives_the_same_judgement():
    events = [*tier1_lead(at(20, 16, 30)), status("L1", at(23, 9), "Working"), activity("L1", at(23, 10)),
              disposition("L1", at(23, 12), "accepted")]
    expected = judge(events, as_of=at(24, 12))[1]
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    again = judge(shuffled, as_of=at(24, 12))[1]
    assert [i.as_row() for i in again.instances] == [i.as_row() for i in expected.instances]
    assert [a.key for a in again.actions] == [a.key for a in expected.actions]


def test_events_after_as_of_are_not_seen():
    events = [*tier1_lead(at(23, 9)), activity("L1", at(23, 10))]
    (instance,), _ = judge(events, as_of=at(23, 9, 30))
    assert instance.status == "running" and instance.stopped_at is None


def test_segment_scoping_skips_leads_outside_the_segment():
    text = POLICY.replace("calendar office\n  tier", 'calendar office\n  applies when region == "APAC"\n  tier', 1)
    instances, _ = judge(tier1_lead(at(23, 9)), as_of=at(24, 9), text=text)
    assert instances == []


@pytest.mark.parametrize("as_of_hour", [9, 10, 11, 12])
def test_explain_tells_the_deadline_in_the_calendars_words(as_of_hour):
    result = Evaluator(policy_set()).evaluate("L1", tier1_lead(at(20, 16, 30)), at(23, as_of_hour),
                                              explain=True)
    text = "\n".join(line.text(NY) for line in result.trace)
    assert ("2026-11-20 16:30:00 EST  [inbound/first_response] clock starts (cycle 1, tier tier1); "
            "2 business hours on office → due Mon 2026-11-23 10:30") in text
    assert "tier tier1? `lead_score >= 80 and director_plus` (lead_score=90, director_plus=True) → yes" in text


def test_a_trace_shows_every_instant_in_the_zone_it_is_read_in():
    # The clock runs on the New York office's hours; read in UTC, its stamp and its deadline agree.
    result = Evaluator(policy_set()).evaluate("L1", tier1_lead(at(20, 16, 30)), at(23, 12), explain=True)
    start = next(line for line in result.trace if "clock starts" in line.text())
    assert start.clock == ("inbound", "first_response")
    assert start.text().startswith("2026-11-20 21:30:00 UTC  [inbound/first_response] clock starts")
    assert start.text().endswith("→ due Mon 2026-11-23 15:30")
    assert start.text(ZoneInfo("Asia/Kolkata")).endswith("→ due Mon 2026-11-23 21:00")
    assert [line.at for line in result.trace] == sorted(line.at for line in result.trace)


def test_a_field_holding_a_json_object_never_matches_a_list():
    events = [created("L1", at(23, 9), lead_score=90, region={"name": "NA"}), assigned("L1", at(23, 9))]
    text = POLICY.replace("calendar office\n  tier", 'calendar office\n  applies when region in ["NA"]\n  tier', 1)
    instances, _ = judge(events, as_of=at(24, 9), text=text)
    assert instances == []


FEEDBACK = POLICY.replace("  window cadence {", """  window feedback {
    starts on assigned
    stops on disposition where reason is set
    goal 48h
    restarts on recycle
  }

  window cadence {""")


@pytest.mark.parametrize("value", ["disqualified", "recycled"])
def test_a_disposition_with_a_reason_meets_a_feedback_window_rather_than_cancelling_it(value):
    events = [*tier1_lead(at(23, 9)), disposition("L1", at(23, 15), value, "student")]
    (instance,), _ = judge(events, as_of=at(24, 9), window="feedback", text=FEEDBACK)
    assert (instance.status, instance.stopped_at) == ("met", at(23, 15))


def test_a_disqualification_without_a_reason_still_cancels_the_feedback_window():
    events = [*tier1_lead(at(23, 9)), disposition("L1", at(23, 15), "disqualified")]
    (instance,), _ = judge(events, as_of=at(24, 9), window="feedback", text=FEEDBACK)
    assert (instance.status, instance.cancelled_reason) == ("cancelled", "disqualified")


SHORT_FRIDAY = """
stage mql when lead_score >= 65
calendar office {
  timezone "America/New_York"
  hours mon-thu 09:00-17:00
  hours fri 09:00-13:00
}
policy inbound {
  calendar office
  window reply {
    starts when becomes mql
    stops on activity
    goal 1 business day
  }
}
"""


def test_business_days_ending_at_a_closing_land_at_the_next_opening_like_any_count():
    """Thu 13:00 + 1 business day is Friday 13:00, Friday's closing: the clock reads the whole day
    there and nothing is open before Monday, so the deadline is Monday 09:00 and a Saturday reply
    is in time (docs/semantics.md, Deadline: due = add(base, P), also when P is zero)."""
    events = [created("L1", at(19, 13), lead_score=70), activity("L1", at(21, 10))]
    (instance,), _ = judge(events, as_of=at(23, 12), window="reply", text=SHORT_FRIDAY)
    assert instance.due_at == at(23, 9)
    assert (instance.status, instance.stopped_at) == ("met", at(21, 10))
