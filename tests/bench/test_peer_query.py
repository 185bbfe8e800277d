"""The benchmark's peer query computes the same first_response verdicts as the engine.

bench/peer_query.py is the DuckDB query the engine's evaluation time is set beside; the ratio
is honest only while the query does the same job. Here both judge the example data (about 2,000
generated leads, a few hundred Tier 1 clocks on ny_office's business hours) and must agree on
every instance, not only on the counts bench/run.py checks. DuckDB is a benchmark-only extra:
outside CI a machine without it skips this; CI installs it and must run it.
"""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from bench import run as bench

if not os.environ.get("CI"):
    pytest.importorskip("duckdb", reason="the benchmark extra: pip install -e '.[bench]'")

from bench import peer_query


@pytest.fixture(scope="module")
def judged_store(tmp_path_factory):
    work = tmp_path_factory.mktemp("peer")
    data = bench.generate(2000, work / "events.csv")
    db = work / "store.db"
    bench.ingest(data, db)
    bench.evaluate(db, bench.AS_OF)
    return db


def engine_instances(db) -> list[tuple[str, datetime, str]]:
    import sqlite3

    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT lead_id, started_at, status FROM window_instances WHERE policy = ? AND window = ? "
        "ORDER BY lead_id, started_at", (bench.PEER_POLICY, bench.PEER_WINDOW)).fetchall()
    connection.close()
    return [(lead, datetime.fromisoformat(started), status) for lead, started, status in rows]


def test_the_query_and_the_engine_agree_on_every_first_response_instance(judged_store):
    connection = peer_query.load(judged_store)
    mine = peer_query.verdicts(connection, bench.AS_OF)
    theirs = engine_instances(judged_store)
    assert mine == theirs
    statuses = {status for _, _, status in theirs}
    # the data exercises what the ratio is about: business-hour deadlines met and missed
    assert {"met", "breached", "not_applicable"} <= statuses
    assert peer_query.verdict_counts(connection, bench.AS_OF) == bench.engine_verdicts(judged_store)


def test_the_query_counts_business_hours_as_the_calendar_declares():
    # Friday 2026-07-03 is Independence Day observed: 2 business hours from Thursday 16:00 New York
    # are Thursday 16:00-17:00 and Monday 09:00-10:00.
    spans = peer_query.open_spans(datetime(2026, 7, 2).date(), datetime(2026, 7, 6).date())
    starts = [datetime.fromtimestamp(start / 1e6, peer_query.NY) for start, _, _ in spans]
    assert [(s.day, s.hour) for s in starts] == [(2, 9), (2, 13), (6, 9), (6, 13)]
    assert [before / 3.6e9 for _, _, before in spans] == [0, 3, 7, 10]


def test_the_query_follows_pauses_and_closings_the_generated_data_rarely_shows(tmp_path):
    # Handmade histories for what a few hundred generated leads may not hold: Nurture while the
    # clock runs (Tier 1 on business hours, Tier 2 on the calendar), a lead still in Nurture at
    # the as-of, and a recycled lead whose deletion enters the MQL stage again and is closed as it
    # starts. The engine judges them; the query must agree on every instance.
    from sla_engine.events import LeadEvent
    from sla_engine.language.policy_set import load_policy_set
    from sla_engine.runner import evaluate_run
    from sla_engine.store.db import Store

    def event(lead, at, kind, **payload):
        return LeadEvent.build(source="hand", lead_id=lead, type=kind, occurred_at=datetime.fromisoformat(at),
                               payload=payload, key=f"{kind}{at}")

    def created(lead, at, **changes):
        attributes = {"region": "NA", "form": "demo_request", "lead_score": 90, "seniority": "vp",
                      "target_account": True, "company_size": 300, "industry": "Software", "status": "New"}
        return event(lead, at, "created", attributes={**attributes, **changes})

    rep = "rep@example.com"
    events = [
        # Tier 1, Nurture for a business day, contacted after 2 business hours from the start but
        # within them once the pause is taken off: met
        created("T1", "2026-10-05T13:30:00+00:00"), event("T1", "2026-10-05T13:31:00+00:00", "assigned", owner=rep),
        event("T1", "2026-10-05T14:00:00+00:00", "status_changed", field="status", old="New", new="Nurture"),
        event("T1", "2026-10-06T14:00:00+00:00", "status_changed", field="status", old="Nurture", new="Working"),
        event("T1", "2026-10-06T15:00:00+00:00", "activity", by=rep, direction="outbound", channel="call"),
        # Tier 1, the same pause, contacted too late even so: breached
        created("T2", "2026-10-05T13:30:00+00:00"), event("T2", "2026-10-05T13:31:00+00:00", "assigned", owner=rep),
        event("T2", "2026-10-05T14:00:00+00:00", "status_changed", field="status", old="New", new="Nurture"),
        event("T2", "2026-10-06T14:00:00+00:00", "status_changed", field="status", old="Nurture", new="Working"),
        event("T2", "2026-10-07T14:00:00+00:00", "activity", by=rep, direction="outbound", channel="call"),
        # Tier 2 (24 hours on the calendar), in Nurture at the as-of: paused
        created("T3", "2026-10-30T12:00:00+00:00", lead_score=70, seniority="manager", target_account=False),
        event("T3", "2026-10-30T13:00:00+00:00", "status_changed", field="status", old="New", new="Nurture"),
        # recycled after contact, then deleted: the deletion enters MQL again and closes the new clock
        created("T4", "2026-10-05T13:30:00+00:00"), event("T4", "2026-10-05T13:31:00+00:00", "assigned", owner=rep),
        event("T4", "2026-10-05T14:00:00+00:00", "activity", by=rep, direction="outbound", channel="call"),
        event("T4", "2026-10-06T14:00:00+00:00", "disposition", disposition="recycled", reason="timing"),
        event("T4", "2026-10-09T14:00:00+00:00", "deleted"),
        # an activity by someone else does not stop the clock; the owner's, after the deadline: breached
        created("T5", "2026-10-05T13:30:00+00:00"), event("T5", "2026-10-05T13:31:00+00:00", "assigned", owner=rep),
        event("T5", "2026-10-05T13:40:00+00:00", "activity", by="other@example.com", direction="outbound",
              channel="call"),
        event("T5", "2026-10-05T18:00:00+00:00", "activity", by=rep.upper(), direction="outbound", channel="call"),
    ]
    db = tmp_path / "store.db"
    store = Store(db)
    evaluate_run(load_policy_set([bench.POLICIES]), store, [("hand", iter(events))], bench.AS_OF)
    store.close()
    connection = peer_query.load(db)
    theirs = engine_instances(db)
    assert [(lead, status) for lead, _, status in theirs] == [
        ("T1", "met"), ("T2", "breached"), ("T3", "paused"), ("T4", "met"), ("T4", "cancelled"), ("T5", "breached")]
    assert peer_query.verdicts(connection, bench.AS_OF) == theirs
