"""The reference evaluator on its own gives the issue's worked examples (docs/semantics.md by hand), so its
agreement with the engine means something: the two are not wrong together on these."""

from __future__ import annotations

from datetime import timedelta

from sla_engine.events import LeadEvent
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set
from tests.engine.test_evaluate import activity, assigned, at, deleted, disposition, status, updated
from tests.engine.test_timelines import EIGHT_HOURS, NEW_REP, REP, created, recycled_and_back, z
from tests.reference.histories import SHIPPED, engine_for, engine_verdict, reference_for


def first_response(events: list[LeadEvent], as_of, window: str = "inbound_tiered|first_response"):
    verdict = reference_for(SHIPPED).evaluate(events, as_of)
    rows = [row for key, row in sorted(verdict["instances"].items()) if key.startswith(window + "|")]
    actions = {key: due for key, due in verdict["actions"].items() if key.startswith(window + "|")}
    return rows, actions


def test_a_recycle_ends_a_breached_cycle_and_the_comeback_opens_cycle_2():
    (first, second), _ = first_response(recycled_and_back(), z(10, 30, 18))
    assert (first["status"], first["stopped_at"], first["cancelled_reason"]) == ("breached", None, "recycled")
    assert (second["cycle"], second["started_at"], second["status"]) == (2, z(10, 1, 14), "met")


def test_a_deleted_leads_breached_clock_is_not_stopped_by_later_activity():
    events = [created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)), deleted("L1", z(9, 5, 15)),
              activity("L1", z(9, 8, 15))]
    (only,), _ = first_response(events, z(10, 30, 18))
    assert (only["status"], only["stopped_at"], only["met_late"]) == ("breached", None, False)


def test_a_breached_clock_ended_by_a_delete_stops_counting_elapsed_time_there():
    events = [created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)), deleted("L1", z(9, 5, 15))]
    (soon,), _ = first_response(events, z(9, 10, 18))
    (later,), _ = first_response(events, z(10, 30, 18))
    assert soon["ended_at"] == later["ended_at"] == z(9, 5, 15)
    assert soon["elapsed"] == later["elapsed"] > 0
    # The engine (and the timing the store's rows get) agrees: elapsed ends at the delete.
    engine = [engine_verdict(engine_for(SHIPPED), events, as_of)["instances"]["inbound_tiered|first_response|1"]
              for as_of in (z(9, 10, 18), z(10, 30, 18))]
    assert engine[0]["ended_at"] == engine[1]["ended_at"] == z(9, 5, 15)
    assert abs(engine[0]["elapsed"] - soon["elapsed"]) < 1e-3 and engine[0]["elapsed"] == engine[1]["elapsed"]


def test_a_contact_made_while_paused_is_met():
    events = [created(z(9, 15, 14)), assigned("L1", z(9, 15, 14, 1)), status("L1", z(9, 15, 15), "Nurture"),
              activity("L1", z(9, 16, 16))]
    (only,), actions = first_response(events, z(9, 20, 12))
    assert (only["status"], only["due_at"]) == ("met", z(9, 17, 15))
    assert actions == {}


def test_a_tier_change_re_measures_the_pause_on_the_new_calendar():
    events = [created(at(16, 9), seniority="director", target_account=True), assigned("L1", at(16, 9, 1)),
              status("L1", at(16, 10, 30), "Nurture"), status("L1", at(16, 20, 30), "Working"),
              updated("L1", at(17, 9), lead_score=90)]
    (only,), _ = first_response(events, at(17, 9, 15))
    assert (only["tier"], only["due_at"]) == ("tier1", at(17, 9, 30))


def test_a_pause_after_a_breach_leaves_elapsed_time():
    events = [created(z(9, 1, 14)), assigned("L1", z(9, 1, 14, 5)), status("L1", z(9, 2, 18), "Nurture"),
              status("L1", z(9, 3, 4), "Working"), activity("L1", z(9, 3, 6))]
    (only,), _ = first_response(events, z(9, 4, 12))
    assert (only["status"], only["met_late"]) == ("breached", True)
    assert only["elapsed"] == timedelta(hours=30).total_seconds()


def test_the_warning_falls_at_75_percent_of_the_goals_business_time_and_not_while_paused():
    policy_set = build_policy_set([parse_text(EIGHT_HOURS, "t.sla")], {"t.sla": EIGHT_HOURS})
    events = [LeadEvent.build(source="t", lead_id="L1", type="created", occurred_at=at(16, 9),
                              payload={"attributes": {"owner": REP}}),
              status("L1", at(16, 14), "Nurture"), status("L1", at(17, 14, 30), "Working")]
    during = reference_for(policy_set).evaluate(events[:2], at(17, 14))
    assert during["actions"] == {}
    after = reference_for(policy_set).evaluate(events, at(17, 15, 45))
    (only,) = after["instances"].values()
    assert (only["due_at"], only["warning_at"]) == (at(18, 9, 30), at(17, 15, 30))
    assert list(after["actions"].values()) == [at(17, 15, 30)]


def test_a_disqualification_with_a_reason_meets_a_feedback_window_that_stops_on_a_reason():
    events = [created(z(9, 1, 14), country="AU", form="ebook", company_size=300, region="APAC"),
              assigned("L1", z(9, 1, 14, 5), owner=NEW_REP),
              disposition("L1", z(9, 1, 20), "disqualified", "not_icp")]
    (only,), _ = first_response(events, z(9, 3, 12), window="one_page|mql_feedback")
    assert (only["status"], only["stopped_at"]) == ("met", z(9, 1, 20))
