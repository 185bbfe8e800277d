"""Moving to PostgreSQL: a one-shot copy of an SQLite store into an empty PostgreSQL store.

Both are first brought to the latest schema version (the same migrations, see postgres_schema),
so every table has the same columns on both sides; each table then goes across with COPY, the
whole copy in one transaction: it lands complete or not at all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_engine.store.db import Store
from sla_engine.store.errors import StoreError
from sla_engine.store.postgres_schema import migrate

if TYPE_CHECKING:
    import psycopg


def copy_sqlite_store(source: Path, conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Copy every table of the SQLite store at ``source`` into the (empty) PostgreSQL store;
    returns the rows copied per table."""
    if not Path(source).is_file():
        raise StoreError(f"{source}: no SQLite store to copy")
    Store(source).close()  # brings the file to the latest version, as any command opening it would
    migrate(conn)
    sqlite = sqlite3.connect(f"file:{Path(source).resolve()}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in sqlite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        copied: dict[str, int] = {}
        with conn.transaction():
            for table in tables:
                _refuse_if_filled(conn, table)
                copied[table] = _copy_table(sqlite, conn, table)
            conn.execute("SELECT setval(pg_get_serial_sequence('runs', 'id'), coalesce(max(id), 0) + 1, false) "
                         "FROM runs")
        return copied
    finally:
        sqlite.close()


def _refuse_if_filled(conn: psycopg.Connection[Any], table: str) -> None:
    if conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None:
        raise StoreError(f"the PostgreSQL store already holds rows in {table}: copy into an empty store only; "
                         "nothing was copied")


def _copy_table(sqlite: sqlite3.Connection, conn: psycopg.Connection[Any], table: str) -> int:
    columns = [row[1] for row in sqlite.execute(f'PRAGMA table_info("{table}")')]
    names = ", ".join(f'"{column}"' for column in columns)
    count = 0
    with conn.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in sqlite.execute(f'SELECT {names} FROM "{table}"'):
            copy.write_row(row)
            count += 1
    return count
