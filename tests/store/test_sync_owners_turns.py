"""Sync cursors, push state, CRM owners and round-robin turns: the same answers on both stores."""

from __future__ import annotations

from datetime import datetime, timezone

from sla_engine.connector import Cursor, Owner

AT = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def test_cursors_advance_only_with_the_transaction_that_stores_them(open_store):
    store = open_store()
    assert store.sync_state.cursors("crm") == {}
    with store.transaction():
        store.sync_state.save_cursors("crm", {"Lead": Cursor(AT, "00Q1"), "Task": Cursor(AT)})
    with store.transaction(rollback=True):  # a dry run, or a run that failed after pulling
        store.sync_state.save_cursors("crm", {"Lead": Cursor(AT.replace(hour=13))})
    assert store.sync_state.cursors("crm") == {"Lead": Cursor(AT, "00Q1"), "Task": Cursor(AT)}
    assert store.sync_state.cursors("other") == {}


def test_push_state_keeps_the_last_fingerprint_and_the_first_remote_id(open_store):
    store = open_store()
    with store.transaction():
        store.sync_state.record_pushed("crm", [("L1|sla", "f1", "r1"), ("L2|sla", "f2", None)])
        store.sync_state.record_pushed("crm", [("L1|sla", "f1b", None)])
    assert store.sync_state.pushed("crm") == {"L1|sla": "f1b", "L2|sla": "f2"}
    assert store.sync_state.pushed("sheet") == {}


def test_owners_are_replaced_whole_and_found_by_email_in_any_case(open_store):
    store = open_store()
    assert not store.owners.has_owners("sf")
    with store.transaction():
        store.owners.replace("sf", [Owner("005A", "Ann@Example.com", "Ann Lee"), Owner("005B", "bo@example.com",
                                    active=False), Owner("00GQ", None, "Inbound", kind="queue")])
        store.owners.replace("hs", [Owner("11", "ann@example.com")])
    assert store.owners.has_owners("sf") and store.owners.id_for("sf", " ann@EXAMPLE.com ") == "005A"
    assert store.owners.id_for("sf", "bo@example.com") is None  # deactivated: never written to
    assert store.owners.id_for("hs", "ann@example.com") == "11"
    assert set(store.owners.all()) == {"005A", "005B", "00GQ", "11"}
    with store.transaction():
        store.owners.replace("sf", [Owner("005C", "cy@example.com")])
    assert set(store.owners.all()) == {"005C", "11"}


def test_a_teams_turn_is_the_last_member_remembered(open_store):
    store = open_store()
    assert store.round_robin.last_pick("sdr") is None
    with store.transaction():
        store.round_robin.remember_pick("sdr", "a@example.com", AT)
        store.round_robin.remember_pick("sdr", "b@example.com", AT)
        store.round_robin.remember_pick("ae", "c@example.com", AT)
    assert store.round_robin.last_pick("sdr") == "b@example.com"
    assert open_store().round_robin.last_pick("ae") == "c@example.com"  # committed: another session sees it
