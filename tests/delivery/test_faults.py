"""Fault injection: kill delivery at random points over many runs; every action arrives exactly once.

A "kill" is a BaseException raised between steps (before a claim, after it, after the send,
after the mark) or inside a send before it reaches the receiver, plus a receiver that
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
    total = len(store.outbox())
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
    in_flight_at_kill: Counter[str] = Counter()
    while runs < 500 and (store.count("outbox", "status != 'sent'") or runs == 0):
        runs += 1
        try:
            deliver(policy_set, store, LATER + timedelta(minutes=runs), notifiers=notifiers, connectors=[crm],
                    people=load_people(people), digest=rng.random() < 0.2, backoff=timedelta(0),
                    max_attempts=1000, checkpoint=kill_sometimes)
        except Killed:
            kills += 1
            for row in store.outbox("sending"):  # in flight when the process died: may arrive twice
                in_flight_at_kill[row["idempotency_key"]] += 1
    assert store.count("outbox", "status != 'sent'") == 0, f"not done after {runs} runs"
    assert kills > 5

    by_idem: dict[str, list] = defaultdict(list)
    for post in http_env.posts:
        by_idem[post.headers["idempotency-key"]].append(post)
    # A message is sent again only after a kill left it in flight, and always with the same key.
    assert all(len(posts) <= 1 + in_flight_at_kill[idem] for idem, posts in by_idem.items())
    first_posts = [posts[0] for posts in by_idem.values()]  # what a deduping receiver acts on
    arrived = Counter()
    for post in first_posts:
        body = post.json
        items = body.get("items") or [{"key": b["text"]["text"]} for b in body["blocks"] if b["type"] == "section"]
        for item in items:
            arrived[item["key"]] += 1
    notify_rows = [r["key"] for r in store.outbox() if json.loads(r["action"])["action"] == "notify"]
    webhook_keys = [k for k in notify_rows if not k.endswith("|1")]  # slack items are text, checked by count
    assert all(arrived[k] == 1 for k in webhook_keys)
    slack_lines = sum(1 for p in first_posts if p.path == "/slack"
                      for b in p.json["blocks"] if b["type"] == "section")
    assert slack_lines == 40
    pushes = Counter(u.key for u in crm.pushed)
    assert set(pushes) == {r["key"] for r in store.outbox() if '"reassign"' in r["action"] or '"task"' in r["action"]}
    idem_of = {r["key"]: r["idempotency_key"] for r in store.outbox()}
    assert all(n <= 1 + in_flight_at_kill[idem_of[key]] for key, n in pushes.items())
    assert store.count("events", "source = 'sla-engine'") == 80  # one assigned and one updated event per lead
    resent = sum(len(posts) - 1 for posts in by_idem.values())
    print(f"{runs} runs, {kills} kills, {total} actions, {len(http_env.posts)} posts ({resent} resent in flight)")
