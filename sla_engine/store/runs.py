"""Runs: one row per evaluate run, what it judged against (policies, commit) and what it counted."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from sla_engine.store.sql import iso, now_utc


class Runs:
    """The ``runs`` table: a run's row is written in its first transaction, finished in its last one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def start(self, as_of: datetime, policy_hash: str, git_commit: str | None, dry_run: bool) -> int:
        """Record a run as running; returns its id."""
        cursor = self.conn.execute(
            "INSERT INTO runs (started_at, as_of, status, policy_hash, git_commit, dry_run) "
            "VALUES (?, ?, 'running', ?, ?, ?) RETURNING id",
            (iso(now_utc()), iso(as_of), policy_hash, git_commit, int(dry_run)),
        )
        return int(cursor.fetchone()[0])

    def finish(self, run_id: int, counts: dict[str, Any], status: str = "finished") -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE id = ?",
            (iso(now_utc()), status, json.dumps(counts, sort_keys=True), run_id),
        )

    def last(self) -> dict[str, Any] | None:
        """The last finished run that was not a dry run: its id, as-of and policy hash."""
        row = self.conn.execute(
            "SELECT id, as_of, policy_hash FROM runs WHERE status = 'finished' AND dry_run = 0 "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "as_of": datetime.fromisoformat(row[1]), "policy_hash": row[2]}

    def newest(self) -> tuple[int, str] | None:
        """The id and status of the last run begun (dry runs write no row)."""
        row = self.conn.execute("SELECT id, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def get(self, run_id: int) -> dict[str, Any]:
        """A run's as-of, policy hash and commit."""
        row = self.conn.execute("SELECT as_of, policy_hash, git_commit FROM runs WHERE id = ?", (run_id,)).fetchone()
        return {"as_of": datetime.fromisoformat(row[0]), "policy_hash": row[1], "git_commit": row[2]}

    def latest_as_of(self) -> datetime | None:
        """The latest as-of a run wrote results at, finished or killed (a dry run writes nothing)."""
        row = self.conn.execute("SELECT max(as_of) FROM runs WHERE dry_run = 0").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def mark_interrupted(self) -> int:
        """Runs left 'running' by a process that died; called by the run that holds the lock now."""
        return self.conn.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'").rowcount
