"""Runs over a store agree with the reference: split incremental runs leave exactly what one full run
leaves, a late event re-judges as if it had come on time, and a back-dated run never leaves a store
that differs from a fresh evaluation at that as-of (docs/semantics.md, Runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_engine.events import LeadEvent
from sla_engine.runner import evaluate_run, timing
from sla_engine.store.db import Store
from tests.reference.histories import (
    COMPARED,
    SHIPPED,
    disagreements,
    engine_for,
    histories,
    reference_for,
    side_by_side,
    timeline,
)

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.function_scoped_fixture]}
LEADS = 4


@st.composite
def lead_histories(draw: st.DrawFn) -> list[LeadEvent]:
    events: list[LeadEvent] = []
    for n in range(LEADS):
        events += draw(histories(max_steps=6, lead_id=f"L{n}"))
    return events


def snapshot(store: Store) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """The clocks and their escalations. (A target's escalations are left out: a first run judges only the
    streak ending with its last completed period, so one full run does not replay what early split runs
    recorded; later runs catching up after an outage are tested in tests/engine/test_targets.py.)"""
    instances = [{k: v for k, v in row.items() if k not in ("first_run", "updated_run")}
                 for row in store.instances.rows()]
    outbox = [(row["key"], row["due_at"], row["action"]) for row in store.outbox.rows() if row["lead_id"]]
    return instances, outbox


def run(store: Store, events: list[LeadEvent], as_of: datetime) -> None:
    evaluate_run(SHIPPED, store, [("gen", iter(events))], as_of)


def stored_verdict(store: Store, lead_id: str, as_of: datetime) -> dict[str, Any]:
    """What the store holds for a lead, in the reference's shape."""
    instances = {}
    for row in store.instances.rows(lead_id):
        shaped = {key: row.get(key) for key in COMPARED if key != "elapsed"}
        for key in ("started_at", "due_at", "warning_at", "stopped_at", "breached_at", "ended_at", "paused_since"):
            if shaped[key] is not None:
                shaped[key] = datetime.fromisoformat(shaped[key]).astimezone(UTC)
        shaped["met_late"] = bool(shaped["met_late"])
        shaped["elapsed"] = (timing(engine_for(SHIPPED), row, as_of)["elapsed_business_seconds"]
                             if row["due_at"] else None)
        if row["status"] == "not_applicable":
            shaped.update(goal=None, calendar=None, elapsed=None)
        instances[f"{row['policy']}|{row['window']}|{row['cycle']}"] = shaped
    actions = {row["key"].split("|", 1)[1]: datetime.fromisoformat(row["due_at"]).astimezone(UTC)
               for row in store.outbox.rows() if row["lead_id"] == lead_id}
    return {"instances": instances, "actions": actions}


def assert_store_agrees_with_the_reference(store: Store, events: list[LeadEvent], as_of: datetime) -> None:
    for n in range(LEADS):
        lead = [e for e in events if e.lead_id == f"L{n}"]
        reference = reference_for(SHIPPED).evaluate(lead, as_of)
        stored = stored_verdict(store, f"L{n}", as_of)
        if disagreements(reference, stored):
            raise AssertionError(f"the store and the reference evaluator disagree on L{n}\n"
                                 f"timeline (UTC):\n{timeline(lead, as_of)}\n{side_by_side(reference, stored)}")


def cut(events: list[LeadEvent], cuts: list[int]) -> list[int]:
    """Cut positions in time order that never split events of one instant (a run sees an instant whole)."""
    positions = []
    for c in sorted(set(cuts)):
        if 0 < c < len(events) and events[c - 1].occurred_at < events[c].occurred_at:
            positions.append(c)
    return positions


@settings(max_examples=20, **SETTINGS)
@given(events=lead_histories(), cuts=st.lists(st.integers(0, 60), max_size=4), fraction=st.floats(0, 1))
def test_runs_as_events_happen_leave_what_one_full_run_leaves_and_what_the_reference_says(
        tmp_path_factory, events, cuts, fraction):
    events = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    final = events[-1].occurred_at + timedelta(days=3)
    full = Store(tmp_path_factory.mktemp("full") / "s.db")
    run(full, events, final)
    assert_store_agrees_with_the_reference(full, events, final)

    split = Store(tmp_path_factory.mktemp("split") / "s.db")
    previous = 0
    for position in cut(events, cuts):
        lower, upper = events[position - 1].occurred_at, events[position].occurred_at
        run(split, events[previous:position], lower + (upper - lower) * fraction)
        previous = position
    run(split, events[previous:], final)
    assert snapshot(split) == snapshot(full)


@settings(max_examples=15, **SETTINGS)
@given(events=lead_histories(), parts=st.integers(2, 4), seed=st.randoms(use_true_random=False))
def test_late_events_judge_the_clocks_as_if_they_had_come_on_time(tmp_path_factory, events, parts, seed):
    """Events delivered in any order over several runs: the clocks (not what was already due) end as the
    reference judges the whole history."""
    seed.shuffle(events)
    first = min(e.occurred_at for e in events)
    final = max(e.occurred_at for e in events) + timedelta(days=3)
    store = Store(tmp_path_factory.mktemp("late") / "s.db")
    size = -(-len(events) // parts)
    chunks = [events[i:i + size] for i in range(0, len(events), size)]
    for k, chunk in enumerate(chunks):
        run(store, chunk, first + (final - first) * (k + 1) / len(chunks))
    for n in range(LEADS):
        lead = [e for e in events if e.lead_id == f"L{n}"]
        reference = reference_for(SHIPPED).evaluate(lead, final)
        stored = stored_verdict(store, f"L{n}", final)
        reference["actions"] = stored["actions"] = {}  # an escalation recorded before a late event stays recorded
        assert not disagreements(reference, stored), (
            f"L{n} after late events\ntimeline (UTC):\n{timeline(lead, final)}\n{side_by_side(reference, stored)}")


@settings(max_examples=15, **SETTINGS)
@given(events=lead_histories(), back=st.floats(0.05, 0.95))
def test_a_back_dated_run_is_refused_or_equals_a_fresh_store(tmp_path_factory, events, back):
    first = min(e.occurred_at for e in events)
    later = max(e.occurred_at for e in events) + timedelta(days=3)
    earlier = first + (later - first) * back
    fresh = Store(tmp_path_factory.mktemp("fresh") / "s.db")
    run(fresh, events, earlier)
    store = Store(tmp_path_factory.mktemp("used") / "s.db")
    run(store, events, later)
    before = snapshot(store)
    try:
        run(store, events, earlier)
    except Exception as refused:  # any refusal will do, if it explains itself and changes nothing
        assert snapshot(store) == before
        message = str(refused)
        assert earlier.date().isoformat() in message and later.date().isoformat() in message, message
        return
    if snapshot(store) != snapshot(fresh):
        raise AssertionError("a back-dated run left the store unlike a fresh store at that as-of")


def test_a_late_recycle_withdraws_a_clock_an_earlier_run_opened_on_a_partial_history(tmp_path):
    """Found by the test above: a run that had not yet seen the recycle disposition opened b2b_services' clock
    when the lead moved to EMEA (not applicable: no goal for its tier); the whole history opens no such clock,
    so the stored one, though finished, is withdrawn (it was judged under the same policy)."""
    def event(n: int, minute: int, type_: str, payload: dict[str, Any], hour: int = 8) -> LeadEvent:
        return LeadEvent.build(source="gen", lead_id="L3", type=type_, payload=payload,
                               occurred_at=datetime(2026, 11, 17, hour, minute, tzinfo=UTC), event_id=f"L3-{n}")

    on_time = [event(0, 7, "created", {"attributes": {
                   "region": "NA", "country": "US", "lead_score": 66, "seniority": "director", "form": None,
                   "industry": "Software", "company_size": 30, "target_account": True, "status": "New"}}, hour=6),
               event(1, 58, "status_changed", {"field": "status", "old": None, "new": "Recycled"}, hour=7),
               event(4, 16, "updated", {"changes": {"region": "EMEA"}})]
    late = [event(2, 3, "disposition", {"disposition": "recycled", "reason": "not_icp", "notes": None}),
            event(3, 5, "activity", {"channel": "email", "direction": "inbound", "outcome": None, "by": None}),
            event(5, 17, "disposition", {"disposition": "disqualified", "reason": None, "notes": None})]
    final = datetime(2026, 11, 21, 10, 11, tzinfo=UTC)
    store = Store(tmp_path / "s.db")
    run(store, on_time, datetime(2026, 11, 19, 1, 35, tzinfo=UTC))
    assert any(row["window"] == "speed_to_lead" for row in store.instances.rows("L3"))
    run(store, late, final)
    fresh = Store(tmp_path / "fresh.db")
    run(fresh, on_time + late, final)
    assert snapshot(store) == snapshot(fresh)
    assert not any(row["window"] == "speed_to_lead" for row in store.instances.rows("L3"))
    store.close()
    fresh.close()
