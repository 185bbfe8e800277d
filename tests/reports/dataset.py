"""A small store whose every report number is computed by hand in the comments below.

Week 2026-W47 runs Monday 16 to Sunday 22 November 2026, New York time. All times are New York.

lead  created         score  owner  source   first outbound contact       tier   first_response
A     Mon 16 10:00    90 dir ana    webinar  call 10:30, email 11:00      tier1  met, 30 business min
B     Mon 16 16:30    85 dir ana    webinar  call Tue 10:00 (+ inbound)   tier1  met, 90 business min
C     Tue 17 09:00    70 mgr ben    paid     email Thu 19 09:00, 09:30    tier2  breached (24h), 48h
D     Wed 18 11:00    70 mgr ben    paid     none                         tier2  breached, running
E     Thu 19 14:00    50     ben    paid     -                            -      not an MQL
F     Sun 22 23:30    90 dir ana    webinar  call Mon 23 09:30            tier1  met, 30 business min
G     Mon 30 23:30    70 mgr ben    paid     none                         tier2  breached (Dec 1 23:30)

F is created at 04:30 UTC on Monday 23 (UTC week 48) but is a W47 MQL in New York; G is created
at 04:30 UTC on 1 December but is a November MQL.

Dispositions: A accepted Tue 17 10:00, Qualified Wed 18 09:00, converted (50,000) Thu 19, won
(60,000) Fri 20; B rejected "bad fit"; C rejected with no reason.
Enrichment (company_size, industry, annual_revenue): A, C, E complete; B lacks industry,
D has company_size "" (not set), F and G have none.
"""

from __future__ import annotations

from datetime import datetime

from sla_engine.events import LeadEvent
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import PolicySet, build_policy_set
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from tests.engine.test_evaluate import activity, assigned, at, created, disposition, status

POLICY = """
define director_plus = seniority in ["director", "vp", "c_level"]
score fit { +10 when industry == "Software" }
stage mql when lead_score >= 65
stage sal when disposition == "accepted"
stage sql from status ["Qualified"]
stage opportunity when converted
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
}
contact cro {
  name "Dana Whitfield"
  role "Chief Revenue Officer"
  email "cro@example.com"
}
plan inbound_2026 {
  revenue 300000 per month
  deal size 25000
  win rate 30%
  sql to opportunity 50%
  mql to sql 25%
}

policy inbound {
  timezone "America/New_York"
  calendar office
  tier tier1 "Tier 1" when lead_score >= 80 and director_plus
  tier tier2 "Tier 2" when lead_score >= 65
  otherwise not covered

  window first_response {
    starts when becomes mql
    stops on activity by owner where direction == "outbound"
    role speed_to_lead
    goal tier1 2 business hours
    goal tier2 24h
  }

  target mqls "MQLs delivered" {
    owner marketing
    accountable cro
    metric count of mql
    period week
    goal >= 4
    tolerance 25%
    escalate when missed 2 periods {
      notify cro via email
    }
  }
  target contact "Contacted within the window" {
    owner sales
    metric met rate of first_response
    period week
    group by owner
    goal >= 90%
    tolerance 5%
  }
  target speed "Speed to lead (Tier 1)" {
    owner sales
    metric median elapsed of first_response
    where tier == "tier1"
    period week
    goal <= 1h
  }
  target acceptance {
    owner joint
    metric rate of sal among mql
    period week
    goal >= 50%
  }
  target enrichment {
    owner marketing
    metric completeness of [company_size, industry, annual_revenue]
    period month
    goal >= 95%
  }
}
"""

AS_OF = at(2, 12, month=12)  # Wednesday 2 December 2026, noon in New York
FIELDS = {"company_size": 120, "industry": "Software", "annual_revenue": 5_000_000}


def policy_set(text: str = POLICY) -> PolicySet:
    return build_policy_set([parse_text(text, "reports.sla")], {"reports.sla": text})


def lead(name: str, t: datetime, score: int, owner: str, source: str, seniority: str = "director",
         **fields) -> list[LeadEvent]:
    return [created(name, t, lead_score=score, seniority=seniority, source=source, campaign=f"c-{source}",
                    **fields),
            assigned(name, t, owner=owner)]


def converted(name: str, t: datetime, amount: float) -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=name, type="converted", occurred_at=t, payload={"amount": amount})


def closed(name: str, t: datetime, won: bool, amount: float) -> LeadEvent:
    return LeadEvent.build(source="t", lead_id=name, type="opportunity_closed", occurred_at=t,
                           payload={"won": won, "amount": amount})


ANA, BEN = "ana@example.com", "ben@example.com"


def events() -> list[LeadEvent]:
    return [
        *lead("A", at(16, 10), 90, ANA, "webinar", **FIELDS),
        activity("A", at(16, 10, 30), by=ANA), activity("A", at(16, 11), by=ANA, channel="email"),
        disposition("A", at(17, 10), "accepted"), status("A", at(18, 9), "Qualified"),
        converted("A", at(19, 10), 50_000), closed("A", at(20, 10), True, 60_000),
        *lead("B", at(16, 16, 30), 85, ANA, "webinar", company_size=40, annual_revenue=1_000_000),
        activity("B", at(17, 9, 30), by=ANA, channel="email", direction="inbound"),
        activity("B", at(17, 10), by=ANA),
        disposition("B", at(17, 12), "rejected", "bad fit"),
        *lead("C", at(17, 9), 70, BEN, "paid", seniority="manager", **FIELDS),
        activity("C", at(19, 9), by=BEN, channel="email"),
        activity("C", at(19, 9, 30), by=BEN, channel="email"),
        disposition("C", at(19, 12), "rejected"),
        *lead("D", at(18, 11), 70, BEN, "paid", seniority="manager", company_size="", industry="Fintech",
              annual_revenue=2_000_000),
        *lead("E", at(19, 14), 50, BEN, "paid", **FIELDS),
        *lead("F", at(22, 23, 30), 90, ANA, "webinar"),
        activity("F", at(23, 9, 30), by=ANA),
        *lead("G", at(30, 23, 30), 70, BEN, "paid", seniority="manager"),
    ]


def build_store(path, text: str = POLICY, as_of: datetime = AS_OF,
                extra: list[LeadEvent] | None = None) -> tuple[PolicySet, Store]:
    """Evaluate the data set (and any extra events) into a fresh store, exactly as a cron run would."""
    policies = policy_set(text)
    store = Store(path)
    evaluate_run(policies, store, [("test", iter(events() + (extra or [])))], as_of)
    return policies, store


HOSTILE_OWNER = '<script>alert("owner")</script>|[red]rep[/red]'
HOSTILE_SOURCE = '=HYPERLINK("http://evil.example/x","click")'
HOSTILE_CAMPAIGN = "@SUM(1+1)*cmd|' /C calc'!A0"
HOSTILE_REASON = "=1+2 <img src=x onerror=alert(1)>|*bold* _it_ `code`"


def hostile() -> list[LeadEvent]:
    """A W47 MQL whose every free-text field is an attack on one of the report formats."""
    return [
        created("H", at(17, 13), lead_score=70, seniority="manager", source=HOSTILE_SOURCE,
                campaign=HOSTILE_CAMPAIGN),
        assigned("H", at(17, 13), owner=HOSTILE_OWNER),
        activity("H", at(17, 14), by=HOSTILE_OWNER, channel="social"),
        disposition("H", at(17, 15), "rejected", HOSTILE_REASON),
    ]
