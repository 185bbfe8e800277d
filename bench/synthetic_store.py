"""A synthetic store for measuring reports: N leads over a quarter, written straight into the tables.

    python bench/synthetic_store.py 100000 bench/out/big/sla-engine.db
    cd bench/out/big && time sla-engine report --policies policies --period 2026-Q4 --format html --out q4.html

Rows are shaped like the ones an evaluate run writes (iso UTC timestamps, lead state JSON,
one first_response clock per covered MQL), without running the engine, so 100,000 leads
take seconds to make.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sla_engine.store.db import Store, iso

POLICY = "inbound_tiered"
POLICY_TEXT = """
define director_plus = seniority in ["director", "vp", "c_level"]
define manager_plus = director_plus or seniority == "manager"
score fit { +20 when industry in ["Software", "Fintech"] }
stage lead when created_at is set
stage mql when lead_score >= 65
stage sal when disposition == "accepted"
stage sql from status ["Qualified"]
stage opportunity when converted
stage client when won
calendar ny_office {
  timezone "America/New_York"
  hours mon-fri 09:00-12:00, 13:00-17:00
  holidays "US" subdivision "NY"
}
contact cro { email "cro@example.com" }
plan inbound_2026 {
  revenue 300000 per month
  deal size 25000
  win rate 30%
  sql to opportunity 50%
  mql to sql 25%
}
policy inbound_tiered {
  timezone "America/New_York"
  calendar ny_office
  applies when region == "NA"
  tier tier1 "Tier 1" when lead_score >= 80 and director_plus and target_account
  tier tier2 "Tier 2" when lead_score >= 65 and manager_plus
  otherwise not covered
  window first_response {
    starts when becomes mql
    stops on activity by owner where direction == "outbound"
    goal tier1 2 business hours
    goal tier2 24h
  }
  target mql_volume "MQLs delivered" {
    owner marketing metric count of mql period month goal >= inbound_2026.mqls tolerance 5%
    escalate when missed 2 periods { notify cro via email }
  }
  target tier2_contact { owner sales metric met rate of first_response where tier == "tier2" period week
    group by owner goal >= 90% }
  target speed_t1 "Speed to lead (Tier 1)" { owner sales metric median elapsed of first_response
    where tier == "tier1" period week group by owner goal <= 2h }
  target p90 { owner sales metric p90 elapsed of first_response period week goal <= 24h }
  target acceptance_t1 "Tier 1 acceptance" { owner joint metric rate of sal among mql where tier == "tier1"
    period week goal >= 70% tolerance 5% }
  target director_mqls { owner marketing metric count of mql where director_plus and lead_score >= 70
    period month group by source goal >= 500 tolerance 5% }
  target enrichment { owner marketing metric completeness of [company_size, industry, annual_revenue]
    period month goal >= 95% }
}
"""
OWNERS = [f"rep{n:02d}@example.com" for n in range(40)]
SOURCES = ["webinar", "paid_search", "organic", "referral", "events", "content", "partner", "outbound"]
CAMPAIGNS = [f"2026-q4-campaign-{n}" for n in range(25)]
REASONS = ["no budget", "bad fit", "student", "duplicate", "competitor", None]
CHANNELS = ["call", "email", "social", "sms"]


def fill(store: Store, leads: int, start: datetime, days: int = 92, seed: int = 7) -> None:
    """Write `leads` leads created over `days` days from `start` into an empty store."""
    rng = random.Random(seed)
    events, states, entries, instances = [], [], [], []
    for n in range(leads):
        lead = f"S{n:06d}"
        created = start + timedelta(seconds=rng.randrange(days * 86400))
        tier = rng.choice(["tier1", "tier2", "tier2", "tier2", None])
        owner = rng.choice(OWNERS)
        state = {
            "owner": owner, "source": rng.choice(SOURCES), "campaign": rng.choice(CAMPAIGNS), "region": "NA",
            "lead_score": rng.randrange(40, 100), "seniority": rng.choice(["director", "vp", "manager"]),
            "target_account": rng.random() < 0.4, "created_at": iso(created),
            "company_size": rng.choice([None, 120, 800]), "industry": rng.choice(["Software", "Fintech", None]),
            "annual_revenue": rng.choice([None, 5e6, 4e7, 2e8]),
        }
        events.append((f"{lead}-c", lead, iso(created), "created", "{}"))
        events.append((f"{lead}-a", lead, iso(created + timedelta(minutes=2)), "assigned",
                       json.dumps({"owner": owner})))
        entries.append((lead, "lead", iso(created)))
        entries.append((lead, "mql", iso(created)))
        first = created + timedelta(minutes=rng.choice([10, 45, 90, 200, 600, 1500, 3000]))
        for k in range(rng.randrange(0, 5)):
            at = first + timedelta(hours=6 * k)
            events.append((f"{lead}-x{k}", lead, iso(at), "activity",
                           json.dumps({"channel": rng.choice(CHANNELS), "direction": "outbound", "by": owner})))
        disposition = rng.choice(["accepted", "accepted", "rejected", "nurture", None])
        if disposition:
            at = first + timedelta(hours=rng.randrange(1, 60))
            reason = rng.choice(REASONS) if disposition == "rejected" else None
            state.update(disposition=disposition, disposition_reason=reason, disposition_at=iso(at))
            events.append((f"{lead}-d", lead, iso(at), "disposition",
                           json.dumps({"disposition": disposition, "reason": reason})))
            if disposition == "accepted":
                entries.append((lead, "sal", iso(at)))
                if rng.random() < 0.5:
                    entries.append((lead, "sql", iso(at + timedelta(days=2))))
                    if rng.random() < 0.5:
                        amount = rng.choice([10000, 25000, 60000])
                        converted = at + timedelta(days=5)
                        state.update(converted=True, opportunity_amount=amount, converted_at=iso(converted))
                        entries.append((lead, "opportunity", iso(converted)))
                        events.append((f"{lead}-o", lead, iso(converted), "converted", json.dumps({"amount": amount})))
                        if rng.random() < 0.3:
                            won = rng.random() < 0.4
                            state.update(won=won, lost=not won)
                            closed = converted + timedelta(days=10)
                            events.append((f"{lead}-w", lead, iso(closed), "opportunity_closed",
                                           json.dumps({"won": won, "amount": amount})))
                            if won:
                                entries.append((lead, "client", iso(closed)))
        states.append((lead, json.dumps(state, sort_keys=True)))
        if tier is None:
            instances.append(_instance(lead, None, "not_applicable", created, None, None, None))
            continue
        hours = 2 if tier == "tier1" else 24
        calendar = "ny_office" if tier == "tier1" else "24x7"
        due = created + timedelta(hours=hours if tier == "tier2" else hours * 3)
        status = "met" if first <= due else "breached"
        if rng.random() < 0.05 and first > start + timedelta(days=days - 3):
            status, first = "running", None
        instances.append(_instance(lead, tier, status, created, due, first, calendar))
    conn = store.conn
    with store.transaction():
        conn.executemany("INSERT INTO events (event_id, lead_id, occurred_at, source, type, payload) "
                         "VALUES (?, ?, ?, 'synthetic', ?, ?)", events)
        conn.executemany("INSERT INTO leads (lead_id, state, dirty) VALUES (?, ?, 0)", states)
        conn.executemany("INSERT INTO stage_entries (lead_id, stage, entered_at) VALUES (?, ?, ?)", entries)
        conn.executemany(
            "INSERT INTO window_instances (key, lead_id, policy, window, cycle, tier, status, started_at, due_at, "
            "stopped_at, met_late, goal, calendar, paused_seconds) VALUES (?, ?, ?, 'first_response', 1, ?, ?, ?, "
            "?, ?, ?, ?, ?, 0)", instances)
        conn.execute("INSERT INTO runs (started_at, finished_at, as_of, status, dry_run) "
                     "VALUES (?, ?, ?, 'finished', 0)", (iso(start), iso(start), iso(start + timedelta(days=days))))


def _instance(lead: str, tier: str | None, status: str, started: datetime, due: datetime | None,
              stopped: datetime | None, calendar: str | None) -> tuple:
    met_late = int(status == "breached" and stopped is not None)
    return (f"{lead}|{POLICY}|first_response|1", lead, POLICY, tier, status, iso(started),
            iso(due) if due else None, iso(stopped) if stopped else None, met_late,
            "2 business hours" if tier == "tier1" else "24h", calendar)


QUARTER_START = datetime(2026, 10, 1, 4, tzinfo=timezone.utc)  # 2026-Q4 in New York

if __name__ == "__main__":
    count, path = int(sys.argv[1]), Path(sys.argv[2])
    path.parent.mkdir(parents=True, exist_ok=True)
    fill(Store(path), count, QUARTER_START)
    (path.parent / "policies").mkdir(exist_ok=True)
    (path.parent / "policies" / "synthetic.sla").write_text(POLICY_TEXT, encoding="utf-8")
    print(f"wrote {count:,} leads to {path} and the policies to {path.parent / 'policies'}")
