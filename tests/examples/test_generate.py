"""The example data generator: byte-deterministic, and realistic where the policies and reports rely on it."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.csv_source import Rejected, read_crm_export, read_event_log
from sla_engine.events import EventType, LeadEvent

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "generate.py"
SHIPPED = ROOT / "examples" / "data" / "events.csv"
CHANNELS = "call, email, meeting, sms, social, other"


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("small") / "events.csv"
    return out, generate("--leads", "50", "--seed", "3", "--out", str(out)).stderr


@pytest.fixture(scope="module")
def shipped() -> dict[str, list[LeadEvent]]:
    """The shipped example's events by lead, each lead's in time order."""
    leads: dict[str, list[LeadEvent]] = defaultdict(list)
    for item in read_event_log(SHIPPED, source="example"):
        if isinstance(item, LeadEvent):
            leads[item.lead_id].append(item)
    return {lead: sorted(events, key=lambda e: (e.occurred_at, e.event_id)) for lead, events in leads.items()}


def all_events(leads: dict[str, list[LeadEvent]], type_: EventType | None = None) -> list[LeadEvent]:
    return [e for events in leads.values() for e in events if type_ is None or e.type == type_]


def created(events: list[LeadEvent]) -> LeadEvent:
    return next(e for e in events if e.type == EventType.CREATED)


# ---------------------------------------------------------------- determinism and the file


def test_the_same_arguments_give_a_byte_identical_file(small, tmp_path):
    first, _ = small
    again = tmp_path / "again.csv"
    generate("--leads", "50", "--seed", "3", "--out", str(again))
    assert again.read_bytes() == first.read_bytes()
    other = tmp_path / "other.csv"
    generate("--leads", "50", "--seed", "4", "--out", str(other))
    assert other.read_bytes() != first.read_bytes()


def test_the_shipped_example_is_what_the_documented_command_generates(tmp_path):
    out = tmp_path / "events.csv"
    generate("--leads", "5000", "--seed", "7", "--out", str(out))
    assert out.read_bytes() == SHIPPED.read_bytes()
    assert SHIPPED.stat().st_size < 5_000_000


def test_the_shipped_crm_export_is_what_the_documented_command_generates(tmp_path):
    generate("--format", "crm-export", "--leads", "200", "--seed", "7", "--out", str(tmp_path))
    for name in ("leads.csv", "activities.csv"):
        assert (tmp_path / name).read_bytes() == (ROOT / "examples" / "crm-export" / name).read_bytes()


def test_exactly_four_bad_rows_are_quarantined_with_their_reasons(small):
    out, _ = small
    items = list(read_event_log(out, source="example"))
    rejected = [item for item in items if isinstance(item, Rejected)]
    assert [r.reason for r in rejected] == [
        "occurred_at '2026-13-01T09:15:00Z' is not a timestamp",
        "type 'call_logged' is not one of created, updated, status_changed, assigned, activity, disposition, "
        "converted, opportunity_closed, deleted",
        "lead_id is missing",
        f"activity channel 'fax' is not one of {CHANNELS}",
    ]
    lines = out.read_text(encoding="utf-8").split("\n")
    for reject in rejected:  # each line number points at the row it names
        assert next(csv.reader([lines[reject.line - 1]])) == list(reject.raw.values())
    assert len(items) == len(lines) - 2  # header, final newline: every other line is one row


def test_a_summary_goes_to_stderr(small):
    _, stderr = small
    assert stderr.startswith("50 leads, ") and "4 bad rows" in stderr


def test_some_rows_are_written_late_and_out_of_order(small):
    out, _ = small
    latest: dict[str, str] = {}
    out_of_order = 0
    for row in csv.DictReader(out.open(encoding="utf-8")):
        if row["lead_id"] in latest and row["occurred_at"] < latest[row["lead_id"]]:
            out_of_order += 1
        latest[row["lead_id"]] = max(row["occurred_at"], latest.get(row["lead_id"], ""))
    assert out_of_order > 0


# ---------------------------------------------------------------- the names policies use


def test_the_shipped_example_has_every_event_type_and_the_documented_values(shipped):
    events = all_events(shipped)
    assert {e.type for e in events} == set(EventType)
    attributes = [created(lead).payload["attributes"] for lead in shipped.values()]
    assert {a["region"] for a in attributes} == {"NA", "EMEA", "APAC"}
    assert {a["seniority"] for a in attributes} == {"c_level", "vp", "director", "manager", "individual"}
    assert {a.get("industry") for a in attributes} - {None} == {
        "Software", "Fintech", "Healthcare", "Manufacturing", "Retail", "Education", "Logistics"}
    assert {a["source"] for a in attributes} == {"organic", "paid_search", "events", "referral", "partner", "outbound"}
    assert {a["form"] for a in attributes} == {
        "demo_request", "contact_sales", "ebook", "webinar", "pricing_page", "newsletter"}
    assert {(a["status"], a["stage"]) for a in attributes} == {("New", "lead")}
    assert all(0 <= a[score] <= 100 for a in attributes for score in ("lead_score", "fit_score", "engagement_score"))
    assert {type(a["target_account"]) for a in attributes} == {bool}
    assert all(a["email"].split("@")[1].endswith(("example.com", "example.org")) for a in attributes)
    dispositions = all_events(shipped, EventType.DISPOSITION)
    reasons = defaultdict(set)
    for e in dispositions:
        reasons[e.payload["disposition"]].add(e.payload["reason"])
    assert set(reasons) == {"accepted", "rejected", "nurture", "recycled", "disqualified"}
    assert reasons["rejected"] == {"no_budget", "not_icp", "competitor", "student", "duplicate", "bad_data"}
    assert reasons["recycled"] == {"no_response", "timing"}
    assert {e.payload["team"] for e in all_events(shipped, EventType.ASSIGNED)} == {"na_sdr", "emea_sdr", "apac_sdr"}
    activities = all_events(shipped, EventType.ACTIVITY)
    assert {e.payload["channel"] for e in activities} == {"call", "email", "social", "meeting", "sms"}
    statuses = {e.payload["new"] for e in all_events(shipped, EventType.STATUS_CHANGED)}
    assert {"Working", "Qualified", "Nurture", "Recycled"} <= statuses
    assert {e.payload["field"] for e in all_events(shipped, EventType.STATUS_CHANGED)} == {"status"}


def test_each_team_has_four_to_six_reps_and_one_manager(shipped):
    reps, managers = defaultdict(set), defaultdict(set)
    for e in all_events(shipped, EventType.ASSIGNED):
        reps[e.payload["team"]].add(e.payload["owner"])
        managers[e.payload["team"]].add(e.payload["owner_manager"])
    assert all(4 <= len(members) <= 6 for members in reps.values())
    assert {"ana.ruiz@example.com", "ben.okafor@example.com"} <= reps["na_sdr"]
    assert managers["na_sdr"] == {"maria.chen@example.com"} and all(len(m) == 1 for m in managers.values())


# ---------------------------------------------------------------- realism


def test_creations_are_skewed_to_local_working_hours_and_weekdays(shipped):
    local = [created(lead).occurred_at.astimezone(ZoneInfo(created(lead).payload["attributes"]["timezone"]))
             for lead in shipped.values()]
    working_hours = sum(8 <= t.hour < 18 for t in local) / len(local)
    weekdays = sum(t.weekday() < 5 for t in local) / len(local)
    assert working_hours > 0.70  # uniform arrivals would give 10/24 = 0.42
    assert weekdays > 0.80  # uniform would give 5/7 = 0.71
    assert datetime.fromisoformat("2026-08-01T00:00Z") <= min(local) <= max(local) < datetime.fromisoformat(
        "2026-11-01T00:00Z")


def test_most_mqls_are_routed_within_minutes_and_a_few_slowly(shipped):
    delays = []
    for events in shipped.values():
        assigned = next((e for e in events if e.type == EventType.ASSIGNED), None)
        if assigned is not None:
            mql = max(e.occurred_at for e in events if e.type in (EventType.CREATED, EventType.UPDATED)
                      and e.occurred_at <= assigned.occurred_at)
            delays.append(assigned.occurred_at - mql)
    within_5 = sum(d <= timedelta(minutes=5) for d in delays) / len(delays)
    assert 0.75 < within_5 < 0.95
    assert max(delays) > timedelta(hours=1)


def test_low_score_leads_become_mql_later_through_an_update(shipped):
    raised = [e for events in shipped.values() for e in events if e.type == EventType.UPDATED
              and e.payload["changes"].get("lead_score", 0) >= 65
              and created(events).payload["attributes"]["lead_score"] < 65]
    assert len(raised) > 100


def first_touch_minutes(shipped: dict[str, list[LeadEvent]], rep: str) -> list[float | None]:
    """Per lead assigned to the rep: minutes to the rep's first activity, or None if never."""
    out = []
    for events in shipped.values():
        for assigned in (e for e in events if e.type == EventType.ASSIGNED and e.payload["owner"] == rep):
            touch = next((e for e in events if e.type == EventType.ACTIVITY and e.payload["by"] == rep
                          and e.occurred_at >= assigned.occurred_at), None)
            out.append(None if touch is None else (touch.occurred_at - assigned.occurred_at).total_seconds() / 60)
    return out


def test_reps_differ_fast_slow_and_unreliable(shipped):
    fast = [m for m in first_touch_minutes(shipped, "ana.ruiz@example.com") if m is not None]
    slow = [m for m in first_touch_minutes(shipped, "carlos.diaz@example.com") if m is not None]
    unreliable = first_touch_minutes(shipped, "ethan.brooks@example.com")
    assert statistics.median(fast) < 60 < 4 * 60 < statistics.median(slow)
    assert sum(m is None for m in unreliable) / len(unreliable) > 0.2


def test_outreach_has_inbound_replies_by_the_lead_and_up_to_six_attempts(shipped):
    for events in shipped.values():
        email = created(events).payload["attributes"]["email"]
        inbound = [e for e in events if e.type == EventType.ACTIVITY and e.payload["direction"] == "inbound"]
        assert all(e.payload["by"] == email for e in inbound)
    replies = all_events(shipped, EventType.ACTIVITY)
    assert sum(e.payload["direction"] == "inbound" for e in replies) > 100


def test_recycled_leads_come_back_weeks_later_with_a_second_owner(shipped):
    second = [events for events in shipped.values()
              if len({e.payload["owner"] for e in events if e.type == EventType.ASSIGNED}) == 2]
    assert second
    for events in second:
        recycled = next(e for e in events if e.type == EventType.DISPOSITION and e.payload["disposition"] == "recycled")
        again = [e for e in events if e.type == EventType.ASSIGNED][1]
        assert again.occurred_at - recycled.occurred_at > timedelta(days=14)


def test_enrichment_gaps_deletions_and_merges_are_rare_but_present(shipped):
    attributes = [created(events).payload["attributes"] for events in shipped.values()]
    gaps = sum("industry" not in a or "company_size" not in a for a in attributes) / len(attributes)
    assert 0.02 < gaps < 0.07
    deleted = all_events(shipped, EventType.DELETED)
    assert 0 < len(deleted) < 0.03 * len(shipped)
    assert any(e.payload["merged_into"] for e in deleted)


def test_some_mqls_never_get_a_disposition(shipped):
    assigned = [events for events in shipped.values() if any(e.type == EventType.ASSIGNED for e in events)]
    undecided = [events for events in assigned if not any(e.type == EventType.DISPOSITION for e in events)]
    assert 0.05 < len(undecided) / len(assigned) < 0.5


# ---------------------------------------------------------------- the CRM export pair


def test_the_crm_export_pair_reads_back_cleanly(tmp_path):
    out = tmp_path / "crm"
    generate("--format", "crm-export", "--leads", "40", "--out", str(out))
    items = list(read_crm_export(out / "leads.csv", out / "activities.csv"))
    assert [i for i in items if isinstance(i, Rejected)] == []
    with (out / "leads.csv").open(encoding="utf-8") as leads, (out / "activities.csv").open(encoding="utf-8") as acts:
        lead_rows, activity_rows = list(csv.DictReader(leads)), list(csv.DictReader(acts))
    assert sum(i.type == EventType.CREATED for i in items) == len(lead_rows) > 30
    assert sum(i.type == EventType.ACTIVITY for i in items) == len(activity_rows)
    assert sum(i.type == EventType.STATUS_CHANGED for i in items) == len(lead_rows)  # every row has a status
