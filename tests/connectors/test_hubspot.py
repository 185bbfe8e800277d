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
from sla_engine.sync import push_updates, sync_sources
from tests.connectors.conftest import HS_TOKEN
from tests.fakes.hubspot import hs_time, ms, rate_limit_body

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


def test_contacts_are_searched_by_keyset_with_the_documented_body(hubspot, make_hs):
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
    assert all("after" not in b for b in bodies)  # never an offset: nothing shifts, no 10,000 cap
    starts = [b["filterGroups"][0]["filters"][0]["value"] for b in bodies]
    # each page starts at the last time the one before read (those already read there are skipped)
    assert starts == [str(ms(at(n))) for n in (-1, 1, 2, 3, 4)]
    created = of(items, ids[0], "created")[0]
    assert created.occurred_at == at(0)
    assert created.payload["attributes"]["lead_score"] == 85  # text in HubSpot, a number for policies
    assert created.payload["attributes"]["name"] == "Pat N0"
    assert sorted(e.lead_id for e in items if str(e.type) == "created") == sorted(ids)  # each once
    assert result.cursors["contacts"] == Cursor(UNTIL)
    read = fake.calls("POST", "/contacts/batch/read")[0].body
    assert read["propertiesWithHistory"] == ["hs_lead_status", "lifecyclestage", "hubspot_owner_id",
                                             "hs_merged_object_ids", "email", "company", "jobtitle", "industry",
                                             "country", "hs_analytics_source", "hubspotscore"]


def test_values_are_recorded_when_they_changed_never_back_dated_to_creation(hubspot, make_hs):
    fake, _ = hubspot
    lead = fake.add("contacts", at(0), hubspotscore="40", jobtitle="Analyst")
    fake.set("contacts", lead, at(600), hubspotscore="85")  # the score reached weeks later in a real portal
    items, _ = pull_all(make_hs())
    (created,) = of(items, lead, "created")
    assert created.payload["attributes"]["lead_score"] == 40 and created.payload["attributes"]["title"] == "Analyst"
    assert [(e.occurred_at, e.payload["changes"]) for e in of(items, lead, "updated")] == [
        (at(600), {"lead_score": 85})]
    # A contact first read by a later sync (say it moved past the first one while it paged) still gets its
    # creation, and the same events as any other read.
    again, _ = pull_all(make_hs(), {s: Cursor(at(500)) for s in ("contacts", "calls", "emails", "meetings", "tasks")})
    assert {e.event_id: e for e in again if e.lead_id == lead} == {e.event_id: e for e in items if e.lead_id == lead}


def test_a_score_that_is_no_finite_number_stays_text(hubspot, make_hs):
    # Python reads "1e999" as infinity and "nan" as NaN: as numbers, one would pass every
    # `lead_score >= 80` and the other fail every comparison without a word. Kept as the text sent.
    fake, _ = hubspot
    leads = {text: fake.add("contacts", at(n), hubspotscore=text) for n, text in
             enumerate(("1e999", "-1e999", "nan", "inf", "NaN", "72.5", "80"))}
    items, _ = pull_all(make_hs())
    scores = {text: of(items, lead, "created")[0].payload["attributes"]["lead_score"] for text, lead in leads.items()}
    assert scores == {"1e999": "1e999", "-1e999": "-1e999", "nan": "nan", "inf": "inf", "NaN": "NaN",
                      "72.5": 72.5, "80": 80}
    assert all(type(scores[t]) is str for t in ("1e999", "-1e999", "nan", "inf", "NaN"))


def test_contacts_edited_while_paging_hide_no_one(hubspot, make_hs):
    """With offset paging each edit moved a later contact out of sight: 30 edits, 30 contacts lost."""
    fake, _ = hubspot
    ids = [fake.add("contacts", at(n)) for n in range(120)]
    edited = iter(ids)

    def edit_three(search: int) -> None:  # before every search after the first, three early contacts are edited
        if search > 1:
            for _ in range(3):
                contact = next(edited, None)
                if contact:
                    fake.set("contacts", contact, UNTIL + timedelta(minutes=search), hs_lead_status="OPEN")

    fake.before_search = edit_three
    items, _ = pull_all(make_hs(page_size=10))
    first = {e.lead_id for e in items}
    fake.before_search = None
    later, _ = pull_all(make_hs(page_size=10), {s: Cursor(UNTIL) for s in ("contacts", "calls", "emails",
                                                                            "meetings", "tasks")},
                        until=UNTIL + timedelta(days=1))
    moved = {i for i in ids if fake.objects["contacts"][i]["updated"] > UNTIL}
    assert len(moved) >= 30
    assert set(ids) - moved <= first  # everyone not edited after the run started is read by the first sync
    assert first | {e.lead_id for e in later} == set(ids)  # and the edited ones by the next


def test_more_contacts_in_one_millisecond_than_a_page_are_all_read(hubspot, make_hs):
    fake, _ = hubspot
    same = [fake.add("contacts", at(1)) for _ in range(7)]
    others = [fake.add("contacts", at(0)), fake.add("contacts", at(2))]
    items, _ = pull_all(make_hs(page_size=3))
    assert sorted(e.lead_id for e in items if str(e.type) == "created") == sorted(same + others)
    by_id = [b for b in searches(fake) if b["sorts"][0]["propertyName"] == "hs_object_id"]
    assert by_id and all(len(b["sorts"]) == 1 for b in searches(fake))  # HubSpot takes one sort rule


def test_a_page_of_200_is_batch_read_within_the_documented_limits(hubspot, make_hs):
    fake, _ = hubspot
    ids = [fake.add("contacts", at(n / 100)) for n in range(230)]
    calls = []
    for n, contact in enumerate(ids[:210]):
        call = fake.add("calls", at(n / 100), hs_timestamp="2026-11-02T14:06:00.000Z", hs_call_direction="OUTBOUND")
        fake.link("calls", call, contact)
        calls.append(call)
    items, _ = pull_all(make_hs(page_size=200))
    assert {e.lead_id for e in items if str(e.type) == "created"} == set(ids)
    assert {e.lead_id for e in items if str(e.type) == "activity"} == set(ids[:210])
    assert max(len(r.body["inputs"]) for r in fake.calls("POST", "/crm/v3/objects/contacts/batch/read")) <= 50
    assert max(len(r.body["inputs"]) for r in fake.calls("POST", "/crm/v3/objects/calls/batch/read")) <= 100


def test_page_size_past_the_search_limit_is_refused_in_the_config(hs_options):
    with pytest.raises(ConnectorConfigError, match="page_size: Input should be less than or equal to 200"):
        HubSpotConnector.configure("hs", {**hs_options, "page_size": 500})


def test_deleted_and_merged_contacts_end_their_leads(hubspot, make_hs):
    fake, _ = hubspot
    kept, gone, duplicate, old = (fake.add("contacts", at(n)) for n in range(4))
    fake.archive("contacts", old, at(-60 * 24 * 30))  # deleted long before the cursor: already known
    items, _ = pull_all(make_hs(), {"contacts": Cursor(at(-60))})
    assert not of(items, gone, "deleted")
    fake.archive("contacts", gone, at(30))
    fake.merge(kept, duplicate, at(40))
    items, _ = pull_all(make_hs(), {"contacts": Cursor(at(20))})
    (deleted,) = of(items, gone, "deleted")
    assert deleted.occurred_at == at(30) and deleted.payload.get("merged_into") is None
    (merged,) = of(items, duplicate, "deleted")
    assert merged.occurred_at == at(40) and merged.payload["merged_into"] == kept
    assert not of(items, old, "deleted")
    assert fake.calls("GET", "/crm/v3/objects/contacts")[0].query["archived"].lower() == "true"


def test_meetings_count_once_held_and_only_when_held(hubspot, make_hs):
    fake, _ = hubspot
    lead = fake.add("contacts", at(0))
    meetings = {}
    for outcome, start in (("COMPLETED", 60), ("SCHEDULED", 90), ("NO_SHOW", 100), ("CANCELED", 110),
                           ("RESCHEDULED", 120), ("SCHEDULED", 60 * 24 * 30)):
        meeting = fake.add("meetings", at(5), hs_timestamp=hs_time(at(start)), hs_meeting_start_time=hs_time(at(start)),
                           hs_meeting_outcome=outcome, hubspot_owner_id="11")
        fake.link("meetings", meeting, lead)
        meetings[(outcome, start)] = meeting
    items, _ = pull_all(make_hs())
    touches = [(e.occurred_at, e.payload["outcome"]) for e in of(items, lead, "activity")]
    assert sorted(touches) == [(at(60), "completed"), (at(90), "scheduled")]  # booked at minute 5, held later
    # The future meeting's start passes; nothing about it is modified, yet the next sync counts it.
    later = at(60 * 24 * 30 + 5)
    items, _ = pull_all(make_hs(), {s: Cursor(UNTIL) for s in ("contacts", "calls", "emails", "meetings", "tasks")},
                        until=later)
    assert [(e.occurred_at, e.payload["outcome"]) for e in of(items, lead, "activity")] == [
        (at(60 * 24 * 30), "scheduled")]


def test_a_meeting_canceled_after_it_counted_stops_counting(hubspot, make_hs, tmp_path):
    fake, _ = hubspot
    lead = fake.add("contacts", at(0))
    meeting = fake.add("meetings", at(5), hs_timestamp=hs_time(at(60)), hs_meeting_start_time=hs_time(at(60)),
                       hs_meeting_outcome="SCHEDULED")
    fake.link("meetings", meeting, lead)
    store = Store(tmp_path / "s.db")
    connector = make_hs()
    sync_sources(store, [connector], at(61))
    assert [str(e.type) for e in store.events.of_lead(lead)] == ["created", "activity"]
    fake.set("meetings", meeting, at(62), hs_meeting_outcome="NO_SHOW")
    sync_sources(store, [connector], at(63))
    assert [str(e.type) for e in store.events.of_lead(lead)] == ["created", "updated"]  # the touch is withdrawn


def test_search_is_paced_to_its_per_second_limit(hubspot, make_hs):
    fake, _ = hubspot
    for n in range(30):
        fake.add("contacts", at(n))
    started = time.monotonic()
    items, result = pull_all(make_hs(page_size=3, search_per_second=4))
    assert {e.lead_id for e in items} and not result.stopped
    assert fake.searches > 8 and time.monotonic() - started >= (fake.searches - 4) / 4 - 0.3
    assert not [r for r in fake.requests if r.path.endswith("/search")] or fake.search_times  # no 429 lived on


def test_a_daily_limit_is_not_retried_and_stops_with_what_was_read_kept(hubspot, make_hs, tmp_path):
    fake, _ = hubspot
    ids = [fake.add("contacts", at(n)) for n in range(9)]
    fake.daily_limit = 5  # archived list, search, batch read, search, batch read; then the day is spent
    store = Store(tmp_path / "s.db")
    (summary,) = sync_sources(store, [make_hs(page_size=3)], UNTIL)
    assert summary.stopped and "daily API limit" in summary.stopped
    assert len(fake.requests) == 6  # the refused request was not retried
    stored = {lead for lead in ids if store.events.of_lead(lead)}
    assert len(stored) >= 3 and stored < set(ids)
    assert summary.cursors["contacts"] < Cursor(UNTIL).dump()  # resumes where it stopped
    fake.daily_limit = None
    sync_sources(store, [make_hs(page_size=3)], UNTIL)
    assert all(store.events.of_lead(lead) for lead in ids)


def test_a_secondly_429_names_its_policy_when_it_persists(hubspot, make_hs):
    fake, _ = hubspot
    fake.add("contacts", at(0))
    fake.fail_next(429, rate_limit_body("TEN_SECONDLY_ROLLING"), times=20, path_contains="/search")
    with pytest.raises(ConnectorError, match="persisted after 2 retries: TEN_SECONDLY_ROLLING"):
        pull_all(make_hs(max_retries=2))


def test_call_outcomes_fall_back_when_the_unsupported_dispositions_endpoint_is_gone(hubspot, make_hs, caplog):
    fake, _ = hubspot
    fake.dispositions = None  # GET /calling/v1/dispositions answers 404
    lead = fake.add("contacts", at(0))
    for n, disposition in enumerate(("b2cf5968-551e-4856-9783-52b3da59a7d0", "custom-1", "unknown-2")):
        call = fake.add("calls", at(n + 1), hs_timestamp=hs_time(at(n + 1)), hs_call_disposition=disposition)
        fake.link("calls", call, lead)
    items, _ = pull_all(make_hs(call_outcomes={"custom-1": "Booked demo"}))
    assert sorted(e.payload["outcome"] for e in of(items, lead, "activity")) == [
        "Booked demo", "Left voicemail", "unknown-2"]
    assert "dispositions endpoint did not answer" in caplog.text


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
    fake.fail_next(429, rate_limit_body("SECONDLY"), headers={"Retry-After": "1"}, method="POST",
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
    fake.fail_next(429, rate_limit_body("SECONDLY"), times=20)
    with pytest.raises(ConnectorError, match="rate limit for archived contacts persisted after 2 retries"):
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


def test_owners_are_synced_into_the_store_and_read_as_people(hubspot, make_hs, tmp_path):
    from sla_engine.store import owners

    fake, _ = hubspot
    fake.add_owner("11", "ann@example.com", "Ann", "Lee")
    fake.add_owner("22", "bo@example.com", "Bo", "")
    fake.add_owner("33", "gone@example.com", "Old", "Rep", archived=True)
    fake.add("contacts", at(0), hubspot_owner_id="11")
    store = Store(tmp_path / "s.db")
    (summary,) = sync_sources(store, [make_hs()], UNTIL)
    assert summary.owners == 3
    people = store.owners.all()
    assert owners.label(people["11"]) == "Ann Lee <ann@example.com>" and not people["33"].active
    assert store.owners.id_for("hs", "BO@example.com") == "22"
    assert store.owners.id_for("hs", "gone@example.com") is None  # never written to a deactivated owner
    fake.owners = fake.owners[:1]
    sync_sources(store, [make_hs()], UNTIL)
    assert set(store.owners.all()) == {"11"}  # replaced whole each sync


def test_a_reassignment_through_hubspot_writes_the_owner_id(hubspot, make_hs, tmp_path):
    from sla_engine.delivery.deliver import deliver
    from tests.delivery.conftest import make_policy_set
    from tests.delivery.test_outbox import Recorder, channels

    fake, _ = hubspot
    for n, email in enumerate(("rep0@example.com", "a@example.com", "b@example.com", "d@example.com")):
        fake.add_owner(str(101 + n), email)
    lead = fake.add("contacts", datetime(2026, 11, 17, 15, 0, tzinfo=UTC), hubspot_owner_id="101")
    store = Store(tmp_path / "sla.db")
    connector = make_hs()
    from sla_engine.runner import evaluate_run
    from sla_engine.sync import open_pulls

    later = datetime(2026, 11, 17, 19, 0, tzinfo=UTC)
    (pull,) = open_pulls(store, [connector], later)
    evaluate_run(make_policy_set(), store, [("hs", pull)], later)
    deliver(make_policy_set(), store, later, notifiers=channels(Recorder()), connectors=[connector])
    assert fake.objects["contacts"][lead]["properties"]["hubspot_owner_id"] == "102"  # a@example.com's id


def test_explain_names_the_people_behind_owner_ids(hubspot, make_hs, tmp_path):
    from click.testing import CliRunner

    from sla_engine.cli import main

    fake, _ = hubspot
    fake.add_owner("11", "ann@example.com", "Ann", "Lee")
    lead = fake.add("contacts", at(0), hubspot_owner_id="11")
    store = Store(tmp_path / "sla.db")
    sync_sources(store, [make_hs()], UNTIL)
    store.close()
    policies = tmp_path / "p.sla"
    policies.write_text("policy p {\n  window w {\n    starts on assigned\n    stops on activity\n"
                        "    goal 1h\n  }\n}\n")
    result = CliRunner().invoke(main, ["explain", lead, "--policies", str(policies), "--db", str(tmp_path / "sla.db"),
                                       "--as-of", "2026-11-03T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "people:\n  11 = Ann Lee <ann@example.com>" in result.output
