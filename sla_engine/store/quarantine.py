"""Quarantine: the rows a source gave that could not be stored, each kept once with its reason."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sla_engine.store.sql import dict_rows


class Quarantine:
    """The ``quarantine`` table: a bad row is kept, never dropped silently; the same row read again once."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def keep(self, source: str, file: str | None, line: int | None, reason: str,
             raw: dict[str, Any], run_id: int | None) -> bool:
        """Keep a row we could not read; returns False when the same row was already kept."""
        raw_text = json.dumps(raw, sort_keys=True, default=str)
        key = f"{source}|{file}|{line}|{raw_text}"
        cursor = self.conn.execute(
            "INSERT INTO quarantine (key, source, file, line, reason, raw, first_run) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (key, source, file, line, reason, raw_text, run_id),
        )
        return cursor.rowcount > 0

    def rows(self, source: str | None = None, limit: int | None = None,
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
        return dict_rows(self.conn.execute(sql, params))
