"""Several processes judge one run on PostgreSQL: `evaluate` opens the run, `evaluate --join` claims chunks of
it beside it, and whatever the processes and wherever they are killed, the store ends as one process leaves it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from sla_engine.store.backend import open_location
from sla_engine.store.worklist import DUE, REJUDGE, ChunkCounts
from tests.engine.test_evaluate import at, policy_set
from tests.test_chunked_runs import AS_OF, ROOT, evaluate_command, tables
from tests.test_chunked_runs import generated as generated  # the fixture: 400 leads and one process's tables
from tests.test_runner import history, run

JOINERS = 3


def join_command(url: str, wait: float = 120, policies: Path = ROOT / "policies") -> list[str]:
    return [sys.executable, "-m", "sla_engine.cli", "evaluate", "--policies", str(policies), "--db", url,
            "--join", "--lock-timeout", str(wait), "--format", "json"]


def start(command: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finished(process: subprocess.Popen[bytes]) -> tuple[int, dict, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, json.loads(out) if out.strip() else {}, err.decode()


def chunks_of(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, done_by, leads FROM run_chunks ORDER BY id").fetchall()


def connected(url: str, count: int, timeout: float = 120) -> None:
    """Return once ``count`` other sessions are connected to the database (the joiners are waiting)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            found = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()").fetchone()
            if found and found[0] >= count:
                return
            time.sleep(0.05)
    raise AssertionError(f"{count} processes did not connect")


def lock_free(store, chunk_id: int, timeout: float = 30) -> None:
    """Return once no session holds a claim on the chunk (a closed session's backend ends a moment later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = store.conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                  "AND objsubid = 2 AND objid = ?", (chunk_id,)).fetchone()
        if not held[0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"chunk {chunk_id} is still claimed")


def test_four_processes_judging_one_run_leave_what_one_process_does(tmp_path, pg_url, generated):
    events, whole, _, _ = generated
    joiners = [start(join_command(pg_url), tmp_path) for _ in range(JOINERS)]
    connected(pg_url, JOINERS)  # waiting for the run to open, as hosts started a little before it
    leader = start(evaluate_command(events, pg_url), tmp_path)  # 10 leads a chunk
    code, ran, err = finished(leader)
    assert code == 0, err
    joined = [finished(joiner) for joiner in joiners]
    assert all(code == 0 for code, _, _ in joined), [err for _, _, err in joined]

    assert tables(pg_url) == whole
    chunks = chunks_of(pg_url)
    assert len(chunks) >= len(whole["leads"]) // 10 and all(done_by for _, done_by, _ in chunks)
    processes = {done_by for _, done_by, _ in chunks}
    assert len(processes) >= 2, "no process joined the run"
    # every lead judged once: the processes' own counts add up to the run's
    judged_by_joiners = sum(output["joined"]["leads_judged"] for _, output, _ in joined if output.get("joined"))
    assert ran["run"]["processes"] == len(processes)
    assert ran["run"]["leads_evaluated"] == sum(leads for _, _, leads in chunks) == len(whole["leads"])
    assert 0 < judged_by_joiners < len(whole["leads"])


@pytest.mark.parametrize("seed", [1, 2])
def test_processes_killed_at_random_points_lose_nothing_and_record_nothing_twice(tmp_path, pg_url, generated,
                                                                                 seed):
    """Three rounds of a run and three joiners, each process killed -9 at a random instant or not at all
    (the run's own process too), then one more round left alone: the tables one uninterrupted process leaves,
    every outbox row once."""
    events, whole, took, _ = generated
    rng = random.Random(seed)
    for _ in range(3):
        processes = [start(join_command(pg_url, wait=5), tmp_path) for _ in range(JOINERS)]
        processes.insert(rng.randrange(JOINERS + 1), start(evaluate_command(events, pg_url), tmp_path))
        kills = sorted((rng.uniform(0, took * 1.5), index) for index in range(len(processes)) if rng.random() < 0.6)
        started = time.monotonic()
        for moment, index in kills:
            time.sleep(max(0.0, started + moment - time.monotonic()))
            if processes[index].poll() is None:
                os.kill(processes[index].pid, signal.SIGKILL)
        for process in processes:
            process.communicate(timeout=300)
    last = [start(join_command(pg_url, wait=5), tmp_path) for _ in range(JOINERS)]
    leader = start(evaluate_command(events, pg_url), tmp_path)
    code, _, err = finished(leader)
    assert code == 0, err
    for joiner in last:
        assert finished(joiner)[0] == 0
    assert tables(pg_url) == whole


def test_a_claim_is_one_processes_until_it_lets_go_or_its_session_ends(pg_url):
    """The store's side: two sessions never hold the same chunk; a closed session's claims go back to the pool;
    a chunk done is never handed out again; a run closed to claims hands out nothing."""
    first, second = open_location(pg_url), open_location(pg_url)
    run(first, history(6), at(23, 10))  # leads to judge again below
    with first.transaction():
        assert first.worklist.select_due(at(25, 12)) > 0 or True
        first.worklist.queue_judged_leads()
        first.worklist.publish(run_id=99, size=2)
    chunks = first.worklist.unclaimed(99, (DUE, REJUDGE))
    assert len(chunks) >= 3
    a = first.worklist.claim(99, (DUE, REJUDGE))
    b = second.worklist.claim(99, (DUE, REJUDGE))
    assert a is not None and b is not None and a.id != b.id
    with second.transaction():
        second.worklist.finished(b, ChunkCounts(leads=2), "second")
    second.worklist.release(b)
    first.close()  # a process that dies: its claim on `a` goes with its session
    third = open_location(pg_url)
    lock_free(third, a.id)
    taken = [third.worklist.claim(99, (DUE, REJUDGE)) for _ in range(len(chunks) - 1)]
    assert [chunk.id for chunk in taken if chunk] == [chunk.id for chunk in chunks if chunk.id != b.id]
    assert third.worklist.claim(99, (DUE, REJUDGE)) is None
    for chunk in taken:
        assert chunk is not None
        third.worklist.release(chunk)
    with third.transaction():
        third.worklist.close_run()
    assert second.worklist.claim(99, (DUE, REJUDGE)) is None  # closed: nothing more is handed out
    third.worklist.wait_for_claims()
    second.close()
    third.close()


def test_a_process_joins_only_a_run_of_its_own_policies(tmp_path, pg_url, generated):
    events, _, _, _ = generated
    other = tmp_path / "policies"
    other.mkdir()
    for path in (ROOT / "policies").iterdir():
        if path.is_file():
            (other / path.name).write_bytes(path.read_bytes())
    shipped = next(p for p in other.glob("*.sla"))
    shipped.write_text(shipped.read_text() + "\n# a changed comment changes the policy set\n")
    leader = start(evaluate_command(events, pg_url), tmp_path)
    joiner = subprocess.run(join_command(pg_url, policies=other), cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert finished(leader)[0] == 0
    assert joiner.returncode == 1
    assert "judges policy set" in joiner.stderr and "same policies" in joiner.stderr


def test_joining_needs_a_postgresql_store_and_waits_for_a_run_to_open(tmp_path, pg_url):
    on_sqlite = subprocess.run(join_command(str(tmp_path / "s.db")), cwd=tmp_path, capture_output=True, text=True,
                               timeout=120)
    assert on_sqlite.returncode == 1 and "needs a PostgreSQL store" in on_sqlite.stderr
    nothing = subprocess.run(join_command(pg_url, wait=1), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert nothing.returncode == 0 and json.loads(nothing.stdout)["joined"] is None
    refused = subprocess.run([*join_command(pg_url, wait=1), "--as-of", AS_OF], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 1 and "drop --as-of" in refused.stderr


def test_one_process_alone_marks_every_chunk_of_its_run_done_by_itself(tmp_path):
    store = open_location(str(tmp_path / "s.db"))
    run(store, history(12), at(25, 12))
    rows = store.conn.execute("SELECT done_by, leads FROM run_chunks").fetchall()
    assert rows and len({done_by for done_by, _ in rows}) == 1
    assert sum(leads for _, leads in rows) == 12
    assert store.worklist.open_run() is None  # the run closed to claims when it finished
    store.close()
    assert policy_set  # the policies every run above judges with

