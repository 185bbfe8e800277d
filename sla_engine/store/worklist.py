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

A run's leads come from two lists, in lead order: ``DUE``, its own list of leads with new events
or a deadline come (``select_due``), then ``REJUDGE``, the queue less the due leads. The run cuts
both into chunks once (``publish``, table ``run_chunks``); whoever judges a chunk claims it first
(``claim``), marks it done with what it counted in the transaction that writes its judgements
(``finished``), and lets it go after the commit (``release``). On SQLite the run's one process
claims every chunk in turn. On PostgreSQL other processes may join the run and claim chunks
beside it (``postgres_store.PostgresWorklist``: a claim is an advisory lock, so a crashed
process's claims return to the pool with its session).

The SQL is the subset SQLite and PostgreSQL share; the due list is a temporary table on SQLite
and a shared table on PostgreSQL (``tables``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import ClassVar, NamedTuple

from sla_engine.store.events import StoredRow, histories_by_lead
from sla_engine.store.sql import iso

DUE = "due"  # the leads this run selected: new events or a deadline come
REJUDGE = "rejudge"  # the leads a policy change queued, judged over as many runs as it takes
OPEN_RUN = "open_run"  # run_state: the run whose chunks may be claimed now


class Chunk(NamedTuple):
    """The leads of a list (DUE or REJUDGE) in (after, last]: what one claim covers."""

    id: int
    listed: str
    after: str | None
    last: str


class ChunkCounts(NamedTuple):
    """What judging a chunk counted, kept with the chunk so a run can add up every process's part."""

    leads: int = 0
    new_breaches: int = 0
    new_warnings: int = 0
    actions_due: int = 0


class Worklist:
    """The ``rejudge`` and ``run_state`` tables, and the run's own list of due leads."""

    tables: ClassVar[dict[str, str]] = {DUE: "temp.todo", REJUDGE: "rejudge"}

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.claimed: set[int] = set()  # chunks this process claimed and has not let go

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

    # ------------------------------------------------------------ a run's chunks
    def publish(self, run_id: int, size: int) -> None:
        """Cut the run's lists into chunks of ``size`` leads and open the run to claims.

        The re-judge chunks leave out the due leads, so no lead is judged twice in a run whichever
        processes claim the chunks. Chunks of earlier runs go: their work is back in the lists.
        """
        self.conn.execute("DELETE FROM run_chunks")
        due = self.tables[DUE]
        for listed, source in ((DUE, due), (REJUDGE, f"rejudge WHERE lead_id NOT IN (SELECT lead_id FROM {due})")):
            ends = [(str(lead_id), int(n)) for lead_id, n in self.conn.execute(
                "SELECT lead_id, n FROM (SELECT lead_id, row_number() OVER (ORDER BY lead_id) AS n, "
                f"count(*) OVER () AS total FROM {source}) AS numbered "
                "WHERE n % ? = 0 OR n = total ORDER BY lead_id", (size,))]
            self.conn.executemany(
                "INSERT INTO run_chunks (run_id, listed, after_lead, last_lead, leads) VALUES (?, ?, ?, ?, ?)",
                [(run_id, listed, after[0], last, n - after[1])
                 for after, (last, n) in zip([(None, 0), *ends], ends, strict=False)])
        self.set_state(OPEN_RUN, str(run_id))

    def open_run(self) -> int | None:
        """The run open to claims, if any."""
        value = self.state(OPEN_RUN)
        return int(value) if value else None

    def unclaimed(self, run_id: int, lists: tuple[str, ...]) -> list[Chunk]:
        """The run's chunks on these lists not done yet and not claimed by this process, in order."""
        rows = self.conn.execute(
            "SELECT id, listed, after_lead, last_lead FROM run_chunks WHERE run_id = ? AND done_by IS NULL "
            "ORDER BY id", (run_id,)).fetchall()
        return [Chunk(int(id_), listed, after, last) for id_, listed, after, last in rows
                if listed in lists and id_ not in self.claimed]

    def claim(self, run_id: int, lists: tuple[str, ...]) -> Chunk | None:
        """The run's next chunk on these lists, now this process's to judge (None: none is left).

        Here the run's one process judges every chunk; the PostgreSQL store's claim is shared."""
        for chunk in self.unclaimed(run_id, lists):
            self.claimed.add(chunk.id)
            return chunk
        return None

    def wait_for_due(self, run_id: int) -> bool:
        """Wait while other processes hold the run's due chunks not yet done; True when one of them
        is there to claim again (its process died), False once every due chunk is done. With one
        process, every chunk is done when it asks."""
        return bool(self.unclaimed(run_id, (DUE,)))

    def finished(self, chunk: Chunk, counts: ChunkCounts, by: str) -> None:
        """A chunk's leads are judged under the current policy set: mark it done with what it counted,
        and take its leads off the re-judge queue. Call in the transaction that writes the judgements."""
        self.conn.execute(
            "UPDATE run_chunks SET done_by = ?, leads = ?, new_breaches = ?, new_warnings = ?, actions_due = ? "
            "WHERE id = ?", (by, *counts, chunk.id))
        if chunk.listed == DUE:
            self.conn.execute(
                f"DELETE FROM rejudge WHERE lead_id IN (SELECT lead_id FROM {self.tables[DUE]} "
                "WHERE lead_id > ? AND lead_id <= ?)", (chunk.after or "", chunk.last))
        else:  # the due leads in its span are their own chunks' to take off
            self.conn.execute(
                f"DELETE FROM rejudge WHERE lead_id > ? AND lead_id <= ? AND lead_id NOT IN "
                f"(SELECT lead_id FROM {self.tables[DUE]})", (chunk.after or "", chunk.last))

    def release(self, chunk: Chunk) -> None:
        """Let a claimed chunk go, once its transaction has committed or rolled back."""
        self.claimed.discard(chunk.id)

    def close_run(self) -> None:
        """Close the open run to claims (call in a transaction of its own), then wait for the claims
        other processes hold on it. Nothing to wait for with one process."""
        self.set_state(OPEN_RUN, None)

    def wait_for_claims(self) -> None:
        """Return once no other process holds a claim (after ``close_run`` has committed)."""

    def unclaimed_leads(self, run_id: int) -> int:
        """How many leads the run's chunks not yet done hold."""
        row = self.conn.execute("SELECT coalesce(sum(leads), 0) FROM run_chunks WHERE run_id = ? AND done_by IS NULL",
                                (run_id,)).fetchone()
        return int(row[0])

    def totals(self, run_id: int) -> tuple[ChunkCounts, int]:
        """What the run's chunks done counted, added up over every process, and how many processes judged
        them (a chunk not done holds the count of leads it was cut with)."""
        row = self.conn.execute(
            "SELECT coalesce(sum(leads), 0), coalesce(sum(new_breaches), 0), coalesce(sum(new_warnings), 0), "
            "coalesce(sum(actions_due), 0), count(DISTINCT done_by) FROM run_chunks "
            "WHERE run_id = ? AND done_by IS NOT NULL",
            (run_id,)).fetchone()
        return ChunkCounts(*(int(value) for value in row[:4])), int(row[4])

    def histories(self, chunk: Chunk) -> Iterator[tuple[str, list[StoredRow]]]:
        """The events of a chunk's leads, one lead at a time in lead order, as stored
        (``events.stored_events`` decodes them): rows of text are cheaper to hand a worker process."""
        besides = "" if chunk.listed == DUE else f"AND t.lead_id NOT IN (SELECT lead_id FROM {self.tables[DUE]}) "
        rows = self.conn.execute(
            "SELECT e.event_id, e.lead_id, e.occurred_at, e.source, e.type, e.payload "
            f"FROM {self.tables[chunk.listed]} AS t JOIN events AS e ON e.lead_id = t.lead_id "
            f"WHERE t.lead_id > ? AND t.lead_id <= ? {besides}ORDER BY t.lead_id",
            (chunk.after or "", chunk.last),
        )
        yield from histories_by_lead(rows, tuple)
