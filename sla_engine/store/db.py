"""The SQLite store: the unit of work every run writes through, and the schema's migrations.

``Store`` owns the one connection, the run lock and the transaction, and hands out one
repository per aggregate, all sharing that connection: ``events``, ``leads``, ``instances``,
``runs``, ``quarantine``, ``worklist``, ``outbox``, ``round_robin``, ``sync_state`` and ``owners``.
The file is versioned by ``PRAGMA user_version`` with ordered migrations.
Every run holds an exclusive lock file for its whole duration, so an overlapping cron run waits
(bounded) or exits with a clear message. A run commits its ingest, then each chunk of leads it
judges; what is left to do is kept in the store (``worklist``), so a crash loses only the chunk
in flight and the next run goes on from there.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import sqlite_utils

from sla_engine.store.errors import StoreLocked, is_busy, store_error
from sla_engine.store.events import Events
from sla_engine.store.instances import Instances
from sla_engine.store.leads import Leads
from sla_engine.store.outbox import Outbox
from sla_engine.store.owners import Owners
from sla_engine.store.quarantine import Quarantine
from sla_engine.store.round_robin import RoundRobin
from sla_engine.store.runs import Runs
from sla_engine.store.sql import iso as iso  # re-exported: the store's stored instants
from sla_engine.store.sql import now_utc as now_utc  # re-exported: the store's clock
from sla_engine.store.sync_state import SyncState
from sla_engine.store.worklist import Worklist

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
    # 8: the outbox rows still to deliver, in the order delivery reads them page by page, so a
    # pass finds its next page without scanning the sent and retired rows that pile up behind it
    """
    CREATE INDEX IF NOT EXISTS outbox_open ON outbox (due_at, key) WHERE status IN ('pending', 'sending', 'failed');
    """,
    # 9: whose lead each outbox row is about (its owner when the row was recorded), so one rep's
    # queue can be listed; rows recorded before have none until a delivery looks at them
    """
    ALTER TABLE outbox ADD COLUMN owner TEXT;
    CREATE INDEX outbox_owner ON outbox (lower(owner));
    """,
    # 10: when a breached clock was ended by a delete, disqualification or recycle, so its elapsed
    # time stops there instead of running on to each as-of
    """
    ALTER TABLE window_instances ADD COLUMN ended_at TEXT;
    """,
    # 11: what a run left to do, so runs commit in chunks and the next one resumes (store/worklist.py):
    # the leads a policy change queued for a re-judge, the policy set that queue is for, pending targets
    """
    CREATE TABLE IF NOT EXISTS rejudge (lead_id TEXT PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS run_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO run_state (name, value)
        SELECT 'policy_hash', policy_hash FROM runs
        WHERE status = 'finished' AND dry_run = 0 AND policy_hash IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM run_state WHERE name = 'policy_hash')
        ORDER BY id DESC LIMIT 1;
    """,
    # 12: each window's and target's fingerprint as last queued, so a policy change re-judges only
    # the rules it changed and the leads they touch (language/fingerprints.py)
    """
    CREATE TABLE IF NOT EXISTS rule_fingerprints (
        kind TEXT NOT NULL,
        policy TEXT NOT NULL,
        rule TEXT NOT NULL,
        whole TEXT NOT NULL,
        reach TEXT NOT NULL,
        PRIMARY KEY (kind, policy, rule)
    );
    """,
    # 13: a run's chunks of leads, each claimed by the process that judges it (several processes on
    # PostgreSQL), with who judged it and what it counted; and the run's due leads where every one of
    # those processes reads them (PostgreSQL: SQLite's one process keeps them in a temporary table)
    """
    CREATE TABLE IF NOT EXISTS run_chunks (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL,
        listed TEXT NOT NULL,
        after_lead TEXT,
        last_lead TEXT NOT NULL,
        done_by TEXT,
        leads INTEGER NOT NULL DEFAULT 0,
        new_breaches INTEGER NOT NULL DEFAULT 0,
        new_warnings INTEGER NOT NULL DEFAULT 0,
        actions_due INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS run_chunks_run ON run_chunks (run_id, id);
    CREATE TABLE IF NOT EXISTS due_leads (lead_id TEXT PRIMARY KEY);
    """,
]

class Store:
    """The unit of work: one connection, the run lock, the transaction, and the repositories over them."""

    dialect: ClassVar[str] = "sqlite"  # which SQL the metric queries speak (store/json_sql.py)

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        """Open (creating or migrating) the store; an SQLite problem is a StoreError saying what to do.

        ``timeout`` bounds every wait for SQLite's own lock, here and in later statements
        (``locked`` sets it again to the run's --lock-timeout).
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        self.leads = Leads(self.conn)
        self.events = Events(self.conn, self.leads)
        self.instances = Instances(self.conn)
        self.runs = Runs(self.conn)
        self.quarantine = Quarantine(self.conn)
        self.worklist = Worklist(self.conn)
        self.outbox = Outbox(self.conn, self.transaction)
        self.round_robin = RoundRobin(self.conn)
        self.sync_state = SyncState(self.conn)
        self.owners = Owners(self.conn)
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
        """All of the block's writes or none; ``rollback`` undoes them even when it succeeds (a dry run)."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.events.earliest_new_event = None
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
    # ------------------------------------------------------------ reading
    def count(self, table: str, where: str = "", params: Iterable[Any] = ()) -> int:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(self.conn.execute(sql, list(params)).fetchone()[0])

    def read_only(self) -> None:
        """From now on this connection refuses to write (the live dashboard's)."""
        self.conn.execute("PRAGMA query_only = ON")

    def prepare_for_reports(self) -> None:
        """A report reads much of the store several times: map it into memory and cache generously."""
        self.conn.execute("PRAGMA mmap_size = 1073741824")
        self.conn.execute("PRAGMA cache_size = -262144")


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
