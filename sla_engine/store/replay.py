"""A store's events read back lead by lead for a replay (`sla-engine diff`), writing nothing.

A replay judges every lead's history again, so it streams: one lead's events at a time, never
the table. Either store is read as it is, neither opened for writing nor migrated:

- an SQLite file is opened read-only;
- a PostgreSQL database is read in one read-only, repeatable-read transaction (the server
  refuses any write in it, and the lead count and the histories see the same events) through a
  server-side cursor that fetches a few thousand rows at a time. Its ordering and comparisons
  are byte order (``COLLATE "C"``), as SQLite's, whatever the database's locale, so both stores
  give the leads, and each lead's events, in the same order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sla_engine.events import LeadEvent
from sla_engine.redact import scrub
from sla_engine.store.errors import StoreError
from sla_engine.store.events import histories_by_lead, histories_until, lead_count_until, open_read_only
from sla_engine.store.location import display, is_postgres
from sla_engine.store.sql import iso

if TYPE_CHECKING:
    import psycopg

FETCH = 5000  # rows per round trip of the server-side cursor: a few hundred leads, a few MB at most

_HISTORIES = (
    'SELECT event_id, lead_id, occurred_at, source, type, payload FROM events WHERE occurred_at COLLATE "C" <= %s '
    'ORDER BY lead_id COLLATE "C", occurred_at COLLATE "C", event_id COLLATE "C"'
)
_LEAD_COUNT = 'SELECT count(DISTINCT lead_id) FROM events WHERE occurred_at COLLATE "C" <= %s'


class Replay(Protocol):
    """Lead histories up to an instant, one lead at a time in lead order, from a store read only."""

    label: str  # what the report names the history by (a URL with its password hidden)

    def histories(self, as_of: datetime) -> Iterator[tuple[str, list[LeadEvent]]]: ...

    def lead_count(self, as_of: datetime) -> int: ...

    def close(self) -> None: ...


class SQLiteReplay:
    """The events of an SQLite connection: a store opened read-only, or diff's own scratch store."""

    def __init__(self, conn: sqlite3.Connection, label: str) -> None:
        self.conn = conn
        self.label = label

    def histories(self, as_of: datetime) -> Iterator[tuple[str, list[LeadEvent]]]:
        return histories_until(self.conn, as_of)

    def lead_count(self, as_of: datetime) -> int:
        return lead_count_until(self.conn, as_of)

    def close(self) -> None:
        self.conn.close()


class PostgresReplay:
    """The events of a PostgreSQL store, in one read-only snapshot, streamed by a server-side cursor."""

    def __init__(self, conn: psycopg.Connection[Any], label: str) -> None:
        self.conn = conn
        self.label = label
        self._cursors = 0

    def histories(self, as_of: datetime) -> Iterator[tuple[str, list[LeadEvent]]]:
        """Raises StoreError when the server stops answering part way (a dropped connection, a timeout)."""
        import psycopg

        self._cursors += 1
        cursor = self.conn.cursor(name=f"replay_{self._cursors}")
        cursor.itersize = FETCH
        try:
            cursor.execute(_HISTORIES, (iso(as_of),))
            yield from histories_by_lead(cursor)
        except psycopg.Error as error:
            raise StoreError(f"reading the events of {self.label} stopped: {scrub(str(error)).strip()}") from None
        finally:
            with suppress(psycopg.Error):
                cursor.close()

    def lead_count(self, as_of: datetime) -> int:
        row = self.conn.execute(_LEAD_COUNT, (iso(as_of),)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()  # nothing was written: the snapshot is simply let go
            self.conn.close()


def open_replay(location: str | Path) -> Replay:
    """The events of the store at ``location`` (a file or a PostgreSQL URL), read only, never migrated.

    Raises StoreError when there is no such store or it holds no events table.
    """
    if is_postgres(location):
        return _open_postgres(str(location).strip())
    path = Path(location)
    if not path.is_file():
        raise StoreError(f"{path}: no such store; run `sla-engine evaluate` first or pass --events csv:PATH")
    try:
        return SQLiteReplay(open_read_only(path), str(path))
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path}: not an sla-engine store ({error})") from None


def _open_postgres(url: str) -> PostgresReplay:
    from sla_engine.store.postgres import connect

    conn = connect(url)  # says so when psycopg is not installed
    import psycopg

    try:
        conn.autocommit = False  # one transaction for the whole replay: one snapshot
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        found = conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()
    except psycopg.Error as error:
        conn.close()
        raise StoreError(f"cannot read the PostgreSQL store {display(url)}: {scrub(str(error)).strip()}") from None
    if not found or not found[0]:
        conn.close()
        raise StoreError(f"{display(url)}: not an sla-engine store (it has no events table)")
    return PostgresReplay(conn, display(url))
