"""The outbox's life: sent once, retried with backoff, dead after N, deferred by quiet hours, grouped in digests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sla_engine.delivery.deliver import deliver
from sla_engine.store.db import iso
from sla_engine.store.outbox import idempotency_key
from tests.delivery.conftest import POLICY, evaluated_store, make_policy_set
from tests.engine.test_evaluate import at

NOW = at(17, 11, 30)


@pytest.fixture(autouse=True)
def addresses(monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.example.com/slack-secret-path")
    monkeypatch.setenv("TEST_HOOK_URL", "https://hooks.example.com/hook-secret-path")


class Recorder:
    """A notifier factory that keeps what it was given; ``failing`` makes send raise."""

    def __init__(self, failing: int = 0) -> None:
        self.sent: list = []
        self.failing = failing

    def __call__(self) -> Recorder:
        return self

    def send(self, message) -> None:
        if self.failing:
            self.failing -= 1
            raise ConnectionError("receiver down")
        self.sent.append(message)


def channels(recorder: Recorder) -> dict:
    return {"email": recorder, "slack": recorder, "webhook": recorder}


def test_each_due_action_is_sent_once_and_a_rerun_sends_nothing(tmp_path):
    store = evaluated_store(tmp_path, leads=3)
    rec = Recorder()
    first = deliver(make_policy_set(), store, NOW, notifiers=channels(rec))
    assert first.sent == 9 and first.messages == 9 and len(rec.sent) == 9
    again = deliver(make_policy_set(), store, NOW + timedelta(minutes=5), notifiers=channels(rec))
    assert again.sent == 0 and len(rec.sent) == 9
    assert {r["status"] for r in store.outbox.rows()} == {"sent"}
    assert all(r["attempts"] == 1 and r["sent_at"] for r in store.outbox.rows())


def test_failures_back_off_exponentially_then_die_and_are_reported(tmp_path):
    store = evaluated_store(tmp_path, leads=1)
    rec = Recorder(failing=1000)
    ps = make_policy_set()
    deliver(ps, store, NOW, notifiers=channels(rec), max_attempts=3, backoff=timedelta(minutes=5))
    row = store.outbox.rows("failed")[0]
    assert row["attempts"] == 1 and row["last_error"] == "ConnectionError: receiver down"
    assert row["next_attempt_at"] == iso(NOW + timedelta(minutes=5))
    early = deliver(ps, store, NOW + timedelta(minutes=4), notifiers=channels(rec), max_attempts=3)
    assert early.failed == 0 and early.sent == 0  # still backing off
    deliver(ps, store, NOW + timedelta(minutes=5), notifiers=channels(rec), max_attempts=3)
    second = store.outbox.rows("failed")[0]
    assert second["attempts"] == 2
    assert second["next_attempt_at"] == iso(NOW + timedelta(minutes=15))
    last = deliver(ps, store, NOW + timedelta(minutes=15), notifiers=channels(rec), max_attempts=3)
    assert len(last.dead) == 3 and len(store.outbox.rows("dead")) == 3


def test_a_receiver_that_recovers_gets_the_action_on_the_next_run(tmp_path):
    store = evaluated_store(tmp_path, leads=1)
    rec = Recorder(failing=3)
    ps = make_policy_set()
    deliver(ps, store, NOW, notifiers=channels(rec))
    assert len(store.outbox.rows("failed")) == 3
    later = deliver(ps, store, NOW + timedelta(hours=1), notifiers=channels(rec))
    assert later.sent == 3 and len(rec.sent) == 3


def test_dry_run_prints_and_changes_nothing(tmp_path, capsys):
    store = evaluated_store(tmp_path, leads=1)
    before = store.outbox.rows()
    report = deliver(make_policy_set(), store, NOW, dry_run=True)
    assert store.outbox.rows() == before
    assert len(report.planned) == 3
    out = capsys.readouterr().out
    assert "--- email to rep0@example.com" in out and "Lead <0> & Co" in out


def test_an_owner_nobody_knows_is_a_recorded_failure_not_a_crash(tmp_path):
    text = POLICY.replace("notify owner via email", "notify owner via slack")
    store = evaluated_store(tmp_path, leads=1, text=text)
    rec = Recorder()
    report = deliver(make_policy_set(text), store, NOW, notifiers=channels(rec))
    [failed] = store.outbox.rows("failed")
    assert "has no slack address" in failed["last_error"] and failed["attempts"] == 1
    assert report.sent == 2 and len(report.errors) == 1


def test_a_missing_environment_address_is_a_failure_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SLACK_URL", raising=False)
    store = evaluated_store(tmp_path, leads=1)
    deliver(make_policy_set(), store, NOW, notifiers=channels(Recorder()))
    [failed] = store.outbox.rows("failed")
    assert failed["last_error"] == "environment variable TEST_SLACK_URL is not set"


def test_quiet_hours_at_delivery_time_defer_without_using_an_attempt(tmp_path):
    text = POLICY.replace("escalate on breach {", "escalate on breach quiet hours office {")
    night = at(17, 23, 0)
    store = evaluated_store(tmp_path, leads=1, text=text, as_of=night)
    rec = Recorder()
    report = deliver(make_policy_set(text), store, night, notifiers=channels(rec))
    assert report.deferred == 3 and rec.sent == []
    deferred = [r for r in store.outbox.rows("pending") if r["level"] == "on breach"]
    assert all(r["attempts"] == 0 and r["next_attempt_at"] for r in deferred)
    morning = deliver(make_policy_set(text), store, at(18, 9, 0), notifiers=channels(rec))
    assert morning.messages == 3


def test_digest_sends_one_message_per_recipient_listing_their_leads(tmp_path):
    store = evaluated_store(tmp_path, leads=4)
    rec = Recorder()
    report = deliver(make_policy_set(), store, NOW, notifiers=channels(rec), digest=True)
    by_address = {m.address: m for m in rec.sent}
    assert report.sent == 12 and report.messages == 4  # rep0, rep1, the cro on slack and on webhook
    assert len(by_address["rep0@example.com"].items) == 2
    cro = [m for m in rec.sent if m.recipient == "Dana <CRO>"]
    assert all(len(m.items) == 4 and m.subject() == "SLA: 4 leads need attention" for m in cro)
    keys = sorted(i.key for i in cro[0].items)
    assert cro[0].idempotency_key == idempotency_key(keys)


def test_templates_in_the_policy_set_override_the_defaults(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "subject.txt").write_text("ALERT $lead_id $timing\n")
    store = evaluated_store(tmp_path, leads=1)
    rec = Recorder()
    deliver(make_policy_set(), store, NOW, notifiers=channels(rec), templates_dir=templates)
    assert {m.subject() for m in rec.sent} == {"ALERT L0 overdue by 29m"}


def test_a_daily_digest_sends_each_recipient_at_most_one_message_a_day(tmp_path):
    from sla_engine.runner import evaluate_run
    from tests.engine.test_evaluate import assigned, created

    store = evaluated_store(tmp_path, leads=2)
    rec = Recorder()
    morning = deliver(make_policy_set(), store, NOW, notifiers=channels(rec), digest="day")
    assert morning.messages == 4 and morning.sent == 6  # rep0, rep1, and the CRO on slack and on webhook
    afternoon_leads = [e for i in range(2) for e in (created(f"M{i}", at(17, 12)),
                                                     assigned(f"M{i}", at(17, 12, 1), owner=f"rep{i}@example.com"))]
    evaluate_run(make_policy_set(), store, [("t", iter(afternoon_leads))], at(17, 13, 30))
    afternoon = deliver(make_policy_set(), store, at(17, 13, 30), notifiers=channels(rec), digest="day")
    assert afternoon.messages == 0 and afternoon.deferred == 6 and len(rec.sent) == 4
    waiting = [r for r in store.outbox.rows("pending")]
    assert {r["next_attempt_at"] for r in waiting} == {"2026-11-18T00:00:00+00:00"}  # the policy's day is UTC's
    assert all(r["detail"].startswith("daily digest: one went to ") for r in waiting)
    next_day = deliver(make_policy_set(), store, at(17, 19, 30), notifiers=channels(rec), digest="day")
    assert next_day.messages == 4 and next_day.sent == 6
    assert sorted(len(m.items) for m in rec.sent[4:]) == [1, 1, 2, 2]
    assert {i.lead_id for m in rec.sent[4:] for i in m.items} == {"M0", "M1"}
