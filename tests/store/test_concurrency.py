"""Several runs at once on a store that is new, or one migration behind: all succeed or wait, none fails."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from sla_engine.store.backend import open_location
from sla_engine.store.db import MIGRATIONS, Store, _statements

RUNS = 4


def _open_and_write(path: str, start, results) -> None:
    start.wait(30)
    try:
        store = open_location(path)
        with store.locked(wait_seconds=30), store.transaction():
            store.conn.execute("INSERT INTO round_robin (team, last_member, updated_at) VALUES (?, 'x', 'now')",
                               (str(multiprocessing.current_process().pid),))
        results.put(("ok", store.version))
        store.close()
    except BaseException as error:
        results.put(("error", f"{type(error).__name__}: {error}"))


def _race(path: Path, rounds: int = 3) -> list[tuple[str, object]]:
    context = multiprocessing.get_context("fork")
    outcomes = []
    for _ in range(rounds):
        if path.exists() and not _is_behind(path):
            break
        start, results = context.Event(), context.Queue()
        workers = [context.Process(target=_open_and_write, args=(str(path), start, results)) for _ in range(RUNS)]
        for worker in workers:
            worker.start()
        start.set()
        outcomes += [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(30)
    return outcomes


def _is_behind(path: Path) -> bool:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS)


def _store_one_migration_behind(path: Path) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    for number, script in enumerate(MIGRATIONS[:-1], start=1):
        for statement in _statements(script):
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {number}")
    connection.close()


@pytest.mark.parametrize("attempt", range(3))
def test_four_first_runs_on_a_brand_new_store_all_succeed(tmp_path, attempt):
    path = tmp_path / f"new{attempt}.db"
    outcomes = _race(path, rounds=1)
    assert outcomes == [("ok", len(MIGRATIONS))] * RUNS
    assert Store(path).count("round_robin") == RUNS


@pytest.mark.parametrize("attempt", range(3))
def test_four_first_runs_after_an_upgrade_all_succeed_and_migrate_once(tmp_path, attempt):
    path = tmp_path / f"old{attempt}.db"
    _store_one_migration_behind(path)
    assert _is_behind(path)
    outcomes = _race(path, rounds=1)
    assert outcomes == [("ok", len(MIGRATIONS))] * RUNS
    assert Store(path).count("round_robin") == RUNS


def test_four_first_runs_on_a_new_postgres_database_migrate_it_once_and_all_succeed(pg_url):
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_open_and_write, args=(pg_url, start, results)) for _ in range(RUNS)]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert outcomes == [("ok", len(MIGRATIONS))] * RUNS
    store = open_location(pg_url)
    assert store.count("round_robin") == RUNS
    store.close()
