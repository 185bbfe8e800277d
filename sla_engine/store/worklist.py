"""What an `evaluate` run still has to judge, kept so that a run can commit in chunks and resume.

A run commits every chunk of leads it judges, so its write-ahead log stays the size of a chunk
and a crash loses only the chunk in flight. What is left is always in the store, never only in
the crashed process:

- a lead with new events is ``dirty`` until the chunk that judges it commits;
- a lead whose deadline has come keeps its ``next_check_at`` until then;
- a policy change queues the leads it can affect in ``rejudge``; the chunk that judges a lead
  takes it off, in the transaction that writes its judgement;
- ``run_state`` keeps what a run left to do beyond leads: the policy set the queue was made for
  (``policy_hash``) and whether targets still have to be judged (``targets_pending``);
- ``rule_fingerprints`` keeps each window's and target's fingerprint as last queued, so the
  next change queues only the leads of the rules it changed.

A run takes its leads in lead order, a chunk at a time, from one list and then the other: ``DUE``,
its own list of leads with new events or a deadline come (a temporary table made by
``select_due``), and ``REJUDGE``, the queue. The SQL is the subset SQLite and PostgreSQL share;
the PostgreSQL store names its temporary table its own way (``tables``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import ClassVar

from sla_engine.store.events import StoredRow, histories_by_lead
from sla_engine.store.sql import iso

DUE = "due"  # the leads this run selected: new events or a deadline come
REJUDGE = "rejudge"  # the leads a policy change queued, judged over as many runs as it takes


class Worklist:
    """The ``rejudge`` and ``run_state`` tables, and the run's own list of due leads."""

    tables: ClassVar[dict[str, str]] = {DUE: "temp.todo", REJUDGE: "rejudge"}

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def state(self, name: str) -> str | None:
        row = self.conn.execute("SELECT value FROM run_state WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, name: str, value: str | None) -> None:
        """Remember (or, with None, forget) a piece of the store's unfinished work."""
        if value is None:
            self.conn.execute("DELETE FROM run_state WHERE name = ?", (name,))
        else:
            self.conn.execute(
                "INSERT INTO run_state (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def select_due(self, as_of: datetime) -> int:
        """List, inside SQLite, the leads with new events or a deadline come; returns how many.

        A temporary table rather than a Python list, so a first run over a million leads costs no
        memory here; it outlives the run's commits (it belongs to the connection).
        """
        due = self.tables[DUE]
        self.conn.execute(f"DROP TABLE IF EXISTS {due}")
        self.conn.execute("CREATE TEMP TABLE todo (lead_id TEXT PRIMARY KEY)")
        cursor = self.conn.execute(
            f"INSERT INTO {due} SELECT lead_id FROM leads "
            "WHERE dirty = 1 OR (next_check_at IS NOT NULL AND next_check_at <= ?)",
            (iso(as_of),),
        )
        return cursor.rowcount

    def queue_judged_leads(self) -> None:
        """Queue every lead judged before for a re-judge (a dirty lead is judged by the run that finds it)."""
        self.conn.execute(
            "INSERT INTO rejudge (lead_id) SELECT lead_id FROM leads WHERE dirty = 0 ON CONFLICT DO NOTHING")

    def queue_leads_of(self, windows: Iterable[tuple[str, str]]) -> None:
        """Queue the leads that have an instance of any of these (policy, window) for a re-judge."""
        self.conn.executemany(
            'INSERT INTO rejudge (lead_id) SELECT DISTINCT lead_id FROM window_instances '
            'WHERE policy = ? AND "window" = ? ON CONFLICT DO NOTHING',
            list(windows),
        )

    def fingerprints(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        """(kind, policy, rule) → (whole, reach), as the last policy change left them."""
        rows = self.conn.execute("SELECT kind, policy, rule, whole, reach FROM rule_fingerprints")
        return {(kind, policy, rule): (whole, reach) for kind, policy, rule, whole, reach in rows}

    def save_fingerprints(self, fingerprints: dict[tuple[str, str, str], tuple[str, str]]) -> None:
        self.conn.execute("DELETE FROM rule_fingerprints")
        self.conn.executemany(
            "INSERT INTO rule_fingerprints (kind, policy, rule, whole, reach) VALUES (?, ?, ?, ?, ?)",
            [(*key, whole, reach) for key, (whole, reach) in fingerprints.items()],
        )

    def rejudge_left(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM rejudge").fetchone()[0])

    def queued_besides_due(self) -> int:
        """The leads on the re-judge queue that are not on this run's list of due leads."""
        return int(self.conn.execute(
            f"SELECT count(*) FROM rejudge WHERE lead_id NOT IN (SELECT lead_id FROM {self.tables[DUE]})"
        ).fetchone()[0])

    def chunk_end(self, listed: str, after: str | None, size: int) -> str | None:
        """The last lead of the next ``size`` leads of a list (DUE or REJUDGE) after ``after`` (None: done)."""
        rows = self.conn.execute(
            f"SELECT lead_id FROM {self.tables[listed]} WHERE lead_id > ? ORDER BY lead_id LIMIT ?",
            (after or "", size),
        ).fetchall()
        return str(rows[-1][0]) if rows else None

    def histories(self, listed: str, after: str | None, last: str) -> Iterator[tuple[str, list[StoredRow]]]:
        """The events of a list's leads in (after, last], one lead at a time in lead order, as stored
        (``events.stored_events`` decodes them): rows of text are cheaper to hand a worker process."""
        rows = self.conn.execute(
            "SELECT e.event_id, e.lead_id, e.occurred_at, e.source, e.type, e.payload "
            f"FROM {self.tables[listed]} AS t JOIN events AS e ON e.lead_id = t.lead_id "
            "WHERE t.lead_id > ? AND t.lead_id <= ? ORDER BY t.lead_id",
            (after or "", last),
        )
        yield from histories_by_lead(rows, tuple)

    def rejudged(self, listed: str, after: str | None, last: str) -> None:
        """A list's leads in (after, last] are judged under the current policy set: off the queue."""
        self.conn.execute(
            f"DELETE FROM rejudge WHERE lead_id IN (SELECT lead_id FROM {self.tables[listed]} "
            "WHERE lead_id > ? AND lead_id <= ?)",
            (after or "", last),
        )
