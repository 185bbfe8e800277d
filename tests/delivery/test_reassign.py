"""Reassignment: round robin that is fair across runs, skips previous owners, away members and off hours."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from sla_engine.connector import Connector, FieldChange, OwnerChange, PushResult, TaskRequest
from sla_engine.delivery.deliver import deliver
from sla_engine.runner import evaluate_run
from tests.delivery.conftest import POLICY, evaluated_store, lead_events, make_policy_set
from tests.delivery.test_outbox import Recorder, channels
from tests.engine.test_evaluate import assigned, at

LATER = at(17, 14, 0)  # 2h after every lead's breach


@pytest.fixture(autouse=True)
def addresses(monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.example.com/s")
    monkeypatch.setenv("TEST_HOOK_URL", "https://hooks.example.com/h")


class Crm(Connector):
    """A source named like the events' source ("t") that accepts owner changes and tasks."""

    pushed: list

    def __init__(self, fail: bool = False) -> None:
        super().__init__("t", Connector.Config())
        self.pushed = []
        self.fail = fail

    def push(self, updates):
        self.pushed.extend(updates)
        return [PushResult(u.key, u.lead_id, ok=not self.fail, error="INVALID_CROSS_REFERENCE_KEY" if self.fail
                           else None) for u in updates]


def reassigned(store) -> dict[str, str]:
    rows = store.conn.execute("SELECT lead_id, payload FROM events WHERE source = 'sla-engine' AND type = 'assigned'")
    import json

    return {lead: json.loads(payload)["owner"] for lead, payload in rows}


def test_round_robin_is_fair_and_skips_away_members(tmp_path):
    store = evaluated_store(tmp_path, leads=9, as_of=LATER)
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()))
    owners = reassigned(store)
    assert len(owners) == 9
    assert Counter(owners.values()) == {"a@example.com": 3, "b@example.com": 3, "d@example.com": 3}
    assert [owners[f"L{i}"] for i in range(4)] == ["a@example.com", "b@example.com", "d@example.com", "a@example.com"]


def test_the_turn_carries_over_to_the_next_run(tmp_path):
    store = evaluated_store(tmp_path, leads=1, as_of=LATER)
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()))
    events = lead_events(2, start=at(17, 10))[2:]  # L1
    evaluate_run(make_policy_set(), store, [("t", iter(events))], LATER)
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()))
    assert reassigned(store) == {"L0": "a@example.com", "L1": "b@example.com"}


def test_previous_owners_are_skipped(tmp_path):
    events = lead_events(1)
    events.insert(1, assigned("L0", at(17, 10, 0, ), owner="a@example.com"))
    store_path = tmp_path
    from sla_engine.store.db import Store

    store = Store(store_path / "sla.db")
    evaluate_run(make_policy_set(), store, [("t", iter(events))], LATER)
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()))
    assert reassigned(store) == {"L0": "b@example.com"}


def test_nobody_in_hours_is_a_failure_retried_later(tmp_path):
    text = POLICY.replace('away ["c@example.com"]', 'away ["c@example.com"]\n  calendar office')
    night = at(17, 23, 0)
    store = evaluated_store(tmp_path, leads=1, as_of=night, text=text)
    deliver(make_policy_set(text), store, night, notifiers=channels(Recorder()))
    [row] = [r for r in store.outbox.rows("failed") if '"reassign"' in r["action"]]
    assert "can take the lead now" in row["last_error"]
    deliver(make_policy_set(text), store, at(18, 9, 30), notifiers=channels(Recorder()))
    assert reassigned(store) == {"L0": "a@example.com"}


def test_the_next_evaluate_sees_the_new_owner(tmp_path):
    store = evaluated_store(tmp_path, leads=1, as_of=LATER)
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()))
    evaluate_run(make_policy_set(), store, [], LATER + timedelta(minutes=1))
    import json

    state = json.loads(store.conn.execute("SELECT state FROM leads WHERE lead_id = 'L0'").fetchone()[0])
    assert state["owner"] == "a@example.com" and state["previous_owners"] == ["rep0@example.com"]
    assert state["sla_status"] == "breached"


def test_owner_changes_and_tasks_go_through_the_leads_source_connector(tmp_path):
    store = evaluated_store(tmp_path, leads=1, as_of=LATER)
    crm = Crm()
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()), connectors=[crm])
    change = next(u for u in crm.pushed if isinstance(u, OwnerChange))
    task = next(u for u in crm.pushed if isinstance(u, TaskRequest))
    assert change.owner == "a@example.com" and change.key.startswith("L0|")
    assert task.owner == "a@example.com"  # the task goes to the owner just assigned
    assert task.subject == "Call this lead now" and task.due_at == LATER + timedelta(hours=1)


def test_a_field_change_goes_through_the_connector_and_is_recorded_as_an_update(tmp_path):
    store = evaluated_store(tmp_path, leads=1, as_of=LATER)
    crm = Crm()
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()), connectors=[crm])
    [change] = [u for u in crm.pushed if isinstance(u, FieldChange)]
    assert (change.lead_id, change.field, change.value) == ("L0", "sla_status", "breached")
    [payload] = store.conn.execute("SELECT payload FROM events WHERE source = 'sla-engine' AND type = 'updated'")
    assert '"sla_status": "breached"' in payload[0]


def test_through_a_csv_source_every_crm_action_is_a_row_in_its_actions_file(tmp_path):
    import csv

    from connectors.csv_connector import CsvConnector

    store = evaluated_store(tmp_path, leads=2, as_of=LATER)
    source = CsvConnector.configure("example", {"path": str(tmp_path / "events.csv"), "source": "t"})
    report = deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()), connectors=[source])
    with (tmp_path / "events.actions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["lead_id"], r["action"]) for r in rows) == [
        ("L0", "reassign"), ("L0", "set"), ("L0", "task"), ("L1", "reassign"), ("L1", "set"), ("L1", "task")]
    assert report.recorded_only == 0 and {r["key"] for r in rows} <= {r["key"] for r in store.outbox.rows("sent")}
    assert sorted(reassigned(store).values()) == sorted(r["owner"] for r in rows if r["action"] == "reassign")


def test_a_crm_that_rejects_the_change_records_a_failure_and_no_event(tmp_path):
    store = evaluated_store(tmp_path, leads=1, as_of=LATER)
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()), connectors=[Crm(fail=True)])
    failed = {r["key"]: r for r in store.outbox.rows("failed")}
    assert any("INVALID_CROSS_REFERENCE_KEY" in r["last_error"] for r in failed.values())
    assert reassigned(store) == {}


def crm_users(store, *users) -> None:
    from sla_engine.connector import Owner

    with store.transaction():
        store.owners.replace("t", [Owner(id=i, email=e, name=n) for i, e, n in users])


def test_with_the_crms_users_synced_a_reassignment_writes_the_members_crm_id(tmp_path):
    """An email in Salesforce's OwnerId is MALFORMED_ID; the CRM takes its own user ids."""
    store = evaluated_store(tmp_path, leads=1, as_of=LATER)
    crm_users(store, ("0051", "a@example.com", "Ann"), ("0052", "B@Example.com", "Bo"),
              ("0053", "d@example.com", "Di"), ("0050", "rep0@example.com", "Rep"))
    crm = Crm()
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()), connectors=[crm])
    change = next(u for u in crm.pushed if isinstance(u, OwnerChange))
    task = next(u for u in crm.pushed if isinstance(u, TaskRequest))
    assert change.owner == "0051" and task.owner == "0051"
    assert reassigned(store) == {"L0": "0051"}  # recorded as the CRM will report it


def test_the_current_owner_by_crm_id_is_not_picked_again(tmp_path):
    events = lead_events(1)
    events.insert(1, assigned("L0", at(17, 10, 0), owner="0051"))  # the CRM says a@example.com by id
    from sla_engine.store.db import Store

    store = Store(tmp_path / "sla.db")
    evaluate_run(make_policy_set(), store, [("t", iter(events))], LATER)
    crm_users(store, ("0051", "a@example.com", "Ann"), ("0052", "b@example.com", "Bo"),
              ("0050", "rep0@example.com", "Rep"))
    crm = Crm()
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()), connectors=[crm])
    assert reassigned(store) == {"L0": "0052"}  # a@ (0051) owned it before: skipped as a previous owner


def test_a_member_with_no_crm_user_fails_before_anything_is_sent(tmp_path):
    store = evaluated_store(tmp_path, leads=1, as_of=LATER)
    crm_users(store, ("0052", "b@example.com", "Bo"), ("0050", "rep0@example.com", "Rep"))
    crm = Crm()
    deliver(make_policy_set(), store, LATER, notifiers=channels(Recorder()), connectors=[crm])
    assert not [u for u in crm.pushed if isinstance(u, OwnerChange)]
    [row] = [r for r in store.outbox.rows("failed") if '"reassign"' in r["action"]]
    assert "a@example.com (team 'pool') has no active user in t" in row["last_error"]
    assert not reassigned(store)


def test_notify_owner_reaches_the_person_behind_a_crm_id():
    from sla_engine.delivery.recipients import Directory

    directory = Directory(make_policy_set(), {}, {})
    with pytest.raises(Exception, match="0057"):
        directory.resolve({"kind": "owner"}, {"owner": "0057"})
    from sla_engine.connector import Owner

    directory = Directory(make_policy_set(), {}, {"0057": Owner("0057", "cro@example.com", "Dana"),
                                                  "00G1": Owner("00G1", None, "Inbound queue", kind="queue")})
    assert directory.resolve({"kind": "owner"}, {"owner": "0057"}).key == "cro"  # the contact with that email
    with pytest.raises(Exception, match="Inbound queue"):
        directory.resolve({"kind": "owner"}, {"owner": "00G1"})
