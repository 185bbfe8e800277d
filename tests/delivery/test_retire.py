"""Rows nobody needs any more are retired, not sent: obsolete when the window closed first, expired when old."""

from __future__ import annotations

from datetime import timedelta

from sla_engine.delivery.deliver import deliver, obsolete_reason
from sla_engine.delivery.recipients import load_people
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from tests.delivery.conftest import POLICY, evaluated_store, lead_events, make_policy_set
from tests.delivery.test_outbox import Recorder, addresses, channels  # noqa: F401  (autouse addresses)
from tests.engine.test_evaluate import activity, at

NOW = at(17, 11, 30)  # the first response was due at 11:01; nobody called
REMINDING = POLICY.replace("    escalate 2h after breach {", "    escalate every 10m after breach {\n"
                           "      notify owner via email\n    }\n    escalate 2h after breach {")


def statuses(store) -> dict[str, str]:
    return {r["key"]: r["status"] for r in store.outbox.rows()}


def late_call(store, text: str, t, as_of) -> None:
    """The owner's call at ``t`` arrives only now, in a later evaluate run."""
    evaluate_run(make_policy_set(text), store, [("t", iter([activity("L0", t, by="rep0@example.com")]))], as_of)


def test_a_call_that_arrives_late_but_came_before_the_deadline_makes_every_action_obsolete(tmp_path):
    store = evaluated_store(tmp_path, leads=1)
    assert set(statuses(store).values()) == {"pending"}
    late_call(store, POLICY, at(17, 10, 30), NOW + timedelta(minutes=1))
    rec = Recorder()
    report = deliver(make_policy_set(), store, NOW + timedelta(minutes=2), notifiers=channels(rec))
    assert rec.sent == [] and report.sent == 0 and report.obsolete == 3
    assert set(statuses(store).values()) == {"obsolete"}
    assert all("before this came due" in r["detail"] for r in store.outbox.rows())


def test_reminders_of_a_window_met_before_delivery_are_obsolete_but_the_breach_notice_goes(tmp_path):
    store = evaluated_store(tmp_path, leads=1, text=REMINDING)  # reminders at 11:11 and 11:21 are due too
    late_call(store, REMINDING, at(17, 11, 15), NOW + timedelta(minutes=1))  # met late, at 11:15
    rec = Recorder()
    report = deliver(make_policy_set(REMINDING), store, NOW + timedelta(minutes=2), notifiers=channels(rec))
    by_level = {(r["level"], r["due_at"][11:16]): (r["status"], r["detail"]) for r in store.outbox.rows()}
    reminders = {k: v for k, v in by_level.items() if k[0].startswith("every")}
    assert [v[0] for v in reminders.values()] == ["obsolete", "obsolete"]
    assert "before this went out" in reminders[("every 10m after breach", "16:11")][1]  # due 11:11 New York
    assert "before this came due" in reminders[("every 10m after breach", "16:21")][1]
    assert {v[0] for k, v in by_level.items() if k[0] == "on breach"} == {"sent"}
    assert report.sent == 3 and report.obsolete == 2 and len(rec.sent) == 3


def test_reassignment_and_task_of_a_window_met_before_delivery_are_obsolete_the_field_change_is_not():
    row = {"lead_id": "L0", "due_at": "2026-11-17T18:01:00+00:00", "action": {"action": "reassign"}}
    met_later = {"status": "breached", "stopped_at": "2026-11-17T18:30:00+00:00"}
    assert "before this went out" in obsolete_reason(row, met_later, "after_breach")
    assert "before this went out" in obsolete_reason({**row, "action": {"action": "task"}}, met_later, "after_breach")
    assert obsolete_reason({**row, "action": {"action": "set"}}, met_later, "after_breach") is None
    assert obsolete_reason({**row, "action": {"action": "notify"}}, met_later, "breach") is None
    assert obsolete_reason({**row, "action": {"action": "notify"}}, met_later, "warning") is not None
    assert obsolete_reason(row, {"status": "running", "stopped_at": None}, "after_breach") is None
    assert "no longer exists" in obsolete_reason(row, None, "after_breach")
    target = {"lead_id": "", "due_at": row["due_at"], "action": {"action": "notify", "target": {"target": "t"}}}
    assert obsolete_reason(target, None, "missed") is None


def test_a_first_run_over_old_history_expires_what_is_older_than_the_maximum_age(tmp_path):
    store = evaluated_store(tmp_path, leads=2)
    rec = Recorder()
    much_later = NOW + timedelta(days=3)
    report = deliver(make_policy_set(), store, much_later, notifiers=channels(rec), max_age=timedelta(days=1),
                     dry_run=True)
    assert report.expired == 6 and report.planned == [] and set(statuses(store).values()) == {"pending"}
    report = deliver(make_policy_set(), store, much_later, notifiers=channels(rec), max_age=timedelta(days=1))
    assert report.expired == 6 and rec.sent == []
    assert set(statuses(store).values()) == {"expired"}
    assert {r["detail"] for r in store.outbox.rows() if r["lead_id"] == "L0"} == {
        "due 2026-11-17T16:01, more than 1d before delivery (2026-11-20T16:30)"}
    fresh = evaluated_store(tmp_path / "fresh", leads=2)
    kept = deliver(make_policy_set(), fresh, much_later, notifiers=channels(Recorder()), max_age=None)
    assert kept.expired == 0 and kept.sent == 6


def test_age_counts_from_when_a_deferred_row_was_allowed_to_go(tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("id,name,email,calendar\nrep0@example.com,Rep Zero,rep0@example.com,office\n")
    store = Store(tmp_path / "sla.db")
    evaluate_run(make_policy_set(), store, [("t", iter(lead_events(1, start=at(20, 16))))], at(20, 17, 30))
    rec = Recorder()
    friday = deliver(make_policy_set(), store, at(20, 17, 30), notifiers=channels(rec), people=load_people(people))
    assert friday.deferred == 1 and friday.messages == 2  # the owner's hours are over; the CRO's notices go
    monday = deliver(make_policy_set(), store, at(23, 9, 5), notifiers=channels(rec), people=load_people(people),
                     max_age=timedelta(hours=12))  # due 64 hours ago, allowed to go 5 minutes ago
    assert monday.expired == 0 and monday.messages == 1 and rec.sent[-1].address == "rep0@example.com"
