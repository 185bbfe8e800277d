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
