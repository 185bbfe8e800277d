"""Judging on every core: worker processes judge, the run's process reads and writes.

A run judged by forked workers must leave the store exactly as a run judged in-process, events
ingested in the same run included; a worker that dies must fail the run and keep no half-judged chunk.
"""

from __future__ import annotations

import os
import sqlite3
from concurrent.futures.process import BrokenProcessPool

import pytest

from bench import run as bench
from connectors.csv_source import read_event_log
from sla_engine.engine.evaluate import Evaluator
from sla_engine.judging import PARALLEL_FROM, usable_cores, workers_for
from sla_engine.language.policy_set import load_policy_set
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from tests.test_chunked_runs import tables

TABLES = ("leads", "window_instances", "stage_entries", "outbox", "status_counts")


@pytest.fixture(scope="module")
def events_csv(tmp_path_factory):
    # 1,200 leads: three batches of 500, so workers judge several batches at once and out of step
    return bench.generate(1200, tmp_path_factory.mktemp("judging") / "events.csv")


def run_into(db, events_csv, workers):
    store = Store(db)
    try:
        report = evaluate_run(load_policy_set([bench.POLICIES]), store, [("csv", read_event_log(events_csv))],
                              bench.AS_OF, workers=workers)
    finally:
        store.close()
    return report


def table_rows(db):
    connection = sqlite3.connect(db)
    rows = {table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall() for table in TABLES}
    connection.close()
    return rows


def test_workers_leave_the_store_exactly_as_judging_in_process(tmp_path, events_csv):
    alone = run_into(tmp_path / "alone.db", events_csv, workers=0)
    shared = run_into(tmp_path / "workers.db", events_csv, workers=2)
    assert alone.leads_evaluated == shared.leads_evaluated == 1200
    assert shared.summary() == alone.summary()
    mine, theirs = table_rows(tmp_path / "workers.db"), table_rows(tmp_path / "alone.db")
    assert all(mine[table] for table in ("leads", "window_instances", "outbox"))
    for table in TABLES:
        assert mine[table] == theirs[table], table


def test_a_worker_that_dies_fails_the_run_keeping_no_half_judged_chunk_and_the_next_run_finishes(
        tmp_path, events_csv, monkeypatch):
    judge = Evaluator.evaluate

    def dies_on_one_lead(self, lead_id, *args, **kwargs):
        if lead_id == "L0000900":
            os._exit(9)  # as the kernel's out-of-memory killer would end it
        return judge(self, lead_id, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "evaluate", dies_on_one_lead)  # the workers fork with it
    db = tmp_path / "store.db"
    with pytest.raises(BrokenProcessPool):
        run_into(db, events_csv, workers=2)
    connection = sqlite3.connect(db)
    assert connection.execute("SELECT count(*) FROM events").fetchone()[0] > 0  # the ingest had committed
    assert connection.execute("SELECT count(*) FROM window_instances").fetchone() == (0,)  # its one chunk had not
    assert connection.execute("SELECT status FROM runs").fetchall() == [("running",)]
    connection.close()
    monkeypatch.undo()
    run_into(db, events_csv, workers=2)
    run_into(tmp_path / "alone.db", events_csv, workers=0)
    assert tables(db) == tables(tmp_path / "alone.db")  # all but the run numbers: the dead run was the first


def test_only_a_large_run_starts_workers():
    assert workers_for(10) == 0  # a cron tick's few leads: starting processes would cost more
    assert workers_for(PARALLEL_FROM) == (usable_cores() if usable_cores() > 1 else 0)
    assert workers_for(10, workers=3) == 3
    assert workers_for(10**6, workers=1) == 0
