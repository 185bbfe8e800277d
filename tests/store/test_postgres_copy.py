"""Moving a store to PostgreSQL: `sla-engine migrate` creates the schema and copies an SQLite store across."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from sla_engine import app
from sla_engine.cli import main
from sla_engine.store.db import MIGRATIONS, Store
from sla_engine.store.errors import StoreError
from tests.engine.test_evaluate import at
from tests.test_cli import invoke_in
from tests.test_cli import project as project  # the fixture
from tests.test_runner import history, run

TABLES = ("events", "leads", "window_instances", "outbox", "quarantine", "runs", "stage_entries", "status_counts")


def filled_store(path: Path) -> Path:
    """An SQLite store after two real runs: instances, outbox rows, stage entries, runs."""
    store = Store(path)
    events = history(12)
    run(store, events[: len(events) // 2], at(20, 12))
    run(store, events, at(24, 12))
    with store.transaction():
        store.quarantine.keep("crm", "leads.csv", 7, "no lead id", {"Id": "", "Name": "Ada\x1b[2J"}, 2)
    store.close()
    return path


def rows_of(conn: sqlite3.Connection | psycopg.Connection, table: str) -> list[tuple]:
    """The table's rows in the migrations' columns (PostgreSQL derives ``leads.doc`` besides)."""
    columns = "*" if isinstance(conn, sqlite3.Connection) else ", ".join(
        f'"{name}"' for name, *_ in conn.execute(
            "SELECT attname, attnum FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", (f'"{table}"',)))
    return sorted((tuple(row) for row in conn.execute(f'SELECT {columns} FROM "{table}"')), key=repr)


def test_a_copied_store_holds_every_row_of_every_table_as_sqlite_had_it(tmp_path, pg_url):
    source = filled_store(tmp_path / "s.db")
    before, after, copied = app.migrate_store(pg_url, source)
    assert (before, after) == (0, len(MIGRATIONS))
    sqlite = sqlite3.connect(source)
    with psycopg.connect(pg_url) as conn:
        for table in TABLES:
            expected = rows_of(sqlite, table)
            assert expected, f"the fixture store should fill {table}"
            assert rows_of(conn, table) == expected, table
            assert copied[table] == len(expected)
        # the next run gets the next id, not one the copy already used
        next_id = conn.execute("INSERT INTO runs (started_at, as_of, status) VALUES ('a', 'b', 'c') RETURNING id")
        assert next_id.fetchone()[0] == max(row[0] for row in rows_of(sqlite, "runs")) + 1


def test_copying_into_a_store_that_holds_rows_copies_nothing(tmp_path, pg_url):
    source = filled_store(tmp_path / "s.db")
    app.migrate_store(pg_url, source)
    with pytest.raises(StoreError, match="already holds rows in events"):
        app.migrate_store(pg_url, source)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(history(12))


def test_migrate_creates_a_postgres_schema_once_and_never_shows_the_password(tmp_path, pg_url):
    with_password = pg_url.replace("postgresql://sla@", "postgresql://sla:s3cret-pw@")
    first = invoke_in(tmp_path, main, "migrate", "--db", with_password)
    again = invoke_in(tmp_path, main, "migrate", "--db", with_password)
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert f"schema upgraded from version 0 to {len(MIGRATIONS)}" in first.output
    assert f"already at version {len(MIGRATIONS)}" in again.output
    assert "sla:***@" in first.output and "s3cret-pw" not in first.output + again.output


def test_an_unreachable_postgres_store_is_one_message_without_the_password(tmp_path):
    url = f"postgresql://sla:hunter2-pw@/sla?host={tmp_path}/nowhere&connect_timeout=2"
    result = invoke_in(tmp_path, main, "migrate", "--db", url)
    assert result.exit_code != 0
    assert "cannot open the PostgreSQL store postgresql://sla:***@" in result.output
    assert "hunter2-pw" not in result.output and "Traceback" not in result.output


def test_migrate_reads_the_configured_store_and_copies_with_the_cli(tmp_path, pg_url):
    source = filled_store(tmp_path / "old.db")
    (tmp_path / "sla-engine.toml").write_text(f'db = "{pg_url}"\n', encoding="utf-8")
    result = invoke_in(tmp_path, main, "migrate", "--copy-from", str(source))
    assert result.exit_code == 0, result.output
    sqlite = sqlite3.connect(source)
    tables = [name for (name,) in sqlite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    total = sum(len(rows_of(sqlite, table)) for table in tables)
    assert f"copied {total} rows from {source} (" in result.output
    assert f"events {len(history(12))}" in result.output


def test_an_sqlite_store_is_migrated_in_place_and_cannot_be_copied_into(tmp_path):
    result = invoke_in(tmp_path, main, "migrate", "--db", "new.db")
    assert result.exit_code == 0 and f"new.db: schema upgraded from version 0 to {len(MIGRATIONS)}" in result.output
    refused = invoke_in(tmp_path, main, "migrate", "--db", "new.db", "--copy-from", "new.db")
    assert refused.exit_code == 1 and "give --db postgresql://" in refused.output


def test_evaluate_outbox_report_and_explain_on_postgres_say_what_they_say_on_sqlite(project, pg_url):
    as_of = ("--as-of", "2026-11-23T17:00:00Z")
    on_sqlite = invoke_in(project, main, "evaluate", *as_of, "--format", "json", "--no-deliver")
    on_postgres = invoke_in(project, main, "evaluate", "--db", pg_url, *as_of, "--format", "json", "--no-deliver")
    assert on_sqlite.exit_code == on_postgres.exit_code == 0, on_postgres.output
    assert json.loads(on_postgres.output) == json.loads(on_sqlite.output)
    outboxes = [invoke_in(project, main, "outbox", *db, "--format", "json") for db in ((), ("--db", pg_url))]
    assert outboxes[0].exit_code == outboxes[1].exit_code == 0
    assert json.loads(outboxes[1].output) == json.loads(outboxes[0].output) != []
    reports = [invoke_in(project, main, "report", *db, "--format", "json") for db in ((), ("--db", pg_url))]
    assert reports[0].exit_code == reports[1].exit_code == 0, reports[1].output
    built = [{k: v for k, v in json.loads(r.output).items() if k != "generated_at"} for r in reports]
    assert built[1] == built[0]
    explained = [invoke_in(project, main, "explain", "slow", *db, "--format", "json") for db in ((), ("--db", pg_url))]
    assert explained[0].exit_code == explained[1].exit_code == 0, explained[1].output
    assert json.loads(explained[1].output) == json.loads(explained[0].output)
