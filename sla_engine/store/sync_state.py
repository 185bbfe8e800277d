"""Sync cursors and push state: where each source's pull goes on from, what each push target holds.

Cursors live in ``sync_state`` (one row per connector instance and stream) and are written in
the caller's transaction, the one that stores the pulled events: they advance only when the
events commit. ``push_state`` remembers what was last written to each target, so a push with
nothing changed sends nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

from sla_engine.connector import Cursor
from sla_engine.store.sql import iso, now_utc


class SyncState:
    """The ``sync_state`` and ``push_state`` tables."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def cursors(self, connector: str) -> dict[str, Cursor | None]:
        """Each stream's stored cursor for this connector instance."""
        rows = self.conn.execute("SELECT stream, cursor FROM sync_state WHERE connector = ?", (connector,))
        return {stream: Cursor.parse(cursor) for stream, cursor in rows}

    def save_cursors(self, connector: str, cursors: Mapping[str, Cursor]) -> None:
        """Write cursors; call inside the transaction that stores the pulled events."""
        stamp = iso(now_utc())
        self.conn.executemany(
            "INSERT INTO sync_state (connector, stream, cursor, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (connector, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            [(connector, stream, cursor.dump(), stamp) for stream, cursor in cursors.items()],
        )

    def pushed(self, target: str) -> dict[str, str]:
        """Fingerprint of what was last written, by update key."""
        rows = self.conn.execute("SELECT key, fingerprint FROM push_state WHERE target = ?", (target,))
        return dict(rows.fetchall())

    def record_pushed(self, target: str, written: Iterable[tuple[str, str, str | None]]) -> None:
        """Remember (key, fingerprint, remote_id) of each update the target accepted."""
        stamp = iso(now_utc())
        self.conn.executemany(
            "INSERT INTO push_state (target, key, fingerprint, remote_id, pushed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (target, key) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "remote_id = coalesce(excluded.remote_id, push_state.remote_id), pushed_at = excluded.pushed_at",
            [(target, key, print_, remote_id, stamp) for key, print_, remote_id in written],
        )
