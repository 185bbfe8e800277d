"""Where the store is: a file or a PostgreSQL URL, whose password is never shown."""

from __future__ import annotations

from sla_engine.redact import scrub
from sla_engine.store.location import display, is_postgres, remember_secrets


def test_a_url_is_postgres_and_anything_else_is_an_sqlite_file():
    assert is_postgres("postgresql://sla@db/sla") and is_postgres("postgres://db/sla")
    assert is_postgres(" PostgreSQL://db/sla")
    assert not is_postgres("sla-engine.db") and not is_postgres("postgresql.db") and not is_postgres(None)


def test_a_password_in_either_place_of_a_url_is_shown_as_stars():
    assert display("postgresql://sla:pa:ss@db:5432/sla") == "postgresql://sla:***@db:5432/sla"
    assert display("postgresql://db/sla?user=sla&password=hunter2&sslmode=require") == (
        "postgresql://db/sla?user=sla&password=***&sslmode=require")
    assert display("postgresql://sla@db/sla") == "postgresql://sla@db/sla"


def test_a_remembered_password_is_scrubbed_from_any_message_that_quotes_it():
    remember_secrets("postgresql://sla:Tr0ub4dor-x@db/sla?password=second-secret")
    assert scrub('FATAL: bad password "Tr0ub4dor-x" / second-secret') == 'FATAL: bad password "***" / ***'
