"""Two deliveries that read the same outbox rows, on either store, without the run lock between them:
one sends each message, the other leaves it alone (the claim is conditional on the row as it was read)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from connectors.notify_email import EmailNotifier
from sla_engine.delivery.deliver import deliver
from sla_engine.runner import evaluate_run
from sla_engine.store.backend import open_location
from tests.delivery.conftest import lead_events, make_policy_set
from tests.delivery.test_kill import LATER, MAILS
from tests.delivery.test_outbox import Recorder, channels
from tests.delivery.test_reassign import Crm


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    return str(tmp_path / "s.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_a_delivery_whose_rows_another_sent_meanwhile_sends_none_of_them_again(location, smtp):
    policy_set = make_policy_set(MAILS)
    first, second = open_location(location), open_location(location)
    evaluate_run(policy_set, first, [("t", iter(lead_events(4)))], LATER)
    rows = len(first.outbox.rows())
    settings = {"notifiers": {"email": EmailNotifier}, "backoff": timedelta(0), "max_age": None, "batch": 2}
    reports = {}

    def other_host_delivers_everything(step: str) -> None:
        """The first delivery has read and grouped its first page, and is about to claim it."""
        if step == "claim" and "second" not in reports:
            reports["second"] = deliver(policy_set, second, LATER, **settings)

    reports["first"] = deliver(policy_set, first, LATER, checkpoint=other_host_delivers_everything, **settings)

    assert reports["second"].sent == rows and reports["first"].sent == 0
    assert reports["first"].claimed_elsewhere == 2  # the page it held (two messages); then nothing was due
    assert Counter(row["status"] for row in first.outbox.rows()) == {"sent": rows}
    assert Counter(str(mail["Message-ID"]) for mail in smtp.messages).most_common(1)[0][1] == 1
    assert len(smtp.messages) == rows
    first.close()
    second.close()


def test_a_crm_action_another_delivery_took_meanwhile_is_not_pushed_again_nor_moves_the_turn(location, monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.example.com/s")
    monkeypatch.setenv("TEST_HOOK_URL", "https://hooks.example.com/h")
    policy_set = make_policy_set()  # 2h after breach: reassign to the pool round robin, a task, a field
    first, second = open_location(location), open_location(location)
    evaluate_run(policy_set, first, [("t", iter(lead_events(3)))], LATER)
    rows = len(first.outbox.rows())
    crm_first, crm_second = Crm(), Crm()
    seen = {}

    def other_host_delivers_everything(step: str) -> None:
        """The first delivery has read every row and picked an owner for its first reassignment."""
        if step == "claim" and "report" not in seen:
            seen["report"] = deliver(policy_set, second, LATER, notifiers=channels(Recorder()),
                                     connectors=[crm_second])
            seen["turn"] = second.round_robin.last_pick("pool")

    late = deliver(policy_set, first, LATER, notifiers=channels(Recorder()), connectors=[crm_first],
                   checkpoint=other_host_delivers_everything)

    assert seen["report"].sent == rows and late.sent == 0 and late.claimed_elsewhere == rows
    assert crm_first.pushed == [] and len({u.key for u in crm_second.pushed}) == 9  # 3 leads × 3 actions
    assert first.round_robin.last_pick("pool") == seen["turn"]  # the lost claim's pick was undone with it
    assert Counter(row["status"] for row in first.outbox.rows()) == {"sent": rows}
    first.close()
    second.close()
