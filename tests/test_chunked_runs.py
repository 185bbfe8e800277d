"""Runs commit in chunks of leads: killed anywhere, the next run finishes the job and nothing is lost or doubled;
a policy change's re-judge goes on over several runs while each run still judges the deadlines that came."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from tests.engine.test_evaluate import POLICY, activity, assigned, at, created, policy_set
from tests.test_runner import history, run, snapshot

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-15T00:00:00+00:00"


def tables(path: Path | str) -> dict[str, list[tuple]]:
    """What a run leaves, without the run numbers (which differ between a killed sequence and one run),
    in an SQLite file or a PostgreSQL database (a URL)."""
    queries = {
        "events": "SELECT event_id, lead_id, occurred_at, source, type, payload FROM events ORDER BY 1",
        "leads": "SELECT lead_id, state, dirty, next_check_at FROM leads ORDER BY 1",
        "instances": "SELECT * FROM window_instances ORDER BY key",
        "outbox": 'SELECT key, lead_id, policy, "window", cycle, level, action, due_at, status, attempts '
                  "FROM outbox ORDER BY key",
        "status_counts": "SELECT * FROM status_counts ORDER BY 1, 2, 3, 4",
        "stage_entries": "SELECT * FROM stage_entries ORDER BY 1, 2, 3",
        "quarantine": "SELECT key, source, file, line, reason FROM quarantine ORDER BY key",
        "rejudge": "SELECT * FROM rejudge",
        "sync_state": "SELECT connector, stream, cursor FROM sync_state ORDER BY 1, 2",
    }
    if str(path).startswith("postgresql:"):
        import psycopg

        connection: Any = psycopg.connect(str(path))
    else:
        connection = sqlite3.connect(path)
    try:
        # sorted here: the two databases may collate text differently
        found = {name: sorted((tuple(row) for row in connection.execute(sql).fetchall()), key=repr)
                 for name, sql in queries.items()}
        cursor = connection.execute("SELECT * FROM window_instances LIMIT 0")
        columns = [d[0] for d in cursor.description]
    finally:
        connection.close()
    kept = [i for i, name in enumerate(columns) if name not in ("first_run", "updated_run")]
    found["instances"] = [tuple(row[i] for i in kept) for row in found["instances"]]
    return found


def evaluate_command(events: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "sla_engine.cli", "evaluate", "--policies", str(ROOT / "policies"),
            "--source", f"csv:{events}", "--db", str(db), "--as-of", AS_OF, "--no-deliver", "--chunk-leads", "10",
            "--format", "json"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[str, list[tuple]], float, float]:
    """400 generated leads, the tables one uninterrupted run leaves, how long the process took and how
    long its run was recorded as taking (from its first commit to its last)."""
    folder = tmp_path_factory.mktemp("generated")
    events = folder / "events.csv"
    subprocess.run([sys.executable, str(ROOT / "examples" / "generate.py"), "--leads", "400", "--seed", "11",
                    "--out", str(events)], check=True, capture_output=True, timeout=120)
    started = time.monotonic()
    done = subprocess.run(evaluate_command(events, folder / "whole.db"), cwd=folder, capture_output=True,
                          timeout=300)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    connection = sqlite3.connect(folder / "whole.db")
    begun, ended = connection.execute("SELECT started_at, finished_at FROM runs").fetchone()
    connection.close()
    span = (datetime.fromisoformat(ended) - datetime.fromisoformat(begun)).total_seconds()
    return events, tables(folder / "whole.db"), took, span


def counted(db: Path, sql: str) -> int:
    """A count read while another process may be creating or writing the store (0 when there is nothing yet)."""
    try:
        connection = sqlite3.connect(db, timeout=0.1)
        try:
            return int(connection.execute(sql).fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:
        return 0


def runs_recorded(db: Path) -> int:
    return counted(db, "SELECT count(*) FROM runs")


def judged_leads(db: Path) -> int:
    return counted(db, "SELECT count(*) FROM leads WHERE dirty = 0")


def kill_at_random(command: list[str], cwd: Path, db: Path, rng: random.Random, took: float, span: float) -> None:
    """Start the command and kill -9 it: a third of the time anywhere in its life (start-up, ingest, judging),
    otherwise at a random instant after its run was recorded, while it judges and commits chunks."""
    before = runs_recorded(db)
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if rng.random() < 1 / 3:
        time.sleep(rng.uniform(0, took))
    else:
        delay = rng.uniform(0, span)
        deadline = time.monotonic() + 120
        while runs_recorded(db) == before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(60)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_run_killed_at_random_points_and_run_again_leaves_what_one_uninterrupted_run_does(
        tmp_path, generated, seed):
    events, whole, took, span = generated
    rng = random.Random(seed)
    db = tmp_path / "killed.db"
    partial = 0
    for _ in range(3):
        kill_at_random(evaluate_command(events, db), tmp_path, db, rng, took, span)
        partial += 0 < judged_leads(db) < len(whole["leads"])
    done = subprocess.run(evaluate_command(events, db), cwd=tmp_path, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert tables(db) == whole
    print(f"seed {seed}: {partial} of 3 kills left some leads judged and others not ({took:.1f} s a run)")


def test_the_kills_above_can_land_between_chunks(tmp_path, generated):
    """A process killed once some chunks committed: the judged leads stay judged, the rest stay to do."""
    events, whole, _, _ = generated
    db = tmp_path / "s.db"
    process = subprocess.Popen(evaluate_command(events, db), cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    judged = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        judged = judged_leads(db)
        if judged >= 30:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(60)
    assert 30 <= judged < len(whole["leads"]), "the run finished before it could be killed mid-way"
    status = sqlite3.connect(db).execute("SELECT status FROM runs").fetchall()
    assert status == [("running",)]
    done = subprocess.run(evaluate_command(events, db), cwd=tmp_path, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert tables(db) == whole


def changed_goal(text: str = POLICY) -> str:
    return text.replace("goal tier1 2 business hours", "goal tier1 30m")


def test_a_policy_change_is_rejudged_a_chunk_per_run_while_each_run_judges_the_leads_that_need_it(tmp_path):
    store = Store(tmp_path / "s.db")
    events = history(12)
    run(store, events, at(23, 10, 30))
    text = changed_goal()
    changed = build_policy_set([parse_text(text, "test.sla")], {"test.sla": text})
    reference = Store(tmp_path / "reference.db")
    run(reference, events, at(23, 10, 30))

    late = [created("NEW", at(23, 11), lead_score=95), assigned("NEW", at(23, 11))]
    first = evaluate_run(changed, store, [("test", iter(late))], at(23, 12), chunk_leads=4, rejudge_seconds=0)
    assert first.full and first.rejudge_left > 0
    assert store.leads.state("NEW")  # the lead with new events is judged in the first run, not queued
    due = first.leads_evaluated - 1 - 4  # besides it and one chunk of the queue: leads whose deadline came
    assert due > 0 and first.rejudge_left == 12 - due - 4
    left = first.rejudge_left
    while left:
        report = evaluate_run(changed, store, [], at(23, 12), chunk_leads=4, rejudge_seconds=0)
        assert report.leads_evaluated == min(4, left) and report.rejudge_left == left - min(4, left)
        left = report.rejudge_left
    evaluate_run(changed, reference, [("test", iter(late))], at(23, 12))  # the whole re-judge in one run
    assert snapshot(store) == snapshot(reference)
    assert store.instances.status_counts() == reference.instances.status_counts()


def test_targets_are_judged_once_the_rejudge_is_done(tmp_path):
    store = Store(tmp_path / "s.db")
    run(store, history(8), at(23, 10, 30))
    text = changed_goal()
    changed = build_policy_set([parse_text(text, "test.sla")], {"test.sla": text})
    evaluate_run(changed, store, [], at(23, 12), chunk_leads=3, rejudge_seconds=0)
    assert store.worklist.state("targets_pending") == "1"
    while store.worklist.rejudge_left():
        evaluate_run(changed, store, [], at(23, 12), chunk_leads=3, rejudge_seconds=0)
    assert store.worklist.state("targets_pending") is None


def test_without_a_time_limit_one_run_rejudges_every_lead_in_chunks(tmp_path):
    store = Store(tmp_path / "s.db")
    run(store, history(10), at(23, 10, 30))
    text = changed_goal()
    changed = build_policy_set([parse_text(text, "test.sla")], {"test.sla": text})
    report = evaluate_run(changed, store, [], at(23, 12), chunk_leads=3)
    assert report.leads_evaluated == 10 and report.rejudge_left == 0 and store.worklist.rejudge_left() == 0


def test_a_first_run_queues_nothing_every_lead_being_new(tmp_path):
    store = Store(tmp_path / "s.db")
    report = run(store, history(6), at(23, 10, 30), chunk_leads=2)
    assert not report.full and report.leads_evaluated == 6 and store.worklist.rejudge_left() == 0
    assert store.worklist.state("policy_hash") == policy_set().content_hash


def test_a_dry_run_in_chunks_still_writes_nothing(tmp_path):
    store = Store(tmp_path / "s.db")
    run(store, history(6), at(23, 10, 30))
    before = snapshot(store)
    extra = [activity("L1", at(23, 10, 40))]
    report = run(store, extra, at(24, 12), chunk_leads=2, dry_run=True)
    assert report.leads_evaluated > 2
    assert snapshot(store) == before and store.count("runs") == 1


def test_chunks_judged_by_worker_processes_leave_what_one_process_does_and_resume_the_same(tmp_path):
    """Workers judge batches ahead of the writes; each chunk still commits only once all its batches are written."""
    events = history(12)
    alone = Store(tmp_path / "alone.db")
    run(alone, events, at(25, 12), workers=0)

    def crash(done: int, total: int) -> None:
        if done == 7:
            raise KeyboardInterrupt("killed")

    store = Store(tmp_path / "workers.db")
    with pytest.raises(KeyboardInterrupt):
        run(store, events, at(25, 12), workers=2, chunk_leads=3, progress=crash)
    assert store.count("leads", "dirty = 0") == 6  # two chunks of three committed, the third rolled back
    run(store, events, at(25, 12), workers=2, chunk_leads=3)
    assert snapshot(store) == snapshot(alone)
    assert store.instances.status_counts() == alone.instances.status_counts()
