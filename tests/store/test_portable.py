"""The store's SQL, written with SQLite's placeholders, as psycopg reads it."""

from __future__ import annotations

from sla_engine.store.portable import to_psycopg


def test_placeholders_become_psycopgs_outside_quoted_text_and_every_percent_is_doubled():
    assert to_psycopg("SELECT * FROM t WHERE a = ? AND b LIKE 'x?%' AND \"w?\" = :name") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE 'x?%%' AND \"w?\" = %(name)s")
    assert to_psycopg("SELECT a % ?, '10%' FROM t WHERE c::text = ?") == (
        "SELECT a %% %s, '10%%' FROM t WHERE c::text = %s")
    assert to_psycopg("SELECT 'it''s ?' , ?") == "SELECT 'it''s ?' , %s"


def test_an_sqlite_index_hint_is_left_to_postgresqls_planner():
    assert to_psycopg("SELECT * FROM outbox INDEXED BY outbox_open WHERE status = ?") == (
        "SELECT * FROM outbox WHERE status = %s")


def test_what_psycopg_is_given_runs_on_postgresql_with_the_values_bound(pg_url):
    import psycopg

    from sla_engine.store.portable import PortableConnection

    with psycopg.connect(pg_url, autocommit=True) as raw:
        conn = PortableConnection(raw)
        assert conn.execute("SELECT ?, '10%?', 'ab' LIKE ?", ["x", "a%"]).fetchone() == ("x", "10%?", True)
        assert conn.execute("SELECT :n::int + 1", {"n": 41}).fetchone() == (42,)
