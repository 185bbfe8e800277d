"""A simulated org synced three times: the store's lead timelines equal the org's true history.

Three hundred leads over six days, in queues and owned by reps; status, owner and score changes;
calls; meetings booked for later; conversions (with a call logged just before); deletions and
restores; merges; and edits made while the connector pages through a sync. The fake keeps each
lead's true history as it changes the org (tests/fakes/salesforce.py); after each sync the store's
timelines, folded the same way, must equal it up to that sync's ``until``.

What the org does not do here, because Salesforce leaves no trace a client can read (see
docs/connectors.md): delete and restore a lead between two syncs, convert a lead that has a meeting
still to come, merge a lead that has meetings or a master that is converted later, or edit a restored lead
before the next sync (a restore leaves no history: it is seen at the lead's SystemModstamp).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from sla_engine.events import LeadEvent
from sla_engine.store.db import Store
from sla_engine.sync import sync_sources

UTC = timezone.utc
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SYNCS = [START + timedelta(days=2 * n) for n in (1, 2, 3)]
TRACKED = ("Lead_Score__c", "Owner", "Status")
STATUSES = ("Working", "Nurture", "Open - Not Contacted", "Unqualified")
OPTIONS = {"fields": {"lead_score": "Lead_Score__c"}, "tracked_fields": list(TRACKED), "lookback_seconds": 300}


class Org:
    """Drives the fake the way people use an org, keeping what the rules above leave out."""

    def __init__(self, fake: Any, seed: int) -> None:
        self.fake, self.rng = fake, random.Random(seed)
        self.reps = [fake.add_user(f"rep{n}@example.com") for n in range(4)]
        self.queues = [fake.add_queue("Inbound"), fake.add_queue("Partners")]
        self.live: list[str] = []
        self.deleted: list[str] = []
        self.done: set[str] = set()  # converted or merged away: nobody edits them
        self.masters: set[str] = set()
        self.meetings_after: dict[str, datetime] = {}  # lead -> latest meeting start booked
        self.quiet: set[str] = set()  # restored since the last sync: a later edit would hide when

    def period(self, begin: datetime, end: datetime, new_leads: int) -> None:
        rng, fake = self.rng, self.fake
        self.quiet = set()
        self._merges(begin + timedelta(minutes=30))
        actions: list[tuple[datetime, int, str, str]] = []
        for n in range(new_leads):
            at = begin + timedelta(hours=1, seconds=rng.randrange(int((end - begin).total_seconds() * 0.3)))
            actions.append((at, 0, "create", str(n)))
        for at, kind in self._times(begin, end, 500):
            actions.append((at, 1, kind, ""))
        for at, _, kind, _ in sorted(actions):
            getattr(self, f"_{kind}")(at)
        fake.clock = end

    def _times(self, begin: datetime, end: datetime, count: int) -> list[tuple[datetime, str]]:
        kinds = ["status"] * 8 + ["score"] * 6 + ["assign"] * 6 + ["call"] * 8 + ["meeting"] * 3 + \
                ["convert", "convert_after_call", "delete", "undelete"]
        span = int((end - begin).total_seconds()) - 7200
        return [(begin + timedelta(hours=1.5, seconds=self.rng.randrange(span)), self.rng.choice(kinds))
                for _ in range(count)]

    def _pick(self) -> str | None:
        choices = [lead for lead in self.live if lead not in self.done and lead not in self.quiet]
        return self.rng.choice(choices) if choices else None

    def _create(self, at: datetime) -> None:
        owner = self.rng.choice(self.queues if self.rng.random() < 0.5 else self.reps)
        lead = self.fake.add_lead(at, OwnerId=owner, Lead_Score__c=self.rng.randrange(20, 100),
                                  Company=f"Company {len(self.live)}")
        self.live.append(lead)

    def _status(self, at: datetime) -> None:
        if lead := self._pick():
            self.fake.change_status(lead, at, self.rng.choice(STATUSES))

    def _score(self, at: datetime) -> None:
        if lead := self._pick():
            self.fake.change(lead, at, "Lead_Score__c", self.rng.randrange(20, 100))

    def _assign(self, at: datetime) -> None:
        if lead := self._pick():
            self.fake.change_owner(lead, at, self.rng.choice(self.reps))

    def _call(self, at: datetime) -> None:
        if lead := self._pick():
            self.fake.log_call(lead, at, owner=self.rng.choice(self.reps))

    def _meeting(self, at: datetime) -> None:
        if lead := self._pick():
            start = at + timedelta(minutes=self.rng.randrange(30, 60 * 24 * 3))
            self.fake.book_meeting(lead, at, start, owner=self.rng.choice(self.reps))
            self.meetings_after[lead] = max(start, self.meetings_after.get(lead, start))

    def _convertible(self, at: datetime) -> str | None:
        choices = [lead for lead in self.live if lead not in self.done and lead not in self.masters
                   and lead not in self.quiet and self.meetings_after.get(lead, at) <= at]
        return self.rng.choice(choices) if choices else None

    def _convert(self, at: datetime) -> None:
        if lead := self._convertible(at):
            self.fake.convert(lead, at)
            self.done.add(lead)

    def _convert_after_call(self, at: datetime) -> None:
        if lead := self._convertible(at):
            self.fake.log_call(lead, at - timedelta(seconds=20), owner=self.rng.choice(self.reps))
            self.fake.convert(lead, at)
            self.done.add(lead)

    def _delete(self, at: datetime) -> None:
        if lead := self._pick():
            self.fake.delete("Lead", lead, at)
            self.live.remove(lead)
            self.deleted.append(lead)

    def _undelete(self, at: datetime) -> None:
        # Only leads deleted before the last sync: a delete and restore between two syncs leaves no trace.
        ready = [lead for lead in self.deleted if self.fake.records["Lead"][lead]["_deleted_at"] < self.synced]
        if ready:
            lead = self.rng.choice(ready)
            self.fake.undelete(lead, at)
            self.deleted.remove(lead)
            self.live.append(lead)
            self.quiet.add(lead)

    def _merges(self, at: datetime) -> None:
        candidates = [lead for lead in self.live if lead not in self.done and lead not in self.meetings_after
                      and lead not in self.quiet]
        for _ in range(min(4, len(candidates) // 2)):
            loser = self.rng.choice(candidates)
            candidates.remove(loser)
            master = self.rng.choice(candidates)
            self.fake.merge(master, loser, at)
            at += timedelta(seconds=7)
            self.live.remove(loser)
            self.done.add(loser)
            self.masters.add(master)

    synced = START

    def edit_while_paging(self, fake: Any) -> None:
        """Someone works in the org while the connector reads it: stamped after the sync's until."""
        assert fake.clock is not None
        fake.clock += timedelta(seconds=3)
        if lead := self._pick():
            if self.rng.random() < 0.5:
                fake.change_status(lead, fake.clock, self.rng.choice(STATUSES))
            else:
                fake.change(lead, fake.clock, "Lead_Score__c", self.rng.randrange(20, 100))


def fold(events: list[LeadEvent]) -> list[tuple[Any, ...]]:
    """A stored timeline as facts: each tracked value as it changes, deletions, conversions, activities."""
    order = {"created": 0, "assigned": 1}
    facts: list[tuple[Any, ...]] = []
    current: dict[str, Any] = {"deleted": False}

    def value(field: str, at: datetime, new: Any) -> None:
        if current.get(field, ...) != new:
            current[field] = new
            facts.append((field, at, new))

    for event in sorted(events, key=lambda e: (e.occurred_at, order.get(str(e.type), 2))):
        at, payload, kind = event.occurred_at, event.payload, str(event.type)
        if kind == "created":
            value("Status", at, payload["attributes"].get("status"))
            value("Lead_Score__c", at, payload["attributes"].get("lead_score"))
        elif kind == "assigned":
            value("Owner", at, payload["owner"])
        elif kind == "status_changed":
            value("Status", at, payload["new"])
        elif kind == "updated":
            for ours, field in (("lead_score", "Lead_Score__c"), ("deleted", "deleted")):
                if ours in payload["changes"]:
                    value(field, at, payload["changes"][ours])
        elif kind == "deleted":
            value("deleted", at, True)
            if payload.get("merged_into"):
                facts.append(("merged_into", at, payload["merged_into"]))
        elif kind == "converted":
            facts.append(("converted", at, payload.get("opportunity_id")))
        elif kind == "activity":
            facts.append(("activity", at, payload["channel"]))
    return sorted(facts, key=repr)


def true_history(facts: list[tuple[Any, ...]], until: datetime) -> list[tuple[Any, ...]]:
    return sorted((fact for fact in facts if fact[1] <= until), key=repr)


def test_three_syncs_of_a_busy_org_give_every_lead_its_true_timeline(salesforce, make_sf, tmp_path):
    fake, _ = salesforce
    fake.tracked = set(TRACKED)
    fake.page_size = 40
    org = Org(fake, seed=14)
    fake.on_page = org.edit_while_paging
    store = Store(tmp_path / "org.db")
    begin = START
    for until in SYNCS:
        org.period(begin, until, new_leads=100)
        (summary,) = sync_sources(store, [make_sf(**OPTIONS)], until)
        assert not summary.stopped
        org.synced = begin = until
        fake.clock = until + timedelta(hours=1)

        stored = {row["lead_id"] for row in store.db.query("SELECT DISTINCT lead_id FROM events")}
        assert stored == {lead for lead, facts in fake.truth.items() if facts[0][1] <= until}
        wrong = {lead: (fold(store.events.of_lead(lead)), true_history(fake.truth[lead], until))
                 for lead in sorted(stored)
                 if fold(store.events.of_lead(lead)) != true_history(fake.truth[lead], until)}
        assert not wrong, f"after the sync at {until}, {len(wrong)} timelines differ: " + "; ".join(
            f"{lead} missing {sorted(set(truth) - set(got), key=repr)} extra {sorted(set(got) - set(truth), key=repr)}"
            for lead, (got, truth) in list(wrong.items())[:3])

    kinds = [fact[0] for facts in fake.truth.values() for fact in facts]
    # The org did all it was meant to: every behaviour is in the comparison, many times over.
    assert len(fake.truth) == 300
    for kind, least in (("converted", 20), ("merged_into", 8), ("activity", 300), ("Owner", 400),
                        ("deleted", 20)):
        assert kinds.count(kind) >= least, kind
    restored = [f for facts in fake.truth.values() for f in facts if f[0] == "deleted" and f[2] is False]
    assert len(restored) >= 5
    queued = [facts for facts in fake.truth.values() if any(f[0] == "Owner" and str(f[2]).startswith("00G")
                                                            for f in facts)]
    assert len(queued) >= 100
    meetings_later = [f for facts in fake.truth.values() for f in facts if f[0] == "activity" and
                      f[2] == "meeting" and f[1] > SYNCS[0]]
    assert meetings_later
    paging_edits = [r for r in fake.records["LeadHistory"].values() if any(
        s < r["CreatedDate"] <= s + timedelta(minutes=30) for s in SYNCS)]
    assert len(paging_edits) >= 10
