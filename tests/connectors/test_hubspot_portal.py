"""A simulated HubSpot portal synced three times: the store's timelines equal the portal's true history.

A few hundred contacts change between syncs and while the first one pages: statuses, stages
and owners change, contacts are deleted and merged, meetings of every outcome are booked,
held, canceled and moved, calls are logged. Beside the fake, the test keeps what really
happened (``Truth``), written as the changes are made and never read back from the fake or
the connector. After each sync every lead's timeline in the store must equal it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from sla_engine.store.db import Store
from sla_engine.sync import sync_sources
from tests.fakes.hubspot import MEETING_OUTCOMES, hs_time

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
SYNCS = [T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=3)]
OWNERS = ["11", "22", "33", "44"]
STATUSES = ["NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED"]
COUNTED = {"COMPLETED", "SCHEDULED", ""}  # the connector's default meeting_touch_outcomes ("" is unset)


class Truth:
    """What happened in the portal, per contact, as (kind, instant, detail) facts."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.facts: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
        self.meetings: dict[str, tuple[str, str, datetime]] = {}  # id -> (contact, outcome, start)
        self.merged: dict[str, str] = {}
        self.modified: dict[str, datetime] = {}  # each contact's lastmodifieddate, as HubSpot keeps it

    def _touch(self, lead: str, at: datetime) -> None:
        self.modified[lead] = max(at, self.modified.get(lead, at))

    def contact(self, at: datetime, owner: str, status: str, score: int) -> str:
        lead = self.fake.add("contacts", at, hs_lead_status=status, lifecyclestage="lead", hubspot_owner_id=owner,
                             hubspotscore=str(score), email=f"c{at.timestamp():.0f}@example.com")
        self.facts[lead] |= {("created", at, score), ("status", at, status), ("stage", at, "lead"),
                             ("assigned", at, owner)}
        self._touch(lead, at)
        return lead

    def status(self, lead: str, at: datetime, status: str) -> None:
        self.fake.set("contacts", lead, at, hs_lead_status=status)
        self.facts[lead].add(("status", at, status))
        self._touch(lead, at)

    def owner(self, lead: str, at: datetime, owner: str) -> None:
        self.fake.set("contacts", lead, at, hubspot_owner_id=owner)
        self.facts[lead].add(("assigned", at, owner))
        self._touch(lead, at)

    def score(self, lead: str, at: datetime, score: int) -> None:
        self.fake.set("contacts", lead, at, hubspotscore=str(score))
        self.facts[lead].add(("score", at, score))
        self._touch(lead, at)

    def convert(self, lead: str, at: datetime) -> None:
        self.fake.set("contacts", lead, at, lifecyclestage="opportunity")
        self.facts[lead] |= {("stage", at, "opportunity"), ("converted", at, None)}
        self._touch(lead, at)

    def delete(self, lead: str, at: datetime) -> None:
        self.fake.archive("contacts", lead, at)
        self.facts[lead].add(("deleted", at, None))

    def merge(self, primary: str, secondary: str, at: datetime) -> None:
        self.fake.merge(primary, secondary, at)
        self.facts[secondary].add(("deleted", at, primary))
        self.merged[secondary] = primary
        self._touch(primary, at)

    def call(self, lead: str, at: datetime) -> None:
        call = self.fake.add("calls", at, hs_timestamp=hs_time(at), hs_call_direction="OUTBOUND",
                             hs_call_disposition="f240bbac-87c9-4f6e-bf70-924b57d47db7", hubspot_owner_id="11")
        self.fake.link("calls", call, lead)
        self.facts[lead].add(("touch", at, "call"))

    def meeting(self, lead: str, booked: datetime, start: datetime, outcome: str) -> str:
        meeting = self.fake.add("meetings", booked, hs_timestamp=hs_time(start), hs_meeting_start_time=hs_time(start),
                                hs_meeting_outcome=outcome, hubspot_owner_id="22")
        self.fake.link("meetings", meeting, lead)
        self.meetings[meeting] = (lead, outcome, start)
        return meeting

    def meeting_outcome(self, meeting: str, at: datetime, outcome: str) -> None:
        self.fake.set("meetings", meeting, at, hs_meeting_outcome=outcome)
        lead, _, start = self.meetings[meeting]
        self.meetings[meeting] = (lead, outcome, start)

    def expected(self, lead: str, as_of: datetime) -> set[tuple[Any, ...]]:
        """The facts a store synced at ``as_of`` holds for a lead: changes up to then, meetings held by then."""
        facts = {f for f in self.facts[lead] if f[1] <= as_of}
        for lead_id, outcome, start in self.meetings.values():
            if lead_id == lead and outcome in COUNTED and start <= as_of:
                facts.add(("touch", start, "meeting"))
        return facts


def timeline(store: Store, lead: str) -> set[tuple[Any, ...]]:
    """The store's events for a lead, as the same facts (an update that changes nothing is no fact)."""
    facts = set()
    for e in store.events.of_lead(lead):
        p, kind = e.payload, str(e.type)
        if kind == "created":
            facts.add(("created", e.occurred_at, p["attributes"].get("lead_score")))
        elif kind == "status_changed":
            facts.add(("status" if p["field"] == "status" else "stage", e.occurred_at, p["new"]))
        elif kind == "assigned":
            facts.add(("assigned", e.occurred_at, p["owner"]))
        elif kind == "updated" and p["changes"]:
            facts.update(("score", e.occurred_at, v) for k, v in p["changes"].items() if k == "lead_score")
        elif kind == "converted":
            facts.add(("converted", e.occurred_at, None))
        elif kind == "deleted":
            facts.add(("deleted", e.occurred_at, p.get("merged_into")))
        elif kind == "activity":
            facts.add(("touch", e.occurred_at, p["channel"]))
    return facts


def test_three_syncs_of_a_busy_portal_give_each_lead_its_true_history(hubspot, make_hs, tmp_path):
    fake, _ = hubspot
    rng = random.Random(14)
    truth = Truth(fake)
    leads = [truth.contact(T0 + timedelta(minutes=3 * n), rng.choice(OWNERS), "NEW", rng.randrange(20, 60))
             for n in range(300)]
    for lead in rng.sample(leads, 120):
        truth.status(lead, T0 + timedelta(hours=rng.randrange(16, 22), seconds=rng.randrange(60)), "OPEN")
    for lead in rng.sample(leads, 60):
        truth.owner(lead, T0 + timedelta(hours=20, minutes=rng.randrange(60)), rng.choice(OWNERS))
    for n, lead in enumerate(rng.sample(leads, 40)):
        truth.call(lead, T0 + timedelta(hours=18, minutes=n))
    outcomes = [*MEETING_OUTCOMES, ""]
    meetings = [truth.meeting(lead, T0 + timedelta(hours=2), T0 + timedelta(hours=rng.choice((5, 30, 54))),
                              outcomes[n % len(outcomes)]) for n, lead in enumerate(rng.sample(leads, 48))]
    store = Store(tmp_path / "sla.db")
    connector = make_hs(page_size=40)

    # During the first sync, reps keep working: before each search three contacts change (after the
    # sync's start, as any edit made while it runs).
    moved = rng.sample(leads, 90)
    moving = iter(moved)

    def reps_at_work(search: int) -> None:
        for _ in range(3):
            lead = next(moving, None)
            if lead is not None:
                truth.status(lead, SYNCS[0] + timedelta(minutes=search, seconds=rng.randrange(60)), "IN_PROGRESS")

    fake.before_search = reps_at_work
    sync_sources(store, [connector], SYNCS[0])
    fake.before_search = None
    deferred = check(store, truth, leads, SYNCS[0])
    assert len(deferred) >= 30  # edited while the sync paged: read, whole, by the next one

    # Between the first and second sync: new contacts, conversions, deletions, merges, meetings decided.
    day2 = SYNCS[0] + timedelta(hours=2)
    leads += [truth.contact(day2 + timedelta(minutes=n), rng.choice(OWNERS), "NEW", 50) for n in range(40)]
    converted = rng.sample(leads[:300], 20)
    for lead in converted:
        truth.convert(lead, day2 + timedelta(hours=1, minutes=rng.randrange(60)))
    scored = rng.sample(leads[:300], 30)
    for lead in scored:
        truth.score(lead, day2 + timedelta(hours=3, minutes=rng.randrange(60)), rng.randrange(60, 100))
    # Deleted contacts include changed ones: the archived list gives their history too.
    gone = rng.sample(converted, 5) + rng.sample([lead for lead in leads if lead not in deferred], 10)
    for n, lead in enumerate(dict.fromkeys(gone)):
        truth.delete(lead, day2 + timedelta(hours=4, minutes=n))
    # A merged contact's own changes since the last sync show on the survivor only (HubSpot merges the
    # histories), so the merged ones here are unchanged since the first sync.
    alive = [lead for lead in leads[:300] if lead not in deferred and lead not in gone and lead not in converted
             and lead not in scored]
    for n in range(10):
        truth.merge(alive[2 * n], alive[2 * n + 1], day2 + timedelta(hours=5, minutes=n))
    for meeting in meetings[:12]:
        truth.meeting_outcome(meeting, day2 + timedelta(hours=6), rng.choice(("CANCELED", "NO_SHOW", "COMPLETED")))
    sync_sources(store, [connector], SYNCS[1])
    check(store, truth, leads, SYNCS[1])

    # Between the second and third: more of the same, and meetings held without any edit.
    day3 = SYNCS[1] + timedelta(hours=1)
    survivors = [lead for lead in leads if not any(f[0] == "deleted" for f in truth.facts[lead])]
    for n, lead in enumerate(rng.sample(survivors, 50)):
        truth.status(lead, day3 + timedelta(minutes=n), rng.choice(STATUSES))
    for n, lead in enumerate(rng.sample(survivors, 25)):
        truth.call(lead, day3 + timedelta(hours=1, minutes=n))
    for meeting in meetings[12:20]:
        truth.meeting_outcome(meeting, day3 + timedelta(hours=2), "CANCELED")
    sync_sources(store, [connector], SYNCS[2])
    assert not check(store, truth, leads, SYNCS[2])
    counted = sum(1 for _, outcome, start in truth.meetings.values() if outcome in COUNTED and start <= SYNCS[2])
    assert 0 < counted < len(meetings)  # the scenario holds meetings that count and meetings that do not


def check(store: Store, truth: Truth, leads: list[str], as_of: datetime) -> set[str]:
    """Compare every lead not modified after the sync started; return those left for the next sync.

    HubSpot gives a contact's current state only: one modified after a sync started is read whole
    by the next sync, and compared then.
    """
    later = {lead for lead in leads if truth.modified[lead] > as_of}
    wrong = {lead: (sorted(timeline(store, lead) ^ truth.expected(lead, as_of), key=str))
             for lead in leads if lead not in later and timeline(store, lead) != truth.expected(lead, as_of)}
    assert not wrong, f"{len(wrong)} leads differ at {as_of:%Y-%m-%d}, e.g. {next(iter(wrong.items()))}"
    return later
