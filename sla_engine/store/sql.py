"""What every repository's SQL shares: the one stored form of an instant, IN lists, rows as dicts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from sla_engine.events import stored_instant

iso = stored_instant  # every instant the store writes, events or results, is written one way

IN_LIMIT = 500  # values bound in one `IN (...)` list, well under SQLite's limit


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def chunks(items: list[Any], size: int = IN_LIMIT) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def marks(items: Iterable[Any]) -> str:
    """The ``?, ?, …`` that binds one value per item."""
    return ", ".join("?" for _ in items)


def dict_rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """A query's rows as {column: value} dicts."""
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor]
