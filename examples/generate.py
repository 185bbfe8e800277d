"""Generate the example data: a quarter of inbound leads, as an event log or as a CRM export pair.

    python examples/generate.py --leads 5000 --seed 7 --out examples/data/events.csv
    python examples/generate.py --format crm-export --leads 200 --out examples/crm-export

Same arguments, same bytes: everything is drawn from random.Random(seed) and written lead by lead
(leads in creation order), so a million leads stream through in constant memory. What the data
looks like, and why, is in docs/events.md ("The example data").
"""

from __future__ import annotations

import argparse
import bisect
import csv
import functools
import math
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(ROOT))

from connectors.csv_writer import EventLogWriter, format_timestamp  # noqa: E402
from sla_engine.events import EventType, LeadEvent  # noqa: E402

UTC = timezone.utc
START = datetime(2026, 8, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)  # leads are created in [START, END); nothing happens after END
SOURCE = "example"
LATE_SHARE = 0.01  # events written after later leads' rows, out of order
EXTRA_ATTRIBUTES = ("timezone",)  # the lead's IANA zone, beside the standard fields


# ---------------------------------------------------------------- who and where


@dataclass(frozen=True)
class Zone:
    name: str
    region: str
    countries: tuple[str, ...]
    share: float  # of all leads


ZONES = (
    Zone("America/New_York", "NA", ("US", "US", "US", "CA"), 0.22),
    Zone("America/Chicago", "NA", ("US",), 0.14),
    Zone("America/Los_Angeles", "NA", ("US", "US", "US", "CA"), 0.14),
    Zone("Europe/London", "EMEA", ("GB", "GB", "GB", "IE"), 0.16),
    Zone("Europe/Berlin", "EMEA", ("DE", "DE", "NL", "FR", "AT", "CH"), 0.14),
    Zone("Australia/Sydney", "APAC", ("AU",), 0.07),
    Zone("Asia/Kolkata", "APAC", ("IN",), 0.07),
    Zone("Asia/Singapore", "APAC", ("SG", "SG", "MY"), 0.06),
)


@dataclass(frozen=True)
class Speed:
    """How a rep works a lead: reps differ, and the SLA is there to show it."""

    first_touch_minutes: float  # median delay from assignment to the first touch
    spread: float  # lognormal sigma of that delay
    never: float  # chance the rep never touches an assigned lead
    attempts: tuple[int, int]
    gap_hours: float  # median time between attempts


SPEEDS = {
    "fast": Speed(5, 0.8, 0.01, (2, 6), 20),
    "medium": Speed(30, 1.0, 0.03, (1, 5), 26),
    "slow": Speed(360, 0.8, 0.08, (1, 4), 40),
    "unreliable": Speed(240, 1.2, 0.40, (0, 3), 48),
}


@dataclass(frozen=True)
class Rep:
    email: str
    zone: str
    speed: str


@dataclass(frozen=True)
class Team:
    name: str
    region: str
    manager: str
    reps: tuple[Rep, ...]


TEAMS = {
    "NA": Team("na_sdr", "NA", "maria.chen@example.com", (
        Rep("ana.ruiz@example.com", "America/New_York", "fast"),
        Rep("ben.okafor@example.com", "America/New_York", "medium"),
        Rep("carlos.diaz@example.com", "America/Chicago", "slow"),
        Rep("diana.park@example.com", "America/Los_Angeles", "fast"),
        Rep("ethan.brooks@example.com", "America/Chicago", "unreliable"),
        Rep("fatima.hassan@example.com", "America/Los_Angeles", "medium"),
    )),
    "EMEA": Team("emea_sdr", "EMEA", "lukas.schmidt@example.com", (
        Rep("emma.clarke@example.com", "Europe/London", "fast"),
        Rep("jonas.weber@example.com", "Europe/Berlin", "fast"),
        Rep("sophie.martin@example.com", "Europe/London", "slow"),
        Rep("marco.rossi@example.com", "Europe/Berlin", "medium"),
        Rep("ines.garcia@example.com", "Europe/Berlin", "fast"),
    )),
    "APAC": Team("apac_sdr", "APAC", "priya.nair@example.com", (
        Rep("liam.nguyen@example.com", "Australia/Sydney", "fast"),
        Rep("aarav.shah@example.com", "Asia/Kolkata", "medium"),
        Rep("mei.tan@example.com", "Asia/Singapore", "slow"),
        Rep("chloe.wilson@example.com", "Australia/Sydney", "medium"),
    )),
}

FIRST_NAMES = {
    "NA": ("James", "Olivia", "Michael", "Emma", "David", "Sophia", "Daniel", "Ava", "Marcus", "Grace",
           "Tyler", "Chloe", "Jordan", "Hannah", "Andre", "Megan", "Kevin", "Lauren", "Luis", "Rachel"),
    "EMEA": ("Oliver", "Amelia", "Lukas", "Lena", "Thomas", "Sophie", "Jan", "Emilia", "Pierre", "Camille",
             "Finn", "Isla", "Matteo", "Giulia", "Noah", "Freya", "Daan", "Sanne", "Hugo", "Clara"),
    "APAC": ("Aarav", "Ananya", "Wei", "Mei", "Jack", "Charlotte", "Rohan", "Priya", "Ethan", "Ruby",
             "Kai", "Aisha", "Arjun", "Isha", "Lucas", "Zoe", "Hiro", "Sakura", "Ravi", "Nisha"),
}
LAST_NAMES = {
    "NA": ("Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
           "Lee", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson"),
    "EMEA": ("Taylor", "Evans", "Müller", "Schmidt", "Schneider", "Fischer", "Dubois", "Laurent", "Rossi",
             "Bianchi", "de Vries", "Jansen", "Murphy", "Kelly", "Novak", "Berg", "Keller", "Weber", "Moreau",
             "Hughes"),
    "APAC": ("Sharma", "Patel", "Gupta", "Iyer", "Tan", "Lim", "Ng", "Wong", "Chen", "Wang", "Smith", "Jones",
             "Williams", "Brown", "Nguyen", "Kumar", "Reddy", "Lee", "Ong", "Singh"),
}
COMPANY_WORDS = (("North", "Blue", "Silver", "Bright", "Iron", "Summit", "Cedar", "Harbor", "Granite", "Nova",
                  "Atlas", "Vertex", "Pioneer", "Lumen", "Ever", "Red", "Orbit", "Key", "Meridian", "Clear"),
                 ("wind", "peak", "stone", "bridge", "field", "gate", "line", "point", "wave", "path"))
INDUSTRIES = ("Software", "Fintech", "Healthcare", "Manufacturing", "Retail", "Education", "Logistics")
INDUSTRY_WEIGHTS = (26, 14, 14, 14, 12, 8, 12)
COMPANY_SUFFIXES = {
    "Software": ("Labs", "Software", "Cloud", "Systems"), "Fintech": ("Pay", "Capital", "Ledger", "Finance"),
    "Healthcare": ("Health", "Care", "Medical", "Bio"), "Manufacturing": ("Industries", "Works", "Robotics"),
    "Retail": ("Retail", "Goods", "Outfitters", "Market"), "Education": ("Learning", "Academy", "EdTech"),
    "Logistics": ("Logistics", "Freight", "Shipping", "Transport"),
}
SENIORITIES = ("c_level", "vp", "director", "manager", "individual")
SENIORITY_WEIGHTS = (8, 12, 22, 36, 22)
TITLES = {
    "c_level": ("CEO", "CTO", "CFO", "COO", "Chief Revenue Officer", "Founder"),
    "vp": ("VP Sales", "VP Marketing", "VP Engineering", "VP Operations", "VP Finance"),
    "director": ("Director of IT", "Director of Operations", "Head of Growth", "Director of Marketing",
                 "Head of Sales Operations"),
    "manager": ("Marketing Manager", "IT Manager", "Operations Manager", "Sales Manager", "Product Manager"),
    "individual": ("Analyst", "Engineer", "Specialist", "Coordinator", "Consultant", "Student"),
}
SOURCES = ("organic", "paid_search", "events", "referral", "partner", "outbound")
SOURCE_WEIGHTS = (25, 22, 12, 10, 9, 22)
CAMPAIGNS = {
    "organic": ("website-organic", "blog-seo"),
    "paid_search": ("brand-search-2026", "competitor-search-2026", "category-search-2026"),
    "events": ("saas-summit-2026", "revops-roadshow-2026", "executive-dinner-series"),
    "referral": ("customer-referral-program",),
    "partner": ("partner-co-marketing", "marketplace-listing"),
    "outbound": ("abm-enterprise-q3", "sdr-sequence-q3"),
}
FORMS = ("demo_request", "contact_sales", "ebook", "webinar", "pricing_page", "newsletter")
FORM_WEIGHTS = (12, 8, 25, 18, 15, 22)
FORM_ENGAGEMENT = {"demo_request": 70, "contact_sales": 70, "pricing_page": 45, "webinar": 40, "ebook": 25,
                   "newsletter": 15}
HIGH_INTENT = ("demo_request", "contact_sales")
PERSONAL_DOMAINS = ("gmail.example.com", "yahoo.example.com", "hotmail.example.com")
REJECT_REASONS = ("no_budget", "not_icp", "competitor", "student", "duplicate", "bad_data")
REJECT_WEIGHTS = (25, 25, 10, 10, 15, 15)
NOTES = {
    "nurture": ("Asked to reconnect next quarter", "Evaluating in 2027", None, None),
    "rejected": ("Not a fit for our product", None, None),
    "recycled": ("No reply after several attempts", None, None),
}

# Arrivals per local hour of day (0-23) on a weekday; weekends get a quarter of that.
ARRIVALS_BY_HOUR = (0.04, 0.03, 0.03, 0.03, 0.04, 0.08, 0.15, 0.35, 0.8, 1.0, 1.1, 1.1,
                    0.9, 1.0, 1.05, 1.0, 0.85, 0.6, 0.4, 0.3, 0.25, 0.2, 0.12, 0.07)
WEEKEND = 0.25
OPENS, CLOSES = time(8, 30), time(18, 0)  # reps' working hours, Mon-Fri, in their own zone


# ---------------------------------------------------------------- time


@functools.cache
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def in_office(at: datetime, zone: str) -> bool:
    local = at.astimezone(zone_info(zone))
    return local.weekday() < 5 and OPENS <= local.time() < CLOSES


def next_opening(at: datetime, zone: str) -> datetime:
    """The next Mon-Fri 08:30 in the zone, for an instant outside working hours."""
    local = at.astimezone(zone_info(zone))
    day = local.date() + timedelta(days=1 if local.time() >= OPENS else 0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, OPENS, tzinfo=zone_info(zone)).astimezone(UTC)


def office_time(at: datetime, zone: str, rng: random.Random, off_hours: float = 0.12) -> datetime:
    """People mostly act in their working hours: an instant outside them usually moves to the next opening."""
    if in_office(at, zone) or rng.random() < off_hours:
        return at
    return next_opening(at, zone) + minutes(rng.uniform(0, 90))


def minutes(count: float) -> timedelta:
    return timedelta(seconds=round(count * 60))


def lognormal_minutes(rng: random.Random, median: float, spread: float) -> timedelta:
    return minutes(rng.lognormvariate(math.log(median), spread))


class Arrivals:
    """Creation instants in order over [start, end), dense in each zone's working hours and weekdays.

    Lead n of N falls at the (n + u)/N quantile of the arrival intensity, so leads come out in
    creation order without holding them, and the zone is drawn from the zones busy at that hour.
    """

    def __init__(self, start: datetime, end: datetime, leads: int) -> None:
        self.start, self.leads = start, leads
        self.weights: list[tuple[float, ...]] = []
        self.cumulative: list[float] = []
        total = 0.0
        for hour in range(int((end - start).total_seconds() // 3600)):
            middle = start + timedelta(hours=hour, minutes=30)
            weights = tuple(zone.share * self._profile(middle, zone.name) for zone in ZONES)
            total += sum(weights)
            self.weights.append(weights)
            self.cumulative.append(total)

    @staticmethod
    def _profile(at: datetime, zone: str) -> float:
        local = at.astimezone(zone_info(zone))
        return ARRIVALS_BY_HOUR[local.hour] * (WEEKEND if local.weekday() >= 5 else 1.0)

    def draw(self, index: int, rng: random.Random) -> tuple[datetime, Zone]:
        target = (index + rng.random()) / self.leads * self.cumulative[-1]
        hour = min(bisect.bisect_left(self.cumulative, target), len(self.cumulative) - 1)
        zone = rng.choices(ZONES, weights=self.weights[hour])[0]
        return self.start + timedelta(hours=hour, seconds=rng.randrange(3600)), zone


# ---------------------------------------------------------------- leads


@dataclass
class Lead:
    number: int
    zone: Zone
    created_at: datetime
    attributes: dict[str, Any]

    @property
    def lead_id(self) -> str:
        return f"L{self.number:07d}"

    @property
    def email(self) -> str:
        return str(self.attributes["email"])

    @property
    def high_intent(self) -> bool:
        return self.attributes["form"] in HIGH_INTENT


def clamp(value: float, low: int = 0, high: int = 100) -> int:
    return int(max(low, min(high, round(value))))


def make_lead(number: int, created_at: datetime, zone: Zone, rng: random.Random) -> Lead:
    """A lead as a form fill plus enrichment: contact, company, firmographics and scores."""
    region = zone.region
    first, last = rng.choice(FIRST_NAMES[region]), rng.choice(LAST_NAMES[region])
    industry = rng.choices(INDUSTRIES, weights=INDUSTRY_WEIGHTS)[0]
    brand = rng.choice(COMPANY_WORDS[0]) + rng.choice(COMPANY_WORDS[1])
    company = f"{brand} {rng.choice(COMPANY_SUFFIXES[industry])}"
    seniority = rng.choices(SENIORITIES, weights=SENIORITY_WEIGHTS)[0]
    title = rng.choice(TITLES[seniority])
    personal = rng.random() < (0.6 if title == "Student" else 0.07)
    domain = rng.choice(PERSONAL_DOMAINS) if personal else f"{brand.lower()}.example.{rng.choice(('com', 'org'))}"
    local_part = f"{first}.{last}".lower().replace(" ", "").replace("ü", "ue")
    size = round(10 ** rng.uniform(1.2, 4.3))
    source = rng.choices(SOURCES, weights=SOURCE_WEIGHTS)[0]
    form = rng.choices(FORMS, weights=FORM_WEIGHTS)[0]
    fit = clamp(30 + {"c_level": 30, "vp": 25, "director": 20, "manager": 10}.get(seniority, 0)
                + (15 if industry in ("Software", "Fintech", "Healthcare") else 5)
                + (15 if 50 <= size <= 5000 else 5) - (25 if personal else 0) + rng.randint(-10, 10))
    engagement = clamp(FORM_ENGAGEMENT[form] + rng.randint(-10, 20))
    if form in HIGH_INTENT:
        score = clamp(0.5 * fit + 0.5 * engagement + rng.randint(0, 20))
    elif rng.random() < 0.18:
        score = rng.randint(65, 95)  # an MQL by score at once
    else:
        score = clamp(0.45 * fit + 0.45 * engagement + rng.randint(-15, 10), 0, 64)
    attributes: dict[str, Any] = {
        "email": f"{local_part}@{domain}", "name": f"{first} {last}", "company": company, "title": title,
        "seniority": seniority, "industry": industry, "company_size": size,
        "annual_revenue": int(round(size * rng.uniform(80_000, 350_000), -5)),
        "country": rng.choice(zone.countries), "region": region, "source": source,
        "campaign": rng.choice(CAMPAIGNS[source]), "form": form, "lead_score": score, "fit_score": fit,
        "engagement_score": engagement, "target_account": rng.random() < (0.25 if size >= 1000 else 0.06),
        "status": "New", "stage": "lead", "timezone": zone.name,
    }
    if rng.random() < 0.04:  # an enrichment gap
        for name in ("company_size", "industry", "annual_revenue"):
            del attributes[name]
    return Lead(number, zone, created_at, attributes)


# ---------------------------------------------------------------- what happens to a lead


class Fact(NamedTuple):
    at: datetime
    type: EventType
    payload: dict[str, Any]


class Router:
    """Round robin within the region's team, with the odd manual pick; never the previous owner again."""

    def __init__(self) -> None:
        self.turn = dict.fromkeys(TEAMS, 0)

    def pick(self, region: str, rng: random.Random, avoid: str | None = None) -> Rep:
        reps = TEAMS[region].reps
        if rng.random() < 0.12:
            return rng.choice([rep for rep in reps if rep.email != avoid])
        rep = reps[self.turn[region] % len(reps)]
        self.turn[region] += 1
        if rep.email == avoid:
            rep = reps[self.turn[region] % len(reps)]
            self.turn[region] += 1
        return rep


@dataclass
class Story:
    """One lead's life as facts, drawn in time order: MQL, routing, outreach, disposition, and after."""

    lead: Lead
    rng: random.Random
    router: Router
    facts: list[Fact] = field(default_factory=list)
    mql_times: list[datetime] = field(default_factory=list)
    status: str = "New"
    deleted: bool = False

    def tell(self) -> Story:
        """Draw the whole life, then keep what happened before END (when the data is exported), in time order."""
        lead, rng = self.lead, self.rng
        self.add(lead.created_at, EventType.CREATED, {"attributes": dict(lead.attributes)})
        if lead.high_intent or lead.attributes["lead_score"] >= 65:
            self.work(lead.created_at, cycle=1, previous=None)
        elif rng.random() < 0.35:
            self.work(self.warm_up(), cycle=1, previous=None)
        elif rng.random() < 0.2:
            self.nudge()
        if not self.deleted and rng.random() < 0.003:  # removed from the CRM, e.g. on request
            last = max(fact.at for fact in self.facts)
            self.add(last + timedelta(days=rng.uniform(1, 10)), EventType.DELETED, {})
        self.facts = sorted((fact for fact in self.facts if fact.at < END), key=lambda fact: fact.at)
        return self

    def add(self, at: datetime, type_: EventType, payload: dict[str, Any]) -> None:
        self.facts.append(Fact(at.replace(microsecond=0), type_, payload))

    def set_status(self, at: datetime, new: str) -> None:
        self.add(at, EventType.STATUS_CHANGED, {"field": "status", "old": self.status, "new": new})
        self.status = new

    def warm_up(self) -> datetime:
        """A low-score lead engages later (visits, webinar) and its scores cross the MQL line."""
        lead, rng = self.lead, self.rng
        at = office_time(lead.created_at + timedelta(days=rng.uniform(1, 21)), lead.zone.name, rng, 0.3)
        changes = {"lead_score": rng.randint(65, 95),
                   "engagement_score": clamp(lead.attributes["engagement_score"] + rng.randint(20, 45))}
        self.add(at, EventType.UPDATED, {"changes": changes})
        return at

    def nudge(self) -> None:
        """Some engagement that stays under the MQL line."""
        lead, rng = self.lead, self.rng
        at = office_time(lead.created_at + timedelta(days=rng.uniform(1, 30)), lead.zone.name, rng, 0.3)
        score = min(64, lead.attributes["lead_score"] + rng.randint(3, 12))
        self.add(at, EventType.UPDATED, {"changes": {"lead_score": score}})

    def work(self, mql_at: datetime, cycle: int, previous: str | None) -> None:
        """From MQL to a disposition: routing, then the owner's attempts and the lead's replies."""
        rng = self.rng
        self.mql_times.append(mql_at.replace(microsecond=0))
        if rng.random() < 0.01:
            return  # routing failed: an MQL nobody owns
        roll = rng.random()
        delay = minutes(rng.uniform(0.5, 5) if roll < 0.82 else rng.uniform(5, 60) if roll < 0.96
                        else rng.uniform(60, 480))
        assigned_at = mql_at + delay
        team = TEAMS[self.lead.zone.region]
        rep = self.router.pick(team.region, rng, avoid=previous)
        self.add(assigned_at, EventType.ASSIGNED,
                 {"owner": rep.email, "owner_manager": team.manager, "team": team.name})
        last, replied, met = self.outreach(rep, assigned_at)
        self.dispose(rep, assigned_at, last, replied, met, cycle)

    def outreach(self, rep: Rep, assigned_at: datetime) -> tuple[datetime | None, bool, bool]:
        """The owner's attempts; returns (last activity, the lead replied, a meeting was held)."""
        rng, speed = self.rng, SPEEDS[rep.speed]
        if rng.random() < speed.never:
            return None, False, False
        attempts = max(1, rng.randint(*speed.attempts))
        at = office_time(assigned_at + lognormal_minutes(rng, speed.first_touch_minutes, speed.spread), rep.zone, rng)
        last = at
        for attempt in range(attempts):
            channel = rng.choices(("call", "email", "sms", "social"),
                                  weights=(50, 40, 5, 5) if attempt == 0 else (35, 35, 12, 18))[0]
            self.add(at, EventType.ACTIVITY, {"channel": channel, "direction": "outbound",
                                              "outcome": self.outcome(channel), "by": rep.email})
            last = at
            if attempt == 0 and self.status == "New":
                self.set_status(at, "Working")
            if rng.random() < 0.12:
                return self.conversation(rep, at)
            at = office_time(at + lognormal_minutes(rng, speed.gap_hours * 60, 0.6), rep.zone, rng)
        return last, False, False

    def outcome(self, channel: str) -> str:
        if channel == "call":
            return self.rng.choices(("no_answer", "voicemail", "connected"), weights=(50, 35, 15))[0]
        return "sent"

    def conversation(self, rep: Rep, touched_at: datetime) -> tuple[datetime, bool, bool]:
        """The lead writes or calls back; often a meeting follows."""
        rng, lead = self.rng, self.lead
        reply_at = office_time(touched_at + lognormal_minutes(rng, 300, 1.0), lead.zone.name, rng, 0.3)
        self.add(reply_at, EventType.ACTIVITY, {"channel": rng.choice(("email", "email", "email", "call")),
                                                "direction": "inbound", "outcome": "replied", "by": lead.email})
        if rng.random() >= 0.6:
            return reply_at, True, False
        meeting_at = office_time(reply_at + timedelta(days=rng.uniform(1, 6)), rep.zone, rng, 0.05)
        held = rng.random() < 0.85
        self.add(meeting_at, EventType.ACTIVITY, {"channel": "meeting", "direction": "outbound",
                                                  "outcome": "held" if held else "no_show", "by": rep.email})
        return meeting_at, True, held

    def dispose(self, rep: Rep, assigned_at: datetime, last: datetime | None, replied: bool, met: bool,
                cycle: int) -> None:
        rng = self.rng
        if met:
            choices, weights = ("accepted", "nurture", "rejected", None), (85, 6, 7, 2)
        elif replied:
            choices, weights = ("accepted", "nurture", "rejected", "disqualified", None), (70, 12, 10, 5, 3)
        elif last is not None:
            choices = ("accepted", "recycled", "rejected", "disqualified", "nurture", None)
            weights = (62, 12, 9, 4, 6, 7)
        else:
            choices, weights = ("recycled", None), (35, 65)
        disposition = rng.choices(choices, weights=weights)[0]
        if disposition is None:
            return  # never dispositioned
        if last is None:
            at = office_time(assigned_at + timedelta(days=rng.uniform(10, 30)), rep.zone, rng, 0.05)
        elif rng.random() < 0.95:  # feedback inside the 48-hour window, mostly on the day
            first = min(fact.at for fact in self.facts if fact.type == EventType.ACTIVITY and fact.at >= assigned_at)
            at = min(first + timedelta(hours=rng.uniform(0.5, 20)), assigned_at + timedelta(hours=47))
        else:
            at = office_time(last + timedelta(hours=rng.uniform(2, 72)), rep.zone, rng, 0.05)
        reason = self.reason(disposition, replied)
        payload: dict[str, Any] = {"disposition": disposition, "reason": reason}
        note = rng.choice(NOTES.get(disposition, (None,)))
        if note:
            payload["notes"] = note
        self.add(at, EventType.DISPOSITION, payload)
        self.set_status(at, disposition.capitalize())
        if disposition == "accepted":
            self.pipeline(rep, at)
        elif disposition == "recycled" and cycle == 1 and rng.random() < 0.3:
            self.re_engage(at, rep)
        elif reason == "duplicate" and rng.random() < 0.6 and self.lead.number > 1:
            merged_into = f"L{rng.randrange(1, self.lead.number):07d}"
            self.add(at + timedelta(hours=rng.uniform(0.5, 48)), EventType.DELETED, {"merged_into": merged_into})
            self.deleted = True

    def reason(self, disposition: str, replied: bool) -> str | None:
        rng = self.rng
        if disposition == "rejected":
            return rng.choices(REJECT_REASONS, weights=REJECT_WEIGHTS)[0]
        if disposition == "recycled":
            return "no_response" if not replied and rng.random() < 0.8 else "timing"
        if disposition == "disqualified":
            return rng.choice(("not_icp", "bad_data", "competitor"))
        if disposition == "nurture":
            return rng.choice(("timing", "no_project"))
        return None

    def pipeline(self, rep: Rep, accepted_at: datetime) -> None:
        """Accepted leads qualify, some become opportunities, some of those close."""
        rng = self.rng
        if rng.random() >= 0.7:
            return
        qualified_at = office_time(accepted_at + timedelta(days=rng.uniform(0.2, 4)), rep.zone, rng, 0.05)
        self.set_status(qualified_at, "Qualified")
        if rng.random() >= 0.75:
            return
        converted_at = office_time(qualified_at + timedelta(days=rng.uniform(0, 3)), rep.zone, rng, 0.05)
        amount = float(max(5000, round(rng.lognormvariate(math.log(25_000), 0.6), -3)))
        self.add(converted_at, EventType.CONVERTED,
                 {"opportunity_id": f"OPP-{self.lead.number:07d}", "amount": amount})
        self.set_status(converted_at, "Converted")
        if rng.random() >= 0.55:
            return
        closed_at = office_time(converted_at + timedelta(days=rng.uniform(20, 75)), rep.zone, rng, 0.05)
        won = rng.random() < 0.4
        self.add(closed_at, EventType.OPPORTUNITY_CLOSED,
                 {"won": won, "amount": float(round(amount * rng.uniform(0.8, 1.1), -2)) if won else None})

    def re_engage(self, recycled_at: datetime, rep: Rep) -> None:
        """A recycled lead comes back weeks later, is an MQL again and gets a second owner."""
        rng, lead = self.rng, self.lead
        at = office_time(recycled_at + timedelta(days=rng.uniform(21, 56)), lead.zone.name, rng, 0.3)
        changes = {"lead_score": rng.randint(70, 98),
                   "engagement_score": clamp(lead.attributes["engagement_score"] + rng.randint(25, 50))}
        self.add(at, EventType.UPDATED, {"changes": changes})
        self.set_status(at, "New")
        self.work(at, cycle=2, previous=rep.email)


def stories(leads: int, seed: int) -> Iterator[Story]:
    """Every lead's story, in creation order, one at a time."""
    rng = random.Random(seed)
    arrivals = Arrivals(START, END, leads)
    router = Router()
    for index in range(leads):
        created_at, zone = arrivals.draw(index, rng)
        yield Story(make_lead(index + 1, created_at, zone, rng), rng, router).tell()


# ---------------------------------------------------------------- the event log


BAD_ROWS = ("bad_timestamp", "unknown_type", "missing_lead_id", "fax")


def bad_row(kind: str, story: Story) -> dict[str, str]:
    """A deliberately broken row next to a real lead, so the quarantine has something to show."""
    lead = story.lead
    owner = next((f.payload["owner"] for f in story.facts if f.type == EventType.ASSIGNED), TEAMS["NA"].reps[0].email)
    at = format_timestamp(min(lead.created_at + timedelta(hours=1), END - timedelta(seconds=1)))
    row = {"lead_id": lead.lead_id, "occurred_at": at, "type": "activity", "channel": "call",
           "direction": "outbound", "outcome": "no_answer", "by": owner}
    if kind == "bad_timestamp":
        row["occurred_at"] = "2026-13-01T09:15:00Z"
    elif kind == "unknown_type":
        row["type"] = "call_logged"
    elif kind == "missing_lead_id":
        row["lead_id"] = ""
    else:
        row["channel"] = "fax"
    return row


@dataclass
class Summary:
    leads: int = 0
    events: int = 0
    late: int = 0
    bad_rows: int = 0


def write_events(out: Path, leads: int, seed: int) -> Summary:
    """The event log: lead by lead; ~1% of events held back and written after later leads' rows."""
    late_rng = random.Random(f"late-{seed}")
    bad_after: dict[int, list[str]] = {}
    for k, kind in enumerate(BAD_ROWS, start=1):
        bad_after.setdefault(max(1, k * leads // 5), []).append(kind)
    held: dict[int, list[LeadEvent]] = {}
    summary = Summary()
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = EventLogWriter(handle, EXTRA_ATTRIBUTES)
        for story in stories(leads, seed):
            summary.leads += 1
            number = story.lead.number
            for key, fact in enumerate(story.facts):
                event = LeadEvent.build(source=SOURCE, lead_id=story.lead.lead_id, type=fact.type,
                                        occurred_at=fact.at, payload=fact.payload, key=str(key))
                summary.events += 1
                if late_rng.random() < LATE_SHARE:
                    held.setdefault(number + late_rng.randint(1, 30), []).append(event)
                    summary.late += 1
                else:
                    writer.write(event)
            for event in held.pop(number, []):
                writer.write(event)
            for kind in bad_after.get(number, []):
                writer.write_raw(bad_row(kind, story))
                summary.bad_rows += 1
        for number in sorted(held):
            for event in held[number]:
                writer.write(event)
    return summary


# ---------------------------------------------------------------- the CRM export pair


CRM_LEAD_COLUMNS = (
    "lead_id", "created_at", "status", "owner", "owner_manager", "team", "mql_at", "assigned_at",
    "disposition", "disposition_reason", "disposition_at", "converted_at", "amount",
    "email", "name", "company", "title", "seniority", "industry", "company_size", "annual_revenue", "country",
    "region", "source", "campaign", "form", "lead_score", "fit_score", "engagement_score", "target_account",
    "timezone",
)
CRM_ACTIVITY_COLUMNS = ("activity_id", "lead_id", "occurred_at", "channel", "direction", "outcome", "by")


def crm_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def snapshot(story: Story) -> dict[str, Any]:
    """The lead as a CRM shows it today: current fields and the latest time of each milestone."""
    row: dict[str, Any] = {"lead_id": story.lead.lead_id, "created_at": story.lead.created_at}
    fields = {k: v for k, v in story.lead.attributes.items() if k not in ("status", "stage")}
    mql_times = [at for at in story.mql_times if at < END]
    row["mql_at"] = mql_times[-1] if mql_times else None
    for fact in story.facts:
        payload = fact.payload
        if fact.type == EventType.UPDATED:
            fields.update(payload["changes"])
        elif fact.type == EventType.ASSIGNED:
            row.update(payload, assigned_at=fact.at)
        elif fact.type == EventType.DISPOSITION:
            row.update(disposition=payload["disposition"], disposition_reason=payload.get("reason"),
                       disposition_at=fact.at)
        elif fact.type == EventType.CONVERTED:
            row.update(converted_at=fact.at, amount=payload["amount"])
        elif fact.type == EventType.STATUS_CHANGED:
            row["status"] = payload["new"]
    row.setdefault("status", "New")
    return {**fields, **row}


def write_crm_export(out: Path, leads: int, seed: int) -> Summary:
    """leads.csv (one row per lead still in the CRM) and activities.csv."""
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    with (out / "leads.csv").open("w", newline="", encoding="utf-8") as leads_file, \
            (out / "activities.csv").open("w", newline="", encoding="utf-8") as activities_file:
        lead_rows = csv.writer(leads_file, lineterminator="\n")
        activity_rows = csv.writer(activities_file, lineterminator="\n")
        lead_rows.writerow(CRM_LEAD_COLUMNS)
        activity_rows.writerow(CRM_ACTIVITY_COLUMNS)
        for story in stories(leads, seed):
            if any(fact.type == EventType.DELETED for fact in story.facts):
                continue  # a deleted lead is not in the export
            summary.leads += 1
            row = snapshot(story)
            lead_rows.writerow([crm_cell(row.get(name)) for name in CRM_LEAD_COLUMNS])
            activities = [fact for fact in story.facts if fact.type == EventType.ACTIVITY]
            for number, fact in enumerate(activities, start=1):
                activity = {"activity_id": f"A{story.lead.number:07d}-{number}", "lead_id": story.lead.lead_id,
                            "occurred_at": fact.at, **fact.payload}
                activity_rows.writerow([crm_cell(activity.get(name)) for name in CRM_ACTIVITY_COLUMNS])
                summary.events += 1
    return summary


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=3000, help="number of leads (default 3000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--format", choices=("event-log", "crm-export"), default="event-log")
    parser.add_argument("--out", type=Path, help="file (event-log) or directory (crm-export) to write")
    args = parser.parse_args(argv)
    if args.leads < 1:
        parser.error("--leads must be at least 1")
    if args.format == "crm-export":
        out = args.out or Path("examples/crm-export")
        summary = write_crm_export(out, args.leads, args.seed)
        print(f"{summary.leads} leads, {summary.events} activities -> {out}/leads.csv, {out}/activities.csv",
              file=sys.stderr)
        return 0
    out = args.out or Path("examples/data/events.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = write_events(out, args.leads, args.seed)
    size = out.stat().st_size / 1_000_000
    print(f"{summary.leads} leads, {summary.events} events ({summary.late} written late), "
          f"{summary.bad_rows} bad rows -> {out} ({size:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
