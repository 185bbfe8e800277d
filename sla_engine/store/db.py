"""The SQLite store: events, lead state, window instances, the outbox, quarantine, runs.

One file, versioned by ``PRAGMA user_version`` with ordered migrations. Every run holds an
exclusive lock file for its whole duration, so an overlapping cron run waits (bounded) or
exits with a clear message; all of a run's writes happen in one transaction, so a crash
leaves the store as the last finished run left it.

Size: the Store is the one connection, lock and transaction every run writes through; splitting its
methods into one repository per aggregate (events, instances, runs) beside outbox.py and
sync_state.py is the next step.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import sqlite_utils

from sla_engine.engine.status import FINAL_STATUSES
from sla_engine.events import EventRow, LeadEvent, event_row, payload_text, stored_instant
from sla_engine.store.errors import StoreLocked, is_busy, store_error

MIGRATIONS: list[str] = [
    # 1: the initial schema
    """
    CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        lead_id TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        source TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        ingested_run INTEGER
    );
    CREATE INDEX events_lead ON events (lead_id, occurred_at);
    CREATE TABLE leads (
        lead_id TEXT PRIMARY KEY,
        state TEXT,
        dirty INTEGER NOT NULL DEFAULT 1,
        next_check_at TEXT,
        evaluated_run INTEGER
    );
    CREATE INDEX leads_dirty ON leads (dirty);
    CREATE INDEX leads_next_check ON leads (next_check_at);
    CREATE TABLE window_instances (
        key TEXT PRIMARY KEY,
        lead_id TEXT NOT NULL,
        policy TEXT NOT NULL,
        window TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        tier TEXT,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        due_at TEXT,
        stopped_at TEXT,
        breached_at TEXT,
        warning_at TEXT,
        cancelled_reason TEXT,
        met_late INTEGER NOT NULL DEFAULT 0,
        goal TEXT,
        calendar TEXT,
        paused_seconds REAL NOT NULL DEFAULT 0,
        paused_since TEXT,
        policy_hash TEXT,
        first_run INTEGER,
        updated_run INTEGER
    );
    CREATE INDEX window_instances_lead ON window_instances (lead_id);
    CREATE INDEX window_instances_status ON window_instances (policy, window, status);
    CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        lead_id TEXT NOT NULL,
        policy TEXT NOT NULL,
        window TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        level TEXT NOT NULL,
        action TEXT NOT NULL,
        due_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_run INTEGER
    );
    CREATE INDEX outbox_status ON outbox (status);
    CREATE TABLE quarantine (
        key TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        file TEXT,
        line INTEGER,
        reason TEXT NOT NULL,
        raw TEXT,
        first_run INTEGER
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        as_of TEXT NOT NULL,
        status TEXT NOT NULL,
        policy_hash TEXT,
        git_commit TEXT,
        dry_run INTEGER NOT NULL DEFAULT 0,
        counts TEXT
    );
    CREATE TABLE sync_state (
        connector TEXT NOT NULL,
        stream TEXT NOT NULL,
        cursor TEXT,
        updated_at TEXT,
        PRIMARY KEY (connector, stream)
    );
    """,
    # 2: when each lead entered each funnel stage, for targets and reports
    """
    CREATE TABLE stage_entries (
        lead_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        entered_at TEXT NOT NULL,
        PRIMARY KEY (lead_id, stage, entered_at)
    );
    CREATE INDEX stage_entries_stage ON stage_entries (stage, entered_at);
    """,
    # 3: what each push target last accepted, so a second push with nothing changed sends nothing
    """
    CREATE TABLE IF NOT EXISTS push_state (
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        remote_id TEXT,
        pushed_at TEXT NOT NULL,
        PRIMARY KEY (target, key)
    );
    """,
    # 4: delivery: retries with backoff, the message a row went out in, and round-robin turns
    """
    ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;
    ALTER TABLE outbox ADD COLUMN sent_at TEXT;
    ALTER TABLE outbox ADD COLUMN idempotency_key TEXT;
    ALTER TABLE outbox ADD COLUMN recipient TEXT;
    ALTER TABLE outbox ADD COLUMN detail TEXT;
    CREATE INDEX outbox_recipient ON outbox (recipient, sent_at);
    CREATE TABLE round_robin (
        team TEXT PRIMARY KEY,
        last_member TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 5: how many times the claim in flight went out, so a row interrupted twice is not sent a third time
    """
    ALTER TABLE outbox ADD COLUMN sends INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: each CRM's users and queues, so owner ids read as people and people are written as ids
    """
    CREATE TABLE owners (
        source TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        email TEXT,
        name TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'user',
        active INTEGER NOT NULL DEFAULT 1,
        synced_at TEXT NOT NULL,
        PRIMARY KEY (source, owner_id)
    );
    CREATE INDEX owners_email ON owners (lower(email));
    """,
    # 7: clocks per (policy, window, tier, status), kept as instances are written, so a run's
    # summary costs the same whatever the store's size (a GROUP BY over every instance did not)
    """
    CREATE TABLE status_counts (
        policy TEXT NOT NULL,
        window TEXT NOT NULL,
        tier TEXT NOT NULL,
        status TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (policy, window, tier, status)
    );
    INSERT INTO status_counts (policy, window, tier, status, n)
        SELECT policy, window, coalesce(tier, '-'), status, count(*) FROM window_instances GROUP BY 1, 2, 3, 4;
    """,
]

EVENT_BATCH = 500  # events stored per statement; a source's events reach the store in batches of this size


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


def _count_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """The status_counts row an instance is counted in."""
    tier = row.get("tier")
    return (row["policy"], row["window"], "-" if tier is None else tier, row["status"])


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


iso = stored_instant  # every instant the store writes, events or results, is written one way

# Lead state is written as payloads are (sorted keys, str() for the rest); actions are plain
# JSON with sorted keys. Each encoder is built once, not once per lead or action.
_state_text = payload_text
_action_text = json.JSONEncoder(sort_keys=True).encode


class OutboxAction(Protocol):
    """What the outbox keeps of a due action: a clock's (engine.clock.DueAction) or a target's
    (engine.targets.TargetAction, whose target name goes where a clock's window would)."""

    @property
    def key(self) -> str: ...
    @property
    def lead_id(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def window(self) -> str: ...
    @property
    def cycle(self) -> int: ...
    @property
    def level(self) -> str: ...
    @property
    def action(self) -> dict[str, Any]: ...
    @property
    def due_at(self) -> datetime: ...


def outbox_row(action: OutboxAction, run_id: int) -> tuple[Any, ...]:
    """A due action as an outbox row: the one encoder of that stored shape."""
    return (action.key, action.lead_id, action.policy, action.window, action.cycle, action.level,
            _action_text(action.action), iso(action.due_at), run_id)


class Store:
    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        """Open (creating or migrating) the store; an SQLite problem is a StoreError saying what to do.

        ``timeout`` bounds every wait for SQLite's own lock, here and in later statements
        (``locked`` sets it again to the run's --lock-timeout).
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._configure()
                self.migrate()
                break
            except sqlite3.OperationalError as error:
                # While another process creates the file or turns it to WAL, SQLite answers "locked"
                # at once instead of calling its busy handler: wait for that here, as long as any lock.
                if is_busy(error) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                self.conn.close()
                raise store_error(error, self.path, timeout) from None
            except sqlite3.Error as error:
                self.conn.close()
                raise store_error(error, self.path, timeout) from None
        self.db = sqlite_utils.Database(self.conn)
        self._lock_handle: Any = None
        self.earliest_new_event: str | None = None  # of this run's new or changed events

    def _configure(self) -> None:
        connection = self.conn
        # A new store gets 8 KiB pages (an existing one keeps its own): events of about 250 bytes
        # go in with fewer page splits, and the event id index is one level shallower.
        connection.execute("PRAGMA page_size=8192")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        # 32 MiB of page cache rather than 2: the event id index of half a million events then
        # stays in memory while they are stored, instead of being read back and spilled page by page.
        connection.execute("PRAGMA cache_size=-32768")

    # ------------------------------------------------------------ schema
    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this file has not seen, all in one transaction.

        The version is read again once the write lock is held: of several runs opening a new or
        an older store at once, the first migrates and the others wait, then find nothing to do.
        """
        if self.version >= len(MIGRATIONS):
            return
        with self.transaction():
            current = self.version
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    def integrity_problems(self, quick: bool = True) -> list[str]:
        """What SQLite's integrity check finds wrong with the file; empty when it is sound.

        ``quick`` runs ``PRAGMA quick_check`` (every page read, indexes not compared), fast enough to
        run before a command reads; ``quick=False`` is the full ``PRAGMA integrity_check``.
        """
        pragma = "quick_check" if quick else "integrity_check"
        try:
            rows = [row[0] for row in self.conn.execute(f"PRAGMA {pragma}(20)")]
        except sqlite3.DatabaseError as error:
            return [str(error)]
        return [] if rows == ["ok"] else rows

    # ------------------------------------------------------------ locking and transactions
    @contextmanager
    def locked(self, wait_seconds: float = 30.0) -> Iterator[None]:
        """Hold the run lock; a second run waits up to wait_seconds, then gives up."""
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the whole run
        self.set_busy_timeout(wait_seconds)  # a foreign program's SQLite lock is waited for as long
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise StoreLocked(
                        f"another sla-engine run holds {self.path} (waited {wait_seconds:.0f}s); "
                        "nothing was changed"
                    ) from None
                time.sleep(0.1)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a statement waits for SQLite's lock held by another connection before failing."""
        self.conn.execute(f"PRAGMA busy_timeout = {int(max(seconds, 0) * 1000)}")

    @contextmanager
    def transaction(self, rollback: bool = False) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:  # SQLite has already rolled back after a full disk or an I/O error
                self.conn.execute("ROLLBACK")
            raise
        if rollback:
            self.conn.execute("ROLLBACK")
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------ runs
    def start_run(self, as_of: datetime, policy_hash: str, git_commit: str | None, dry_run: bool) -> int:
        self.earliest_new_event = None
        cursor = self.conn.execute(
            "INSERT INTO runs (started_at, as_of, status, policy_hash, git_commit, dry_run) "
            "VALUES (?, ?, 'running', ?, ?, ?)",
            (iso(now_utc()), iso(as_of), policy_hash, git_commit, int(dry_run)),
        )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, counts: dict[str, Any], status: str = "finished") -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE id = ?",
            (iso(now_utc()), status, json.dumps(counts, sort_keys=True), run_id),
        )

    def last_run(self) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, as_of, policy_hash FROM runs WHERE status = 'finished' AND dry_run = 0 "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "as_of": datetime.fromisoformat(row[1]), "policy_hash": row[2]}

    # ------------------------------------------------------------ events
    def upsert_events(self, events: Iterable[LeadEvent], run_id: int | None) -> Upserted:
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
        while batch := [(*row, run_id) for row in islice(rows, EVENT_BATCH)]:
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
            "INSERT OR IGNORE INTO events (event_id, lead_id, occurred_at, source, type, payload, ingested_run) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
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
            f"SELECT event_id, lead_id, occurred_at, source, type, payload, rowid FROM events "
            f"WHERE event_id IN ({marks})",
            [row[0] for row in rows],
        ):
            existing[row[0]] = tuple(row[1:6])
            if row[6] > ingest.mark:  # written by this ingest (a replaced row gets a new rowid too)
                this_ingest.add(row[0])
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
        self.conn.executemany(
            "INSERT OR REPLACE INTO events (event_id, lead_id, occurred_at, source, type, payload, ingested_run) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            fresh.values(),
        )
        self._note_changed(fresh.values(), dirty)
        return Upserted(len(fresh), unchanged, conflicts)

    def _note_changed(self, rows: Iterable[tuple[Any, ...]], leads: set[str]) -> None:
        """Mark the leads of new or changed events dirty, and remember the earliest such event."""
        earliest = min((row[2] for row in rows), default=None)
        if earliest is not None and (self.earliest_new_event is None or earliest < self.earliest_new_event):
            self.earliest_new_event = earliest
        self._mark_dirty(leads)

    def _mark_dirty(self, lead_ids: Iterable[str]) -> None:
        self.conn.executemany(
            "INSERT INTO leads (lead_id, dirty) VALUES (?, 1) "
            "ON CONFLICT (lead_id) DO UPDATE SET dirty = 1",
            ((lead_id,) for lead_id in lead_ids),
        )

    def mark_all_dirty(self) -> None:
        self.conn.execute("UPDATE leads SET dirty = 1")

    def lead_events(self, lead_id: str) -> list[LeadEvent]:
        rows = self.conn.execute(
            "SELECT event_id, lead_id, occurred_at, source, type, payload FROM events "
            "WHERE lead_id = ? ORDER BY occurred_at, event_id",
            (lead_id,),
        )
        return [_event(row) for row in rows]

    def select_leads_to_evaluate(self, as_of: datetime) -> int:
        """Note, inside SQLite, the leads this run must judge; returns how many.

        Kept in a temporary table rather than in Python, so a full run over a million leads
        costs no memory here.
        """
        self.conn.execute("DROP TABLE IF EXISTS temp.todo")
        self.conn.execute("CREATE TEMP TABLE todo (lead_id TEXT PRIMARY KEY)")
        cursor = self.conn.execute(
            "INSERT INTO temp.todo SELECT lead_id FROM leads "
            "WHERE dirty = 1 OR (next_check_at IS NOT NULL AND next_check_at <= ?)",
            (iso(as_of),),
        )
        return cursor.rowcount

    def iter_selected_histories(self) -> Iterator[tuple[str, list[StoredEvent]]]:
        """Each selected lead's events, one lead at a time (the engine orders them itself).

        They were validated when stored, so they are read back as plain ``StoredEvent`` tuples.
        """
        rows = self.conn.execute(
            "SELECT e.event_id, e.lead_id, e.occurred_at, e.source, e.type, e.payload "
            "FROM temp.todo AS t JOIN events AS e ON e.lead_id = t.lead_id ORDER BY t.lead_id"
        )
        yield from histories_by_lead(rows, _stored_event)

    # ------------------------------------------------------------ results
    def save_lead(self, lead_id: str, state: dict[str, Any], next_check: datetime | None, run_id: int) -> None:
        self.save_leads([(lead_id, state, next_check)], run_id)

    def save_leads(self, leads: Iterable[tuple[str, dict[str, Any], datetime | None]], run_id: int) -> None:
        """Each lead's state and next check, marked clean: (lead_id, state, next_check) triples."""
        self.conn.executemany(
            "INSERT INTO leads (lead_id, state, dirty, next_check_at, evaluated_run) VALUES (?, ?, 0, ?, ?) "
            "ON CONFLICT (lead_id) DO UPDATE SET state = excluded.state, dirty = 0, "
            "next_check_at = excluded.next_check_at, evaluated_run = excluded.evaluated_run",
            ((lead_id, _state_text(state), iso(next_check) if next_check else None,
              run_id) for lead_id, state, next_check in leads),
        )

    def save_stage_entries(self, lead_id: str, entries: Iterable[tuple[str, datetime]]) -> None:
        """Replace a lead's stage entries with those its whole history gives."""
        self.save_stage_entries_of({lead_id: list(entries)})

    def save_stage_entries_of(self, entries_by_lead: dict[str, list[tuple[str, datetime]]]) -> None:
        """Replace each lead's stage entries with those its whole history gives."""
        for chunk in _chunks(list(entries_by_lead), _IN_LIMIT):
            self.conn.execute(f"DELETE FROM stage_entries WHERE lead_id IN ({_marks(chunk)})", chunk)
        self.conn.executemany(
            "INSERT OR IGNORE INTO stage_entries (lead_id, stage, entered_at) VALUES (?, ?, ?)",
            ((lead_id, stage, iso(entered_at))
             for lead_id, entries in entries_by_lead.items() for stage, entered_at in entries),
        )

    def save_instances(self, lead_id: str, rows: list[dict[str, Any]], run_id: int) -> list[dict[str, Any]]:
        """Upsert a lead's instances; see save_instances_of."""
        return self.save_instances_of({lead_id: rows}, run_id)

    def save_instances_of(self, rows_by_lead: dict[str, list[dict[str, Any]]], run_id: int) -> list[dict[str, Any]]:
        """Upsert each lead's instances; finished ones judged under another policy stay as judged.

        Returns the rows whose status is new (for "new breaches" and "new warnings"), in lead order.
        An unchanged row is not written again.
        """
        existing: dict[str, dict[str, dict[str, Any]]] = {}
        for chunk in _chunks(list(rows_by_lead), _IN_LIMIT):
            cursor = self.conn.execute(f"SELECT * FROM window_instances WHERE lead_id IN ({_marks(chunk)})", chunk)
            columns = [d[0] for d in cursor.description]
            for values in cursor:
                row = dict(zip(columns, values, strict=True))
                existing.setdefault(row["lead_id"], {})[row["key"]] = row
        changed: list[dict[str, Any]] = []
        writes: list[dict[str, Any]] = []
        withdrawn: list[tuple[str]] = []
        counts: Counter[tuple[str, str, str, str]] = Counter()
        for lead_id, rows in rows_by_lead.items():
            before = existing.get(lead_id, {})
            keep = set()
            for row in rows:
                old = before.get(row["key"])
                keep.add(row["key"])
                if old is not None and old["status"] in FINAL_STATUSES and old["policy_hash"] != row["policy_hash"]:
                    continue
                if old is not None and old.get("stopped_at") and old["policy_hash"] != row["policy_hash"]:
                    continue
                record = {**row, "met_late": int(row["met_late"]), "updated_run": run_id,
                          "first_run": old["first_run"] if old else run_id}
                if old is not None and all(old.get(k) == v for k, v in record.items()
                                           if k not in ("updated_run", "first_run")):
                    continue
                writes.append(record)
                if old is not None:
                    counts[_count_key(old)] -= 1
                counts[_count_key(record)] += 1
                changed.append({**record, "previous_status": old["status"] if old else None,
                                "previous_warning_at": old["warning_at"] if old else None})
            for key, old in before.items():
                if key not in keep and old["status"] not in FINAL_STATUSES:
                    # An instance the history no longer supports (e.g. a corrected event) is withdrawn.
                    withdrawn.append((key,))
                    counts[_count_key(old)] -= 1
        by_columns: dict[tuple[str, ...], list[list[Any]]] = {}
        for record in writes:
            by_columns.setdefault(tuple(record), []).append(list(record.values()))
        for names, values in by_columns.items():
            self.conn.executemany(
                f"INSERT OR REPLACE INTO window_instances ({', '.join(names)}) VALUES ({_marks(names)})", values,
            )
        self.conn.executemany("DELETE FROM window_instances WHERE key = ?", withdrawn)
        self.conn.executemany(
            "INSERT INTO status_counts (policy, window, tier, status, n) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (policy, window, tier, status) DO UPDATE SET n = n + excluded.n",
            [(*key, n) for key, n in counts.items() if n],
        )
        self.conn.execute("DELETE FROM status_counts WHERE n = 0")
        return changed

    def record_actions(self, actions: Iterable[OutboxAction], run_id: int) -> int:
        """Record due actions (a clock's or a target's) once per key; returns how many are new."""
        cursor = self.conn.executemany(
            "INSERT OR IGNORE INTO outbox (key, lead_id, policy, window, cycle, level, action, due_at, "
            "created_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (outbox_row(action, run_id) for action in actions),
        )
        return max(cursor.rowcount, 0)

    def quarantine(self, source: str, file: str | None, line: int | None, reason: str,
                   raw: dict[str, Any], run_id: int | None) -> bool:
        """Keep a row we could not read; the same row read again is not counted twice."""
        raw_text = json.dumps(raw, sort_keys=True, default=str)
        key = f"{source}|{file}|{line}|{raw_text}"
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO quarantine (key, source, file, line, reason, raw, first_run) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, source, file, line, reason, raw_text, run_id),
        )
        return cursor.rowcount > 0

    # ------------------------------------------------------------ reading
    def count(self, table: str, where: str = "", params: Iterable[Any] = ()) -> int:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(self.conn.execute(sql, list(params)).fetchone()[0])

    def instances(self, lead_id: str | None = None) -> list[dict[str, Any]]:
        if lead_id is None:
            return list(self.db.query("SELECT * FROM window_instances ORDER BY key"))
        return list(self.db.query("SELECT * FROM window_instances WHERE lead_id = ? ORDER BY key", [lead_id]))

    def quarantined(self, source: str | None = None, limit: int | None = None,
                    newest_first: bool = False) -> list[dict[str, Any]]:
        """The rows kept out of the store, each with its reason, oldest run first (or newest first)."""
        sql = "SELECT source, file, line, reason, raw, first_run FROM quarantine"
        params: list[Any] = []
        if source is not None:
            sql += " WHERE source = ?"
            params.append(source)
        sql += f" ORDER BY first_run{' DESC' if newest_first else ''}, source, file, line, key"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return list(self.db.query(sql, params))

    def outbox(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            return list(self.db.query("SELECT * FROM outbox ORDER BY due_at, key"))
        return list(self.db.query("SELECT * FROM outbox WHERE status = ? ORDER BY due_at, key", [status]))

    def read_only(self) -> None:
        """From now on this connection refuses to write (the live dashboard's)."""
        self.conn.execute("PRAGMA query_only = ON")

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox rows are in each status."""
        return {str(s): int(n) for s, n in self.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status")}

    def status_counts(self) -> dict[tuple[str, str, str, str], int]:
        """How many clocks are in each (policy, window, tier or "-", status), as kept by save_instances_of."""
        rows = self.conn.execute("SELECT policy, window, tier, status, n FROM status_counts")
        return {(policy, window, tier, status): n for policy, window, tier, status, n in rows}

    def instance_timing(self, key: str) -> dict[str, Any] | None:
        """A window instance's due, status and stop as stored now, or None when it was withdrawn."""
        found = self.conn.execute(
            "SELECT due_at, status, stopped_at FROM window_instances WHERE key = ?", (key,)).fetchone()
        return {"due_at": found[0], "status": found[1], "stopped_at": found[2]} if found else None

    def lead_state(self, lead_id: str) -> dict[str, Any]:
        """A lead's current fields as the last run folded them (empty for a lead never judged)."""
        row = self.conn.execute("SELECT state FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def lead_sources(self, lead_id: str, besides: str) -> list[str]:
        """The sources a lead's events came from, first seen first, other than ``besides``."""
        rows = self.conn.execute(
            "SELECT DISTINCT source FROM events WHERE lead_id = ? AND source != ? ORDER BY occurred_at",
            (lead_id, besides),
        ).fetchall()
        return [source for (source,) in rows]

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

    def prepare_for_reports(self) -> None:
        """A report reads much of the store several times: map it into memory and cache generously."""
        self.conn.execute("PRAGMA mmap_size = 1073741824")
        self.conn.execute("PRAGMA cache_size = -262144")


_IN_LIMIT = 500  # values bound in one `IN (...)` list, well under SQLite's limit


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _marks(items: Iterable[Any]) -> str:
    return ", ".join("?" for _ in items)


def _event(row: tuple[Any, ...]) -> LeadEvent:
    return LeadEvent.model_construct(
        event_id=row[0], lead_id=row[1], occurred_at=datetime.fromisoformat(row[2]),
        source=row[3], type=row[4], payload=json.loads(row[5]),
    )


class StoredEvent(NamedTuple):
    """A stored event as the engine reads it: the attributes of a LeadEvent, without re-validation."""

    event_id: str
    lead_id: str
    occurred_at: datetime
    source: str
    type: str
    payload: dict[str, Any]


def _stored_event(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], datetime.fromisoformat(row[2]), row[3], row[4], json.loads(row[5]))


E = TypeVar("E", LeadEvent, StoredEvent)


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
        "SELECT event_id, lead_id, occurred_at, source, type, payload FROM events "
        "WHERE occurred_at <= ? ORDER BY lead_id, occurred_at, event_id",
        (stored_instant(as_of),),
    )
    yield from histories_by_lead(rows)


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


def sqlite_version(path: Path) -> int:
    """The schema version of the SQLite store at ``path`` as it is, 0 when there is none yet."""
    if not Path(path).is_file():
        return 0
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
