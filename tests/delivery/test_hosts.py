"""Delivery across hosts on PostgreSQL: four processes at once (`sla-engine evaluate`, which delivers at its end,
and `sla-engine deliver`) against one PostgreSQL store and one SMTP server, killed with SIGKILL at random points.

Each round starts two of each as cron on four hosts would, at an as-of that moves forward so new rows come due
while others are being sent. Half the kill rounds wait for the round's first mail and then kill every process
still running (the one sending among them, mid-pass); the others kill one process at any instant (reading
the CSV source, judging, waiting for the run lock, delivering). Rounds go on until the outbox is finished.
What arrived is read as a mail system that dedupes on the Message-ID reads it (test_kill.py's check): every row
acted on once, a message sent twice only when it was in flight at a kill (same Message-ID), none lost; and the
outbox holds exactly the rows one uninterrupted run records.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from connectors.csv_writer import write_event_log
from sla_engine.runner import evaluate_run
from sla_engine.store.backend import open_location
from sla_engine.store.db import Store
from tests.delivery.conftest import lead_events, make_policy_set
from tests.delivery.test_kill import CHILD, LATER, MAILS, ROOT, assert_each_row_acted_on_once
from tests.engine.test_evaluate import at

LEADS = 12  # assigned 10:01 to 10:12: breached from 11:01, two hours later from 13:01
AS_OFS = [at(17, 11, 4), at(17, 11, 8), at(17, 11, 13), at(17, 13, 3), at(17, 13, 6), at(17, 13, 9), LATER]
HOSTS = ("evaluate", "deliver", "evaluate", "deliver")
KILL_ROUNDS = len(AS_OFS)  # each round's new rows are sent under a kill; then rounds finish what is left


def project(folder: Path, url: str) -> Path:
    """A project as each host has it: the policy, an item template, the event log, the shared store."""
    policies = folder / "policies"
    (policies / "templates").mkdir(parents=True)
    (policies / "inbound.sla").write_text(MAILS)
    (policies / "templates" / "item.txt").write_text("ROW $lead_id $window $level")
    write_event_log(lead_events(LEADS), folder / "events.csv")
    (folder / "sla-engine.toml").write_text(f"""
policies = "policies"
db = "{url}"
lock_timeout = 120

[[sources]]
name = "crm"
type = "csv"
path = "events.csv"

[delivery]
max_attempts = 1000
""")
    return folder


def start(folder: Path, verb: str, as_of: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen([sys.executable, "-m", "sla_engine.cli", verb, "--as-of", as_of], cwd=folder,
                                stdout=subprocess.DEVNULL, stderr=err)


def unfinished(url: str) -> int:
    store = open_location(url)
    try:
        return store.count("outbox", "status NOT IN ('sent', 'dead')")
    finally:
        store.close()


def test_four_hosts_evaluating_and_delivering_at_once_and_killed_at_random_act_on_each_row_once(
        tmp_path, pg_url, smtp):
    rng = random.Random(22)
    smtp.delay = 0.02  # a mail takes a moment, so a kill lands while a pass is sending
    folder = project(tmp_path / "hosts", pg_url)
    rounds = kills_while_sending = kills = 0
    while rounds < len(AS_OFS) or unfinished(pg_url):
        assert rounds < 30, f"{unfinished(pg_url)} rows unfinished after {rounds} rounds"
        as_of = AS_OFS[min(rounds, len(AS_OFS) - 1)].isoformat()
        arrived = len(smtp.messages)
        logs = [tmp_path / f"round{rounds}-{n}-{verb}.log" for n, verb in enumerate(HOSTS)]
        processes = [start(folder, verb, as_of, log) for verb, log in zip(HOSTS, logs, strict=True)]
        killed: set[int] = set()
        if rounds < KILL_ROUNDS:
            if rounds % 2 == 0:  # mid-pass: once mail goes out, every process still running dies
                deadline = time.monotonic() + 120
                while len(smtp.messages) == arrived and any(p.poll() is None for p in processes) \
                        and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 0.05))
                victims = [n for n, p in enumerate(processes) if p.poll() is None]
                kills_while_sending += bool(victims) and len(smtp.messages) > arrived
            else:  # any instant of any one host's run
                time.sleep(rng.uniform(0.0, 4.0))
                victims = [n for n, p in enumerate(processes) if p.poll() is None][:1]
                rng.shuffle(victims)
            for n in victims:
                processes[n].send_signal(signal.SIGKILL)
                killed.add(n)
        for n, process in enumerate(processes):
            code = process.wait(300)
            if n not in killed:
                assert code == 0, f"{HOSTS[n]} exited {code}: {logs[n].read_text()[-3000:]}"
        kills += len(killed)
        rounds += 1
    assert kills_while_sending >= 2, f"only {kills_while_sending} kills while mail went out: the test did not test"

    reference = Store(tmp_path / "uninterrupted.db")
    evaluate_run(make_policy_set(MAILS), reference, [("crm", iter(lead_events(LEADS)))], LATER)
    store = open_location(pg_url)
    outbox_rows = store.outbox.rows()
    assert [row["key"] for row in outbox_rows] == [row["key"] for row in reference.outbox.rows()]
    resent, dead = assert_each_row_acted_on_once(outbox_rows, smtp.messages)
    store.close()
    reference.close()
    print(f"{rounds} rounds of {len(HOSTS)} hosts, {kills} kills ({kills_while_sending} rounds killed mid-pass), "
          f"{len(smtp.messages)} mails for {len(outbox_rows)} rows ({resent} resent in flight), {dead} dead")


def test_four_deliveries_at_once_without_the_run_lock_still_send_each_message_once(tmp_path, pg_url, smtp):
    """Defence in depth: the run lock is what makes hosts take turns; without it the claims alone keep every
    row in one message, and the lock each message being sent holds keeps a live delivery's message in flight
    from being taken for a dead one's: nothing is sent twice."""
    smtp.delay = 0.01
    (tmp_path / "policy.sla").write_text(MAILS)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "item.txt").write_text("ROW $lead_id $window $level")
    store = open_location(pg_url)
    evaluate_run(make_policy_set(MAILS), store, [("t", iter(lead_events(LEADS)))], LATER)
    store.close()
    args = {"policy": str(tmp_path / "policy.sla"), "db": pg_url, "templates": str(templates), "digest": "off",
            "batch": 2, "now": LATER.isoformat(), "locked": False}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0 and out.endswith("done\n"), err[-3000:]
    store = open_location(pg_url)
    outbox_rows = store.outbox.rows()
    store.close()
    resent, dead = assert_each_row_acted_on_once(outbox_rows, smtp.messages)
    assert (resent, dead) == (0, 0) and len(smtp.messages) == len(outbox_rows)
    print(f"4 deliveries without the lock: {len(smtp.messages)} mails for {len(outbox_rows)} rows "
          f"({resent} sent twice in flight), {dead} dead")
