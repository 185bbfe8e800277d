"""The store: versioned schema, upserts by event id, all-or-nothing runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sla_engine.events import LeadEvent, event_row
from sla_engine.runner import evaluate_run
from sla_engine.store.backend import open_location
from sla_engine.store.db import MIGRATIONS, Store, iso
from sla_engine.store.worklist import DUE, Chunk
from tests.engine.test_evaluate import activity, assigned, at, created, policy_set
from tests.test_runner import history, run, snapshot


def test_a_new_store_is_at_the_latest_schema_version_and_reopening_changes_nothing(open_store):
    store = open_store()
    assert store.version == len(MIGRATIONS)
    tables = ("events", "leads", "window_instances", "outbox", "quarantine", "runs", "sync_state")
    assert {table: store.count(table) for table in tables} == dict.fromkeys(tables, 0)
    store.close()
    again = open_store()
    assert again.version == len(MIGRATIONS)


def test_events_upsert_by_id_and_only_changes_mark_a_lead_for_judging(open_store):
    store = open_store()
    events = [created("L1", at(23, 9), lead_score=95), assigned("L1", at(23, 9, 1))]
    with store.transaction():
        assert store.events.upsert(events, run_id=1) == (2, 0, [])
        assert store.events.upsert(events, run_id=2) == (0, 2, [])
    assert store.count("events") == 2
    assert store.worklist.select_due(at(23, 10)) == 1
    assert [lead for lead, _ in store.worklist.histories(Chunk(0, DUE, None, "L1"))] == ["L1"]


def test_a_leads_sources_are_listed_first_seen_first_without_the_one_set_aside(open_store):
    """Where delivery writes a lead's CRM actions: the first source it came from that can take them."""
    store = open_store()
    def event(lead: str, source: str, t: datetime, key: str) -> LeadEvent:
        return LeadEvent.build(source=source, lead_id=lead, type="updated", occurred_at=t,
                               payload={"changes": {"status": key}}, key=key)

    events = [event("L1", "hubspot", at(23, 9), "a"), event("L1", "sf", at(23, 10), "b"),
              event("L1", "sla-engine", at(23, 8), "c"), event("L1", "sf", at(23, 11), "d"),
              event("L2", "csv", at(23, 7), "e")]
    with store.transaction():
        store.events.upsert(events, run_id=1)
    assert store.events.sources_of("L1", besides="sla-engine") == ["hubspot", "sf"]
    assert store.events.sources_of("L1", besides="hubspot") == ["sla-engine", "sf"]
    assert store.events.sources_of("L3", besides="sla-engine") == []


def test_an_ingest_begun_before_a_rolled_back_transaction_still_stores_its_events(open_store):
    """A dry run rolls its transaction back (on PostgreSQL that drops the ingest's temporary tables);
    batches of an ingest that continues in the next transaction are still stored."""
    store = open_store()
    with store.transaction(rollback=True):
        ingest = store.events.begin_ingest()
        store.events.upsert_rows(map(event_row, [created("L1", at(23, 9), lead_score=95)]), 1, ingest)
    assert store.count("events") == 0
    with store.transaction():
        assert store.events.upsert_rows(map(event_row, [assigned("L1", at(23, 9, 1))]), 2, ingest).written == 1
    assert store.count("events") == 1


def stored(store: Store) -> dict[str, tuple]:
    rows = store.conn.execute("SELECT event_id, lead_id, payload, ingested_run FROM events")
    return {row[0]: tuple(row[1:]) for row in rows}


def dirty_leads(store: Store) -> list[str]:
    return [row[0] for row in store.conn.execute("SELECT lead_id FROM leads WHERE dirty = 1 ORDER BY lead_id")]


def test_new_events_are_stored_and_their_leads_marked_with_the_earliest_instant_noted(open_store):
    store = open_store()
    events = [activity("L2", at(23, 11)), created("L1", at(23, 9), lead_score=95), assigned("L1", at(23, 10))]
    with store.transaction():
        assert store.events.upsert(events, run_id=1) == (3, 0, [])
    assert {event_id: row[0] for event_id, row in stored(store).items()} == {e.event_id: e.lead_id for e in events}
    assert dirty_leads(store) == ["L1", "L2"]
    assert store.events.earliest_new_event == iso(at(23, 9))


def test_the_earliest_new_event_noted_is_that_of_the_current_transaction(open_store):
    store = open_store()
    with store.transaction():
        store.events.upsert([created("L1", at(23, 9))], run_id=1)
    with store.transaction():
        assert store.events.earliest_new_event is None  # a new transaction (a run) starts with nothing noted
        store.events.upsert([created("L1", at(23, 9)), activity("L1", at(23, 12))], run_id=2)
    assert store.events.earliest_new_event == iso(at(23, 12))  # the unchanged event is not new


def test_every_repository_writes_in_the_stores_one_transaction(open_store):
    store = open_store()
    with store.transaction(rollback=True):
        run_id = store.runs.start(at(23, 10), "h", None, dry_run=True)
        store.events.upsert([created("L1", at(23, 9))], run_id)
        store.leads.save([("L1", {"stage": "mql"}, at(24, 9))], run_id)
        store.leads.save_stage_entries({"L1": [("mql", at(23, 9))]})
        store.quarantine.keep("csv", "leads.csv", 3, "no lead id", {"email": "a@example.com"}, run_id)
        assert store.leads.state("L1") == {"stage": "mql"} and len(store.quarantine.rows()) == 1
    tables = ("runs", "events", "leads", "stage_entries", "quarantine")
    assert {table: store.count(table) for table in tables} == dict.fromkeys(tables, 0)


def test_a_batch_meeting_stored_events_writes_only_the_new_and_the_changed(open_store):
    store = open_store()
    kept, changed, moved = created("L1", at(23, 9)), assigned("L1", at(23, 10)), activity("L2", at(23, 11))
    with store.transaction():
        store.events.upsert([kept, changed, moved], run_id=1)
        store.conn.execute("UPDATE leads SET dirty = 0")
        store.events.earliest_new_event = None
        new = activity("L4", at(24, 9))
        batch = [kept, changed.model_copy(update={"payload": {"owner": "other@example.com"}}),
                 moved.model_copy(update={"lead_id": "L3"}), new, new]
        assert store.events.upsert(batch, run_id=2) == (3, 2, [])  # the repeated new event counts once
    rows = stored(store)
    assert rows[kept.event_id][2] == 1  # unchanged: not written again
    assert json.loads(rows[changed.event_id][1]) == {"owner": "other@example.com"} and rows[changed.event_id][2] == 2
    assert rows[moved.event_id][0] == "L3" and rows[new.event_id][2] == 2
    assert dirty_leads(store) == ["L1", "L2", "L3", "L4"]  # L2 lost an event, so it is judged again too
    assert store.events.earliest_new_event == iso(at(23, 10))


def test_of_two_versions_of_an_event_in_one_batch_the_first_is_kept_and_the_other_refused(open_store):
    store = open_store()
    first = assigned("L1", at(23, 10))
    second = first.model_copy(update={"payload": {"owner": "other@example.com"}})
    with store.transaction():
        assert store.events.upsert([first, second], run_id=1) == (1, 0, [(event_row(first), event_row(second))])
    assert json.loads(stored(store)[first.event_id][1])["owner"] == first.payload["owner"]


def test_an_id_this_ingest_already_wrote_or_read_is_a_conflict_in_any_later_batch(open_store):
    store = open_store()
    old = assigned("L1", at(23, 9))
    with store.transaction():
        store.events.upsert([old], run_id=1)
    fresh = [activity("L2", at(23, 11)), created("L3", at(23, 12))]
    with store.transaction():
        session = store.events.begin_ingest()
        assert store.events.upsert_rows(map(event_row, [*fresh, old]), 2, session)[:2] == (2, 1)
        clash = [e.model_copy(update={"payload": {**e.payload, "by": "someone-else"}}) for e in [fresh[0], old]]
        done = store.events.upsert_rows(map(event_row, clash), 2, session)
    assert done.written == 0 and [refused.payload for _, refused in done.conflicts] == [
        event_row(e).payload for e in clash]
    assert [kept for kept, _ in done.conflicts] == [event_row(fresh[0]), event_row(old)]


def test_an_id_read_again_in_a_later_ingest_with_other_content_is_a_correction_and_replaces(open_store):
    store = open_store()
    task = activity("L1", at(23, 9))
    with store.transaction():
        store.events.upsert([task], run_id=1)
    corrected = task.model_copy(update={"occurred_at": at(23, 15)})
    with store.transaction():
        assert store.events.upsert([corrected], run_id=2) == (1, 0, [])
    assert store.events.of_lead("L1")[0].occurred_at == at(23, 15)


def test_events_given_as_rows_are_stored_judged_and_deduplicated_as_the_events_are(tmp_path):
    events = [created("L1", at(23, 9)), assigned("L1", at(23, 10)), activity("L2", at(23, 11))]
    resent = [events[0], events[1].model_copy(update={"payload": {"owner": "other@example.com"}}),
              events[2].model_copy(update={"lead_id": "L3"})]
    outcomes = []
    for name, put in (("events", lambda store, events, run_id: store.events.upsert(events, run_id)),
                      ("rows", lambda store, events, run_id: store.events.upsert_rows(map(event_row, events), run_id))):
        store = Store(tmp_path / f"{name}.db")
        with store.transaction():
            first = put(store, events, run_id=1)
            store.conn.execute("UPDATE leads SET dirty = 0")
            second = put(store, resent, run_id=2)
        everything = list(store.conn.execute("SELECT * FROM events ORDER BY event_id"))
        outcomes.append((first, second, everything, dirty_leads(store), store.events.earliest_new_event))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:2] == ((3, 0, []), (2, 1, [])) and outcomes[0][3] == ["L1", "L2", "L3"]


def test_a_new_store_has_8_kib_pages_and_an_older_store_keeps_its_own(tmp_path):
    import sqlite3

    assert Store(tmp_path / "new.db").conn.execute("PRAGMA page_size").fetchone()[0] == 8192
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA page_size = 4096")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.executescript(MIGRATIONS[0])
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    store = Store(path)
    assert store.conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    with store.transaction():
        assert store.events.upsert([created("L1", at(23, 9))], run_id=1) == (1, 0, [])
    assert store.version == len(MIGRATIONS) and store.count("events") == 1


def test_a_failure_mid_run_keeps_the_chunks_before_it_and_the_next_run_judges_the_rest(tmp_path, open_store):
    store = open_store()
    run(store, history(4), at(20, 12))

    def crash(done: int, total: int) -> None:
        if done == 5:  # in the second chunk of three leads
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        evaluate_run(policy_set(), store, [("test", iter(history(8)))], at(25, 12), progress=crash, chunk_leads=3)
    judged = store.conn.execute("SELECT lead_id FROM leads WHERE evaluated_run = 2 ORDER BY 1").fetchall()
    assert len(judged) == 3  # the first chunk committed, the second rolled back
    assert store.conn.execute("SELECT status FROM runs WHERE id = 2").fetchone() == ("running",)
    report = run(store, history(8), at(25, 12))
    assert report.leads_evaluated == 5 and report.sources[0].new_events == 0  # ingest had committed
    assert store.conn.execute("SELECT status FROM runs WHERE id = 2").fetchone() == ("interrupted",)
    reference = Store(tmp_path / "reference.db")
    run(reference, history(4), at(20, 12))
    run(reference, history(8), at(25, 12))
    assert snapshot(store) == snapshot(reference)
    assert store.instances.status_counts() == reference.instances.status_counts()


def test_a_process_killed_during_a_run_loses_nothing_and_records_nothing_twice(tmp_path, store_location):
    """SIGKILL in the middle of a run: the rerun records every due action exactly once."""
    script = textwrap.dedent(f"""
        import os, signal
        from sla_engine.runner import evaluate_run
        from sla_engine.store.backend import open_location
        from tests.engine.test_evaluate import at, policy_set
        from tests.test_runner import history

        def die(done, total):
            if done == 5:
                os.kill(os.getpid(), signal.SIGKILL)

        store = open_location({store_location!r})
        evaluate_run(policy_set(), store, [("test", iter(history(12)))], at(25, 12), progress=die)
    """)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                            timeout=120)
    assert result.returncode == -signal.SIGKILL
    store = open_location(store_location)
    assert store.count("outbox") == 0 and store.count("window_instances") == 0  # the chunk in flight is gone
    run(store, history(12), at(25, 12))
    reference = Store(tmp_path / "reference.db")
    run(reference, history(12), at(25, 12))
    assert snapshot(store) == snapshot(reference)
    store.close()


def test_outbox_keys_are_unique_per_lead_window_cycle_level_and_action(open_store):
    store = open_store()
    events = [created("L1", at(23, 9), lead_score=95), assigned("L1", at(23, 9, 1)), activity("L1", at(24, 9))]
    run(store, events, at(24, 12))
    keys = [row["key"] for row in store.outbox.rows()]
    assert len(keys) == len(set(keys)) == 2  # warning to the owner, breach to the manager
    assert {row["level"] for row in store.outbox.rows()} == {"at warning", "on breach"}
    assert all(row["status"] == "pending" for row in store.outbox.rows())


def test_an_older_store_is_migrated_in_place_and_keeps_its_data(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.executescript(MIGRATIONS[0])
    connection.execute("INSERT INTO runs (started_at, as_of, status) VALUES ('x', 'y', 'finished')")
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    store = Store(path)
    assert store.version == len(MIGRATIONS)
    assert store.count("runs") == 1
    assert "stage_entries" in store.db.table_names()


def _save_lead_by_lead(store, results, run_id):
    changed = []
    for r in results:
        changed += store.instances.save({r.lead_id: [i.as_row() for i in r.instances]}, run_id)
        store.leads.save_stage_entries({r.lead_id: r.stage_entries})
        store.leads.save([(r.lead_id, r.state, r.next_check)], run_id)
    return changed


def _save_as_one_batch(store, results, run_id):
    changed = store.instances.save({r.lead_id: [i.as_row() for i in r.instances] for r in results}, run_id)
    store.leads.save_stage_entries({r.lead_id: r.stage_entries for r in results})
    store.leads.save([(r.lead_id, r.state, r.next_check) for r in results], run_id)
    return changed


def test_saving_many_leads_at_once_stores_what_saving_them_one_by_one_does(tmp_path):
    from collections import defaultdict

    from sla_engine.engine.evaluate import Evaluator

    evaluator = Evaluator(policy_set())
    events = history()
    by_lead = defaultdict(list)
    for event in events:
        by_lead[event.lead_id].append(event)
    first = [evaluator.evaluate(lead, evs, at(20, 12)) for lead, evs in by_lead.items()]
    # Later, with one lead's assignment withdrawn and the others' deadlines passed.
    later = {lead: [e for e in evs if not (lead == "L3" and e.type == "assigned")] for lead, evs in by_lead.items()}
    second = [evaluator.evaluate(lead, evs, at(27, 12)) for lead, evs in later.items()]
    stores = [Store(tmp_path / "one.db"), Store(tmp_path / "batch.db")]
    returned = [[], []]
    for store, save, out in zip(stores, (_save_lead_by_lead, _save_as_one_batch), returned, strict=True):
        for run_id, results in enumerate((first, second), start=1):
            out.append(save(store, results, run_id))
    assert returned[0] == returned[1]
    assert snapshot(stores[0]) == snapshot(stores[1])
    leads = [list(s.conn.execute("SELECT * FROM leads ORDER BY lead_id")) for s in stores]
    assert leads[0] == leads[1]


def test_recording_actions_counts_only_the_new_ones(open_store):
    from dataclasses import replace

    from sla_engine.engine.clock import DueAction

    store = open_store()
    action = DueAction(lead_id="L1", policy="p", window="w", cycle=1, level="on breach", level_index=0, repeat=0,
                       action_index=0, action={"action": "notify"},
                       due_at=datetime(2026, 11, 20, 10, tzinfo=timezone.utc))
    again = replace(action, lead_id="L2")
    assert store.outbox.record([action, again], run_id=1) == 2
    assert store.outbox.record([action, replace(action, lead_id="L3")], run_id=2) == 1
    assert store.outbox.record([], run_id=3) == 0
    row = store.outbox.rows()[0]
    assert (row["key"], row["due_at"], json.loads(row["action"])) == (
        "L1|p|w|1|0.0|0", "2026-11-20T10:00:00+00:00", {"action": "notify"})


def test_forked_workers_judging_over_the_stores_connection_store_what_one_process_does(open_store, tmp_path):
    store = open_store()
    evaluate_run(policy_set(), store, [("test", iter(history(60)))], at(25, 12), workers=2)
    evaluate_run(policy_set(), store, [("test", iter(history(60)))], at(26, 12), workers=2)  # the connection lives on
    reference = Store(tmp_path / "reference.db")
    for as_of in (at(25, 12), at(26, 12)):
        evaluate_run(policy_set(), reference, [("test", iter(history(60)))], as_of, workers=0)
    assert snapshot(store) == snapshot(reference)
