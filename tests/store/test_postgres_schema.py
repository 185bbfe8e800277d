"""The PostgreSQL schema is SQLite's: the same migrations reach the same tables, columns and indexes."""

from __future__ import annotations

import threading

import psycopg

from sla_engine.store.db import MIGRATIONS, Store
from sla_engine.store.postgres_schema import DERIVED, migrate, postgres_migration, schema_version

# SQLite's declared type → what PostgreSQL reports for the rewritten column
TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision"}


def sqlite_schema(store: Store) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    """table → column → (type, not null, in the primary key)."""
    tables = [name for (name,) in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {table: {row[1]: (TYPES[row[2]], bool(row[3]) or bool(row[5]), bool(row[5]))
                    for row in store.conn.execute(f"PRAGMA table_info({table})")}
            for table in tables}


def postgres_schema(conn: psycopg.Connection) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    keys = {(table, column) for table, column in conn.execute(
        "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
        "JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name) "
        "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public'")}
    schema: dict[str, dict[str, tuple[str, bool, bool]]] = {}
    for table, column, data_type, nullable in conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name != 'sla_schema'"):
        schema.setdefault(table, {})[column] = (data_type, nullable == "NO", (table, column) in keys)
    return schema


def test_both_dialects_reach_the_same_tables_columns_and_indexes(tmp_path, pg_url):
    store = Store(tmp_path / "s.db")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn) == (0, len(MIGRATIONS))
        postgres = postgres_schema(conn)
        # PostgreSQL's own derived columns (the state parsed once, for the metric queries), and only those
        assert [(table, column) for table, column, _ in DERIVED] == [("leads", "doc")]
        assert postgres["leads"].pop("doc") == ("jsonb", False, False)
        assert postgres == sqlite_schema(store)
        sqlite_indexes = {name for (name,) in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        postgres_indexes = {name for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'")}
        assert postgres_indexes == sqlite_indexes


def test_migrating_again_changes_nothing_and_an_older_database_is_brought_up_to_date(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with conn.transaction():  # a database left at version 2 by an older release
            conn.execute("CREATE TABLE sla_schema (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO sla_schema VALUES (2)")
            for number in (1, 2):
                for statement in postgres_migration(number).split(";"):
                    if statement.strip():
                        conn.execute(statement)
        assert migrate(conn) == (2, len(MIGRATIONS))
        assert migrate(conn) == (len(MIGRATIONS), len(MIGRATIONS))
        assert conn.execute("SELECT count(*) FROM sla_schema").fetchone() == (1,)


def test_workers_starting_together_on_a_new_database_migrate_it_once(pg_url):
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                start.wait()
                results.append(migrate(conn))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(results) == [(0, len(MIGRATIONS))] + [(len(MIGRATIONS), len(MIGRATIONS))] * 3
    with psycopg.connect(pg_url) as conn:
        assert schema_version(conn) == len(MIGRATIONS)



def test_a_lead_state_postgresql_cannot_parse_reads_as_no_fields_rather_than_failing_a_write(pg_url):
    """Python writes NaN into JSON; PostgreSQL's jsonb refuses it. The derived column is then NULL."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO leads (lead_id, state) VALUES ('a', %s), ('b', %s)",
                     ('{"budget": NaN, "region": "NA"}', '{"region": "NA"}'))
        assert conn.execute("SELECT lead_id, doc FROM leads ORDER BY lead_id").fetchall() == [
            ("a", None), ("b", {"region": "NA"})]
        conn.execute("UPDATE leads SET state = '{\"region\": \"EMEA\"}' WHERE lead_id = 'a'")
        assert conn.execute("SELECT doc ->> 'region' FROM leads WHERE lead_id = 'a'").fetchone() == ("EMEA",)
