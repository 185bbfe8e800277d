"""A policy change re-judges only the rules it changed and the leads they touch, and ends where a
re-judge of every lead ends."""

from __future__ import annotations

from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from tests.engine.test_evaluate import POLICY, assigned, at, created, policy_set
from tests.language.test_fingerprints import WITH_TARGET
from tests.test_runner import history, snapshot

AS_OF = at(24, 12)


def events() -> list:
    """Twelve leads with both clocks, three assigned but never MQL (cadence only), three with neither."""
    quiet = [created(f"Q{n}", at(20, 10 + n), lead_score=30) for n in range(6)]
    assigned_only = [assigned(f"Q{n}", at(20, 11 + n)) for n in range(3)]
    return history(12) + quiet + assigned_only


def judged_into(store: Store, text: str) -> None:
    evaluate_run(policy_set(text), store, [("test", iter(events()))], AS_OF)


def full_rejudge(path, before: str, after: str):
    """What re-judging every lead gives: a store that has no fingerprints to go by."""
    reference = Store(path)
    judged_into(reference, before)
    reference.worklist.save_fingerprints({})
    report = evaluate_run(policy_set(after), reference, [], AS_OF)
    return reference, report


def test_a_changed_goal_rejudges_only_its_window_and_the_leads_that_have_one(tmp_path):
    store = Store(tmp_path / "s.db")
    judged_into(store, POLICY)
    before = {row["key"]: row for row in store.instances.rows()}
    with_first_response = {row["lead_id"] for row in before.values() if row["window"] == "first_response"}
    leads = {row["lead_id"] for row in before.values()}
    assert len(with_first_response) == 12 and len(leads) == 15  # three leads have a cadence clock only
    text = POLICY.replace("goal tier1 2 business hours", "goal tier1 30m")
    report = evaluate_run(policy_set(text), store, [], AS_OF)
    assert report.leads_evaluated == len(with_first_response)
    after = {row["key"]: row for row in store.instances.rows()}
    written = {key for key, row in after.items() if row["updated_run"] == report.run_id}
    assert written and {after[key]["window"] for key in written} == {"first_response"}
    assert all(after[key] == row for key, row in before.items() if row["window"] == "cadence")  # untouched
    reference, everything = full_rejudge(tmp_path / "reference.db", POLICY, text)
    assert everything.leads_evaluated == 18
    assert snapshot(store) == snapshot(reference)
    assert store.instances.status_counts() == reference.instances.status_counts()


def test_a_changed_start_rejudges_every_lead_it_could_reach(tmp_path):
    store = Store(tmp_path / "s.db")
    judged_into(store, POLICY)
    text = POLICY.replace("starts on assigned", "starts on created")
    report = evaluate_run(policy_set(text), store, [], AS_OF)
    assert report.leads_evaluated == 18  # the quiet leads too: now their creation starts a clock
    reference, _ = full_rejudge(tmp_path / "reference.db", POLICY, text)
    assert snapshot(store) == snapshot(reference)


def test_a_changed_target_rejudges_no_lead_and_judges_the_targets(tmp_path):
    store = Store(tmp_path / "s.db")
    judged_into(store, WITH_TARGET)
    text = WITH_TARGET.replace("goal >= 10", "goal >= 12")
    report = evaluate_run(policy_set(text), store, [], AS_OF)
    assert report.leads_evaluated == 0 and not report.full
    assert store.worklist.state("targets_pending") is None  # judged in this run


def test_moving_a_rule_or_editing_a_comment_rejudges_nothing(tmp_path):
    store = Store(tmp_path / "s.db")
    judged_into(store, POLICY)
    text = POLICY.replace("policy inbound {", "# reviewed with sales ops\npolicy inbound {")
    report = evaluate_run(policy_set(text), store, [], AS_OF)
    assert report.policy_hash != policy_set(POLICY).content_hash and report.leads_evaluated == 0


def test_an_effective_date_given_later_removes_the_unfinished_clocks_that_started_before_it(tmp_path):
    store = Store(tmp_path / "s.db")
    judged_into(store, POLICY)  # every clock starts between 16 and 23 November
    finished = {row["key"] for row in store.instances.rows() if row["status"] in ("met", "cancelled", "not_applicable")}
    text = POLICY.replace("policy inbound {\n",
                          'policy inbound {\n  effective 2026-11-25\n  timezone "America/New_York"\n')
    report = evaluate_run(policy_set(text), store, [], AS_OF)
    assert report.leads_evaluated == 18  # the date decides which leads get a clock: every lead is judged again
    # Finished judgements stay (docs/semantics.md, Policy changes); a clock still running or breached is owed nothing.
    assert finished and {row["key"] for row in store.instances.rows()} == finished
    fresh = Store(tmp_path / "fresh.db")
    judged_into(fresh, text)
    assert fresh.instances.rows() == []  # judged under the date from the start: no clock at all
