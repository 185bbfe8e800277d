"""The HubSpot connector, with the real hubspot-api-client, against the loopback fake."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest

from connectors.hubspot import HubSpotConnector
from sla_engine.connector import (
    ConnectorConfigError,
    ConnectorError,
    Cursor,
    FieldChange,
    OwnerChange,
    StatusUpdate,
    TaskRequest,
)
from sla_engine.events import LeadEvent
from sla_engine.store.db import Store
from sla_engine.sync import push_updates
from tests.connectors.conftest import HS_TOKEN
from tests.fakes.hubspot import ms

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def pull_all(connector: HubSpotConnector, cursors=None, until: datetime = UNTIL):
    result = connector.pull(cursors or {}, until)
    return list(result.items), result


def of(items: list[LeadEvent], lead: str, type_: str) -> list[LeadEvent]:
    return [e for e in items if e.lead_id == lead and str(e.type) == type_]


def searches(fake, object_type: str = "contacts"):
    return [r.body for r in fake.calls("POST", f"/objects/{object_type}/search")]


def test_contacts_are_searched_with_after_paging_and_the_documented_body(hubspot, make_hs):
    fake, _ = hubspot
    ids = [fake.add("contacts", at(n), email=f"p{n}@example.com", hubspotscore="85", firstname="Pat",
                    lastname=f"N{n}") for n in range(5)]
    items, result = pull_all(make_hs(page_size=2), {"contacts": Cursor(at(-1))})
    bodies = searches(fake)
    assert bodies[0] == {
        "filterGroups": [{"filters": [
            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(ms(at(-1)))},
            {"propertyName": "lastmodifieddate", "operator": "LTE", "value": str(ms(UNTIL))}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["lastmodifieddate"], "limit": 2,
    }
    assert [b.get("after") for b in bodies] == [None, "2", "4"]
    created = of(items, ids[0], "created")[0]
    assert created.occurred_at == at(0)
    assert created.payload["attributes"]["lead_score"] == 85  # text in HubSpot, a number for policies
    assert created.payload["attributes"]["name"] == "Pat N0"
    assert {e.lead_id for e in items} == set(ids)
    assert result.cursors["contacts"] == Cursor(UNTIL)
    read = fake.calls("POST", "/contacts/batch/read")[0].body
    assert read["propertiesWithHistory"] == ["hs_lead_status", "lifecyclestage", "hubspot_owner_id"]


def test_a_window_past_the_result_cap_is_split_until_each_half_fits(hubspot, make_hs, monkeypatch):
    fake, _ = hubspot
    monkeypatch.setattr("tests.fakes.hubspot.CAP", 4)  # HubSpot's cap is 10,000; 4 keeps the test small
    ids = {fake.add("contacts", at(n)) for n in range(11)}
    items, _ = pull_all(make_hs(page_size=2, search_cap=4))
    assert {e.lead_id for e in items} == ids
    windows = {(b["filterGroups"][0]["filters"][0]["value"], b["filterGroups"][0]["filters"][1]["value"])
               for b in searches(fake)}
    assert len(windows) > 3  # the whole range, then halves, then quarters …
    assert all(int(b.get("after") or 0) + b["limit"] <= 4 for b in searches(fake))  # never asked past the cap


def test_history_gives_status_owner_and_stage_changes_at_their_real_times(hubspot, make_hs):
    fake, _ = hubspot
    lead = fake.add("contacts", at(0), hs_lead_status="NEW", lifecyclestage="lead", hubspot_owner_id="11")
    fake.set("contacts", lead, at(10), hs_lead_status="IN_PROGRESS")
    fake.set("contacts", lead, at(20), hubspot_owner_id="22", lifecyclestage="marketingqualifiedlead")
    fake.set("contacts", lead, at(30), hs_lead_status="UNQUALIFIED", disqualify_reason="no budget")
    fake.set("contacts", lead, at(40), lifecyclestage="opportunity")
    items, _ = pull_all(make_hs(dispositions={"UNQUALIFIED": "disqualified"},
                                disposition_reason_property="disqualify_reason"))
    assert [(e.occurred_at, e.payload["old"], e.payload["new"]) for e in of(items, lead, "status_changed")
            if e.payload["field"] == "status"] == [
        (at(0), None, "NEW"), (at(10), "NEW", "IN_PROGRESS"), (at(30), "IN_PROGRESS", "UNQUALIFIED")]
    assert [(e.occurred_at, e.payload["owner"]) for e in of(items, lead, "assigned")] == [(at(0), "11"), (at(20), "22")]
    assert [(e.occurred_at, e.payload["disposition"], e.payload["reason"]) for e in of(items, lead, "disposition")] \
        == [(at(30), "disqualified", "no budget")]
    assert [e.occurred_at for e in of(items, lead, "converted")] == [at(40)]


def test_engagements_come_through_v4_associations_with_disposition_labels(hubspot, make_hs):
    fake, _ = hubspot
    lead = fake.add("contacts", at(0), hubspot_owner_id="11")
    call = fake.add("calls", at(5), hs_timestamp="2026-11-02T14:06:00.000Z", hs_call_direction="OUTBOUND",
                    hs_call_disposition="f240bbac-87c9-4f6e-bf70-924b57d47db7", hubspot_owner_id="11")
    email = fake.add("emails", at(6), hs_timestamp="2026-11-02T14:07:00.000Z", hs_email_direction="INCOMING_EMAIL")
    open_task = fake.add("tasks", at(7), hs_timestamp="2026-11-02T15:00:00.000Z", hs_task_status="NOT_STARTED")
    done_task = fake.add("tasks", at(8), hs_timestamp="2026-11-02T15:00:00.000Z", hs_task_status="COMPLETED",
                         hs_task_type="LINKED_IN", hs_task_completion_date="2026-11-02T14:09:00.000Z")
    for object_type, object_id in (("calls", call), ("emails", email), ("tasks", open_task), ("tasks", done_task)):
        fake.link(object_type, object_id, lead)
    items, _ = pull_all(make_hs())
    activities = {(e.occurred_at, e.payload["channel"], e.payload["direction"], e.payload.get("outcome"))
                  for e in of(items, lead, "activity")}
    assert activities == {(at(6), "call", "outbound", "Connected"), (at(7), "email", "inbound", None),
                          (at(9), "social", "outbound", None)}
    association = fake.calls("POST", "/crm/v4/associations/calls/contacts/batch/read")[0].body
    assert association == {"inputs": [{"id": call}]}
    assert len(fake.calls("GET", "/calling/v1/dispositions")) == 1


def test_a_rejected_token_is_a_clear_error_that_never_shows_the_token(hubspot, make_hs, monkeypatch, caplog):
    fake, _ = hubspot
    fake.add("contacts", at(0))
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-na1-revoked-" + HS_TOKEN)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as raised:
        pull_all(make_hs())
    message = str(raised.value)
    assert "rejected the private app token (401)" in message and "env:HUBSPOT_TOKEN" in message
    assert HS_TOKEN not in message and HS_TOKEN not in caplog.text


def test_429_on_a_post_is_retried_after_retry_after(hubspot, make_hs):
    fake, _ = hubspot
    fake.add("contacts", at(0))
    fake.fail_next(429, {"status": "error", "message": "You have reached your secondly limit.",
                         "category": "RATE_LIMITS"}, headers={"Retry-After": "1"}, method="POST",
                   path_contains="/contacts/search")
    started = time.monotonic()
    items, _ = pull_all(make_hs())
    assert time.monotonic() - started >= 1.0  # waited as told
    assert len(searches(fake)) == 2 and items


def test_a_burst_of_5xx_is_retried_and_a_lasting_429_is_reported(hubspot, make_hs):
    fake, _ = hubspot
    fake.add("contacts", at(0))
    fake.fail_next(502, {"status": "error", "message": "Bad gateway", "category": "UNKNOWN"}, times=3,
                   method="POST", path_contains="/batch/read")
    items, _ = pull_all(make_hs())
    assert items and len(fake.calls("POST", "/contacts/batch/read")) == 4
    fake.fail_next(429, {"status": "error", "message": "Daily limit", "category": "RATE_LIMITS"}, times=20)
    with pytest.raises(ConnectorError, match="rate limit for contact search persisted after 2 retries"):
        pull_all(make_hs(max_retries=2))


PUSH = [{"window": "first_response", "tier": "sla_tier", "status": "sla_status", "due_at": "sla_due_at",
         "breached_at": "sla_breached_at"}]


def status(lead: str, state: str) -> StatusUpdate:
    return StatusUpdate(lead_id=lead, policy="inbound", window="first_response", cycle=1, tier="tier1",
                        status=state, due_at=at(120), breached_at=None)


def test_status_is_batch_updated_and_a_second_push_sends_nothing(hubspot, make_hs, tmp_path):
    fake, _ = hubspot
    leads = [fake.add("contacts", at(n)) for n in range(3)]
    store = Store(tmp_path / "s.db")
    connector = make_hs(push_status=PUSH)
    updates = [status(lead, "running") for lead in leads] + [status("404404", "running")]
    report = push_updates(store, connector, updates)
    assert report.ok == 3 and [r.lead_id for r in report.failed] == ["404404"]
    assert "OBJECT_NOT_FOUND" in report.failed[0].error
    (sent,) = fake.calls("POST", "/contacts/batch/update")
    assert sent.body["inputs"][0] == {"id": leads[0], "properties": {
        "sla_tier": "tier1", "sla_status": "running", "sla_due_at": "2026-11-02T16:00:00.000Z", "sla_breached_at": ""}}
    assert fake.objects["contacts"][leads[2]]["properties"]["sla_status"] == "running"
    again = push_updates(store, connector, updates)
    assert [u.lead_id for u in again.planned] == ["404404"]  # only the failure is tried again


def test_tasks_and_owner_changes_are_written(hubspot, make_hs):
    fake, _ = hubspot
    lead = fake.add("contacts", at(0), hubspot_owner_id="11")
    results = {r.key: r for r in make_hs().push([
        TaskRequest(key="esc-1", lead_id=lead, subject="SLA breached", description="call now", due_at=at(60),
                    owner="22"),
        OwnerChange(key="reassign-1", lead_id=lead, owner="33"),
    ])}
    assert results["esc-1"].ok and results["reassign-1"].ok
    (create,) = fake.calls("POST", "/tasks/batch/create")
    assert create.body["inputs"][0]["associations"] == [
        {"to": {"id": lead}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]
    assert create.body["inputs"][0]["properties"]["hs_task_status"] == "NOT_STARTED"
    assert fake.objects["contacts"][lead]["properties"]["hubspot_owner_id"] == "33"


def test_a_field_change_writes_the_mapped_property_and_an_unmapped_one_fails_with_the_fix(hubspot, make_hs):
    fake, _ = hubspot
    lead = fake.add("contacts", at(0), hubspot_owner_id="11")
    results = {r.key: r for r in make_hs(properties={"sla_flag": "sla_flag"}).push([
        FieldChange(key="set-1", lead_id=lead, field="sla_flag", value=True),
        FieldChange(key="set-2", lead_id=lead, field="status", value="IN_PROGRESS"),
        FieldChange(key="set-3", lead_id=lead, field="sla_colour", value="red"),
    ])}
    assert results["set-1"].ok and results["set-2"].ok
    (update,) = fake.calls("POST", "/contacts/batch/update")
    assert update.body["inputs"] == [{"id": lead, "properties": {"sla_flag": "true", "hs_lead_status": "IN_PROGRESS"}}]
    assert not results["set-3"].ok and 'add sla_colour = "internal_name"' in results["set-3"].error


def test_the_token_is_only_ever_a_reference(hs_options):
    with pytest.raises(ConnectorConfigError) as raised:
        HubSpotConnector.configure("hs", {**hs_options, "token": HS_TOKEN})
    assert HS_TOKEN not in str(raised.value) and "token" in str(raised.value)
    with pytest.raises(ConnectorConfigError, match=r"Extra inputs"):
        HubSpotConnector.configure("hs", {**hs_options, "tokne": {"env": "X"}})
