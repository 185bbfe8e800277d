"""Round-robin turns: the member each team's round robin gave its last lead to, fair across runs."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from sla_engine.store.sql import iso


class RoundRobin:
    """The ``round_robin`` table: one row per team, advanced in the transaction that claims the outbox row."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def last_pick(self, team: str) -> str | None:
        """The member a team's round robin gave the last lead to."""
        row = self.conn.execute("SELECT last_member FROM round_robin WHERE team = ?", (team,)).fetchone()
        return row[0] if row else None

    def remember_pick(self, team: str, member: str, now: datetime) -> None:
        """Advance a team's round robin; call in the transaction that claims the outbox row."""
        self.conn.execute(
            "INSERT INTO round_robin (team, last_member, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (team) DO UPDATE SET last_member = excluded.last_member, updated_at = excluded.updated_at",
            (team, member, iso(now)),
        )
