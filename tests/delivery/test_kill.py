"""A delivery process killed with SIGKILL at random instants, over and over: no mail lost, none acted on twice.

test_faults.py raises at the steps delivery names; here the operating system kills a real
`deliver` process wherever it happens to be (inside a SQLite transaction, halfway through an
SMTP conversation, between a batch's pages) while it mails a loopback SMTP server that requires
STARTTLS and a login. Runs repeat until the outbox is finished. The receiver dedupes on the
Message-ID, as mail systems do; the test reads what arrived.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from sla_engine.store.db import Store
from tests.delivery.conftest import evaluated_store
from tests.engine.test_evaluate import at

ROOT = Path(__file__).resolve().parents[2]
LATER = at(17, 14, 0)  # both levels are due for every lead
MAILS = """
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
}
contact cro {
  name "Dana"
  email "cro@example.com"
}
policy inbound {
  window first_response {
    starts on assigned
    stops on activity by owner where direction == "outbound"
    goal 1h
    escalate on breach {
      notify owner via email
      notify cro via email
    }
    escalate 2h after breach {
      notify owner via email
    }
  }
}
"""

CHILD = """
import json, sys
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path

from connectors.notify_email import EmailNotifier
from sla_engine.delivery.deliver import deliver
from sla_engine.store.backend import open_location
from tests.delivery.conftest import make_policy_set

args = json.loads(sys.argv[1])
policy_set = make_policy_set(Path(args["policy"]).read_text())
store = open_location(args["db"])  # an SQLite file or a PostgreSQL URL
print("ready", flush=True)
with store.locked() if args.get("locked", True) else nullcontext():
    deliver(policy_set, store, datetime.fromisoformat(args["now"]), notifiers={"email": EmailNotifier},
            templates_dir=Path(args["templates"]), digest=args["digest"], batch=args["batch"],
            backoff=timedelta(0), max_attempts=1000, max_age=None)
print("done", flush=True)
"""


def run_and_kill(args: dict, kill_after: float | None, mails_first: Callable[[], bool] | None = None) -> bool:
    """One `deliver` process, killed `kill_after` seconds after it is ready (None: let it finish), or, given
    ``mails_first``, that long after it says mail has started going out. True if killed."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline() == "ready\n", child.stderr.read()
    if kill_after is not None:
        deadline = time.monotonic() + 30
        while mails_first is not None and not mails_first() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(kill_after)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
            return True
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-3000:]
    return False


def listed(mail) -> list[tuple[str, str]]:
    """(recipient, "lead window level") for each row a mail lists, from the item template `ROW …`."""
    body = mail.get_body(("plain",)).get_content()
    return [(str(mail["To"]), line.removeprefix("- ROW ").strip()) for line in body.splitlines()
            if line.startswith("- ROW ")]


@pytest.mark.parametrize(("digest", "batch", "seed"), [("off", 3, 1), ("run", 2, 2)])
def test_sigkill_at_random_instants_loses_no_mail_and_no_row_is_acted_on_twice(tmp_path, smtp, digest, batch, seed):
    rng = random.Random(seed)
    smtp.delay = 0.02  # a mail takes a moment, so kills land while a batch is going out
    (tmp_path / "policy.sla").write_text(MAILS)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "item.txt").write_text("ROW $lead_id $window $level")
    store = evaluated_store(tmp_path, leads=10, as_of=LATER, text=MAILS)
    rows = len(store.outbox.rows())
    store.close()
    base = {"policy": str(tmp_path / "policy.sla"), "db": str(tmp_path / "sla.db"), "templates": str(templates),
            "digest": digest, "batch": batch}
    runs = kills = 0
    unfinished = "status NOT IN ('sent', 'dead')"
    while True:
        store = Store(tmp_path / "sla.db")
        left = store.count("outbox", unfinished)
        store.close()
        if runs and not left:
            break
        assert runs < 40, f"{left} rows unfinished after {runs} runs"
        runs += 1
        arrived = len(smtp.messages)
        killing = kills < 5 and runs < 30  # then runs finish what is left, with nothing killed
        # Every other kill waits for this run's first mail, so kills land while a batch is going out whatever
        # the machine's speed; the others fall at any instant (claiming, writing, between batches).
        on_mail = runs % 2 == 0
        killed = run_and_kill({**base, "now": (LATER + timedelta(minutes=runs)).isoformat()},
                              (rng.uniform(0.0, 0.03) if on_mail else rng.uniform(0.0, 0.6)) if killing else None,
                              (lambda arrived=arrived: len(smtp.messages) > arrived) if on_mail else None)
        kills += killed and len(smtp.messages) > arrived  # a kill that came while mail was going out
    assert kills >= 3, f"only {kills} kills during sending in {runs} runs: the test did not test"

    store = Store(tmp_path / "sla.db")
    assert store.integrity_problems(quick=False) == []
    outbox_rows = store.outbox.rows()
    assert len(outbox_rows) == rows
    resent, dead = assert_each_row_acted_on_once(outbox_rows, smtp.messages)
    print(f"{digest}: {runs} runs, {kills} kills while sending, {len(smtp.messages)} mails "
          f"({resent} resent in flight), {dead} dead")


def assert_each_row_acted_on_once(outbox_rows: list[dict], mails: list) -> tuple[int, int]:
    """What arrived, as a mail system that dedupes on the Message-ID keeps it: every row in one message
    (the one its idempotency key names), none in two, none missing but the rows given up as dead after an
    interrupted send; a message sent twice only when it was in flight at a kill. Returns (resent, dead)."""
    dead = [r for r in outbox_rows if r["status"] == "dead"]
    assert all(r["last_error"].startswith("interrupted") for r in dead)  # twice, or then its resend failed
    assert all(r["status"] in ("sent", "dead") for r in outbox_rows)
    copies = Counter(str(mail["Message-ID"]) for mail in mails)
    assert max(copies.values()) <= 2  # only the message in flight is sent again, under the same Message-ID
    first_copies: dict[str, object] = {}
    for mail in mails:
        first_copies.setdefault(str(mail["Message-ID"]), mail)  # what a deduping mail system delivers
    acted_on = Counter(item for mail in first_copies.values() for item in listed(mail))
    assert max(acted_on.values()) == 1  # no row in two different messages
    by_message = defaultdict(set)
    for message_id, mail in first_copies.items():
        by_message[message_id.strip("<>").removesuffix("@sla-engine")] = set(listed(mail))
    for row in outbox_rows:
        ident = (row["recipient"].removeprefix("email:"), f"{row['lead_id']} {row['window']} {row['level']}")
        if row["status"] == "sent":  # arrived, once, in the message its key names
            assert ident in by_message[row["idempotency_key"]] and acted_on[ident] == 1
    assert sum(acted_on.values()) >= len(outbox_rows) - len(dead)
    return sum(copies.values()) - len(copies), len(dead)
