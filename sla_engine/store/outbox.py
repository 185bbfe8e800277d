"""The outbox: its rows' delivery states, each change committed on its own.

A row is claimed (``sending``, attempt + 1, committed) before anything leaves the machine,
and marked ``sent`` after. A run that dies in between leaves it ``sending``: the next run
sends it again with the same idempotency key, which receivers dedupe on; a row found in
flight a second time is not sent a third time but marked ``dead`` for a person to look at, so
the one in flight arrives at most twice. Failures wait ``base * 2^(attempts-1)`` before the
next try and become ``dead`` after ``max_attempts``. A row nobody needs any more is retired
without being sent: ``obsolete`` when its window closed first, ``expired`` when it waited
longer than the delivery's maximum age (a first run over old history, a long outage).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sla_engine.store.db import Store, iso

PENDING, SENDING, SENT, FAILED, DEAD = "pending", "sending", "sent", "failed", "dead"
OBSOLETE, EXPIRED = "obsolete", "expired"
STATUSES = (PENDING, SENDING, SENT, FAILED, DEAD, OBSOLETE, EXPIRED)
MAX_SENDS = 2  # the first send and one resend after an interrupted run
MAX_ERROR = 500


def idempotency_key(keys: Sequence[str]) -> str:
    """The same rows always give the same key, whichever run sends them."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]


def due_rows(store: Store, now: datetime) -> list[dict[str, Any]]:
    """Rows to work on now: in flight when a run died, new, or failed and past their backoff."""
    rows = store.db.query(
        "SELECT * FROM outbox WHERE status = 'sending' OR (status IN ('pending', 'failed') "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= ?)) ORDER BY due_at, key",
        [iso(now)],
    )
    return [{**row, "action": json.loads(row["action"])} for row in rows]


def claim(store: Store, keys: Sequence[str], idem: str, recipient: str | None, detail: str | None = None) -> None:
    """Mark rows in flight before sending; committed, so a crash after this resends, never loses.

    A row already ``sending`` (resent after a crash) keeps its attempt count and key, and
    counts one more send.
    """
    fresh = ("UPDATE outbox SET status = 'sending', attempts = attempts + 1, sends = 1, idempotency_key = ?, "
             "recipient = ?, detail = coalesce(?, detail) WHERE key = ? AND status != 'sending'")
    again = "UPDATE outbox SET sends = sends + 1 WHERE key = ? AND status = 'sending'"
    with _joined(store):
        store.conn.executemany(again, [(key,) for key in keys])
        store.conn.executemany(fresh, [(idem, recipient, detail, key) for key in keys])


@contextmanager
def _joined(store: Store) -> Iterator[None]:
    """The caller's transaction when there is one (so a claim joins other writes), else our own."""
    if store.conn.in_transaction:
        yield
    else:
        with store.transaction():
            yield


def mark_sent(store: Store, keys: Sequence[str], now: datetime, detail: str | None = None) -> None:
    """Done: never sent again. Call inside a transaction to join other writes (an event), else it commits."""
    sql = ("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, next_attempt_at = NULL, "
           "detail = coalesce(?, detail) WHERE key = ?")
    with _joined(store):
        store.conn.executemany(sql, [(iso(now), detail, key) for key in keys])


def mark_failed(store: Store, keys: Sequence[str], error: str, now: datetime, *, max_attempts: int,
                backoff: timedelta, count_attempt: bool = False) -> list[str]:
    """Record a failure with its error, which the caller has scrubbed of secrets; returns the keys now dead.

    ``count_attempt`` is for failures found before a claim (an unresolvable recipient).
    """
    message = error[:MAX_ERROR]
    dead: list[str] = []
    with store.transaction():
        for key in keys:
            if count_attempt:
                store.conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE key = ?", (key,))
            attempts = int(store.conn.execute("SELECT attempts FROM outbox WHERE key = ?", (key,)).fetchone()[0])
            if attempts >= max_attempts:
                status, retry_at = DEAD, None
                dead.append(key)
            else:
                status, retry_at = FAILED, iso(now + backoff * (2 ** max(attempts - 1, 0)))
            store.conn.execute(
                "UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ? WHERE key = ?",
                (status, message, retry_at, key),
            )
    return dead


def retire(store: Store, keys: Sequence[str], status: str, reason: str) -> None:
    """Never send these: ``obsolete``, ``expired``, or ``dead`` after two interrupted sends."""
    assert status in (OBSOLETE, EXPIRED, DEAD)
    with store.transaction():
        store.conn.executemany("UPDATE outbox SET status = ?, detail = ?, next_attempt_at = NULL WHERE key = ?",
                               [(status, reason, key) for key in keys])
        if status == DEAD:
            store.conn.executemany("UPDATE outbox SET last_error = ? WHERE key = ?",
                                   [(reason[:MAX_ERROR], key) for key in keys])


def last_sent_to(store: Store, recipient: str) -> datetime | None:
    """When a message last went to this recipient (for one digest a day)."""
    row = store.conn.execute("SELECT max(sent_at) FROM outbox WHERE recipient = ? AND status = 'sent'",
                             (recipient,)).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def defer(store: Store, keys: Sequence[str], until: datetime, reason: str) -> None:
    """Not now (quiet hours, the recipient's off hours): try again at ``until``, no attempt used."""
    with store.transaction():
        store.conn.executemany("UPDATE outbox SET next_attempt_at = ?, detail = ? WHERE key = ?",
                               [(iso(until), reason, key) for key in keys])


def list_rows(store: Store, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM outbox" + (" WHERE status = ?" if status else "") + " ORDER BY due_at, key"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return list(store.db.query(sql, [status] if status else []))
