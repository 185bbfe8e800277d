"""The store's SQL on PostgreSQL: a psycopg connection that reads statements written for SQLite.

The repositories write their SQL once, in the subset both databases share (``INSERT … ON
CONFLICT``, ``RETURNING``, ``"window"`` quoted), with SQLite's placeholders: ``?`` and ``:name``.
This connection turns those into psycopg's ``%s`` and ``%(name)s`` outside quoted text (every
``%`` doubled, as psycopg wants even inside quotes), drops SQLite's ``INDEXED BY`` hints, and
answers the few sqlite3 calls the repositories make. What is SQLite's alone (PRAGMA, rowid, the
temp schema, SQL functions written in Python) is overridden in the PostgreSQL store instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

_TOKENS = re.compile(r"""('(?:[^']|'')*')|("(?:[^"]|"")*")|(\?)|(?<![:\w]):([A-Za-z_]\w*)|(%)""")
_INDEX_HINT = re.compile(r"\s+INDEXED BY \w+")  # SQLite's; PostgreSQL's planner chooses its own index


@lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """A statement with SQLite's placeholders in psycopg's style; a ``?`` in quoted text stays text."""

    def replace(found: re.Match[str]) -> str:
        literal, identifier, mark, name, percent = found.groups()
        if literal or identifier:
            return found.group(0).replace("%", "%%")  # psycopg reads % even inside quotes
        if mark:
            return "%s"
        if name:
            return f"%({name})s"
        return "%%" if percent else found.group(0)

    return _TOKENS.sub(replace, _INDEX_HINT.sub("", sql))


class PortableConnection:
    """A psycopg connection (autocommit; transactions are explicit) with sqlite3's ``execute``."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        if params:
            cursor.execute(to_psycopg(sql), params)
        else:
            cursor.execute(_INDEX_HINT.sub("", sql))
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        batch = list(rows)
        if batch:
            cursor.executemany(to_psycopg(sql), batch)  # pipelined: one round trip
        return cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()
