"""Fault injection: kill delivery at random points over many runs; every action arrives exactly once.

A "kill" is a BaseException raised between steps (before a claim, after it, after the send,
after the mark) or inside a send before it reaches the receiver, in passes of random batch
sizes (a page, a digest and the writes held at once), plus a receiver that
answers 500 now and then. Each step commits on its own, so what a kill leaves is exactly
what a dead process leaves. The receiver dedupes on the idempotency key, as webhooks must.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from connectors.notify_slack import SlackNotifier
from connectors.notify_webhook import WebhookNotifier
from sla_engine.delivery.deliver import deliver
from sla_engine.delivery.recipients import load_people
from tests.delivery.conftest import POLICY, evaluated_store, make_policy_set
from tests.delivery.test_reassign import Crm
from tests.engine.test_evaluate import at

LATER = at(17, 14, 0)


class Killed(BaseException):
    """The process died here."""


@pytest.mark.parametrize("seed", range(6))
def test_random_kills_over_many_runs_deliver_each_action_exactly_once(tmp_path, http_env, seed):
    rng = random.Random(seed)
    people = tmp_path / "people.csv"
    people.write_text("id,name,webhook\n" + "".join(f"rep{i}@example.com,Rep {i},{http_env.url}/rep{i}\n"
                                                   for i in range(2)))
    text = POLICY.replace("notify owner via email", "notify owner via webhook")
    policy_set = make_policy_set(text)
    store = evaluated_store(tmp_path, leads=40, as_of=LATER, text=text)
    total = len(store.outbox.rows())
    crm = Crm()

    def kill_sometimes(_: str) -> None:
        if rng.random() < 0.05:
            raise Killed

    class Flaky:
        """A notifier that sometimes dies before its post leaves, or gets a 500 back."""

        def __init__(self, inner) -> None:
            self.inner = inner

        def send(self, message) -> None:
            if rng.random() < 0.05:
                raise Killed
            if rng.random() < 0.05:
                http_env.fail = 1
            self.inner.send(message)

    notifiers = {"webhook": lambda: Flaky(WebhookNotifier()),
                 "slack": lambda: Flaky(SlackNotifier())}
    runs = kills = 0
    unfinished = "status NOT IN ('sent', 'dead')"
    while runs < 500 and (store.count("outbox", unfinished) or runs == 0):
        runs += 1
        try:
            deliver(policy_set, store, LATER + timedelta(minutes=runs), notifiers=notifiers, connectors=[crm],
                    people=load_people(people), digest=rng.choice(["off", "off", "off", "run"]),
                    backoff=timedelta(0), max_attempts=1000, checkpoint=kill_sometimes,
                    batch=rng.choice([1, 2, 3, 500]))
        except Killed:
            kills += 1
    assert store.count("outbox", unfinished) == 0, f"not done after {runs} runs"
    assert kills > 5

    # Dead rows are only those a kill caught in flight twice; they went out at most twice.
    dead = store.outbox.rows("dead")
    assert all(r["last_error"].startswith("interrupted") for r in dead)  # twice, or then its resend failed
    by_idem: dict[str, list] = defaultdict(list)
    for post in http_env.posts:
        by_idem[post.headers["idempotency-key"]].append(post)
    assert all(len(posts) <= 2 for posts in by_idem.values())  # the one in flight: at most twice, same key
    first_posts = [posts[0] for posts in by_idem.values()]  # what a deduping receiver acts on
    arrived = Counter()
    for post in first_posts:
        body = post.json
        items = body.get("items") or [{"key": b["text"]["text"]} for b in body["blocks"] if b["type"] == "section"]
        for item in items:
            arrived[item["key"]] += 1
    rows = store.outbox.rows()
    notify = [r for r in rows if json.loads(r["action"])["action"] == "notify"]
    webhook_rows = [r for r in notify if not r["key"].endswith("|1")]  # slack items are text, checked by count
    assert all(arrived[r["key"]] == 1 for r in webhook_rows if r["status"] == "sent")
    assert all(arrived[r["key"]] <= 1 for r in webhook_rows)
    slack_lines = sum(1 for p in first_posts if p.path == "/slack"
                      for b in p.json["blocks"] if b["type"] == "section")
    slack_sent = sum(1 for r in notify if r["key"].endswith("|1") and r["status"] == "sent")
    assert slack_sent <= slack_lines <= 40
    pushes = Counter(u.key for u in crm.pushed)
    crm_rows = {r["key"]: r for r in rows if json.loads(r["action"])["action"] != "notify"}
    assert {k for k, r in crm_rows.items() if r["status"] == "sent"} <= set(pushes) <= set(crm_rows)
    assert all(n <= 2 for n in pushes.values())
    crm_sent = sum(1 for r in crm_rows.values() if r["status"] == "sent" and '"task"' not in r["action"])
    assert store.count("events", "source = 'sla-engine'") == crm_sent  # an event for each reassignment and set
    resent = sum(len(posts) - 1 for posts in by_idem.values())
    print(f"{runs} runs, {kills} kills, {total} actions, {len(http_env.posts)} posts ({resent} resent in flight), "
          f"{len(dead)} dead after an interrupted send")


def test_a_row_interrupted_twice_in_flight_goes_out_twice_then_is_dead(tmp_path, http_env):
    text = POLICY.replace("notify owner via email\n      notify cro via slack\n", "").replace(
        "      reassign to pool round robin skip previous owners\n      task \"Call this lead now\" for owner due 1h\n"
        "      set sla_status = \"breached\"\n", "      notify cro via webhook\n")
    policy_set = make_policy_set(text)
    store = evaluated_store(tmp_path, leads=1, as_of=LATER, text=text)
    [key] = [r["key"] for r in store.outbox.rows() if r["level"] == "on breach"]  # the first to go
    only = {"webhook": WebhookNotifier}

    def die_after_send(step: str) -> None:
        if step == "sent":
            raise Killed

    for attempt in range(2):
        with pytest.raises(Killed):
            deliver(policy_set, store, LATER, notifiers=only, checkpoint=die_after_send)
        [row] = store.outbox.rows("sending")
        assert row["key"] == key and row["sends"] == attempt + 1
    report = deliver(policy_set, store, LATER, notifiers=only)
    [row] = [r for r in store.outbox.rows() if r["key"] == key]
    assert row["status"] == "dead" and row["last_error"].startswith("interrupted 2 times")
    assert [d["key"] for d in report.dead] == [key]
    idem = row["idempotency_key"]
    assert [p.headers["idempotency-key"] for p in http_env.posts].count(idem) == 2
    assert report.sent == 1  # the other level's notice, which nothing interrupted


def test_a_message_in_flight_whose_resend_fails_is_given_up_not_sent_again_as_a_new_one(tmp_path, http_env):
    """It may have arrived before the kill: retried later under a new claim it could arrive a third time."""
    text = POLICY.replace("notify owner via email\n      notify cro via slack\n", "").replace(
        "      reassign to pool round robin skip previous owners\n      task \"Call this lead now\" for owner due 1h\n"
        "      set sla_status = \"breached\"\n", "")
    policy_set = make_policy_set(text)
    store = evaluated_store(tmp_path, leads=1, as_of=LATER, text=text)
    only = {"webhook": WebhookNotifier}

    def die_after_send(step: str) -> None:
        if step == "sent":
            raise Killed

    with pytest.raises(Killed):
        deliver(policy_set, store, LATER, notifiers=only, checkpoint=die_after_send)
    http_env.fail = 1  # the receiver answers the resend with a 500
    report = deliver(policy_set, store, LATER, notifiers=only, backoff=timedelta(0))
    [row] = store.outbox.rows()
    assert row["status"] == "dead" and row["last_error"].startswith("interrupted while being sent, then its resend "
                                                                     "failed (")
    assert report.dead_total == 1 and report.failed == 0
    assert deliver(policy_set, store, LATER + timedelta(hours=1), notifiers=only).sent == 0
    assert len(http_env.posts) == 1  # the one that arrived before the kill


def test_a_resend_after_a_kill_goes_to_whom_the_message_was_claimed_for(tmp_path, http_env):
    """The killed run's reassignment must not redirect the resend: same idempotency key, same person."""
    text = POLICY.replace("      notify cro via slack\n      notify cro via webhook\n", "").replace(
        "      reassign to pool round robin skip previous owners\n      task \"Call this lead now\" for owner due 1h\n"
        "      set sla_status = \"breached\"\n", "      notify owner via email\n")
    policy_set = make_policy_set(text)
    store = evaluated_store(tmp_path, leads=1, as_of=LATER, text=text)
    sent: list[tuple[str, str]] = []

    class Recording:
        def send(self, message) -> None:
            sent.append((message.address, message.idempotency_key))

    def die_after_claim(step: str) -> None:
        if step == "claimed":
            raise Killed

    with pytest.raises(Killed):
        deliver(policy_set, store, LATER, notifiers={"email": Recording}, checkpoint=die_after_claim)
    claimed = store.outbox.rows("sending")
    assert claimed and len({r["recipient"] for r in claimed}) == 1
    first_owner = claimed[0]["recipient"].removeprefix("email:")
    with store.transaction():  # the lead is reassigned before the next run
        store.conn.execute("UPDATE leads SET state = json_set(state, '$.owner', 'someone.else@example.com')")
    deliver(policy_set, store, LATER, notifiers={"email": Recording})
    resent = {address for address, key in sent if key in {r["idempotency_key"] for r in claimed}}
    assert resent == {first_owner} != {"someone.else@example.com"}
    # A level not yet claimed when the run died goes to the owner as of now.
    assert {address for address, key in sent if address != first_owner} <= {"someone.else@example.com"}
