"""A run over the store: incremental equals full, reruns change nothing, overlaps wait."""

from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_engine.events import LeadEvent, event_row
from sla_engine.language.fingerprints import WINDOW, rule_fingerprints
from sla_engine.runner import BackInTime, evaluate_run
from sla_engine.store.db import Store, StoreLocked
from tests.engine.test_evaluate import (
    activity,
    assigned,
    at,
    created,
    disposition,
    policy_set,
    status,
    updated,
)

UTC = timezone.utc


@dataclass
class Bad:
    file: str
    line: int
    reason: str
    raw: dict


def history(leads: int = 12) -> list[LeadEvent]:
    """A small mixed history: fast, late and silent reps, pauses and recycles."""
    events: list[LeadEvent] = []
    for n in range(leads):
        lead = f"L{n}"
        start = at(16 + n % 5, 9 + n % 8, 5 * n % 60)
        score = 95 if n % 3 == 0 else 70
        events += [created(lead, start, lead_score=score), assigned(lead, start + timedelta(minutes=3))]
        if n % 4 == 0:
            events.append(activity(lead, start + timedelta(minutes=40)))
        elif n % 4 == 1:
            events.append(activity(lead, start + timedelta(days=2), channel="email"))
        if n % 5 == 2:
            events.append(status(lead, start + timedelta(hours=1), "Nurture"))
            events.append(status(lead, start + timedelta(hours=30), "Working"))
        if n % 6 == 3:
            events.append(disposition(lead, start + timedelta(hours=2), "recycled", "timing"))
            events.append(updated(lead, start + timedelta(days=3), lead_score=99))
    return events


def snapshot(store: Store) -> tuple[list[dict], list[tuple]]:
    instances = [{k: v for k, v in row.items() if k not in ("first_run", "updated_run")}
                 for row in store.instances.rows()]
    outbox = [(r["key"], r["due_at"], r["action"]) for r in store.outbox.rows()]
    stages = list(store.conn.execute("SELECT * FROM stage_entries ORDER BY 1, 2, 3"))
    return instances, outbox, stages


def run(store: Store, events, as_of, **kwargs):
    return evaluate_run(policy_set(), store, [("test", iter(events))], as_of, **kwargs)


def test_rerun_with_the_same_input_changes_nothing_and_records_no_second_action(tmp_path):
    store = Store(tmp_path / "s.db")
    events = history()
    first = run(store, events, at(25, 12))
    before = snapshot(store)
    second = run(store, events, at(25, 12))
    assert first.actions_due > 0 and second.actions_due == 0
    assert second.sources[0].new_events == 0
    assert second.leads_evaluated == 0
    assert snapshot(store) == before


def split_runs(store: Store, chunks: list[list[LeadEvent]], as_ofs: list[datetime]) -> None:
    for chunk, as_of in zip(chunks, as_ofs, strict=True):
        run(store, chunk, as_of)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=4),
       seed=st.integers(min_value=0, max_value=10_000))
def test_incremental_runs_equal_one_full_run(tmp_path_factory, cuts, seed):
    """Events delivered as they happen, over any number of cron runs, leave the store
    (instances and outbox) exactly as one run over the whole stream."""
    import random

    events = sorted(history(), key=lambda e: (e.occurred_at, e.event_id))
    final = at(27, 18)
    full = Store(tmp_path_factory.mktemp("full") / "s.db")
    run(full, events, final)

    rng = random.Random(seed)
    boundaries = sorted({min(c, len(events)) for c in cuts} - {0, len(events)})
    chunks, as_ofs, previous = [], [], 0
    for boundary in boundaries:
        chunk = events[previous:boundary]
        rng.shuffle(chunk)  # arrival order inside one delivery does not matter
        lower, upper = events[boundary - 1].occurred_at, events[boundary].occurred_at
        as_ofs.append(lower + (upper - lower) * rng.random())
        chunks.append(chunk)
        previous = boundary
    chunks.append(events[previous:])
    as_ofs.append(final)
    incremental = Store(tmp_path_factory.mktemp("inc") / "s.db")
    split_runs(incremental, chunks, as_ofs)
    assert snapshot(incremental) == snapshot(full)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), parts=st.integers(min_value=2, max_value=5))
def test_late_events_rejudge_instances_as_if_they_had_come_on_time(tmp_path_factory, seed, parts):
    import random

    events = history()
    random.Random(seed).shuffle(events)
    final = at(27, 18)
    full = Store(tmp_path_factory.mktemp("full") / "s.db")
    run(full, events, final)
    size = -(-len(events) // parts)
    chunks = [events[i:i + size] for i in range(0, len(events), size)]
    as_ofs = [at(16, 0) + (final - at(16, 0)) * (k + 1) / len(chunks) for k in range(len(chunks))]
    late = Store(tmp_path_factory.mktemp("late") / "s.db")
    split_runs(late, chunks, as_ofs)
    assert snapshot(late)[0] == snapshot(full)[0]


def test_a_deadline_passing_between_runs_is_judged_without_new_events(tmp_path):
    store = Store(tmp_path / "s.db")
    events = [created("L1", at(23, 9), lead_score=95), assigned("L1", at(23, 9, 1))]
    run(store, events, at(23, 9, 30))
    later = run(store, [], at(23, 11, 30))
    assert later.leads_evaluated == 1
    statuses = {row["window"]: row["status"] for row in store.instances.rows()}
    assert statuses == {"first_response": "breached", "cadence": "running"}
    assert later.new_breach_count == len(later.new_breaches) == 1


def test_dry_run_writes_nothing(tmp_path):
    store = Store(tmp_path / "s.db")
    report = run(store, history(), at(25, 12), dry_run=True)
    assert report.actions_due > 0
    assert store.count("events") == 0 and store.count("outbox") == 0 and store.count("runs") == 0


def test_bad_rows_are_quarantined_and_counted(tmp_path):
    store = Store(tmp_path / "s.db")
    items = [*history(2), Bad("e.csv", 7, "occurred_at 'x' is not a timestamp", {"lead_id": "L9"})]
    report = run(store, items, at(25, 12))
    counts = report.sources[0]
    assert (counts.read, counts.accepted, counts.quarantined) == (len(items), len(items) - 1, 1)
    assert store.count("quarantine") == 1
    run(store, items, at(25, 12))
    assert store.count("quarantine") == 1  # the same bad row read again is not counted twice


def test_events_handed_over_as_rows_are_ingested_and_judged_as_the_events_are(tmp_path):
    events = history()
    bad = Bad("e.csv", 7, "occurred_at 'x' is not a timestamp", {"lead_id": "L9"})
    mixed = [event_row(event) if n % 2 else event for n, event in enumerate(events)]
    outcomes = []
    for name, items in (("events", [*events, bad]), ("rows", [*mixed, bad])):
        store = Store(tmp_path / f"{name}.db")
        counts = run(store, items, at(25, 12)).sources[0].as_dict()
        stored = list(store.conn.execute("SELECT * FROM events ORDER BY event_id"))
        outcomes.append((counts, stored, snapshot(store), list(store.conn.execute("SELECT * FROM quarantine"))))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == {"source": "test", "read": len(events) + 1, "accepted": len(events), "quarantined": 1,
                              "new_events": len(events), "conflicts": 0}


def test_two_activities_under_one_id_keep_the_first_and_quarantine_the_other_with_its_reason(tmp_path):
    """A connector keying activities by person: 54 read, 48 stored and 6 rep touches lost, in silence, before."""
    store = Store(tmp_path / "s.db")
    events = history(3)
    call = activity("L0", at(16, 11))
    second_call = LeadEvent.build(source=call.source, lead_id="L0", type="activity", occurred_at=at(16, 15),
                                  payload={"channel": "email", "by": "rep@example.com"}, event_id=call.event_id)
    report = run(store, [*events, call, second_call], at(25, 12))
    counts = report.sources[0]
    assert (counts.read, counts.accepted, counts.quarantined, counts.conflicts) == (len(events) + 2,
                                                                                     len(events) + 1, 1, 1)
    (reason, raw), = store.conn.execute("SELECT reason, raw FROM quarantine")
    assert f"event id {call.event_id} was already read with a different occurred_at, payload" in reason
    assert "the first was kept" in reason and json.loads(raw)["occurred_at"].startswith("2026")
    again = run(store, [*events, call, second_call], at(25, 13)).sources[0]
    assert (again.conflicts, store.count("quarantine")) == (1, 1)  # counted each read, kept once
    assert call in store.events.of_lead("L0") and second_call not in store.events.of_lead("L0")


def test_a_changed_policy_keeps_finished_judgements_and_rejudges_running_ones(tmp_path):
    store = Store(tmp_path / "s.db")
    events = [created("A", at(23, 9), lead_score=95), assigned("A", at(23, 9)), activity("A", at(23, 10)),
              created("B", at(23, 9), lead_score=95), assigned("B", at(23, 9))]
    run(store, events, at(23, 10, 30))
    stricter = policy_set().policies["inbound"]
    assert stricter is not None
    from sla_engine.language.parser import parse_text
    from sla_engine.language.policy_set import build_policy_set
    from tests.engine.test_evaluate import POLICY

    text = POLICY.replace("goal tier1 2 business hours", "goal tier1 30m")
    changed = build_policy_set([parse_text(text, "test.sla")], {"test.sla": text})
    report = evaluate_run(changed, store, [], at(23, 10, 30))
    assert report.full
    rows = {r["lead_id"]: r for r in store.instances.rows() if r["window"] == "first_response"}
    stamp = rule_fingerprints(changed)[(WINDOW, "inbound", "first_response")].whole  # its window's, since changed
    assert rows["A"]["status"] == "met" and rows["A"]["policy_hash"] != stamp
    assert rows["B"]["status"] == "breached" and rows["B"]["policy_hash"] == stamp


def _hold_lock(path: str, seconds: float, ready) -> None:
    store = Store(path)
    with store.locked(wait_seconds=5):
        ready.set()
        time.sleep(seconds)


def test_an_overlapping_run_waits_for_the_lock_then_gives_up_cleanly(tmp_path):
    path = str(tmp_path / "s.db")
    Store(path).close()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_lock, args=(path, 3.0, ready))
    holder.start()
    try:
        assert ready.wait(20)
        store = Store(path)
        started = time.monotonic()
        try:
            with store.locked(wait_seconds=0.5):
                raise AssertionError("the lock should be held by the other run")
        except StoreLocked as error:
            assert "another sla-engine run" in str(error)
        assert time.monotonic() - started >= 0.5
        with store.locked(wait_seconds=20):  # waits for the holder, then proceeds
            run(store, history(3), at(25, 12))
        assert store.count("runs") == 1
    finally:
        holder.join(20)


def test_each_run_is_recorded_with_its_policy_hash(tmp_path):
    store = Store(tmp_path / "s.db")
    report = run(store, history(2), at(25, 12), git_commit="abc123")
    row = next(iter(store.db.query("SELECT * FROM runs")))
    assert row["policy_hash"] == report.policy_hash and row["git_commit"] == "abc123"
    assert row["status"] == "finished" and json.loads(row["counts"])["leads_evaluated"] == 2
    assert datetime.fromisoformat(row["as_of"]) == at(25, 12).astimezone(UTC)


def test_judging_leads_in_small_batches_stores_what_one_batch_does(tmp_path, monkeypatch):
    import sla_engine.runner as runner

    whole = Store(tmp_path / "whole.db")
    report = run(whole, history(), at(24, 12))
    monkeypatch.setattr(runner, "BATCH_LEADS", 5)
    batched = Store(tmp_path / "batched.db")
    small = run(batched, history(), at(24, 12))
    assert snapshot(whole) == snapshot(batched)
    assert (report.new_breach_count, report.new_warning_count, report.actions_due) == (
        small.new_breach_count, small.new_warning_count, small.actions_due)


def test_a_run_earlier_than_the_last_is_refused_and_changes_nothing(tmp_path):
    # A fresh store at the earlier as-of would hold none of the clocks finished since; this one does.
    store = Store(tmp_path / "s.db")
    run(store, history(), at(30, 12))
    before = snapshot(store)
    runs = store.count("runs")
    try:
        run(store, [], at(18, 12))
    except BackInTime as error:
        message = str(error)
    else:
        raise AssertionError("a back-dated run was not refused")
    assert "2026-11-18T17:00:00+00:00" in message and "2026-11-30T17:00:00+00:00" in message
    assert "--db" in message
    assert snapshot(store) == before and store.count("runs") == runs
    # The same as-of again, or a later one, still runs.
    assert run(store, [], at(30, 12)).leads_evaluated == 0
    fresh = Store(tmp_path / "fresh.db")
    run(fresh, history(), at(18, 12))
    assert fresh.count("window_instances") < store.count("window_instances")
