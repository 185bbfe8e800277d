"""The outbox's states on both stores: claimed, sent, failed with backoff, dead, retired, expired, addressed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from sla_engine.engine.clock import DueAction
from sla_engine.store import outbox

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def actions(n: int) -> list[DueAction]:
    first = DueAction(lead_id="L0", policy="p", window="w", cycle=1, level="on breach", level_index=0, repeat=0,
                      action_index=0, action={"action": "notify", "to": "owner"}, due_at=NOW - timedelta(hours=1))
    return [replace(first, lead_id=f"L{i}", due_at=NOW - timedelta(hours=n - i)) for i in range(n)]


def statuses(store) -> dict[str, str]:
    return {row["lead_id"]: row["status"] for row in store.outbox.rows()}


def test_a_row_goes_through_every_state_the_same_way_on_both_stores(open_store):
    store = open_store()
    with store.transaction():
        assert store.outbox.record(actions(6), run_id=1, owners={"L0": "rep0@example.com", "L1": "005X"}) == 6
    keys = {row["lead_id"]: row["key"] for row in store.outbox.rows()}
    assert [row["lead_id"] for row in store.outbox.due(NOW, batch=4)] == [f"L{i}" for i in range(6)]

    store.outbox.claim([keys["L0"]], "idem-0", "email:rep0@example.com")
    store.outbox.claim([keys["L0"]], "idem-0", "email:rep0@example.com")  # resent after a crash: one more send
    store.outbox.mark_sent([keys["L0"]], NOW)
    store.outbox.claim([keys["L1"]], "idem-1", "email:rep1@example.com")
    assert store.outbox.mark_failed([keys["L1"]], "SMTP 451", NOW, max_attempts=2, backoff=timedelta(minutes=5)) == []
    store.outbox.claim([keys["L1"]], "idem-1", "email:rep1@example.com")
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
