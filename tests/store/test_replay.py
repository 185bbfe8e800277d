"""A replay (diff's backtest) reads either store's events lead by lead, in byte order, and writes nothing."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from sla_engine.events import LeadEvent
from sla_engine.store import replay as replay_module
from sla_engine.store.backend import open_location
from sla_engine.store.errors import StoreError
from sla_engine.store.replay import open_replay

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
# Ids whose byte order differs from a dictionary's: capitals before small letters, a space, an accent.
LEADS = ["b", "B", "a", "a b", "a-1", "A", "é", "Z9", "z"]


def event(lead: str, minutes: int, event_id: str) -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=lead, type="updated", occurred_at=T0 + timedelta(minutes=minutes),
                           payload={"changes": {"note": f"{lead} {event_id}"}}, event_id=event_id)


def history() -> list[LeadEvent]:
    """Each lead: two events at one instant (told apart by id), one later, one after the as-of."""
    events = []
    for n, lead in enumerate(LEADS):
        events += [event(lead, 10, f"{lead}/y"), event(lead, 10, f"{lead}/x"), event(lead, 5 + n, f"{lead}/0"),
                   event(lead, 24 * 60, f"{lead}/late")]
    return events


AS_OF = T0 + timedelta(hours=1)


def fill(location: str) -> None:
    store = open_location(location)
    with store.transaction():
        store.events.upsert(history(), 1)
    store.close()


def read_all(location: str) -> tuple[int, list[tuple[str, list[tuple[str, str, dict]]]]]:
    replay = open_replay(location)
    try:
        count = replay.lead_count(AS_OF)
        histories = [(lead, [(e.event_id, e.occurred_at.isoformat(), e.payload) for e in events])
                     for lead, events in replay.histories(AS_OF)]
    finally:
        replay.close()
    return count, histories


def test_histories_come_a_lead_at_a_time_in_byte_order_up_to_the_as_of(store_location):
    fill(store_location)
    count, histories = read_all(store_location)
    assert count == len(LEADS)
    assert [lead for lead, _ in histories] == sorted(LEADS)  # code point order is UTF-8 byte order
    for lead, events in histories:
        n = LEADS.index(lead)
        at = (T0 + timedelta(minutes=5 + n)).isoformat()
        ten = (T0 + timedelta(minutes=10)).isoformat()
        expected = sorted([(f"{lead}/0", at), (f"{lead}/x", ten), (f"{lead}/y", ten)], key=lambda e: (e[1], e[0]))
        assert [(event_id, when) for event_id, when, _ in events] == expected
        assert events[0][2] == {"changes": {"note": f"{lead} {events[0][0]}"}}


def test_both_stores_give_the_same_histories(tmp_path, pg_url):
    fill(str(tmp_path / "s.db"))
    fill(pg_url)
    assert read_all(pg_url) == read_all(str(tmp_path / "s.db"))


@pytest.fixture
def icu_url(postgres):
    """A database whose collation (ICU, en-US) sorts 'a' before 'B', unlike bytes."""
    import psycopg

    name = f"icu{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                      "LOCALE 'C'")
        assert admin.execute("SELECT 'a' < 'B' COLLATE \"en-US-x-icu\"").fetchone() == (True,)
    yield postgres.url(name)
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_database_in_another_locale_still_gives_byte_order(icu_url):
    import psycopg

    fill(icu_url)
    with psycopg.connect(icu_url) as conn:  # the database itself sorts as a dictionary does
        stored = [lead for (lead,) in conn.execute("SELECT DISTINCT lead_id FROM events ORDER BY lead_id")]
    assert stored != sorted(LEADS)
    _, histories = read_all(icu_url)
    assert [lead for lead, _ in histories] == sorted(LEADS)


def test_postgresql_is_read_through_a_server_side_cursor_in_a_read_only_snapshot(pg_url, monkeypatch):
    import psycopg

    fill(pg_url)
    monkeypatch.setattr(replay_module, "FETCH", 2)
    replay = open_replay(pg_url)
    try:
        histories = replay.histories(AS_OF)
        first, _ = next(histories)
        assert first == "A"
        # The rows wait on the server, in a cursor fetched two at a time; our side holds one lead.
        (cursor,) = replay.conn.execute("SELECT name FROM pg_cursors").fetchall()
        assert cursor[0].startswith("replay_")
        with psycopg.connect(pg_url, autocommit=True) as other:  # another session's event is not seen
            other.execute("INSERT INTO events VALUES ('new', 'A0', %s, 't', 'updated', '{}', 2)", (T0.isoformat(),))
        assert "A0" not in [lead for lead, _ in histories]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            replay.conn.execute("DELETE FROM events")
    finally:
        replay.close()


def test_a_database_without_the_store_is_refused_and_left_as_it_was(pg_url):
    import psycopg

    secret_url = pg_url.replace("postgresql://sla@", "postgresql://sla:hunter2@")
    with pytest.raises(StoreError) as refused:
        open_replay(secret_url)
    assert "not an sla-engine store" in str(refused.value)
    assert "hunter2" not in str(refused.value) and "sla:***@" in str(refused.value)
    with psycopg.connect(pg_url) as conn:  # not migrated: no table, no function was created
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                            ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
                            ).fetchone() == (0,)


def test_a_missing_or_foreign_sqlite_file_is_refused(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        open_replay(str(tmp_path / "missing.db"))
    (tmp_path / "notes.txt").write_text("not a database", encoding="utf-8")
    with pytest.raises(StoreError, match="not an sla-engine store"):
        open_replay(str(tmp_path / "notes.txt"))


def test_without_the_driver_a_postgresql_history_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgresql extra were not installed
    with pytest.raises(StoreError, match=r"pip install 'sla-engine\[postgresql\]'"):
        open_replay("postgresql://sla@db.internal/sla")


def test_a_connection_lost_part_way_is_said_as_the_store_s_error(pg_url, monkeypatch):
    import psycopg

    fill(pg_url)
    monkeypatch.setattr(replay_module, "FETCH", 2)
    replay = open_replay(pg_url)
    try:
        histories = replay.histories(AS_OF)
        next(histories)
        pid = replay.conn.info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError, match=r"reading the events of postgresql://sla@.* stopped"):
            list(histories)
    finally:
        replay.close()
