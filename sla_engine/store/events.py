"""Events: every fact the sources gave, stored once by id, and read back one lead at a time.

Storing an event that is new or changed marks its lead (and a lead it moved from) for judging,
and notes the earliest such event of the current transaction (``earliest_new_event``): a target
over a period that ended before it cannot have changed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

from sla_engine.events import EventRow, LeadEvent, event_row
from sla_engine.store.leads import Leads
from sla_engine.store.sql import iso

EVENT_BATCH = 500  # events stored per statement; a source's events reach the store in batches of this size
_COLUMNS = "event_id, lead_id, occurred_at, source, type, payload"


class Upserted(NamedTuple):
    """What storing a stream of events did: rows written (new or changed), unchanged, and refused.

    Each conflict is (the event kept, the event refused): two facts a source gave under one id.
    """

    written: int
    unchanged: int
    conflicts: list[tuple[EventRow, EventRow]]


@dataclass
class Ingest:
    """One source's ingest over its batches: events written after ``mark`` (a rowid) and ids read unchanged.

    Only ids that were already stored are held in memory, so a first sync of a million events holds none.
    """

    mark: int
    unchanged: set[str] = field(default_factory=set)


class StoredEvent(NamedTuple):
    """A stored event as the engine reads it: the attributes of a LeadEvent, without re-validation."""

    event_id: str
    lead_id: str
    occurred_at: datetime
    source: str
    type: str
    payload: dict[str, Any]


def _event(row: tuple[Any, ...]) -> LeadEvent:
    return LeadEvent.model_construct(
        event_id=row[0], lead_id=row[1], occurred_at=datetime.fromisoformat(row[2]),
        source=row[3], type=row[4], payload=json.loads(row[5]),
    )


StoredRow = tuple[Any, ...]  # an events row as stored: (event_id, lead_id, occurred_at, source, type, payload)


def _stored_event(row: StoredRow) -> StoredEvent:
    return StoredEvent(row[0], row[1], datetime.fromisoformat(row[2]), row[3], row[4], json.loads(row[5]))


def stored_events(rows: Iterable[StoredRow]) -> list[StoredEvent]:
    """Stored event rows decoded for the engine."""
    return [_stored_event(row) for row in rows]


E = TypeVar("E", LeadEvent, StoredEvent, StoredRow)


class Events:
    """The ``events`` table; marks the leads of new or changed events dirty through ``Leads``."""

    batch_size: ClassVar[int] = EVENT_BATCH  # rows per ``_upsert_batch``

    def __init__(self, conn: sqlite3.Connection, leads: Leads) -> None:
        self.conn = conn
        self.leads = leads
        self.earliest_new_event: str | None = None  # of the current transaction's new or changed events

    def upsert(self, events: Iterable[LeadEvent], run_id: int | None) -> Upserted:
        """Store events by id; an unchanged event is a no-op (see ``upsert_rows``)."""
        return self.upsert_rows(map(event_row, events), run_id)

    def begin_ingest(self) -> Ingest:
        """What ``upsert_rows`` needs to tell a source's collision from a correction, over one ingest's batches."""
        mark = int(self.conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0])
        return Ingest(mark)

    def upsert_rows(self, rows: Iterable[EventRow], run_id: int | None, ingest: Ingest | None = None) -> Upserted:
        """Store events (in the store's shape, ``event_row``) by id.

        An id stored before this ingest with other content is replaced: the source corrected the fact
        (a task completed later). An id this ingest has already read (``ingest``, by default this
        call) with other content is a collision in the source, two facts under one id: the first is
        kept and the other returned in ``conflicts``, never written over it.
        """
        ingest = self.begin_ingest() if ingest is None else ingest
        done = Upserted(0, 0, [])
        rows = iter(rows)
        while batch := [(*row, run_id) for row in islice(rows, self.batch_size)]:
            batch_done = self._upsert_batch(batch, ingest)
            done = Upserted(done.written + batch_done.written, done.unchanged + batch_done.unchanged,
                            done.conflicts + batch_done.conflicts)
        return done

    def _upsert_batch(self, rows: list[tuple[Any, ...]], ingest: Ingest) -> Upserted:
        """Rows (event_id, lead_id, occurred_at, source, type, payload, run) → what was written.

        A batch of events none of which is stored yet (a first sync, a new day's events) goes in
        with one INSERT OR IGNORE and no look-up; only a batch that meets a stored id, or repeats
        one, is undone and compared row by row.
        """
        if not rows:
            return Upserted(0, 0, [])
        self.conn.execute("SAVEPOINT upsert_events")
        before = self.conn.total_changes
        self.conn.executemany(
            f"INSERT OR IGNORE INTO events ({_COLUMNS}, ingested_run) VALUES (?, ?, ?, ?, ?, ?, ?)", rows,
        )
        if self.conn.total_changes - before == len(rows):
            self.conn.execute("RELEASE upsert_events")
            self._note_changed(rows, {row[1] for row in rows})
            return Upserted(len(rows), 0, [])
        self.conn.execute("ROLLBACK TO upsert_events")
        self.conn.execute("RELEASE upsert_events")
        return self._compare_batch(rows, ingest)

    def _compare_batch(self, rows: list[tuple[Any, ...]], ingest: Ingest) -> Upserted:
        """One look-up and one write for a batch that meets stored events: write the new and the changed."""
        marks = ", ".join("?" for _ in rows)
        existing: dict[str, tuple[Any, ...]] = {}
        this_ingest: set[str] = set()
        for row in self.conn.execute(
            f"SELECT {_COLUMNS}, rowid FROM events WHERE event_id IN ({marks})", [row[0] for row in rows],
        ):
            existing[row[0]] = tuple(row[1:6])
            if row[6] > ingest.mark:  # written by this ingest (a replaced row gets a new rowid too)
                this_ingest.add(row[0])
        fresh, unchanged, conflicts, dirty = self._judge_batch(rows, existing, this_ingest, ingest)
        self.conn.executemany(
            f"INSERT OR REPLACE INTO events ({_COLUMNS}, ingested_run) VALUES (?, ?, ?, ?, ?, ?, ?)", fresh,
        )
        self._note_changed(fresh, dirty)
        return Upserted(len(fresh), unchanged, conflicts)

    @staticmethod
    def _judge_batch(rows: list[tuple[Any, ...]], existing: dict[str, tuple[Any, ...]], this_ingest: set[str],
                     ingest: Ingest) -> tuple[list[tuple[Any, ...]], int, list[tuple[EventRow, EventRow]], set[str]]:
        """Of a batch meeting stored events (``existing``: id → stored lead_id … payload): the rows to
        write, how many were unchanged, the conflicts, and the leads to judge again. Both backends'."""
        fresh: dict[str, tuple[Any, ...]] = {}
        conflicts: list[tuple[EventRow, EventRow]] = []
        dirty: set[str] = set()
        unchanged = 0
        for row in rows:
            first = fresh.get(row[0])
            old = existing.get(row[0]) if first is None else tuple(first[1:6])
            if old is not None and old == row[1:6]:
                unchanged += 1
                ingest.unchanged.add(row[0])
                continue
            if old is not None and (first is not None or row[0] in this_ingest or row[0] in ingest.unchanged):
                conflicts.append((EventRow(row[0], *old), EventRow(*row[:6])))
                continue
            if old is not None and old[0] != row[1]:
                dirty.add(old[0])  # an event moved to another lead: the old one is judged again too
            fresh[row[0]] = row
            dirty.add(row[1])
        return list(fresh.values()), unchanged, conflicts, dirty

    def _note_changed(self, rows: Iterable[tuple[Any, ...]], leads: set[str]) -> None:
        """Mark the leads of new or changed events dirty, and remember the earliest such event."""
        earliest = min((row[2] for row in rows), default=None)
        if earliest is not None and (self.earliest_new_event is None or earliest < self.earliest_new_event):
            self.earliest_new_event = earliest
        self.leads.mark_dirty(leads)

    def of_lead(self, lead_id: str) -> list[LeadEvent]:
        """A lead's events in the order they happened."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE lead_id = ? ORDER BY occurred_at, event_id", (lead_id,),
        )
        return [_event(row) for row in rows]

    def sources_of(self, lead_id: str, besides: str) -> list[str]:
        """The sources a lead's events came from, first seen first, other than ``besides``."""
        rows = self.conn.execute(
            "SELECT source FROM events WHERE lead_id = ? AND source != ? GROUP BY source "
            "ORDER BY min(occurred_at), source",
            (lead_id, besides),
        ).fetchall()
        return [source for (source,) in rows]


def open_read_only(path: Path) -> sqlite3.Connection:
    """Another store's connection for reading its events only (a backtest over it writes nothing)."""
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        conn.execute("SELECT 1 FROM events LIMIT 1")
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def histories_until(conn: sqlite3.Connection, as_of: datetime) -> Iterator[tuple[str, list[LeadEvent]]]:
    """Every lead's events up to ``as_of``, one lead at a time in lead order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE occurred_at <= ? ORDER BY lead_id, occurred_at, event_id",
        (iso(as_of),),
    )
    yield from histories_by_lead(rows)


def lead_count_until(conn: sqlite3.Connection, as_of: datetime) -> int:
    """How many leads ``histories_until`` gives: a bar's total."""
    row = conn.execute("SELECT count(DISTINCT lead_id) FROM events WHERE occurred_at <= ?", (iso(as_of),)).fetchone()
    return int(row[0])


def histories_by_lead(rows: Iterable[tuple[Any, ...]],
                      read: Callable[[tuple[Any, ...]], E] = _event,  # type: ignore[assignment]  # E is LeadEvent then
                      ) -> Iterator[tuple[str, list[E]]]:
    """Events table rows in lead order → one (lead, events) pair per lead, streamed."""
    current: str | None = None
    batch: list[E] = []
    for row in rows:
        if row[1] != current:
            if current is not None:
                yield current, batch
            current, batch = row[1], []
        batch.append(read(row))
    if current is not None:
        yield current, batch
