"""Connecting to a PostgreSQL store: the URL's password never shown, a failure said as a StoreError."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sla_engine.redact import scrub
from sla_engine.store.errors import StoreError
from sla_engine.store.location import display, remember_secrets

if TYPE_CHECKING:
    import psycopg

APPLICATION_NAME = "sla-engine"  # how our sessions read in pg_stat_activity


def connect(url: str, timeout: float = 30.0) -> psycopg.Connection[Any]:
    """An autocommit connection (transactions are explicit); the password comes from the URL's
    environment (PGPASSWORD, ~/.pgpass, a pg_service.conf service), never from our output."""
    remember_secrets(url)
    try:
        import psycopg
    except ImportError:
        raise StoreError("a PostgreSQL store needs psycopg: pip install 'sla-engine[postgresql]'") from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)),
                               application_name=APPLICATION_NAME)
    except psycopg.Error as error:
        raise StoreError(f"cannot open the PostgreSQL store {display(url)}: {scrub(str(error)).strip()}; "
                         "nothing was changed") from None
