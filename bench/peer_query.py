"""The peer of a full evaluation: one DuckDB query computing the `first_response` verdicts of
policies/inbound_tiered.sla over the same stored events, written by hand for that one window.

What an engine judging every lead's history is measured against: a columnar database running
a query a data engineer would write for exactly this window. The query rebuilds, per event,
the lead fields it needs (last value written by `created` attributes, `updated` changes,
status changes and assignments), the scores `fit` and `engagement`, the `mql` stage with the
way a recycle ends it (docs/semantics.md), `applies when region == "NA"`, the tiers, "activity
by owner" with the owner before the activity, cancellation on deletion, disqualification and
recycle, and "2 business hours" of `ny_office` by a table of open spans with running totals
(built here from the calendar's hours, the `holidays` package and its closed dates), the
Nurture pause that moves the deadline by the business time spent in it, and what the run
knows as of its instant only. `tests/bench/test_peer_query.py` holds it equal to the engine
on every instance; bench/run.py checks the counts at every size it measures.

DuckDB is a benchmark-only extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# ny_office as policies/calendars.sla declares it.
NY = ZoneInfo("America/New_York")
NY_HOURS = ((time(9), time(12)), (time(13), time(17)))  # mon-fri
NY_CLOSED = (date(2026, 12, 24), date(2026, 12, 31))
US_HOLIDAY_SUBDIVISION = "NY"

MICROS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def open_spans(first: date, last: date) -> list[tuple[int, int, int]]:
    """ny_office's open spans from `first` to `last` (local dates) in epoch microseconds:
    (start, length, open time before the span)."""
    import holidays

    closed = set(NY_CLOSED) | set(holidays.country_holidays("US", subdiv=US_HOLIDAY_SUBDIVISION,
                                                              years=range(first.year, last.year + 1)))
    spans: list[tuple[int, int, int]] = []
    before = 0
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in closed:
            for opens, closes in NY_HOURS:
                start = micros(datetime.combine(day, opens, NY))
                end = micros(datetime.combine(day, closes, NY))
                spans.append((start, end - start, before))
                before += end - start
        day += timedelta(days=1)
    return spans


def load(store_db: Path, first: date = date(2025, 1, 1), last: date = date(2028, 12, 31)) -> Any:
    """A DuckDB connection holding the store's events and the calendar's spans (not timed: the
    engine's events are in its store before a run, too)."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET threads = 1")  # one core, as the engine's own judging loop
    source = sqlite3.connect(store_db)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "events.csv"
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("lead_id", "event_id", "occurred_at", "type", "payload"))
            writer.writerows(source.execute("SELECT lead_id, event_id, occurred_at, type, payload FROM events"))
        connection.execute(
            "CREATE TABLE events AS SELECT lead_id, event_id, CAST(occurred_at AS TIMESTAMPTZ) AS occurred_at, "
            "type, CAST(payload AS JSON) AS payload FROM read_csv(?, header = true, all_varchar = true)",
            [str(path)])
    source.close()
    connection.execute("CREATE TABLE spans (start_us BIGINT, length_us BIGINT, before_us BIGINT)")
    connection.executemany("INSERT INTO spans VALUES (?, ?, ?)", open_spans(first, last))
    return connection


def _field(name: str) -> str:
    """A lead field as an event writes it: created attributes or updated changes, else NULL."""
    return (f"CASE type WHEN 'created' THEN payload->'$.attributes'->>'{name}' "
            f"WHEN 'updated' THEN payload->'$.changes'->>'{name}' END")


def _position(spans: str, instant: str) -> str:
    """The business time of ny_office before an instant: the span it is in or after, `spans` joined ASOF."""
    return f"coalesce({spans}.before_us + least({instant} - {spans}.start_us, {spans}.length_us), 0)"


_FIELDS = ("lead_score", "form", "industry", "title", "company_size", "email", "pricing_page_visits",
           "seniority", "target_account", "region")
_LEAD = "PARTITION BY lead_id ORDER BY t, event_id"

VERDICTS = f"""
WITH written AS (
    SELECT lead_id, event_id, epoch_us(occurred_at) AS t, type, payload,
        {', '.join(f'{_field(name)} AS w_{name}' for name in _FIELDS)},
        CASE WHEN type = 'assigned' THEN payload->>'owner' WHEN type = 'updated' THEN payload->'$.changes'->>'owner'
             END AS w_owner,
        CASE WHEN type = 'status_changed' AND coalesce(payload->>'field', 'status') = 'status'
             THEN payload->>'new' ELSE {_field('status')} END AS w_status,
        CASE WHEN type = 'disposition' THEN payload->>'disposition' END AS w_disposition,
        CASE WHEN type = 'deleted' THEN true END AS w_deleted,
        (type = 'disposition' AND payload->>'disposition' = 'recycled')
            OR (type = 'status_changed' AND coalesce(payload->>'field', 'status') = 'status'
                AND lower(payload->>'new') = 'recycled') AS recycle
    FROM events
    WHERE epoch_us(occurred_at) <= $as_of  -- what has happened as of the run
),
fields AS (  -- each event with the lead's fields after it, and its owner before it
    SELECT lead_id, event_id, t, type, payload, recycle,
        row_number() OVER ({_LEAD}) AS seq,
        {', '.join(f'last_value(w_{name} IGNORE NULLS) OVER lead_so_far AS {name}' for name in _FIELDS)},
        coalesce(lower(last_value(w_status IGNORE NULLS) OVER lead_so_far) = 'nurture', false) AS nurture,
        last_value(w_disposition IGNORE NULLS) OVER lead_so_far AS disposition,
        coalesce(last_value(w_deleted IGNORE NULLS) OVER lead_so_far, false) AS deleted,
        last_value(w_owner IGNORE NULLS) OVER (
            {_LEAD} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS owner_before
    FROM written
    WINDOW lead_so_far AS ({_LEAD} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
judged AS (  -- the mql stage's condition and the tier after each event
    SELECT *,
        coalesce(form IN ('demo_request', 'contact_sales')
            OR TRY_CAST(lead_score AS DOUBLE) >= 65
            OR (fit >= 60 AND engagement >= 40), false) AS mql_holds,
        CASE WHEN TRY_CAST(lead_score AS DOUBLE) >= 80 AND seniority IN ('director', 'vp', 'c_level')
                  AND lower(target_account) IN ('true', 'yes', '1') THEN 'tier1'
             WHEN TRY_CAST(lead_score AS DOUBLE) >= 65 AND seniority IN ('director', 'vp', 'c_level', 'manager')
                  AND TRY_CAST(company_size AS DOUBLE) BETWEEN 50 AND 5000 AND coalesce(industry, '') <> ''
                  THEN 'tier2' END AS tier
    FROM (
        SELECT *,
            (CASE WHEN lower(industry) IN ('software', 'fintech', 'healthcare') THEN 20 ELSE 0 END
             + CASE WHEN regexp_matches(title, '(?i)director|vp|chief|head of|founder') THEN 15 ELSE 0 END
             + CASE WHEN TRY_CAST(company_size AS DOUBLE) BETWEEN 50 AND 5000 THEN 10 ELSE 0 END
             - CASE WHEN regexp_matches(email, '(?i)@(gmail|yahoo|hotmail)\\.') THEN 30 ELSE 0 END) AS fit,
            least(40, 10 * coalesce(TRY_CAST(pricing_page_visits AS DOUBLE), 0)
                      + CASE WHEN lower(form) = 'webinar' THEN 25 ELSE 0 END) AS engagement
        FROM fields
    )
),
entries AS (  -- an event enters mql if it holds now and did not: a recycle ends the stage (semantics.md)
    SELECT *,
        CASE WHEN recycle THEN mql_holds AND NOT coalesce(lag(mql_holds) OVER lead, false)
             ELSE mql_holds AND NOT coalesce(
                 CASE WHEN lag(recycle) OVER lead
                      THEN lag(mql_holds) OVER lead AND NOT coalesce(lag(mql_holds, 2) OVER lead, false)
                      ELSE lag(mql_holds) OVER lead END, false) END AS enters_mql,
        lead(t) OVER lead AS next_t
    FROM judged
    WINDOW lead AS (PARTITION BY lead_id ORDER BY seq)
),
starts AS (
    SELECT lead_id, seq, t, tier, deleted OR coalesce(disposition = 'disqualified', false) AS closed
    FROM entries
    WHERE enters_mql AND region = 'NA'
),
ends AS (  -- what ends a running first contact clock: a stop, or a deletion, disqualification or recycle
    SELECT lead_id, seq, t,
        type = 'activity' AND payload->>'direction' = 'outbound'
            AND lower(payload->>'by') = lower(owner_before) AS stops
    FROM entries
    WHERE (type = 'activity' AND payload->>'direction' = 'outbound' AND lower(payload->>'by') = lower(owner_before))
        OR (type IN ('deleted', 'disposition') AND (deleted OR coalesce(disposition = 'disqualified', false)))
        OR recycle
),
clocks AS (  -- each instance with the event that ended it, if any
    SELECT s.*, e.seq AS end_seq, e.t AS end_t, e.stops
    FROM starts s ASOF LEFT JOIN ends e ON e.lead_id = s.lead_id AND e.seq > s.seq
    WHERE s.tier IS NOT NULL AND NOT s.closed
),
stretches AS (  -- from each Nurture event of a running clock to the next event (its end at the latest)
    SELECT c.lead_id, c.seq, c.tier, ev.t AS from_t, coalesce(ev.next_t, $as_of) AS to_t
    FROM clocks c JOIN entries ev
        ON ev.lead_id = c.lead_id AND ev.seq >= c.seq AND ev.seq < coalesce(c.end_seq, 9223372036854775807)
    WHERE ev.nurture
),
paused AS (  -- the time the clock spent in Nurture, on its goal's calendar; whether it is paused now
    SELECT st.lead_id, st.seq,
        sum(CASE WHEN st.tier = 'tier1'
                 THEN {_position('b', 'st.to_t')} - {_position('a', 'st.from_t')}
                 ELSE st.to_t - st.from_t END) AS paused_us,
        bool_or(st.to_t = $as_of) AS paused_now
    FROM stretches st
    ASOF LEFT JOIN spans a ON a.start_us <= st.from_t
    ASOF LEFT JOIN spans b ON b.start_us <= st.to_t
    GROUP BY st.lead_id, st.seq
),
targets AS (  -- tier 1: the business time position the deadline is at (2 business hours, plus pauses)
    SELECT c.*, coalesce(p.paused_us, 0) AS paused_us, coalesce(p.paused_now, false) AS paused_now,
        CASE WHEN c.tier = 'tier1'
             THEN {_position('sp', 'c.t')} + {7200 * MICROS} + coalesce(p.paused_us, 0) END AS target
    FROM clocks c
    LEFT JOIN paused p USING (lead_id, seq)
    ASOF LEFT JOIN spans sp ON sp.start_us <= c.t
),
due AS (
    SELECT tg.*,
        CASE WHEN tg.tier = 'tier1' THEN sp.start_us + (tg.target - sp.before_us)
             ELSE tg.t + {86400 * MICROS} + tg.paused_us END AS due_at
    FROM targets tg ASOF LEFT JOIN spans sp ON sp.before_us <= tg.target
),
judged_clocks AS (
    SELECT lead_id, t, CASE
        WHEN end_seq IS NULL THEN CASE WHEN due_at < $as_of THEN 'breached' WHEN paused_now THEN 'paused'
                                       ELSE 'running' END
        WHEN stops THEN CASE WHEN end_t <= due_at THEN 'met' ELSE 'breached' END
        ELSE CASE WHEN due_at < end_t THEN 'breached' ELSE 'cancelled' END
        END AS status
    FROM due
),
verdicts AS (
    SELECT lead_id, t AS started_us, 'not_applicable' AS status FROM starts WHERE tier IS NULL
    UNION ALL
    SELECT lead_id, t, 'cancelled' FROM starts WHERE tier IS NOT NULL AND closed  -- closed as it starts
    UNION ALL
    SELECT lead_id, t, status FROM judged_clocks
)
"""
COUNTS = VERDICTS + "SELECT status, count(*) FROM verdicts GROUP BY status ORDER BY status"
BY_INSTANCE = VERDICTS + "SELECT lead_id, started_us, status FROM verdicts ORDER BY lead_id, started_us"


def verdict_counts(connection: Any, as_of: datetime) -> dict[str, int]:
    """The first_response instances by status as of `as_of`, as the engine's store would count them."""
    return dict(connection.execute(COUNTS, {"as_of": micros(as_of)}).fetchall())


def verdicts(connection: Any, as_of: datetime) -> list[tuple[str, datetime, str]]:
    """Each first_response instance as (lead, start, status), in lead and start order."""
    rows = connection.execute(BY_INSTANCE, {"as_of": micros(as_of)}).fetchall()
    return [(lead, EPOCH + timedelta(microseconds=started), status) for lead, started, status in rows]


def micros(t: datetime) -> int:
    """An aware instant as whole microseconds since the epoch."""
    return (t - EPOCH) // timedelta(microseconds=1)
