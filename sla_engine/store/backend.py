"""Opening the store a location names: a PostgreSQL URL opens the PostgreSQL store, anything else SQLite."""

from __future__ import annotations

from pathlib import Path

from sla_engine.store.db import Store
from sla_engine.store.errors import StoreError
from sla_engine.store.location import is_postgres


def open_location(location: str | Path, timeout: float = 30.0) -> Store:
    """The store at ``location``, created or migrated: a PostgreSQL URL, else an SQLite file."""
    if is_postgres(location):
        from sla_engine.store.postgres_store import PostgresStore

        return PostgresStore(str(location).strip(), timeout)
    if str(location).lower().startswith(("postgresql:", "postgres:")):  # a URL that went through Path()
        raise StoreError(f"{location}: a PostgreSQL URL read as a file name; nothing was created")
    return Store(location, timeout)
