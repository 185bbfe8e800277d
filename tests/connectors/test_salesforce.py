"""The Salesforce connector, with the real simple-salesforce client, against the loopback fake."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest

from connectors.salesforce import SalesforceConnector
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
from sla_engine.reports.explain import render_explanation
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from sla_engine.sync import open_pulls, push_updates, sync_sources
from tests.connectors.conftest import SF_SESSION
from tests.engine.test_evaluate import policy_set

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
REP, REP2 = "005000000000001AAA", "005000000000002AAA"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def pull_all(connector: SalesforceConnector, cursors=None, until: datetime = UNTIL):
    result = connector.pull(cursors or {}, until)
    items = list(result.items)
    return items, result


def by_type(items: list[LeadEvent], lead: str | None = None) -> dict[str, list[LeadEvent]]:
    found: dict[str, list[LeadEvent]] = {}
    for event in items:
        if lead is None or event.lead_id == lead:
            found.setdefault(str(event.type), []).append(event)
    return found


def queries(fake) -> list[str]:
    return [r.query["q"] for r in fake.requests if "q" in r.query]


def test_a_first_pull_pages_through_relative_next_records_urls_and_reads_every_stream(salesforce, make_sf):
    fake, _ = salesforce
    fake.page_size = 2
    leads = [fake.add_lead(at(n), OwnerId=REP, Company=f"Acme {n}", Lead_Score__c=70 + n) for n in range(5)]
    fake.change_status(leads[0], at(30), "Working")
    fake.change_owner(leads[1], at(31), REP2)
    fake.add("Task", at(40), WhoId=leads[0], OwnerId=REP, TaskSubtype="Call", Type="Call", CallType="Inbound",
             CallDisposition="Left voicemail", IsClosed=True, CompletedDateTime=at(41))
    fake.add("Task", at(42), WhoId=leads[0], OwnerId=REP, TaskSubtype="Task", Type="Call", IsClosed=False)
    fake.add("Task", at(43), WhoId="003000000000009AAA", OwnerId=REP, TaskSubtype="Email", IsClosed=True)
    fake.book_meeting(leads[2], at(50), start=at(60), owner=REP)

    items, result = pull_all(make_sf(fields={"lead_score": "Lead_Score__c"}))

    first = by_type(items, leads[0])
    assert first["created"][0].occurred_at == at(0)
    assert first["created"][0].payload["attributes"]["status"] == "Open - Not Contacted"  # history's OldValue
    # Lead_Score__c and Company keep no history here: their values are known from the last change on.
    assert "lead_score" not in first["created"][0].payload["attributes"]
    (seen,) = first["updated"]
    assert (seen.occurred_at, seen.payload["changes"]["lead_score"], seen.payload["changes"]["company"]) == (
        at(30), 70, "Acme 0")
    assert "first seen" in seen.payload["note"]
    assert by_type(items, leads[3])["created"][0].payload["attributes"]["lead_score"] == 73  # never changed
    assert first["assigned"][0].payload["owner"] == REP
    assert [(e.occurred_at, e.payload["old"], e.payload["new"]) for e in first["status_changed"]] == [
        (at(30), "Open - Not Contacted", "Working")]
    (call,) = first["activity"]  # the open task is a to-do, and the contact's task is not a lead's
    assert (call.occurred_at, call.payload["channel"], call.payload["direction"], call.payload["outcome"],
            call.payload["by"]) == (at(41), "call", "inbound", "Left voicemail", REP)
    owners = [e.payload["owner"] for e in by_type(items, leads[1])["assigned"]]
    assert owners == [REP, REP2]  # at creation (the change's OldValue) and at the change; the Text row is skipped
    # Read by both Event streams (changed, and started since the last run): one event id, stored once.
    meetings = {(e.event_id, e.occurred_at, e.payload["channel"]) for e in by_type(items, leads[2])["activity"]}
    assert [(when, channel) for _, when, channel in meetings] == [(at(60), "meeting")]
    assert set(result.cursors) == {"Lead", "LeadHistory", "Task", "Event", "EventStart"}
    assert all(c.at == UNTIL for c in result.cursors.values())
    # Paging followed the relative nextRecordsUrl the fake handed out.
    pages = [r.path for r in fake.requests if "/query/01g" in r.path]
    assert len(pages) >= 3 and all(p.startswith("/services/data/v59.0/query/") for p in pages)
    assert fake.requests[0].path.endswith("/queryAll/")  # Lead reads deletes too


def test_the_soql_sent_reads_after_the_cursor_with_an_id_tiebreak_and_never_past_until(salesforce, make_sf):
    fake, _ = salesforce
    a = fake.add_lead(at(0), Id="00Q000000000001AAA")
    b = fake.add_lead(at(0), Id="00Q000000000002AAA")
    c = fake.add_lead(at(5), Id="00Q000000000003AAA")
    fake.add_lead(at(60 * 24 * 30))  # after until: not read
    connector = make_sf()
    items, result = pull_all(connector, {"Lead": Cursor(at(0), a)}, until=at(10))
    lead_query = queries(fake)[0]
    assert lead_query.startswith("SELECT Id, CreatedDate, SystemModstamp, LastModifiedDate, IsDeleted, Status, ")
    assert lead_query.endswith(
        "FROM Lead WHERE SystemModstamp <= 2026-11-02T14:10:00Z AND (SystemModstamp > 2026-11-02T14:00:00Z OR "
        "(SystemModstamp = 2026-11-02T14:00:00Z AND Id > '00Q000000000001AAA')) ORDER BY SystemModstamp, Id")
    assert {e.lead_id for e in items} == {b, c}
    sent = " ".join(queries(fake))
    assert "FROM LeadHistory WHERE Field IN ('Status', 'Owner') AND CreatedDate <= 2026-11-02T14:10:00Z" in sent
    assert "FROM Task WHERE Who.Type = 'Lead' AND IsClosed = true AND SystemModstamp <= " in sent
    assert result.cursors["Lead"] == Cursor(at(10))


def test_deletes_and_conversions_come_through_query_all(salesforce, make_sf):
    fake, _ = salesforce
    gone = fake.add_lead(at(0))
    won = fake.add_lead(at(1))
    connector = make_sf()
    pull_all(connector)
    fake.delete("Lead", gone, at(100))
    fake.touch("Lead", won, at(101), IsConverted=True, ConvertedOpportunityId="006000000000001AAA")
    items, _ = pull_all(connector, {"Lead": Cursor(at(50))})
    assert by_type(items, gone)["deleted"][0].occurred_at == at(100)
    converted = by_type(items, won)["converted"][0]
    assert converted.payload["opportunity_id"] == "006000000000001AAA"
    assert "created" not in by_type(items, won)  # created before the cursor: an update now
    assert by_type(items, won)["updated"][0].occurred_at == at(101)


def test_history_rows_give_status_changes_and_dispositions_at_their_real_times(salesforce, make_sf):
    fake, _ = salesforce
    lead = fake.add_lead(at(0), Unqualified_Reason__c="No budget")
    fake.change_status(lead, at(10), "Working")
    fake.change_status(lead, at(20), "Unqualified")
    fake.change_status(lead, at(30), "Recycled")
    connector = make_sf(dispositions={"Unqualified": "disqualified", "Recycled": "recycled"},
                        disposition_reason_field="Unqualified_Reason__c")
    items, _ = pull_all(connector)
    events = by_type(items, lead)
    assert [(e.occurred_at, e.payload["new"]) for e in events["status_changed"]] == [
        (at(10), "Working"), (at(20), "Unqualified"), (at(30), "Recycled")]
    # A status "Recycled" already counts as a recycle in the engine, so no second (disposition) event.
    assert [(e.occurred_at, e.payload["disposition"], e.payload["reason"]) for e in events["disposition"]] == [
        (at(20), "disqualified", "No budget")]
    assert any("Lead.Unqualified_Reason__c" in q for q in queries(fake))


def test_a_rejected_session_is_a_clear_error_that_never_shows_the_session(salesforce, make_sf, monkeypatch, caplog):
    monkeypatch.setenv("SF_SESSION_ID", "00Dwrong!expired-" + SF_SESSION)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as raised:
        pull_all(make_sf())
    message = str(raised.value)
    assert "401 INVALID_SESSION_ID" in message
    assert SF_SESSION not in message and SF_SESSION not in caplog.text


def lead_queries(fake) -> list[str]:
    return [q for q in queries(fake) if "FROM Lead WHERE" in q]


def test_request_limit_exceeded_is_retried_with_backoff(salesforce, make_sf):
    fake, _ = salesforce
    fake.add_lead(at(0))
    limit = [{"message": "ConcurrentPerOrgLongTxn Limit exceeded", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    fake.fail_next(403, limit, times=2)
    items, result = pull_all(make_sf())
    assert [str(e.type) for e in items] == ["created"] and not result.stopped
    assert len(lead_queries(fake)) == 3


def test_a_limit_error_mid_stream_keeps_what_was_read_and_the_next_run_goes_on(salesforce, make_sf, tmp_path):
    """403 REQUEST_LIMIT_EXCEEDED past the retries on the third page: the pages read are kept with their
    cursor, the pull stops as the quota stop does, and the next run reads the rest."""
    fake, _ = salesforce
    fake.page_size = 2
    leads = [fake.add_lead(at(n), OwnerId=REP) for n in range(6)]
    store = Store(tmp_path / "s.db")
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    fake.fail_next(403, limit, times=1, path_contains="/query/01g000000000000000-4")
    (summary,) = sync_sources(store, [make_sf(max_retries=2)], UNTIL)
    assert summary.stopped and "REQUEST_LIMIT_EXCEEDED" in summary.stopped
    kept = {e["lead_id"] for e in store.db.query("SELECT DISTINCT lead_id FROM events")}
    assert kept == set(leads[:4])  # two whole pages, committed
    assert store.sync_state.cursors("sf")["Lead"] == Cursor(at(3), leads[3])
    sync_sources(store, [make_sf()], UNTIL)
    assert {e["lead_id"] for e in store.db.query("SELECT DISTINCT lead_id FROM events")} == set(leads)
    assert store.count("events", "type = 'created'") == 6


def test_a_burst_of_server_errors_is_retried(salesforce, make_sf):
    fake, _ = salesforce
    fake.add_lead(at(0))
    fake.fail_next(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}], times=3)
    items, _ = pull_all(make_sf())
    assert items
    assert len(lead_queries(fake)) == 4


def test_connection_errors_are_retried_then_reported(make_sf):
    connector = make_sf(instance_url="https://127.0.0.1:9", max_retries=2)
    started = time.monotonic()
    with pytest.raises(ConnectorError, match="after 3 attempts: connection error"):
        pull_all(connector)
    assert time.monotonic() - started < 10


def test_a_pull_stops_at_the_configured_share_of_the_daily_quota_and_resumes(salesforce, make_sf, tmp_path):
    fake, _ = salesforce
    fake.page_size = 2
    for n in range(6):
        fake.add_lead(at(n))
    fake.api_limit, fake.api_used = 10, 6
    connector = make_sf(max_api_share=0.8)
    items, result = pull_all(connector)
    assert result.stopped and "8 of 10 daily API requests" in result.stopped
    assert len(fake.requests) == 2  # 7/10 then 8/10: stop before a ninth
    assert result.cursors["Lead"].after_id  # the last lead read, with its id tiebreak
    assert len({e.lead_id for e in items}) == 2  # one page: the second request read its leads' history
    fake.api_used = 0  # the next run, a day later: a new instance, as each run makes
    rest, again = pull_all(make_sf(max_api_share=0.8), dict(result.cursors))
    assert {e.lead_id for e in rest} | {e.lead_id for e in items} == set(fake.records["Lead"])
    assert not again.stopped


def test_a_crash_between_pull_and_commit_pulls_again_and_records_no_duplicate(salesforce, make_sf, tmp_path,
                                                                               monkeypatch):
    fake, _ = salesforce
    for n in range(3):
        lead = fake.add_lead(at(n), OwnerId=REP, Lead_Score__c=90)
        fake.add("Task", at(n + 30), WhoId=lead, OwnerId=REP, TaskSubtype="Call", IsClosed=True)
    store = Store(tmp_path / "s.db")
    connector = make_sf(fields={"lead_score": "Lead_Score__c"})
    crash = RuntimeError("killed between pull and commit")

    def listing_due_leads(*args, **kwargs):  # the last step of the run's first transaction
        raise crash

    monkeypatch.setattr(store.worklist, "select_due", listing_due_leads)
    with pytest.raises(RuntimeError):
        evaluate_run(policy_set(), store, [(p.name, p) for p in open_pulls(store, [connector], UNTIL)], UNTIL)
    assert store.count("events") == 0 and store.sync_state.cursors("sf") == {}
    monkeypatch.undo()
    queried = len(queries(fake))
    report = evaluate_run(policy_set(), store, [(p.name, p) for p in open_pulls(store, [connector], UNTIL)], UNTIL)
    assert len(queries(fake)) == 2 * queried  # pulled again, from the same (empty) cursors
    assert report.sources[0].new_events == store.count("events") == 9
    assert store.sync_state.cursors("sf")["Lead"] == Cursor(UNTIL)
    again = evaluate_run(policy_set(), store, [(p.name, p) for p in open_pulls(store, [connector], UNTIL)], UNTIL)
    assert again.sources[0].new_events == 0 and store.count("events") == 9


def status(lead: str, state: str, due: datetime | None = None) -> StatusUpdate:
    return StatusUpdate(lead_id=lead, policy="inbound", window="first_response", cycle=1, tier="tier1",
                        status=state, due_at=due or at(120), breached_at=None)


PUSH = [{"window": "first_response", "tier": "SLA_Tier__c", "status": "SLA_Status__c", "due_at": "SLA_Due__c",
         "breached_at": "SLA_Breached_At__c"}]


def test_status_is_written_in_collection_batches_and_a_second_push_sends_nothing(salesforce, make_sf, tmp_path):
    fake, _ = salesforce
    leads = [fake.add_lead(at(n)) for n in range(5)]
    store = Store(tmp_path / "s.db")
    connector = make_sf(push_status=PUSH, batch_size=2)
    updates = [status(lead, "running") for lead in leads]
    report = push_updates(store, connector, updates)
    assert report.ok == 5 and not report.failed
    patches = fake.calls("PATCH", "composite/sobjects")
    assert [len(p.body["records"]) for p in patches] == [2, 2, 1]
    assert patches[0].body == {"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "id": leads[0], "SLA_Tier__c": "tier1", "SLA_Status__c": "running",
         "SLA_Due__c": "2026-11-02T16:00:00.000Z", "SLA_Breached_At__c": None},
        {"attributes": {"type": "Lead"}, "id": leads[1], "SLA_Tier__c": "tier1", "SLA_Status__c": "running",
         "SLA_Due__c": "2026-11-02T16:00:00.000Z", "SLA_Breached_At__c": None}]}
    assert fake.records["Lead"][leads[4]]["SLA_Status__c"] == "running"

    before = len(fake.requests)
    assert push_updates(store, connector, updates).planned == []
    assert len(fake.requests) == before  # nothing changed: nothing sent

    updates[3] = status(leads[3], "breached")
    again = push_updates(store, connector, updates)
    assert [u.lead_id for u in again.planned] == [leads[3]]
    assert fake.calls("PATCH")[-1].body["records"][0]["SLA_Status__c"] == "breached"


def test_tasks_for_escalations_and_owner_changes_report_per_record(salesforce, make_sf, tmp_path):
    fake, _ = salesforce
    lead, gone = fake.add_lead(at(0), OwnerId=REP), fake.add_lead(at(1), OwnerId=REP)
    fake.delete("Lead", gone, at(2))
    fake.clock = at(200)
    connector = make_sf()
    results = {r.key: r for r in connector.push([
        TaskRequest(key="esc-1", lead_id=lead, subject="SLA breached: call back", due_at=at(60), owner=REP),
        OwnerChange(key="reassign-1", lead_id=lead, owner=REP2),
        OwnerChange(key="reassign-2", lead_id=gone, owner=REP2),
    ])}
    assert results["esc-1"].ok and results["esc-1"].remote_id.startswith("00T")
    task = fake.records["Task"][results["esc-1"].remote_id]
    assert (task["WhoId"], task["Subject"], task["ActivityDate"], task["IsClosed"]) == (
        lead, "SLA breached: call back", "2026-11-02", False)
    assert results["reassign-1"].ok and fake.records["Lead"][lead]["OwnerId"] == REP2
    assert not results["reassign-2"].ok and "ENTITY_IS_DELETED" in results["reassign-2"].error
    # Our own open task is not read back as an activity; the reassignment is, at its real time.
    items, _ = pull_all(connector)
    assert "activity" not in by_type(items, lead)
    assert by_type(items, lead)["assigned"][-1].payload["owner"] == REP2


def test_a_field_change_writes_the_mapped_lead_field_and_an_unmapped_one_fails_with_the_fix(salesforce, make_sf):
    fake, _ = salesforce
    lead = fake.add_lead(at(0), OwnerId=REP)
    fake.clock = at(200)
    connector = make_sf(fields={"sla_flag": "SLA_Flag__c"})
    results = {r.key: r for r in connector.push([
        FieldChange(key="set-1", lead_id=lead, field="sla_flag", value="breached"),
        FieldChange(key="set-2", lead_id=lead, field="status", value="Working"),
        FieldChange(key="set-3", lead_id=lead, field="sla_colour", value="red"),
    ])}
    assert results["set-1"].ok and results["set-2"].ok
    record = fake.records["Lead"][lead]
    assert (record["SLA_Flag__c"], record["Status"]) == ("breached", "Working")
    assert not results["set-3"].ok and "sla_colour" in results["set-3"].error
    assert 'add sla_colour = "Api_Name__c" to this source\'s fields' in results["set-3"].error
    assert [len(c.body["records"]) for c in fake.calls("PATCH")] == [1]  # both changes in one record


def test_the_configuration_takes_secrets_only_by_reference_and_never_echoes_them(sf_options):
    with pytest.raises(ConnectorConfigError) as raised:
        SalesforceConnector.configure("sf", {**sf_options, "session_id": "literal-" + SF_SESSION})
    assert SF_SESSION not in str(raised.value) and "session_id" in str(raised.value)
    with pytest.raises(ConnectorConfigError, match="session_id needs instance_url"):
        SalesforceConnector.configure("sf", {"session_id": {"env": "X"}})
    with pytest.raises(ConnectorConfigError, match="give credentials"):
        SalesforceConnector.configure("sf", {"username": "a@b.c"})
    with pytest.raises(ConnectorConfigError, match="time_zone 'Mars/Olympus' is not a time zone"):
        SalesforceConnector.configure("sf", {**sf_options, "time_zone": "Mars/Olympus"})
    jwt = SalesforceConnector.configure("sf", {"username": "a@b.c", "consumer_key": "3MVG9", "private_key": {
        "file": "/run/secrets/sf.key"}})
    assert jwt.config.auth_mode() == "jwt"
    password = SalesforceConnector.configure("sf", {"username": "a@b.c", "password": {"env": "SF_PASSWORD"},
                                                    "security_token": {"env": "SF_TOKEN"}})
    assert password.config.auth_mode() == "password"
    assert SF_SESSION not in repr(SalesforceConnector.configure("sf", sf_options).config)


def test_events_per_second_through_the_fake(salesforce, make_sf, record_property):
    """Throughput of the whole path (HTTPS, JSON, mapping, validation) for a first sync."""
    fake, _ = salesforce
    for n in range(3000):
        lead = fake.add_lead(at(n / 100), OwnerId=REP, Lead_Score__c=n % 100)
        fake.add("Task", at(n / 100 + 5), WhoId=lead, OwnerId=REP, TaskSubtype="Call", IsClosed=True)
    started = time.perf_counter()
    items, _ = pull_all(make_sf(fields={"lead_score": "Lead_Score__c"}))
    elapsed = time.perf_counter() - started
    rate = len(items) / elapsed
    record_property("salesforce_events_per_second", round(rate))
    print(f"salesforce fake: {len(items)} events in {elapsed:.2f}s = {rate:.0f} events/s")
    assert len(items) == 9000 and rate > 1000


# ---------------------------------------------------------------- the org as Salesforce documents it

QUEUE = "00G000000000009AAA"
TRACKED = {"fields": {"lead_score": "Lead_Score__c"}, "tracked_fields": ["Status", "Owner", "Lead_Score__c"]}


def test_values_at_creation_are_the_first_history_rows_old_values_and_a_queue_owner_is_kept(salesforce, make_sf):
    """Today's Status, owner and score are not back-dated to creation: a lead that sat in a queue, Open,
    with a score of 40, shows that at creation and the changes at their times."""
    fake, _ = salesforce
    fake.tracked = {"Status", "Owner", "Lead_Score__c"}
    lead = fake.add_lead(at(0), OwnerId=QUEUE, Lead_Score__c=40)
    fake.change(lead, at(10), "Lead_Score__c", 85)
    fake.change_owner(lead, at(20), REP)
    fake.change_status(lead, at(30), "Working")
    items, _ = pull_all(make_sf(**TRACKED))
    events = by_type(items, lead)
    (created,) = events["created"]
    assert (created.occurred_at, created.payload["attributes"]["status"],
            created.payload["attributes"]["lead_score"]) == (at(0), "Open - Not Contacted", 40)
    assert [(e.occurred_at, e.payload["owner"]) for e in events["assigned"]] == [(at(0), QUEUE), (at(20), REP)]
    assert [(e.occurred_at, e.payload["changes"]) for e in events["updated"] if "lead_score" in e.payload["changes"]
            and e.occurred_at == at(10)] == [(at(10), {"lead_score": 85})]
    assert [(e.occurred_at, e.payload["new"]) for e in events["status_changed"]] == [(at(30), "Working")]


def test_a_value_without_field_history_is_recorded_when_first_seen_and_explain_says_so(salesforce, make_sf):
    fake, _ = salesforce
    lead = fake.add_lead(at(0), OwnerId=REP, Title="VP Sales")
    fake.touch("Lead", lead, at(45), Title="VP Sales")
    items, _ = pull_all(make_sf())
    events = by_type(items, lead)
    assert "title" not in events["created"][0].payload["attributes"]
    (seen,) = events["updated"]
    assert (seen.occurred_at, seen.payload["changes"]["title"]) == (at(45), "VP Sales")
    text = render_explanation(policy_set(), lead, items, UNTIL)
    (line,) = [line for line in text.splitlines() if "title='VP Sales'" in line]
    assert line.startswith("2026-11-02 09:45:00 EST  updated ")  # 14:45Z, in the policy's zone
    assert line.endswith("(first seen now: Salesforce keeps no field history for these fields, so their values "
                         "before this are unknown)")


def test_a_call_logged_and_the_lead_converted_between_two_syncs_is_kept(salesforce, make_sf):
    """Conversion moves the lead's activities to the contact (WhoId = ConvertedContactId) untouched."""
    fake, _ = salesforce
    lead = fake.add_lead(at(0), OwnerId=REP)
    connector = make_sf()
    _, first = pull_all(connector, until=at(60))
    fake.log_call(lead, at(90), owner=REP)
    fake.book_meeting(lead, at(91), start=at(100), owner=REP)
    fake.convert(lead, at(120))
    items, _ = pull_all(connector, dict(first.cursors), until=at(180))
    events = by_type(items, lead)
    assert sorted((e.occurred_at, e.payload["channel"]) for e in events["activity"]) == [
        (at(90), "call"), (at(100), "meeting")]
    assert events["converted"][0].occurred_at == at(120)


def test_a_meeting_is_a_touch_when_it_happens_not_when_it_is_booked(salesforce, make_sf):
    fake, _ = salesforce
    lead = fake.add_lead(at(0), OwnerId=REP)
    fake.book_meeting(lead, at(10), start=at(60 * 24), owner=REP)  # tomorrow
    connector = make_sf()
    items, first = pull_all(connector, until=at(30))
    assert "activity" not in by_type(items, lead)
    items, _ = pull_all(connector, dict(first.cursors), until=at(60 * 25))  # no change to the Event since
    assert [(e.occurred_at, e.payload["channel"]) for e in by_type(items, lead)["activity"]] == [
        (at(60 * 24), "meeting")]


def test_a_lead_deleted_then_restored_comes_back_with_the_history_made_before_it_was_deleted(salesforce, make_sf,
                                                                                           tmp_path):
    fake, _ = salesforce
    lead = fake.add_lead(at(0), OwnerId=REP)
    store = Store(tmp_path / "s.db")
    sync_sources(store, [make_sf()], at(5))
    fake.change_status(lead, at(10), "Working")
    fake.log_call(lead, at(11), owner=REP)
    fake.delete("Lead", lead, at(20))  # history and the call go to the Recycle Bin with it
    sync_sources(store, [make_sf()], at(30))
    fake.undelete(lead, at(40))  # SystemModstamp moves, LastModifiedDate does not
    sync_sources(store, [make_sf()], at(50))
    events = store.events.of_lead(lead)
    assert [(e.occurred_at, e.payload["new"]) for e in events if e.type == "status_changed"] == [(at(10), "Working")]
    assert [e.occurred_at for e in events if e.type == "activity"] == [at(11)]
    deletion = [(e.occurred_at, True) for e in events if e.type == "deleted"]
    restores = [(e.occurred_at, False) for e in events if e.type == "updated" and
                e.payload["changes"].get("deleted") is False]
    assert deletion == [(at(20), True)] and restores == [(at(40), False)]


def test_a_merged_lead_is_deleted_into_its_master(salesforce, make_sf):
    fake, _ = salesforce
    master, duplicate = fake.add_lead(at(0), OwnerId=REP), fake.add_lead(at(1), OwnerId=REP)
    connector = make_sf()
    _, first = pull_all(connector, until=at(5))
    fake.merge(master, duplicate, at(10))
    items, _ = pull_all(connector, dict(first.cursors), until=at(20))
    (deleted,) = by_type(items, duplicate)["deleted"]
    assert (deleted.occurred_at, deleted.payload["merged_into"]) == (at(10), master)


def test_a_gap_longer_than_the_recycle_bin_is_reported(salesforce, make_sf, caplog):
    fake, _ = salesforce
    fake.add_lead(at(0))
    connector = make_sf()
    _, first = pull_all(connector, until=at(5))
    caplog.set_level(logging.WARNING)
    pull_all(connector, dict(first.cursors), until=at(5) + timedelta(days=16))
    assert "16 days ago" in caplog.text and "Recycle Bin for 15 days" in caplog.text
    caplog.clear()
    pull_all(connector, {"Lead": Cursor(at(5))}, until=at(5) + timedelta(days=14))
    assert "Recycle Bin" not in caplog.text


# ---------------------------------------------------------------- writes that land


def test_a_task_is_due_on_the_date_in_its_owners_own_day(salesforce, make_sf):
    fake, _ = salesforce
    rep = fake.add_user("rep@example.com", time_zone="America/Los_Angeles")
    lead = fake.add_lead(at(0), OwnerId=rep)
    due = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)  # 19:00 on 2 November in Los Angeles
    (result,) = make_sf().push([TaskRequest(key="t1", lead_id=lead, subject="Call back", due_at=due, owner=rep)])
    assert result.ok and fake.records["Task"][result.remote_id]["ActivityDate"] == "2026-11-02"
    (other,) = make_sf(time_zone="Asia/Tokyo").push([TaskRequest(key="t2", lead_id=lead, subject="Queue task",
                                                                 due_at=due)])
    assert fake.records["Task"][other.remote_id]["ActivityDate"] == "2026-11-03"


def test_setting_the_name_is_refused_before_salesforce_is_asked(salesforce, make_sf):
    fake, _ = salesforce
    lead = fake.add_lead(at(0), OwnerId=REP)
    (result,) = make_sf().push([FieldChange(key="n1", lead_id=lead, field="name", value="Ada Lovelace")])
    assert not result.ok and "Lead.Name" in result.error and "compound" in result.error
    assert not fake.calls("PATCH")


def test_status_for_a_converted_lead_is_skipped_once_with_a_note_not_failed_every_run(salesforce, make_sf, tmp_path):
    fake, _ = salesforce
    lead, converted = fake.add_lead(at(0)), fake.add_lead(at(1))
    fake.convert(converted, at(2))
    store = Store(tmp_path / "s.db")
    connector = make_sf(push_status=PUSH)
    report = push_updates(store, connector, [status(lead, "running"), status(converted, "running")])
    assert report.ok == 1 and not report.failed and report.skipped == 1
    (skipped,) = [r for r in report.results if r.skipped]
    assert skipped.lead_id == converted and "converted" in skipped.error
    before = len(fake.calls("PATCH"))
    again = push_updates(store, connector, [status(lead, "running"), status(converted, "running")])
    assert again.planned == [] and len(fake.calls("PATCH")) == before


def test_a_create_that_commits_but_answers_too_late_is_not_made_twice(salesforce, make_sf):
    fake, _ = salesforce
    lead = fake.add_lead(at(0), OwnerId=REP)
    fake.slow_creates, fake.slow_seconds = 1, 1.5
    connector = make_sf(timeout_seconds=0.5, task_key_field="SLA_Key__c")
    (result,) = connector.push([TaskRequest(key="esc|1", lead_id=lead, subject="SLA breached: call back")])
    assert result.ok and len(fake.records["Task"]) == 1
    assert result.remote_id == next(iter(fake.records["Task"]))
    assert fake.records["Task"][result.remote_id]["SLA_Key__c"] == "esc|1"
    # A later run sending it again (a crash before the outbox noted it) finds it too.
    (again,) = make_sf(task_key_field="SLA_Key__c").push([TaskRequest(key="esc|1", lead_id=lead,
                                                                      subject="SLA breached: call back")])
    assert again.ok and again.remote_id == result.remote_id and len(fake.records["Task"]) == 1
    # Without a key field, the open task with the same subject on the lead is the one.
    (third,) = make_sf().push([TaskRequest(key="esc|1", lead_id=lead, subject="SLA breached: call back")])
    assert third.remote_id == result.remote_id and len(fake.records["Task"]) == 1


# ---------------------------------------------------------------- authentication


def _rsa_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_client_credentials_get_a_token_from_the_token_endpoint(salesforce, sf_options, monkeypatch):
    fake, served = salesforce
    fake.oauth = {"consumer_key": "3MVG9-key", "consumer_secret": "s3cr3t-client"}
    lead = fake.add_lead(at(0))
    monkeypatch.setenv("SF_CLIENT_SECRET", "s3cr3t-client")
    options = {k: v for k, v in sf_options.items() if k not in ("session_id", "instance_url")}
    connector = SalesforceConnector.configure("sf", {**options, "login_url": served.url, "consumer_key": "3MVG9-key",
                                                     "consumer_secret": {"env": "SF_CLIENT_SECRET"}})
    assert connector.config.auth_mode() == "client_credentials"
    items, _ = pull_all(connector)
    assert {e.lead_id for e in items} == {lead}
    (token,) = fake.calls("POST", "/services/oauth2/token")
    assert token.headers.get("Authorization") is None
    monkeypatch.setenv("SF_CLIENT_SECRET", "wrong-secret")
    with pytest.raises(ConnectorError) as raised:
        pull_all(SalesforceConnector.configure("sf", {**options, "login_url": served.url,
                                                      "consumer_key": "3MVG9-key",
                                                      "consumer_secret": {"env": "SF_CLIENT_SECRET"}}))
    assert "invalid_client" in str(raised.value) and "wrong-secret" not in str(raised.value)


def test_an_access_token_that_expires_during_a_run_is_renewed_once(salesforce, sf_options, monkeypatch):
    fake, served = salesforce
    fake.oauth = {"consumer_key": "3MVG9-key", "consumer_secret": "s3cr3t-client"}
    fake.page_size = 1
    leads = [fake.add_lead(at(n)) for n in range(3)]
    monkeypatch.setenv("SF_CLIENT_SECRET", "s3cr3t-client")
    options = {k: v for k, v in sf_options.items() if k not in ("session_id", "instance_url")}
    connector = SalesforceConnector.configure("sf", {**options, "login_url": served.url, "consumer_key": "3MVG9-key",
                                                     "consumer_secret": {"env": "SF_CLIENT_SECRET"}})
    rotated = []

    def expire_once(fake):
        if not rotated:
            rotated.append(fake.session_id)
            fake.session_id = "00Dfake!renewed-session"  # the old token answers 401 INVALID_SESSION_ID now

    fake.on_page = expire_once
    items, _ = pull_all(connector)
    assert {e.lead_id for e in items} == set(leads)
    assert len(fake.calls("POST", "/services/oauth2/token")) == 2


def test_jwt_bearer_signs_an_assertion_the_token_endpoint_verifies(salesforce, sf_options, tmp_path):
    fake, served = salesforce
    private, public = _rsa_pair()
    key_file = tmp_path / "sf.key"
    key_file.write_text(private)
    fake.oauth = {"consumer_key": "3MVG9-key", "username": "integration@example.com", "public_key": public,
                  "audience": served.url}
    lead = fake.add_lead(at(0))
    options = {k: v for k, v in sf_options.items() if k not in ("session_id", "instance_url")}
    base = {**options, "login_url": served.url, "consumer_key": "3MVG9-key", "private_key": {"file": str(key_file)}}
    items, _ = pull_all(SalesforceConnector.configure("sf", {**base, "username": "integration@example.com"}))
    assert {e.lead_id for e in items} == {lead}
    with pytest.raises(ConnectorError, match="invalid_grant"):
        pull_all(SalesforceConnector.configure("sf", {**base, "username": "someone@example.com"}))


def test_users_and_queues_are_synced_and_a_reassignment_writes_the_user_id(salesforce, make_sf, tmp_path):
    """An email in OwnerId is MALFORMED_ID: the team member's 005… id is written instead."""
    from sla_engine.connector import OwnerChange

    fake, _ = salesforce
    ann = fake.add_user("ann@example.com")
    queue = fake.add_queue("Inbound")
    lead = fake.add_lead(datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc), OwnerId=queue)
    store = Store(tmp_path / "s.db")
    (summary,) = sync_sources(store, [make_sf()], datetime(2026, 11, 20, tzinfo=timezone.utc))
    assert summary.owners == 2
    people = store.owners.all()
    assert people[ann].email == "ann@example.com" and people[queue].kind == "queue"
    assert store.owners.id_for("sf", "ANN@example.com") == ann
    assert store.owners.id_for("sf", "nobody@example.com") is None
    user = store.owners.id_for("sf", "ann@example.com")
    (result,) = make_sf().push([OwnerChange(key="k", lead_id=lead, owner=user)])
    assert result.ok and fake.records["Lead"][lead]["OwnerId"] == ann
