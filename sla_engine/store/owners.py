"""Each CRM's users and queues in the store: owner ids read as people, people written as ids.

Policies and reports speak of people (emails in teams and contacts); CRMs speak of owner ids
(Salesforce 005… users and 00G… queues, HubSpot owner ids). Sync replaces a source's owners
whole each time it reads them (``Owners.replace``), in the transaction that stores its events.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from sla_engine.connector import Owner
from sla_engine.store.sql import iso, now_utc


class Owners:
    """The ``owners`` table: one row per (source, owner id)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def replace(self, source: str, owners: Iterable[Owner]) -> int:
        """Make the stored owners of ``source`` exactly these; call inside the sync's transaction."""
        rows = {o.id: o for o in owners}
        stamp = iso(now_utc())
        self.conn.execute("DELETE FROM owners WHERE source = ?", (source,))
        self.conn.executemany(
            "INSERT INTO owners (source, owner_id, email, name, kind, active, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(source, o.id, (o.email or None), o.name, o.kind, int(o.active), stamp) for o in rows.values()],
        )
        return len(rows)

    def has_owners(self, source: str) -> bool:
        """Whether owners were ever read from this source (a CSV source has none)."""
        return self.conn.execute("SELECT 1 FROM owners WHERE source = ? LIMIT 1", (source,)).fetchone() is not None

    def id_for(self, source: str, email: str) -> str | None:
        """The active user of ``source`` with this email (any case), or None."""
        row = self.conn.execute(
            "SELECT owner_id FROM owners WHERE source = ? AND lower(email) = lower(?) AND active = 1 "
            "AND kind = 'user' ORDER BY owner_id LIMIT 1", (source, email.strip())).fetchone()
        return str(row[0]) if row else None

    def all(self) -> dict[str, Owner]:
        """Every stored owner by id (ids of different CRMs do not collide: 005… / 00G… / digits)."""
        rows = self.conn.execute("SELECT owner_id, email, name, kind, active FROM owners ORDER BY source, owner_id")
        return {str(i): Owner(id=str(i), email=e, name=n or "", kind=k, active=bool(a)) for i, e, n, k, a in rows}


def label(owner: Owner) -> str:
    """How a person or queue is shown: 'Name <email>', the email, or the queue's name."""
    if owner.kind == "queue":
        return f"{owner.name or owner.id} (queue)"
    if owner.name and owner.email:
        return f"{owner.name} <{owner.email}>"
    return owner.email or owner.name or owner.id


def short_label(owner: Owner) -> str:
    """A person or queue in a table column: the name, else the email."""
    if owner.kind == "queue":
        return f"{owner.name or owner.id} (queue)"
    return owner.name or owner.email or owner.id
