"""The outbox's states on both stores: claimed, sent, failed with backoff, dead, retired, expired, addressed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sla_engine.engine.clock import DueAction
from sla_engine.store import outbox
from sla_engine.store.outbox import ClaimedElsewhere

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def actions(n: int) -> list[DueAction]:
    first = DueAction(lead_id="L0", policy="p", window="w", cycle=1, level="on breach", level_index=0, repeat=0,
                      action_index=0, action={"action": "notify", "to": "owner"}, due_at=NOW - timedelta(hours=1))
    return [replace(first, lead_id=f"L{i}", due_at=NOW - timedelta(hours=n - i)) for i in range(n)]


def statuses(store) -> dict[str, str]:
    return {row["lead_id"]: row["status"] for row in store.outbox.rows()}


def row(store, lead_id: str) -> dict:
    """The lead's outbox row as a delivery reads it now."""
    [found] = [r for r in store.outbox.rows() if r["lead_id"] == lead_id]
    return found


def test_a_row_goes_through_every_state_the_same_way_on_both_stores(open_store):
    store = open_store()
    with store.transaction():
        assert store.outbox.record(actions(6), run_id=1, owners={"L0": "rep0@example.com", "L1": "005X"}) == 6
    keys = {row["lead_id"]: row["key"] for row in store.outbox.rows()}
    assert [row["lead_id"] for row in store.outbox.due(NOW, batch=4)] == [f"L{i}" for i in range(6)]

    store.outbox.claim([row(store, "L0")], "idem-0", "email:rep0@example.com")
    store.outbox.claim([row(store, "L0")], "idem-0", "email:rep0@example.com")  # resent after a crash: one more send
    store.outbox.mark_sent([keys["L0"]], NOW)
    store.outbox.claim([row(store, "L1")], "idem-1", "email:rep1@example.com")
    assert store.outbox.mark_failed([keys["L1"]], "SMTP 451", NOW, max_attempts=2, backoff=timedelta(minutes=5)) == []
    store.outbox.claim([row(store, "L1")], "idem-1", "email:rep1@example.com")
    assert store.outbox.mark_failed([keys["L1"]], "SMTP 451", NOW, max_attempts=2,
                              backoff=timedelta(minutes=5)) == [keys["L1"]]
    store.outbox.retire([(keys["L2"], outbox.OBSOLETE, "the window closed first")])
    store.outbox.defer([(keys["L3"], NOW + timedelta(hours=10), "quiet hours")])
    assert store.outbox.expire(NOW - timedelta(minutes=90), " (older than 90m)", batch=1) == 1  # L3 is deferred
    store.outbox.address([(keys["L5"], "slack:#revenue", "rep5@example.com")])

    assert statuses(store) == {"L0": "sent", "L1": "dead", "L2": "obsolete", "L3": "pending", "L4": "expired",
                               "L5": "pending"}
    rows = {row["lead_id"]: row for row in store.outbox.rows()}
    assert rows["L0"]["sends"] == 2 and rows["L0"]["attempts"] == 1 and rows["L1"]["last_error"] == "SMTP 451"
    assert rows["L4"]["detail"] == "due 2026-11-20T10:00 (older than 90m)"
    assert store.outbox.last_sent_to("email:rep0@example.com") == NOW
    assert [row["lead_id"] for row in store.outbox.rows(owner="REP0@example.com")] == ["L0"]
    assert [row["lead_id"] for row in store.outbox.rows(recipient="#Revenue")] == ["L5"]
    assert [row["lead_id"] for row in store.outbox.rows(status="pending", limit=1)] == ["L3"]
    assert [row["lead_id"] for row in store.outbox.due(NOW)] == ["L5"]  # L3 waits for its deferral


def test_of_two_deliveries_that_read_the_same_rows_one_claims_them_and_the_other_claims_none(open_store):
    first, second = open_store(), open_store()  # two processes, on two hosts as far as the store can tell
    with first.transaction():
        first.outbox.record(actions(3), run_id=1)
    read_by_first = [row(first, "L0"), row(first, "L1")]
    read_by_second = [row(second, "L1"), row(second, "L2")]  # L1 in both digests
    first.outbox.claim(read_by_first, "idem-a", "email:a@example.com")
    with pytest.raises(ClaimedElsewhere):
        second.outbox.claim(read_by_second, "idem-b", "email:b@example.com")
    assert statuses(second) == {"L0": "sending", "L1": "sending", "L2": "pending"}  # L2 not claimed either
    assert row(second, "L1")["idempotency_key"] == "idem-a"

    # A row found in flight (its process died, and its hold on the message with it) is resent by one of two
    # that read it, never by both.
    first.outbox.release("idem-a")
    in_flight = row(second, "L0")
    second.outbox.claim([in_flight], "idem-a", "email:a@example.com")
    with pytest.raises(ClaimedElsewhere):
        first.outbox.claim([in_flight], "idem-a", "email:a@example.com")
    assert row(first, "L0")["sends"] == 2

    # Sent, then read again by a delivery that read it before: neither claimed, failed, deferred nor retired.
    first.outbox.mark_sent([in_flight["key"]], NOW)
    with pytest.raises(ClaimedElsewhere):
        first.outbox.claim([in_flight], "idem-a", "email:a@example.com")
    assert first.outbox.mark_failed([in_flight["key"]], "no route", NOW, max_attempts=1, backoff=timedelta(0),
                                    count_attempt=True) == []
    first.outbox.defer([(in_flight["key"], NOW + timedelta(hours=1), "quiet hours")])
    first.outbox.retire([(in_flight["key"], outbox.OBSOLETE, "the window closed first")])
    assert row(first, "L0")["status"] == "sent" and row(first, "L0")["attempts"] == 1


def test_a_lost_claim_undoes_the_callers_writes_in_its_transaction(open_store):
    """A reassignment moves the round robin's turn in the claim's transaction: a lost claim moves nothing."""
    first, second = open_store(), open_store()
    with first.transaction():
        first.outbox.record(actions(1), run_id=1)
    stale = row(second, "L0")
    first.outbox.claim([row(first, "L0")], "idem-a", None)
    with pytest.raises(ClaimedElsewhere), second.transaction():
        second.round_robin.remember_pick("pool", "b@example.com", NOW)
        second.outbox.claim([stale], "idem-b", None)
    assert second.round_robin.last_pick("pool") is None


def test_on_postgresql_a_message_in_flight_is_left_to_its_live_sender_and_resent_once_that_session_is_gone(pg_url):
    """The claim holds a session advisory lock named by the message's key until it is released: a delivery on
    another host resends only a message whose sender's session ended (a killed process's goes with it)."""
    from sla_engine.store.backend import open_location

    sender, other = open_location(pg_url), open_location(pg_url)
    with sender.transaction():
        sender.outbox.record(actions(2), run_id=1)
    sender.outbox.claim([row(sender, "L0")], "idem-0", "email:a@example.com")
    assert [r["lead_id"] for r in other.outbox.in_flight()] == []  # being sent, by a live session
    with pytest.raises(ClaimedElsewhere):
        other.outbox.claim([row(other, "L0")], "idem-0", "email:a@example.com")
    assert not other.outbox.hold("idem-0") and other.outbox.hold("idem-1")  # each message its own lock
    other.outbox.release("idem-1")

    sender.close()  # killed mid-send: its session, and its hold, are gone
    assert [r["lead_id"] for r in other.outbox.in_flight()] == ["L0"]
    other.outbox.claim([row(other, "L0")], "idem-0", "email:a@example.com")
    assert row(other, "L0")["sends"] == 2
    other.outbox.release("idem-0")
    other.close()
