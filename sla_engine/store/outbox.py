"""The outbox: the due actions of every run, and their delivery states, each change committed on its own.

A due action reaches the outbox once per key (``record``, in the run's transaction) through one
encoder (``outbox_row``), whether a clock's or a target's. A row is claimed (``sending``,
attempt + 1, committed) before anything leaves the machine, and marked ``sent`` after. A run
that dies in between leaves it ``sending``: the next run sends it again with the same
idempotency key, which receivers dedupe on; a row found in flight a second time, or whose
resend fails, is not sent again but marked ``dead`` for a person to look at (delivery decides
that), so the one in flight arrives at most twice. Failures wait ``base * 2^(attempts-1)``
before the next try and become ``dead`` after ``max_attempts``. A row nobody needs any more is
retired without being sent: ``obsolete`` when its window closed first, ``expired`` when it
waited longer than the delivery's maximum age (a first run over old history, a long outage).

The outbox grows with the store (a first run over a year of history records every escalation
of that year), so nothing here reads it whole: rows to deliver come a page at a time in the
order of the ``outbox_open`` index (keyset paging on due time and key, never OFFSET), expiry
is one UPDATE per page, and retirements and deferrals are written a batch per transaction.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

from sla_engine.store.sql import dict_rows, iso

PENDING, SENDING, SENT, FAILED, DEAD = "pending", "sending", "sent", "failed", "dead"
OBSOLETE, EXPIRED = "obsolete", "expired"
STATUSES = (PENDING, SENDING, SENT, FAILED, DEAD, OBSOLETE, EXPIRED)
MAX_SENDS = 2  # the first send and one resend after an interrupted run
MAX_ERROR = 500
BATCH = 500  # rows read, expired or retired per statement or transaction: what a delivery pass holds at once
# Rows still to deliver. Spelled as the outbox_open index's WHERE (migration 8), so SQLite uses that index.
_OPEN = "status IN ('pending', 'sending', 'failed')"

# Actions are plain JSON with sorted keys; the encoder is built once, not once per action.
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


def outbox_row(action: OutboxAction, run_id: int, owner: object = None) -> tuple[Any, ...]:
    """A due action as an outbox row: the one encoder of that stored shape. ``owner`` is the lead's
    owner as the run left it (a CRM id or an email), if it has one."""
    return (action.key, action.lead_id, action.policy, action.window, action.cycle, action.level,
            _action_text(action.action), iso(action.due_at), run_id, str(owner) if owner not in (None, "") else None)


class ClaimedElsewhere(Exception):
    """Another delivery changed a row since this one read it (claimed, sent or retired it): send nothing."""


def idempotency_key(keys: Sequence[str]) -> str:
    """The same rows always give the same key, whichever run sends them."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]


class Outbox:
    """The ``outbox`` table. A write that must survive a crash on its own (a claim, a retirement)
    commits through the store's ``transaction``, or joins the caller's when one is open."""

    def __init__(self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]) -> None:
        self.conn = conn
        self.transaction = transaction

    # ------------------------------------------------------------ recording
    def record(self, actions: Iterable[OutboxAction], run_id: int,
               owners: Mapping[str, object] | None = None) -> int:
        """Record due actions (a clock's or a target's) once per key; returns how many are new.

        ``owners`` (lead id → its owner) records whose lead each row is about.
        """
        owner_of = owners or {}
        cursor = self.conn.executemany(
            'INSERT INTO outbox (key, lead_id, policy, "window", cycle, level, action, due_at, '
            "created_run, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (outbox_row(action, run_id, owner_of.get(action.lead_id)) for action in actions),
        )
        return max(cursor.rowcount, 0)

    # ------------------------------------------------------------ reading
    def rows(self, status: str | None = None, limit: int | None = None, *, owner: str | None = None,
             recipient: str | None = None) -> list[dict[str, Any]]:
        """The rows in due order; ``owner`` (an email or a CRM owner id) keeps one rep's leads, the CRM's
        ids of that email included; ``recipient`` keeps what goes to one address (``maria@example.com``,
        ``#revenue``) or ``channel:address``, as far as a delivery has resolved it. Any case."""
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if owner:
            where.append("(lower(owner) = lower(?) OR owner IN "
                         "(SELECT owner_id FROM owners WHERE lower(email) = lower(?)))")
            params += [owner.strip(), owner.strip()]
        if recipient:
            where.append("(lower(recipient) = lower(?) "
                         "OR lower(substr(recipient, instr(recipient, ':') + 1)) = lower(?))")
            params += [recipient.strip(), recipient.strip()]
        sql = "SELECT * FROM outbox" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY due_at, key"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return dict_rows(self.conn.execute(sql, params))

    def counts(self) -> dict[str, int]:
        """How many outbox rows are in each status."""
        return {str(s): int(n) for s, n in self.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status")}

    def due(self, now: datetime, batch: int = BATCH) -> Iterator[dict[str, Any]]:
        """Rows to send now, new or failed and past their backoff, oldest due first, a page at a time.

        Each page starts after the last row of the one before (due time, key), so a row the caller
        updated meanwhile (sent, failed, deferred) is never read twice in one pass, and a pass holds
        one page whatever the outbox's size. Rows left in flight by a dead run are ``in_flight``'s.
        """
        sql = (f"SELECT * FROM outbox INDEXED BY outbox_open WHERE {_OPEN} AND status != 'sending' "
               "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND (due_at, key) > (?, ?) "
               "ORDER BY due_at, key LIMIT ?")
        yield from self._pages(sql, [iso(now)], ("due_at", "key"), batch)

    def in_flight(self, batch: int = BATCH) -> Iterator[dict[str, Any]]:
        """Rows a dead run left ``sending``, a page at a time, each message's rows (one idempotency key) together.

        A message a live delivery is sending (``abandoned`` says no) is left to it.
        """
        sql = ("SELECT *, coalesce(idempotency_key, '') AS message FROM outbox WHERE status = 'sending' "
               "AND (coalesce(idempotency_key, ''), key) > (?, ?) ORDER BY message, key LIMIT ?")
        verdicts: dict[str, bool] = {}
        for row in self._pages(sql, [], ("message", "key"), batch):
            message = row.pop("message")
            if message not in verdicts:
                verdicts = {message: self.abandoned(message)}  # one message's rows come together
            if verdicts[message]:
                yield row

    # ------------------------------------------------------------ whose message is in flight
    def hold(self, idem: str) -> bool:
        """Mark a message as being sent by this delivery, for as long as it lives; False when a live
        delivery elsewhere holds it. One host's deliveries take turns under the run lock (a lock
        file, released when its process dies), so here every message is free; the PostgreSQL store
        holds one for real, across hosts."""
        return True

    def release(self, idem: str) -> None:
        """The message is finished (sent, failed or given up): ``hold`` it no longer."""

    def abandoned(self, idem: str) -> bool:
        """Whether a message in flight was left by a dead delivery rather than being sent by a live one."""
        return True

    def _pages(self, sql: str, params: list[Any], order: tuple[str, str], batch: int) -> Iterator[dict[str, Any]]:
        """Keyset paging: ``sql`` ends with ``(a, b) > (?, ?) ORDER BY a, b LIMIT ?``; ``order`` names a and b."""
        after: tuple[Any, Any] = ("", "")
        while True:
            page = dict_rows(self.conn.execute(sql, [*params, *after, batch]))
            if page:
                after = (page[-1][order[0]], page[-1][order[1]])
            yield from ({**row, "action": json.loads(row["action"])} for row in page)
            if len(page) < batch:
                return

    def last_sent_to(self, recipient: str) -> datetime | None:
        """When a message last went to this recipient (for one digest a day)."""
        row = self.conn.execute("SELECT max(sent_at) FROM outbox WHERE recipient = ? AND status = 'sent'",
                                (recipient,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    # ------------------------------------------------------------ delivery states
    def expire(self, older_than: datetime, reason: str, batch: int = BATCH) -> int:
        """Retire as ``expired`` every row due (or last let go) before ``older_than``; returns how many.

        A page of the open rows per transaction, so a first run over years of
        history retires its backlog in constant memory and a crash keeps what was retired. The
        detail reads ``due <when><reason>``. Rows in flight finish instead.
        """
        cutoff = iso(older_than)
        # Due before the cutoff bounds the index range; waiting since before it (a deferral or a backoff
        # counts from when it let the row go) decides. A row deferred past its due time is later than both.
        page_sql = (f"SELECT due_at, key FROM outbox INDEXED BY outbox_open WHERE {_OPEN} AND status != 'sending' "
                    "AND due_at < ? AND coalesce(next_attempt_at, due_at) < ? AND (due_at, key) > (?, ?) "
                    "ORDER BY due_at, key LIMIT ?")
        expire_sql = ("UPDATE outbox SET status = 'expired', detail = 'due ' || substr(due_at, 1, 16) || ?, "
                      "next_attempt_at = NULL WHERE key = ? AND status IN ('pending', 'failed')")
        expired = 0
        after: tuple[str, str] = ("", "")
        while True:
            with self.transaction():
                page = self.conn.execute(page_sql, (cutoff, cutoff, *after, batch)).fetchall()
                self.conn.executemany(expire_sql, [(reason, key) for _, key in page])
            expired += len(page)
            if len(page) < batch:
                return expired
            after = page[-1]

    def claim(self, rows: Sequence[Mapping[str, Any]], idem: str, recipient: str | None,
              detail: str | None = None) -> None:
        """Mark rows in flight before sending; committed, so a crash after this resends, never loses.

        A row already ``sending`` (resent after a crash) keeps its attempt count and key, and
        counts one more send. Each row is claimed only if it is still as the caller read it
        (status, attempts, sends: every claim changes one of them), so of two deliveries that read
        it, one claims it; the other gets ``ClaimedElsewhere``, and none of its rows is claimed
        (the caller's transaction, when joined, is undone with them). Rows are claimed in key
        order, so two claims of overlapping rows wait for each other rather than deadlock. The
        message is ``hold``-ed first (``ClaimedElsewhere`` when a live delivery holds it); call
        ``release`` once it is sent, failed or given up.
        """
        fresh = ("UPDATE outbox SET status = 'sending', attempts = attempts + 1, sends = 1, idempotency_key = ?, "
                 "recipient = ?, detail = coalesce(?, detail) WHERE key = ? AND status = ? AND attempts = ? "
                 "AND sends = ?")
        again = "UPDATE outbox SET sends = sends + 1 WHERE key = ? AND status = ? AND attempts = ? AND sends = ?"
        if not self.hold(idem):
            raise ClaimedElsewhere(idem)
        try:
            with self._joined():
                for row in sorted(rows, key=lambda row: str(row["key"])):
                    as_read = (row["key"], row["status"], row["attempts"], row["sends"])
                    if row["status"] == SENDING:
                        claimed = self.conn.execute(again, as_read).rowcount
                    else:
                        claimed = self.conn.execute(fresh, (idem, recipient, detail, *as_read)).rowcount
                    if claimed != 1:
                        raise ClaimedElsewhere(row["key"])
        except BaseException:
            self.release(idem)
            raise

    @contextmanager
    def _joined(self) -> Iterator[None]:
        """The caller's transaction when there is one (so a claim joins other writes), else our own."""
        if self.conn.in_transaction:
            yield
        else:
            with self.transaction():
                yield

    def mark_sent(self, keys: Sequence[str], now: datetime, detail: str | None = None) -> None:
        """Done: never sent again. Call inside a transaction to join other writes (an event), else it commits."""
        sql = ("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, next_attempt_at = NULL, "
               "detail = coalesce(?, detail) WHERE key = ?")
        with self._joined():
            self.conn.executemany(sql, [(iso(now), detail, key) for key in keys])

    def mark_failed(self, keys: Sequence[str], error: str, now: datetime, *, max_attempts: int,
                    backoff: timedelta, count_attempt: bool = False) -> list[str]:
        """Record a failure with its error, which the caller has scrubbed of secrets; returns the keys now dead.

        ``count_attempt`` is for failures found before a claim (an unresolvable recipient). A row
        another delivery has finished meanwhile (sent, dead, retired) is left as it is.
        """
        message = error[:MAX_ERROR]
        dead: list[str] = []
        with self.transaction():
            for key in keys:
                if count_attempt:
                    self.conn.execute(f"UPDATE outbox SET attempts = attempts + 1 WHERE key = ? AND {_OPEN}", (key,))
                found = self.conn.execute(f"SELECT attempts FROM outbox WHERE key = ? AND {_OPEN}", (key,)).fetchone()
                if found is None:
                    continue
                attempts = int(found[0])
                if attempts >= max_attempts:
                    status, retry_at = DEAD, None
                    dead.append(key)
                else:
                    status, retry_at = FAILED, iso(now + backoff * (2 ** max(attempts - 1, 0)))
                self.conn.execute(
                    "UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ? WHERE key = ?",
                    (status, message, retry_at, key),
                )
        return dead

    def retire(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Never send these (key, status, reason): ``obsolete``, ``expired``, or ``dead`` after two interrupted sends.

        One transaction for the lot: the caller hands a batch at a time. A row another delivery has
        finished meanwhile keeps its status.
        """
        assert all(status in (OBSOLETE, EXPIRED, DEAD) for _, status, _ in rows)
        with self.transaction():
            self.conn.executemany(
                "UPDATE outbox SET status = ?, detail = ?, next_attempt_at = NULL, "
                f"last_error = CASE WHEN ? = 'dead' THEN ? ELSE last_error END WHERE key = ? AND {_OPEN}",
                [(status, reason, status, reason[:MAX_ERROR], key) for key, status, reason in rows])

    def defer(self, rows: Sequence[tuple[str, datetime, str]]) -> None:
        """Not now (key, until, reason): quiet hours, the recipient's off hours. No attempt used; one transaction.
        A row another delivery has claimed or finished meanwhile is not deferred."""
        with self.transaction():
            self.conn.executemany("UPDATE outbox SET next_attempt_at = ?, detail = ? WHERE key = ? "
                                  "AND status IN ('pending', 'failed')",
                                  [(iso(until), reason, key) for key, until, reason in rows])

    def address(self, rows: Sequence[tuple[str, str, object]]) -> None:
        """Note whom rows not yet claimed go to now (key, ``channel:address`` as a claim writes it, the
        lead's owner) and, for a row recorded before owners were kept, whose lead it is. One transaction;
        a row that already says so is not written."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE outbox SET recipient = ?, owner = coalesce(owner, ?) WHERE key = ? AND status != 'sending' "
                "AND (coalesce(recipient, '') != coalesce(?, '') OR (owner IS NULL AND coalesce(?, '') != ''))",
                [(recipient, _text(owner), key, recipient, _text(owner)) for key, recipient, owner in rows])


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)
