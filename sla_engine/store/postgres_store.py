"""The PostgreSQL store: the same Store, its repositories and SQL, on a PostgreSQL database.

The repositories' SQL is written once in the subset both databases share and runs here through
``portable.PortableConnection``. What differs is overridden here and only here:

- the run lock is a session advisory lock (any machine), not a lock file;
- a transaction is PostgreSQL's own; a dry run rolls it back;
- events arrive by COPY into a temporary table and are merged from there in one statement per
  batch (``PostgresEvents``); "written by this ingest" is a temporary table of ids, where SQLite
  compares rowids;
- the leads a run judges are a table every process judging the run reads (``due_leads``), and a
  claim on a chunk of them is an advisory lock (``PostgresWorklist``);
- the metric queries run here in PostgreSQL's dialect (``store/json_sql.py``); what only Python
  can judge of a condition is judged over the rows a query reads and looked up in a temporary
  table (``judge_rows``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from sla_engine.store.db import Store
from sla_engine.store.errors import StoreError, StoreLocked
from sla_engine.store.events import Events, Ingest, Upserted
from sla_engine.store.instances import Instances
from sla_engine.store.leads import Leads
from sla_engine.store.location import display
from sla_engine.store.outbox import Outbox
from sla_engine.store.owners import Owners
from sla_engine.store.portable import PortableConnection, to_psycopg
from sla_engine.store.postgres import connect
from sla_engine.store.postgres_schema import migrate, schema_version
from sla_engine.store.quarantine import Quarantine
from sla_engine.store.round_robin import RoundRobin
from sla_engine.store.runs import Runs
from sla_engine.store.sql import iso
from sla_engine.store.sync_state import SyncState
from sla_engine.store.worklist import DUE, OPEN_RUN, REJUDGE, Chunk, Worklist

RUN_LOCK = 0x534C_4131  # pg_advisory_lock key a run holds ("SLA1")
CLAIM_LOCK = 0x534C_4132  # first key of a chunk claim's advisory lock ("SLA2"); the chunk's id is the second
CLAIM_POLL = 0.05  # seconds between looks at a claim another process holds
COPY_BATCH = 5000  # events per COPY: PostgreSQL's round trips cost more than SQLite's calls
JUDGE_PAGE = 5000  # rows judged in Python per page (conditions SQL cannot settle)
ANALYZED_TABLES = ("events", "leads", "window_instances", "stage_entries")  # what metric queries read
STALE_SHARE, STALE_FLOOR = 0.2, 1000  # rows changed since the last ANALYZE that call for another
_EVENT_COLUMNS = "event_id, lead_id, occurred_at, source, type, payload, ingested_run"


class PostgresLeads(Leads):
    def mark_dirty(self, lead_ids: Iterable[str]) -> None:
        """One statement for the lot (an array parameter), not one per lead."""
        self.conn.execute(
            "INSERT INTO leads (lead_id, dirty) SELECT DISTINCT unnest(?::text[]), 1 "
            "ON CONFLICT (lead_id) DO UPDATE SET dirty = 1",
            (list(lead_ids),),
        )


class PostgresOutbox(Outbox):
    """A message being sent holds a session advisory lock named by its idempotency key, taken before its
    claim and let go once it is sent or failed. A delivery on any host then tells a message in flight
    in a live session (its lock held: left alone) from one a killed process left (the lock went with
    its session: sent again), so without the run lock no message goes out twice either."""

    def hold(self, idem: str) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(hashtextextended(?, 0))", (idem,)).fetchone()
        return bool(row and row[0])

    def release(self, idem: str) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (idem,))

    def abandoned(self, idem: str) -> bool:
        if not self.hold(idem):
            return False
        self.release(idem)
        return True


class PostgresWorklist(Worklist):
    """The worklist shared by every process judging a run: the due leads are a table all of them read,
    and a claim on a chunk is a session advisory lock on its id (``CLAIM_LOCK``, id). A lock survives the
    commits of the process that holds it and goes with its session, so a crashed process's claims
    return to the pool by themselves; who takes one next finds the chunk done or not in the table."""

    tables: ClassVar[dict[str, str]] = {DUE: "due_leads", REJUDGE: "rejudge"}

    def select_due(self, as_of: datetime) -> int:
        self.conn.execute("DELETE FROM due_leads")
        cursor = self.conn.execute(
            "INSERT INTO due_leads SELECT lead_id FROM leads "
            "WHERE dirty = 1 OR (next_check_at IS NOT NULL AND next_check_at <= ?)",
            (iso(as_of),),
        )
        self.conn.execute("ANALYZE due_leads")
        return max(cursor.rowcount, 0)

    def claim(self, run_id: int, lists: tuple[str, ...]) -> Chunk | None:
        """The first chunk no process holds, done by none, while the run is open to claims."""
        for chunk in self.unclaimed(run_id, lists):
            if not self._try_lock(chunk.id):
                continue
            row = self.conn.execute(
                "SELECT done_by IS NULL AND (SELECT value FROM run_state WHERE name = ?) = ? "
                "FROM run_chunks WHERE id = ?", (OPEN_RUN, str(run_id), chunk.id)).fetchone()
            if row and row[0]:  # checked after taking the lock: the holder before may have finished it
                self.claimed.add(chunk.id)
                return chunk
            self._unlock(chunk.id)
        return None

    def wait_for_due(self, run_id: int) -> bool:
        while chunks := self.unclaimed(run_id, (DUE,)):
            for chunk in chunks:
                if self._try_lock(chunk.id):
                    self._unlock(chunk.id)
                    return True  # not done and nobody's: its process died
            time.sleep(CLAIM_POLL)
        return False

    def release(self, chunk: Chunk) -> None:
        if chunk.id in self.claimed:
            self._unlock(chunk.id)
        super().release(chunk)

    def wait_for_claims(self) -> None:
        """Wait for every process holding a claim on a chunk not yet done to commit it or die. A process
        that took a claim after the run closed lets it go unjudged (``claim`` checks the run after the lock)."""
        for (chunk_id,) in self.conn.execute("SELECT id FROM run_chunks WHERE done_by IS NULL").fetchall():
            if int(chunk_id) in self.claimed:
                continue
            while not self._try_lock(int(chunk_id)):
                time.sleep(CLAIM_POLL)
            self._unlock(int(chunk_id))

    def _try_lock(self, chunk_id: int) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(?::int, ?::int)",
                                (CLAIM_LOCK, chunk_id % 2**31)).fetchone()
        return bool(row and row[0])

    def _unlock(self, chunk_id: int) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(?::int, ?::int)", (CLAIM_LOCK, chunk_id % 2**31))


class PostgresEvents(Events):
    conn: PortableConnection  # type: ignore[assignment]  # the repositories' connection, on PostgreSQL
    batch_size = COPY_BATCH

    def begin_ingest(self) -> Ingest:
        """Ids this ingest writes are kept in a temporary table (``ingest_written``), emptied here."""
        self._temp_tables()
        self.conn.execute("TRUNCATE ingest_written")
        return Ingest(0)

    def _temp_tables(self) -> None:
        # Created again after a rolled-back transaction (a dry run) took them away.
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_written (event_id TEXT PRIMARY KEY)")
        self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS incoming (event_id TEXT, lead_id TEXT, occurred_at TEXT, "
            "source TEXT, type TEXT, payload TEXT, ingested_run BIGINT)")

    def _copy_in(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.conn.execute("TRUNCATE incoming")
        with self.conn.raw.cursor().copy(f"COPY incoming ({_EVENT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _upsert_batch(self, rows: list[tuple[Any, ...]], ingest: Ingest) -> Upserted:
        """COPY the batch in; when none of its ids is stored or repeated, one INSERT … SELECT writes it."""
        if not rows:
            return Upserted(0, 0, [])
        self._temp_tables()  # an ingest begun in a rolled-back transaction (a dry run) finds them gone
        self._copy_in(rows)
        # The batch's ids as an array, looked up by the primary key: a join with the temporary table
        # got slower with every batch of one long ingest (12 ms to 90 ms a batch over 554,627 events,
        # quadratic in all), the lookup stays flat (3 to 4 ms).
        met = self.conn.execute(
            "SELECT e.event_id, e.lead_id, e.occurred_at, e.source, e.type, e.payload, "
            "EXISTS (SELECT 1 FROM ingest_written w WHERE w.event_id = e.event_id) "
            "FROM events e WHERE e.event_id = ANY(?::text[])", (list({row[0] for row in rows}),)).fetchall()
        if not met and len({row[0] for row in rows}) == len(rows):
            self.conn.execute(f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM incoming")
            self.conn.execute("INSERT INTO ingest_written SELECT event_id FROM incoming")
            self._note_changed(rows, {row[1] for row in rows})
            return Upserted(len(rows), 0, [])
        existing = {row[0]: tuple(row[1:6]) for row in met}
        this_ingest = {row[0] for row in met if row[6]}
        fresh, unchanged, conflicts, dirty = self._judge_batch(rows, existing, this_ingest, ingest)
        if fresh:
            self._copy_in(fresh)
            self.conn.execute(
                f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM incoming "
                "ON CONFLICT (event_id) DO UPDATE SET lead_id = excluded.lead_id, occurred_at = excluded.occurred_at, "
                "source = excluded.source, type = excluded.type, payload = excluded.payload, "
                "ingested_run = excluded.ingested_run")
            self.conn.execute("INSERT INTO ingest_written SELECT event_id FROM incoming ON CONFLICT DO NOTHING")
        self._note_changed(fresh, dirty)
        return Upserted(len(fresh), unchanged, conflicts)


class PostgresStore(Store):
    """A Store whose database is PostgreSQL; selected by a ``postgresql://`` URL (``open_store``)."""

    dialect: ClassVar[str] = "postgresql"

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        # Not Store.__init__: that opens an SQLite file.
        self.url = url
        self.path = display(url)  # type: ignore[assignment]  # what messages name the store by
        raw = connect(url, timeout)
        try:
            migrate(raw)
        except Exception as error:
            raw.close()
            raise StoreError(f"cannot migrate the PostgreSQL store {self.path}: {error}") from None
        self.conn = PortableConnection(raw)  # type: ignore[assignment]  # sqlite3's calls, on psycopg
        self.leads = PostgresLeads(self.conn)
        self.events = PostgresEvents(self.conn, self.leads)
        self.instances = Instances(self.conn)
        self.runs = Runs(self.conn)
        self.quarantine = Quarantine(self.conn)
        self.worklist = PostgresWorklist(self.conn)
        self.outbox = PostgresOutbox(self.conn, self.transaction)
        self.round_robin = RoundRobin(self.conn)
        self.sync_state = SyncState(self.conn)
        self.owners = Owners(self.conn)
        self._set_lock_timeout(timeout)

    @property
    def _pg(self) -> PortableConnection:
        return self.conn  # type: ignore[return-value]

    # ------------------------------------------------------------ schema
    @property
    def version(self) -> int:
        return schema_version(self._pg.raw)

    def migrate(self) -> None:
        migrate(self._pg.raw)

    def integrity_problems(self, quick: bool = True) -> list[str]:
        """PostgreSQL checks its own pages; a reachable, migrated database is sound here."""
        return []

    # ------------------------------------------------------------ locking and transactions
    @contextmanager
    def locked(self, wait_seconds: float = 30.0) -> Iterator[None]:
        """Hold the run lock (an advisory lock, seen by runs on every machine); wait, then give up."""
        self._set_lock_timeout(wait_seconds)
        deadline = time.monotonic() + wait_seconds
        while not self._try_lock():
            if time.monotonic() >= deadline:
                raise StoreLocked(f"another sla-engine run holds {self.path} (waited {wait_seconds:.0f}s); "
                                  "nothing was changed")
            time.sleep(0.1)
        try:
            yield
        finally:
            if not self._pg.raw.closed:
                self._pg.raw.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))

    def _try_lock(self) -> bool:
        row = self._pg.raw.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()
        return bool(row and row[0])

    def set_busy_timeout(self, seconds: float) -> None:
        self._set_lock_timeout(seconds)

    def _set_lock_timeout(self, seconds: float) -> None:
        """How long a statement waits for a row or table lock another session holds."""
        self._pg.raw.execute(f"SET lock_timeout = {int(max(seconds, 0) * 1000)}")

    @contextmanager
    def transaction(self, rollback: bool = False) -> Iterator[None]:
        """All of the block's writes or none; ``rollback`` undoes them even when it succeeds (a dry run)."""
        import psycopg

        self.events.earliest_new_event = None
        with self._pg.raw.transaction() as done:
            yield
            if rollback:
                raise psycopg.Rollback(done)

    def close(self) -> None:
        self._pg.close()

    # ------------------------------------------------------------ reading
    def read_only(self) -> None:
        """From now on this session refuses to write (the live dashboard's)."""
        self._judged_table()
        self._pg.raw.execute("SET default_transaction_read_only = on")

    def prepare_for_reports(self) -> None:
        """PostgreSQL sizes its own caches; the table of answers judged in Python is made ready."""
        self._judged_table()
        self.refresh_statistics()

    def refresh_statistics(self) -> None:
        """ANALYZE the tables the metric queries read when the planner's statistics lag far behind.

        Right after a first run (or any run that wrote much) autovacuum has not caught up yet,
        and with no statistics the planner reads a lead's few clocks through the policy's index
        of thousands: a report then takes many times as long. A catalog read decides; ANALYZE
        samples a fixed number of rows, skips a table another session is analyzing, and is
        allowed in the dashboard's read-only session.
        """
        rows = self._pg.raw.execute(
            "SELECT c.relname, c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = ANY(%s::regclass[])",
            (list(ANALYZED_TABLES),)).fetchall()
        stale = [name for name, tuples, modified in rows
                 if tuples < 0 or modified > STALE_SHARE * max(tuples, STALE_FLOOR)]
        if stale:
            self._pg.raw.execute(f"ANALYZE (SKIP_LOCKED) {', '.join(stale)}")

    # ------------------------------------------------------------ conditions judged in Python
    def _judged_table(self) -> None:
        """The session's table of answers judged in Python (``store/conditions.py``), made once.

        Made before a session turns read-only (``read_only``): a read-only transaction may fill
        a temporary table but not create one. Made again after a rolled-back transaction (a dry
        run) took it away.
        """
        raw = self._pg.raw
        found = raw.execute("SELECT to_regclass('pg_temp.sla_judged') IS NOT NULL").fetchone()
        if found and found[0]:
            return
        raw.execute('CREATE TEMP TABLE sla_judged (fn BIGINT, lead_id TEXT, tier TEXT, policy TEXT, '
                    '"window" TEXT, hit BOOLEAN, value JSONB)')
        raw.execute("CREATE INDEX ON sla_judged (fn, lead_id)")

    def judge_rows(self, number: int, sql: str, params: Mapping[str, Any],
                   judge: Callable[[str | None, Any, Any, Any], Any], boolean: bool) -> None:
        """Judge ``judge`` over the rows ``sql`` selects (lead, state, tier, policy, window), a page
        at a time, and copy the answers into ``sla_judged`` under ``number``."""
        self._judged_table()
        raw = self._pg.raw
        with raw.transaction():  # a named cursor needs one; inside a run, a savepoint that sees its writes
            cursor = raw.cursor(name=f"judge_{number}")
            cursor.itersize = JUDGE_PAGE
            cursor.execute(to_psycopg(sql), params)
            while rows := cursor.fetchmany(JUDGE_PAGE):
                with raw.cursor().copy('COPY sla_judged (fn, lead_id, tier, policy, "window", hit, value) '
                                       "FROM STDIN") as copy:
                    for lead, state, tier, policy, window in rows:
                        answer = judge(state, tier, policy, window)
                        hit, value = (bool(answer), None) if boolean else (None, json.dumps(answer))
                        copy.write_row((number, lead, tier, policy, window, hit, value))
            cursor.close()
        raw.execute("ANALYZE sla_judged")

    def forget_judged(self, numbers: list[int]) -> None:
        if numbers:
            self._pg.raw.execute("DELETE FROM sla_judged WHERE fn = ANY(%s)", (numbers,))
