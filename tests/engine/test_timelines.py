"""Realistic lead histories, mostly under the shipped policies (inbound_tiered, regional_na):
recycles, pauses around a breach, tier changes after a pause, warnings around a pause. Each reads as a rule of
docs/semantics.md; the instants are worked out by hand in the comments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

from sla_engine.engine.calendar import CALENDAR_TIME
from sla_engine.engine.clock import elapsed_business
from sla_engine.engine.evaluate import Evaluator
from sla_engine.events import LeadEvent
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set, load_policy_set
from tests.engine.test_evaluate import NY, activity, assigned, at, deleted, disposition, status, updated

ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc
REP, NEW_REP = "rep@example.com", "new.rep@example.com"


@cache
def shipped() -> Evaluator:
    return Evaluator(load_policy_set([ROOT / "policies"]))


def z(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def created(t: datetime, **changes) -> LeadEvent:
    """A North American Tier 2 MQL (score 70, a manager at a qualified company) unless told otherwise."""
    attributes = {"region": "NA", "lead_score": 70, "seniority": "manager", "company_size": 300,
                  "industry": "Software", "target_account": False, **changes}
    return LeadEvent.build(source="t", lead_id="L1", type="created", occurred_at=t,
                           payload={"attributes": attributes})


def judge(events: list[LeadEvent], as_of: datetime, policy: str = "inbound_tiered",
          window: str = "first_response"):
    result = shipped().evaluate("L1", events, as_of)
    instances = [i for i in result.instances if (i.policy, i.window) == (policy, window)]
    actions = [a for a in result.actions if (a.policy, a.window) == (policy, window)]
    return instances, actions


def recycled_and_back() -> list[LeadEvent]:
    """Tier 2, never contacted (breached 09-02 14:00Z), recycled 09-05, back as New 10-01, called by the new owner."""
    return [
        created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)),
        disposition("L1", z(9, 5, 15), "recycled", "no_response"),
        status("L1", z(10, 1, 14), "New"), assigned("L1", z(10, 1, 14, 10), owner=NEW_REP),
        activity("L1", z(10, 1, 15), by=NEW_REP),
    ]


def test_a_recycle_ends_a_breached_cycle_for_good_and_the_comeback_opens_cycle_2():
    (first, second), actions = judge(recycled_and_back(), as_of=z(10, 30, 18))
    assert (first.status, first.stopped_at, first.met_late) == ("breached", None, False)
    assert first.cancelled_reason == "recycled"
    assert (second.cycle, second.started_at, second.status) == (2, z(10, 1, 14), "met")
    assert second.stopped_at == z(10, 1, 15)
    # Cycle 1's levels all fell before the recycle; nothing falls for it after.
    assert {(a.cycle, a.level) for a in actions} == {(1, "at warning"), (1, "on breach"), (1, "4h after breach")}


def test_a_recycle_ends_the_breached_regional_clock_too():
    (first, second), _ = judge(recycled_and_back(), as_of=z(10, 30, 18), policy="regional_na",
                               window="na_first_contact")
    assert (first.status, first.stopped_at, first.cancelled_reason) == ("breached", None, "recycled")
    assert (second.started_at, second.status, second.stopped_at) == (z(10, 1, 14, 10), "met", z(10, 1, 15))


def test_the_recycled_stage_is_entered_at_the_recycle_and_mql_again_at_the_comeback():
    result = shipped().evaluate("L1", recycled_and_back(), z(10, 30, 18))
    entries = [(stage, t) for stage, t in result.stage_entries if stage in ("mql", "recycled")]
    assert entries == [("mql", z(9, 1, 14)), ("recycled", z(9, 5, 15)), ("mql", z(10, 1, 14))]


def test_a_deleted_or_disqualified_leads_breached_clock_stays_closed():
    for ending in (deleted("L1", z(9, 5, 15)), disposition("L1", z(9, 5, 15), "disqualified", "not_icp")):
        events = [created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)), ending, activity("L1", z(9, 8, 15))]
        (instance,), actions = judge(events, as_of=z(10, 30, 18))
        assert (instance.status, instance.stopped_at, instance.met_late) == ("breached", None, False)
        assert instance.cancelled_reason in ("deleted", "disqualified")
        assert all(a.due_at < z(9, 5, 15) for a in actions)


def test_a_contact_made_while_paused_is_met_and_escalates_nothing():
    # Due 09-16 14:00Z; paused from 09-15 15:00Z until the call 09-16 16:00Z (25 h), which ends the
    # pause: the deadline moves to 09-17 15:00Z and the call is in time.
    events = [created(z(9, 15, 14)), assigned("L1", z(9, 15, 14, 1)), status("L1", z(9, 15, 15), "Nurture"),
              activity("L1", z(9, 16, 16))]
    (instance,), actions = judge(events, as_of=z(9, 20, 12))
    assert (instance.status, instance.met_late, instance.stopped_at) == ("met", False, z(9, 16, 16))
    assert instance.due_at == z(9, 17, 15)
    assert instance.paused_seconds == 25 * 3600
    assert actions == []


def test_a_tier_change_re_measures_the_paused_span_on_the_new_goals_calendar():
    # Tier 2 (24h) from Mon 09:00 New York, paused 10:30-20:30 (10 h; 5.5 business hours on
    # ny_office, 09-12 and 13-17); the score rises to 90 Tue 09:00: Tier 1, 2 business hours.
    # Mon 09:00 + 2 business hours = 11:00, + 5.5 = Tue 09:30.
    events = [created(at(16, 9), seniority="director", target_account=True), assigned("L1", at(16, 9, 1)),
              status("L1", at(16, 10, 30), "Nurture"), status("L1", at(16, 20, 30), "Working"),
              updated("L1", at(17, 9), lead_score=90)]
    (instance,), _ = judge(events, as_of=at(17, 9, 15))
    assert (instance.tier, instance.calendar, instance.status) == ("tier1", "ny_office", "running")
    assert instance.paused_seconds == 5.5 * 3600
    assert instance.due_at == at(17, 9, 30)


def test_a_pause_after_the_breach_leaves_elapsed_time_but_moves_no_deadline():
    # Due 09-02 14:00Z, breached; paused 09-02 18:00Z to 09-03 04:00Z (10 h); called 09-03 06:00Z.
    events = [created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)), status("L1", z(9, 2, 18), "Nurture"),
              status("L1", z(9, 3, 4), "Working"), activity("L1", z(9, 3, 6))]
    (instance,), actions = judge(events, as_of=z(9, 4, 12))
    assert (instance.status, instance.met_late, instance.due_at) == ("breached", True, z(9, 2, 14))
    assert instance.paused_seconds == 10 * 3600
    elapsed = elapsed_business(CALENDAR_TIME, instance.started_at, instance.stopped_at, instance.paused_seconds)
    assert elapsed == timedelta(hours=30)  # 40 h from start to stop, less 10 h paused
    # "4h after breach" falls at 18:00Z, the instant the pause begins: the clock is paused then.
    assert [a.level for a in actions if a.action_index == 0] == ["at warning", "on breach"]


def test_while_paused_after_a_breach_the_status_stays_breached():
    events = [created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)), status("L1", z(9, 2, 16), "Nurture")]
    (instance,), actions = judge(events, as_of=z(9, 3, 12))
    assert (instance.status, instance.paused_since) == ("breached", z(9, 2, 16))
    assert "4h after breach" not in [a.level for a in actions]


EIGHT_HOURS = """
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
}
policy day_goal {
  calendar office
  window first_response {
    starts on created
    stops on activity
    pauses while status == "Nurture"
    goal 8 business hours
    warn at 75%
    escalate at warning { notify owner via email }
  }
}
"""


def test_the_warning_falls_when_75_percent_of_the_goals_business_time_has_run():
    # Mon 09:00 New York, 8 business hours, paused Mon 14:00 - Tue 14:30 (8.5 business hours):
    # due Tue 09:00 + 8.5 h = Wed 09:30; 6 h of running time is Mon 09:00-14:00 plus Tue 14:30-15:30.
    evaluator = Evaluator(build_policy_set([parse_text(EIGHT_HOURS, "t.sla")], {"t.sla": EIGHT_HOURS}))
    events = [LeadEvent.build(source="t", lead_id="L1", type="created", occurred_at=at(16, 9),
                              payload={"attributes": {"owner": REP}}),
              status("L1", at(16, 14), "Nurture"), status("L1", at(17, 14, 30), "Working")]
    during = evaluator.evaluate("L1", events[:2], at(17, 14))
    assert during.actions == []  # the clock is paused: no level is due
    after = evaluator.evaluate("L1", events, at(17, 15, 45))
    (instance,) = after.instances
    assert (instance.due_at, instance.warning_at) == (at(18, 9, 30), at(17, 15, 30))
    assert [(a.level, a.due_at) for a in after.actions] == [("at warning", at(17, 15, 30))]
    before = evaluator.evaluate("L1", events, at(17, 15, 29))
    assert before.actions == []
    assert at(16, 9).tzinfo is NY


def test_a_second_recycle_in_a_row_does_not_open_a_cycle_the_comeback_does():
    """A `recycled` disposition, then the CRM's status "Recycled": two recycles. The lead was an MQL before
    both; the second must not count as entering MQL again (never at the recycle itself), the comeback does."""
    events = [
        created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)), activity("L1", z(9, 1, 15)),
        disposition("L1", z(9, 5, 15), "recycled", "no_response"), status("L1", z(9, 5, 15, 1), "Recycled"),
    ]
    (first,), _ = judge(events, as_of=z(9, 30, 18))
    assert (first.cycle, first.status) == (1, "met")
    comeback = [*events, status("L1", z(10, 1, 14), "New")]
    (_, second), _ = judge(comeback, as_of=z(10, 1, 14, 30))
    assert (second.cycle, second.started_at, second.status) == (2, z(10, 1, 14), "running")
