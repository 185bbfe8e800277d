"""Delivery reads, retires and sends in bounded batches; the batch size changes no outcome.

A pass reads the outbox a page at a time (keyset on due time and key), expires the backlog a
page per transaction and holds at most ``batch`` notices before sending them. These tests hold
every batch size to the same result as reading everything at once.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from sla_engine.delivery.deliver import deliver
from sla_engine.runner import evaluate_run
from sla_engine.store.db import iso
from tests.delivery.conftest import evaluated_store, make_policy_set
from tests.delivery.test_outbox import addresses  # noqa: F401  (autouse: the contacts' webhook addresses)
from tests.delivery.test_reassign import Crm
from tests.engine.test_evaluate import activity, at

LATER = at(17, 14, 0)  # both levels of every lead are due: on breach at 11:01+i, 2h after at 13:01+i (New York)


def keys(rows) -> list[str]:
    return [row["key"] for row in rows]


def test_pages_read_every_due_row_once_in_due_order_while_the_reader_changes_rows(tmp_path):
    store = evaluated_store(tmp_path, leads=12, as_of=LATER)
    everything = keys(store.outbox.due(LATER, batch=10_000))
    assert len(everything) == 12 * 6 and everything == keys(store.outbox.rows())
    seen = []
    for row in store.outbox.due(LATER, batch=5):
        seen.append(row["key"])
        # Deferred to now, the row stays due: a reader that did not page on (due, key) would read it again.
        store.outbox.defer([(row["key"], LATER, "still due")])
    assert seen == everything


def test_rows_in_flight_come_grouped_by_their_message_across_pages(tmp_path):
    store = evaluated_store(tmp_path, leads=6, as_of=LATER)
    rows = store.outbox.rows()
    rng = random.Random(3)
    messages = {row["key"]: f"m{rng.randrange(4)}" for row in rows[:20]}
    for message in sorted(set(messages.values())):
        store.outbox.claim([r for r in rows if messages.get(r["key"]) == message], message, "email:x@example.com")
    found = [(row["idempotency_key"], row["key"]) for row in store.outbox.in_flight(batch=3)]
    assert found == sorted((m, k) for k, m in messages.items())
    assert all(row["status"] == "pending" for row in store.outbox.rows() if row["key"] not in messages)


@pytest.mark.parametrize("seed", range(4))
def test_expiry_in_pages_retires_exactly_the_rows_the_row_by_row_rule_retires(tmp_path, seed):
    """Mixed statuses, backoffs and deferrals (some before the row's own due time) against the rule of
    ``Delivery.expired_reason``: due (next attempt not later than now) and waiting since before now - max_age."""
    store = evaluated_store(tmp_path, leads=15, as_of=LATER)
    rng = random.Random(seed)
    now, max_age = LATER + timedelta(hours=1), timedelta(hours=2)
    with store.transaction():
        for row in store.outbox.rows():
            status = rng.choice(["pending", "pending", "failed", "sending", "sent", "dead"])
            shift = rng.choice([None, -240, -150, -90, -30, 0, 30])
            next_at = None if shift is None else iso(now + timedelta(minutes=shift))
            store.conn.execute("UPDATE outbox SET status = ?, next_attempt_at = ? WHERE key = ?",
                               (status, next_at, row["key"]))
    before = {row["key"]: row for row in store.outbox.rows()}

    def by_the_rule(row) -> bool:
        if row["status"] not in ("pending", "failed"):
            return False
        since = row["next_attempt_at"] or row["due_at"]
        due = row["next_attempt_at"] is None or row["next_attempt_at"] <= iso(now)
        return due and since < iso(now - max_age)

    expected = {key for key, row in before.items() if by_the_rule(row)}
    # A row deferred to before its own due time is the one the range of due times cannot see;
    # the pass reading due rows expires it (the next test holds the whole pass to that).
    visible = {key for key in expected if before[key]["due_at"] < iso(now - max_age)}
    count = store.outbox.expire(now - max_age, ", too old", batch=4)
    after = {row["key"]: row for row in store.outbox.rows()}
    expired = {key for key, row in after.items() if row["status"] == "expired"}
    assert expired == visible and count == len(visible)
    assert all(after[k]["detail"] == f"due {before[k]['due_at'][:16]}, too old" for k in expired)
    assert all(after[k] == before[k] for k in after if k not in expired)
    report = deliver(make_policy_set(), store, now, notifiers={}, max_age=max_age, batch=4, dry_run=True)
    assert report.expired == len(expected - visible)


def _store_with_every_outcome(tmp_path):
    """Due rows to send, to fail (rep1's channel is down), to expire and to make obsolete (late calls)."""
    store = evaluated_store(tmp_path, leads=24, as_of=LATER)
    late = [activity(f"L{i}", at(17, 10, 30 + i), by=f"rep{i % 2}@example.com") for i in (2, 9, 16)]
    evaluate_run(make_policy_set(), store, [("t", iter(late))], LATER + timedelta(minutes=1))
    return store


class Channel:
    """A notifier that records each message and refuses rep1's address."""

    def __init__(self, log: list) -> None:
        self.log = log

    def send(self, message) -> None:
        if "rep1" in message.address:
            raise ConnectionError("mailbox unavailable")
        self.log.append((message.channel, message.address, message.idempotency_key,
                         tuple(item.key for item in message.items)))


def _deliver_with(tmp_path, batch: int, digest: str):
    store = _store_with_every_outcome(tmp_path)
    log: list = []
    notifiers = {name: (lambda: Channel(log)) for name in ("email", "slack", "webhook")}
    now = LATER + timedelta(minutes=5)
    report = deliver(make_policy_set(), store, now, notifiers=notifiers, connectors=[Crm()], digest=digest,
                     max_age=timedelta(hours=2, minutes=55), batch=batch)  # on-breach rows due before 11:10 expire
    again = deliver(make_policy_set(), store, now + timedelta(hours=1), notifiers=notifiers, connectors=[Crm()],
                    digest=digest, max_age=None, batch=batch)  # the failures' retries
    return store.outbox.rows(), log, report.summary(), again.summary()


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_the_batch_size_changes_no_outcome(tmp_path, batch):
    rows, log, report, again = _deliver_with(tmp_path / "one", batch, "off")
    whole_rows, whole_log, whole_report, whole_again = _deliver_with(tmp_path / "all", 10_000, "off")
    outcomes = {row["status"] for row in whole_rows}
    assert {"sent", "failed", "expired", "obsolete"} <= outcomes  # the store exercises each path
    assert rows == whole_rows and log == whole_log
    assert report == whole_report and again == whole_again


@pytest.mark.parametrize("batch", [1, 3, 10])
def test_a_digest_in_batches_lists_each_row_in_one_message_holding_at_most_a_batch(tmp_path, batch):
    rows, log, _, _ = _deliver_with(tmp_path / "one", batch, "run")
    whole_rows, whole_log, _, _ = _deliver_with(tmp_path / "all", 10_000, "run")
    listed = [key for *_, items in log for key in items]
    assert sorted(listed) == sorted(key for *_, items in whole_log for key in items)
    notices_sent = sum(1 for r in rows if r["status"] == "sent" and '"notify"' in r["action"])
    assert len(listed) == len(set(listed)) == notices_sent
    assert all(len(items) <= batch for *_, items in log)
    per_recipient = {address for _, address, _, _ in whole_log}
    assert len(whole_log) == len(per_recipient)  # one batch holds the run: one message per recipient
    assert [(r["key"], r["status"]) for r in rows] == [(r["key"], r["status"]) for r in whole_rows]


def test_a_daily_digest_in_batches_sends_the_whole_first_run_and_defers_the_next(tmp_path):
    """The first run of the day is the day's digest, however many batches it takes; a later run waits."""
    from tests.delivery.test_outbox import Recorder, channels
    from tests.engine.test_evaluate import assigned, created

    store = evaluated_store(tmp_path, leads=6)  # on breach: 6 owner notices (3 each for rep0, rep1), 12 to the CRO
    rec = Recorder()
    morning = deliver(make_policy_set(), store, at(17, 11, 30), notifiers=channels(rec), digest="day", batch=2)
    assert morning.deferred == 0 and morning.sent == 18 and morning.messages > 4  # more than one per recipient
    later = [e for i in range(2) for e in (created(f"M{i}", at(17, 12)),
                                           assigned(f"M{i}", at(17, 12, 1), owner=f"rep{i}@example.com"))]
    evaluate_run(make_policy_set(), store, [("t", iter(later))], at(17, 13, 30))
    afternoon = deliver(make_policy_set(), store, at(17, 13, 30), notifiers=channels(rec), digest="day", batch=2)
    assert afternoon.messages == 0 and afternoon.deferred == 6


def test_a_report_lists_a_bounded_number_of_errors_and_counts_them_all(tmp_path, monkeypatch):
    from sla_engine.delivery import report as delivery
    from tests.delivery.test_outbox import Recorder, channels

    monkeypatch.setattr(delivery, "MAX_KEPT", 3)
    store = evaluated_store(tmp_path, leads=4)  # 12 notices on breach, every one refused
    report = deliver(make_policy_set(), store, at(17, 11, 30), notifiers=channels(Recorder(failing=100)),
                     max_attempts=1)
    assert report.errors_total == 12 and len(report.errors) == 3
    assert report.dead_total == 12 and len(report.dead) == 3 and report.summary()["dead"] == 12
    assert report.causes == {"ConnectionError: receiver down": (12, report.errors[0]["key"])}
