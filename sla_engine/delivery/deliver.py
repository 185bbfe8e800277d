"""``deliver``: send what the outbox holds, once, across cron runs that overlap or die.

Each row goes through claim → send → mark, each step committed on its own (``store.outbox``).
Notifications go through notifier plugins; reassignments, tasks and field changes go
through the lead's source connector when it can push, and are recorded as events so the
next evaluate sees them. Before anything is sent, rows nobody needs any more are retired:
a reminder whose window closed first, an action older than ``max_age``. Run it under the
store's run lock (``Store.locked``); a claim holds even without it: a row another delivery
claimed after this pass read it is left to that one, unsent here (``claimed_elsewhere``), and a
claimed message is ``release``-d once sent or failed (on PostgreSQL, its hold across hosts).

Size: one pass's state (resends, expiry, retirement, notices, CRM actions, the writes batched
between them) in one class; the CRM actions are the next part to move to a module of their own.

A pass streams: messages left in flight by a dead run are resent first, the backlog older than
``max_age`` is expired a page per statement, then due rows are read a page at a time (``batch``
rows). Notices wait in their groups until ``batch`` of them are held, then go out; retirements
and deferrals are written a batch per transaction. What a pass holds is bounded by ``batch``,
not by the outbox's size, so a digest lists at most the notices held at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sla_engine.connector import Connector, FieldChange, OwnerChange, TaskRequest, Update, stable_event
from sla_engine.delivery.message import Item, Message, Templates
from sla_engine.delivery.reassign import eligible, members_of, pick
from sla_engine.delivery.recipients import Address, Directory, Person, Unresolved
from sla_engine.delivery.report import DeliveryReport
from sla_engine.delivery.secrets import MissingSecret, scrub
from sla_engine.delivery.stdout import StdoutNotifier
from sla_engine.engine.compile import build_calendar
from sla_engine.events import EventType, utc
from sla_engine.language.actions import describe_action
from sla_engine.language.model import format_span
from sla_engine.language.policy_set import PolicySet
from sla_engine.language.vocabulary import SHIPPED_CHANNELS, Channels
from sla_engine.safe_text import one_line, safe_link
from sla_engine.store import outbox
from sla_engine.store.db import Store, iso
from sla_engine.store.outbox import ClaimedElsewhere

SOURCE = "sla-engine"
Checkpoint = Callable[[str], None]
DIGESTS = ("off", "run", "day")
DEFAULT_MAX_AGE = timedelta(days=1)
REMINDER_LEVELS = ("warning", "every_after_breach")


class DeliveryFailed(RuntimeError):
    """One action could not be delivered this time; recorded on its row and retried later."""


@dataclass
class _Notice:
    """A notify row ready to send: who, how, and its line in the message."""

    row: dict[str, Any]
    person: Person
    channel: str
    group: str
    item: Item


def _no_checkpoint(_: str) -> None:
    return None


class Delivery:
    """One delivery pass; the state it needs (leads read, notifiers made) lives for the pass only."""

    def __init__(self, policy_set: PolicySet, store: Store, now: datetime, *, dry_run: bool,
                 connectors: Iterable[Connector], people: Mapping[str, Person] | None,
                 notifiers: Mapping[str, Callable[..., Any]] | None, templates_dir: Path | None,
                 digest: str, max_attempts: int, backoff: timedelta, link_template: str | None,
                 checkpoint: Checkpoint | None, max_age: timedelta | None, print_messages: bool = True,
                 batch: int = outbox.BATCH, progress: Callable[[int, int | None], None] | None = None) -> None:
        self.policy_set = policy_set
        self.progress = progress  # told how many rows this pass has taken up (a terminal's bar)
        self.taken = 0
        self.store = store
        self.now = utc(now)
        self.dry_run = dry_run
        self.connectors = {c.event_source(): c for c in connectors}
        self.owners = store.owners.all()
        self.directory = Directory(policy_set, people, self.owners)
        self.factories = dict(notifiers) if notifiers is not None else _plugin_notifiers()
        # The channels whose notifier sends to an address (the shipped ones always do), in the order tried.
        self.addressed = Channels.of({}, [c for c, f in self.factories.items()
                                          if c in SHIPPED_CHANNELS or getattr(f, "address", None)]).addressed
        self.made: dict[str, Any] = {}
        self.templates = Templates(templates_dir)
        if digest not in DIGESTS:
            raise ValueError(f"digest must be one of {', '.join(DIGESTS)}, not {digest!r}")
        self.digest = digest
        self.max_age = max_age
        self.print_messages = print_messages
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.link_template = link_template
        self.checkpoint = checkpoint or _no_checkpoint
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self.batch = batch
        self.leads: dict[str, dict[str, Any]] = {}  # a page's leads: cleared when it holds `batch`
        self.moved: dict[str, tuple[Any, list[Any]]] = {}  # owner and previous owners after this pass reassigned
        self.groups: dict[str, list[_Notice]] = {}
        self.reached: set[str] = set()  # recipients sent a message this pass: a daily digest's later batches go too
        self.held = 0
        self.retiring: list[tuple[str, str, str]] = []
        self.deferring: list[tuple[str, datetime, str]] = []
        self.addressing: list[tuple[str, str, object]] = []
        self.report = DeliveryReport(dry_run=dry_run)

    # ------------------------------------------------------------ the pass
    def run(self) -> DeliveryReport:
        self.resend_in_flight()
        self.expire_backlog()
        for row in self.store.outbox.due(self.now, self.batch):
            self.take(row)
            if self.held >= self.batch:
                self.flush()
            elif len(self.retiring) + len(self.deferring) + len(self.addressing) >= self.batch:
                self.write()
        self.flush()
        return self.report

    def resend_in_flight(self) -> None:
        """Finish what a dead run claimed, each message whole: its rows go out together under their key."""
        message: str | None = None
        for row in self.store.outbox.in_flight(self.batch):
            if row["idempotency_key"] != message and self.held >= self.batch:
                self.flush()  # only between messages: a resend split in two would reuse one key for both
            message = row["idempotency_key"]
            self.take(row)
        self.flush()

    def expire_backlog(self) -> None:
        """Expire what waited longer than max_age in a few set-based statements, before reading any row.

        A dry run changes nothing, so it counts them as it reads them (``retired``).
        """
        if self.max_age is None or self.dry_run:
            return
        self.report.expired += self.store.outbox.expire(self.now - self.max_age, self.expired_tail(), self.batch)

    def take(self, row: dict[str, Any]) -> None:
        """One due row: retired, held for sending, or (a CRM action) done now."""
        self.taken += 1
        if self.progress is not None:
            self.progress(self.taken, None)
        if self.retired(row):
            return
        kind = row["action"].get("action")
        try:
            if kind == "notify":
                notice = self.plan_notice(row)
                if notice is not None:
                    self.groups.setdefault(notice.group, []).append(notice)
                    self.held += 1
            elif kind in ("reassign", "task", "set"):
                self.crm_action(row)
            else:
                raise Unresolved(f"unknown action {kind!r}")
        except (Unresolved, DeliveryFailed, MissingSecret) as error:
            self.failed([row], str(error), count_attempt=row["status"] != outbox.SENDING)

    def flush(self) -> None:
        """Write what waits to be written, then send the notices held, one message per group."""
        self.write()
        groups, self.groups, self.held = self.groups, {}, 0
        try:
            for notices in groups.values():
                self.send(notices)
        finally:
            self.close_notifiers()
        self.write()  # a daily digest's deferrals

    def close_notifiers(self) -> None:
        """The end of a batch: a notifier that keeps a connection for one (email's SMTP session) closes it."""
        for notifier in self.made.values():
            close = getattr(notifier, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # every message of the batch is already recorded
                    continue

    def write(self) -> None:
        """Recipients noted, retirements and deferrals, a batch per transaction (a dry run writes nothing)."""
        if self.addressing and not self.dry_run:
            self.store.outbox.address(self.addressing)
        if self.retiring and not self.dry_run:
            self.store.outbox.retire(self.retiring)
        if self.deferring and not self.dry_run:
            self.store.outbox.defer(self.deferring)
        self.retiring, self.deferring, self.addressing = [], [], []

    # ------------------------------------------------------------ rows nobody needs any more
    def retired(self, row: dict[str, Any]) -> bool:
        """Retire a row instead of sending it: twice interrupted, expired or obsolete. True when retired."""
        if row["status"] == outbox.SENDING:
            if row["sends"] < outbox.MAX_SENDS:
                return False  # finish what a dead run started, with the same idempotency key
            reason: str | None
            status, reason = outbox.DEAD, (f"interrupted {row['sends']} times while being sent; not sent again "
                                           "(it may have arrived: check with the recipient)")
            self.report.note_dead(row)
            self.report.note_error(row["key"], reason)
        elif (reason := self.expired_reason(row)) is not None:
            status = outbox.EXPIRED
            self.report.expired += 1
        elif (reason := obsolete_reason(row, self.instance(row), self.level_when(row))) is not None:
            status = outbox.OBSOLETE
            self.report.obsolete += 1
        else:
            return False
        self.retiring.append((row["key"], status, reason))
        return True

    def expired_reason(self, row: dict[str, Any]) -> str | None:
        """Due (or last allowed to go, after quiet hours or backoff) longer ago than max_age."""
        if self.max_age is None:
            return None
        since = datetime.fromisoformat(row["next_attempt_at"] or row["due_at"])
        if self.now - since <= self.max_age:
            return None
        return f"due {row['due_at'][:16]}{self.expired_tail()}"

    def expired_tail(self) -> str:
        return f", more than {_span(self.max_age)} before delivery ({iso(self.now)[:16]})" if self.max_age else ""

    def instance(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The row's window instance as stored now (due, status, stopped), or None when withdrawn."""
        return self.store.instances.timing(f"{row['lead_id']}|{row['policy']}|{row['window']}|{row['cycle']}")

    def level_when(self, row: dict[str, Any]) -> str | None:
        level = self.level(row)
        return level.when if level else None

    def window(self, row: dict[str, Any]) -> Any:
        policy = self.policy_set.policies.get(row["policy"])
        return next((w for w in policy.windows if w.name == row["window"]), None) if policy else None

    def level(self, row: dict[str, Any]) -> Any:
        window = self.window(row)
        return next((e for e in window.escalations if e.label == row["level"]), None) if window else None

    # ------------------------------------------------------------ notifications
    def plan_notice(self, row: dict[str, Any]) -> _Notice | None:
        action = row["action"]
        lead = self.lead(row["lead_id"])
        if row["status"] == outbox.SENDING and row["recipient"]:
            person = claimed_person(row)  # a resend goes to whom the interrupted send went, not today's owner
        else:
            person = self.directory.resolve(action.get("recipient") or {}, lead)
        channel, address = person.channel(action.get("channel"), self.addressed)
        if channel not in self.factories:
            raise Unresolved(f"no notifier for channel {channel!r} (install the plugin that provides it)")
        if row["status"] != outbox.SENDING:  # whom it is for, sent or not: `outbox --recipient`, `--owner`
            self.addressing.append((row["key"], f"{channel}:{address.ident}", lead.get("owner")))
        if row["status"] != outbox.SENDING and self.quiet(row, person):
            return None
        if row["status"] == outbox.SENDING and row["idempotency_key"]:
            group = f"inflight:{row['idempotency_key']}"
        elif self.digest != "off":
            group = f"{channel}:{address.ident}"
        else:
            group = f"row:{row['key']}"
        return _Notice(row, person, channel, group, self.item(row, lead))

    def quiet(self, row: dict[str, Any], person: Person) -> bool:
        """Quiet hours (the level's or window's) and the recipient's own hours, at delivery time."""
        names = [self.quiet_hours(row), person.calendar]
        for name in names:
            decl = self.policy_set.calendars.get(name or "")
            if decl is None:
                continue
            calendar = build_calendar(decl)
            if not calendar.is_open(self.now):
                until = utc(calendar.next_open(self.now))
                self.report.deferred += 1
                self.deferring.append((row["key"], until, f"quiet hours {name} until {iso(until)}"))
                return True
        return False

    def quiet_hours(self, row: dict[str, Any]) -> str | None:
        window = self.window(row)
        if window is None:
            return None
        level = self.level(row)
        return (level.quiet_hours if level else None) or window.quiet_hours

    def digest_waits(self, notices: list[_Notice], recipient: str) -> bool:
        """One digest a day: a recipient who had one today gets the rest at the next local midnight."""
        if self.digest != "day" or recipient in self.reached:
            return False
        last = self.store.outbox.last_sent_to(recipient)
        zone = self.zone_of(notices[0])
        today = self.now.astimezone(zone).date()
        if last is None or last.astimezone(zone).date() < today:
            return False
        tomorrow = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)
        self.report.deferred += len(notices)
        reason = f"daily digest: one went to {recipient} today; next after {iso(utc(tomorrow))[:16]}"
        self.deferring.extend((n.row["key"], utc(tomorrow), reason) for n in notices)
        return True

    def zone_of(self, notice: _Notice) -> Any:
        """The day of a daily digest is the recipient's (their calendar), else the policy's, else UTC."""
        from zoneinfo import ZoneInfo

        policy = self.policy_set.policies.get(notice.row["policy"])
        for name in (notice.person.calendar, policy.calendar if policy else None):
            decl = self.policy_set.calendars.get(name or "")
            if decl is not None and decl.timezone:
                return ZoneInfo(decl.timezone)
        return ZoneInfo("UTC")

    def send(self, notices: list[_Notice]) -> None:
        first = notices[0]
        keys = [n.row["key"] for n in notices]
        inflight = first.row["status"] == outbox.SENDING and first.row["idempotency_key"]
        idem = first.row["idempotency_key"] if inflight else outbox.idempotency_key(keys)
        try:
            address = first.person.channel(first.channel, self.addressed)[1]
            message = Message(channel=first.channel, address=address.reveal(),
                              recipient=first.person.name, items=tuple(n.item for n in notices),
                              idempotency_key=idem, templates=self.templates)
        except (MissingSecret, Unresolved) as error:
            self.failed([n.row for n in notices], str(error), count_attempt=not inflight)
            return
        recipient = f"{first.channel}:{first.person.channel(first.channel, self.addressed)[1].ident}"
        if not inflight and self.digest_waits(notices, recipient):
            return
        if self.dry_run:
            self.report.note_planned({"channel": first.channel, "recipient": recipient, "keys": keys,
                                      "subject": message.subject(), "text": message.text()})
            if self.print_messages:
                self.notifier("stdout", fallback=True).send(message)
            return
        self.checkpoint("claim")
        try:
            self.store.outbox.claim([n.row for n in notices], idem, recipient, json.dumps({"name": first.person.name}))
        except ClaimedElsewhere:
            self.report.claimed_elsewhere += len(keys)
            return
        try:
            self.checkpoint("claimed")
            try:
                self.notifier(first.channel).send(message)
            except Exception as error:  # a notifier's failure is recorded on the row, never a crash
                self.failed([n.row for n in notices], f"{type(error).__name__}: {error}")
                return
            self.checkpoint("sent")
            self.store.outbox.mark_sent(keys, self.now)
            self.checkpoint("marked")
        finally:
            self.store.outbox.release(idem)
        self.reached.add(recipient)
        self.report.sent += len(keys)
        self.report.messages += 1
        self.report.resent += len(keys) if inflight else 0

    def notifier(self, channel: str, fallback: bool = False) -> Any:
        if channel not in self.made:
            factory = self.factories.get(channel)
            if factory is None and fallback:
                factory = StdoutNotifier
            if factory is None:
                raise DeliveryFailed(f"no notifier for channel {channel!r}")
            self.made[channel] = factory()
        return self.made[channel]

    # ------------------------------------------------------------ CRM actions
    def crm_action(self, row: dict[str, Any]) -> None:
        action = row["action"]
        lead_id = row["lead_id"]
        if not lead_id:
            raise Unresolved(f"{describe_action(action)} needs a lead")
        lead = self.lead(lead_id)
        inflight = row["status"] == outbox.SENDING
        detail = json.loads(row["detail"]) if inflight and (row["detail"] or "").startswith("{") else {}
        kind = action["action"]
        update: Update
        event_type = EventType.UPDATED
        payload: dict[str, Any] = {}
        if kind == "reassign":
            team = str(action.get("team"))
            owner = detail.get("owner")
            if owner is None:
                candidates = eligible(self.policy_set, action, self.as_people(lead), self.now)
                members = members_of(self.policy_set, team)
                owner = pick(self.store, team, members, candidates) if action.get("round_robin") else (
                    candidates[0] if candidates else pick(self.store, team, members, []))
                detail = {"owner": owner}
            crm_id = self.crm_owner(self.push_target(lead_id), owner, f"team {team!r}")
            update = OwnerChange(key=row["key"], lead_id=lead_id, owner=crm_id)
            event_type, payload = EventType.ASSIGNED, {"owner": crm_id, "team": team}
        elif kind == "task":
            who = action.get("recipient") or {"kind": "owner"}
            person = self.directory.resolve(who, lead) if who.get("kind") != "named" else None
            assignee = None
            if person is not None:
                email = person.addresses["email"].literal if "email" in person.addresses else None
                assignee = self.crm_owner(self.push_target(lead_id), email or person.key, "the task's assignee")
            due = action.get("due")
            due_at = self.now + timedelta(seconds=_seconds(due)) if due else None
            update = TaskRequest(key=row["key"], lead_id=lead_id, subject=str(action.get("subject")),
                                 description=f"SLA {row['policy']}/{row['window']} {row['level']}",
                                 due_at=due_at, owner=assignee)
            detail = {"task": update.subject, "owner": assignee}
        else:
            value = (action.get("value") or {}).get("value")
            update = FieldChange(key=row["key"], lead_id=lead_id, field=str(action.get("field")), value=value)
            payload = {"changes": {update.field: value}}
            detail = {"set": update.field, "value": value}
        target = self.push_target(lead_id)
        if self.dry_run:
            self.report.note_planned({"action": describe_action(action), "lead_id": lead_id, "keys": [row["key"]],
                                      "via": target.name if target else "recorded only", **detail})
            return
        self.checkpoint("claim")
        via = target.name if target else None
        idem = outbox.idempotency_key([row["key"]])
        try:
            with self.store.transaction():  # the round robin's turn moves only with the claim
                if kind == "reassign" and not inflight and action.get("round_robin"):
                    self.store.round_robin.remember_pick(str(action.get("team")), detail["owner"], self.now)
                self.store.outbox.claim([row], idem, via, json.dumps(detail, sort_keys=True))
        except ClaimedElsewhere:
            self.report.claimed_elsewhere += 1
            return
        try:
            self.checkpoint("claimed")
            if not self.push(target, update, row):
                return
            self.checkpoint("sent")
            with self.store.transaction():
                if kind in ("reassign", "set"):
                    event = stable_event(source=SOURCE, lead_id=lead_id, type=event_type, occurred_at=self.now,
                                         key=row["key"], payload=payload)
                    self.store.events.upsert([event], None)
                self.store.outbox.mark_sent([row["key"]], self.now)
            self.checkpoint("marked")
        finally:
            self.store.outbox.release(idem)
        if isinstance(update, OwnerChange):  # a later action of this pass (a task for the owner) sees the new one
            self.moved[lead_id] = (update.owner, [*lead.get("previous_owners", []), lead.get("owner")])
            lead["previous_owners"], lead["owner"] = self.moved[lead_id][1], update.owner
        self.report.sent += 1

    def push(self, target: Connector | None, update: Update, row: dict[str, Any]) -> bool:
        """Write a claimed CRM action through its lead's source (none: recorded only); False when it failed."""
        if target is None:
            self.report.recorded_only += 1
            return True
        try:
            results = {r.key: r for r in target.push([update])}
            result = results.get(row["key"])
            if result is None or not result.ok:
                raise DeliveryFailed(result.error if result else "no result for this update")
        except Exception as error:  # recorded on the row (scrubbed), retried on a later run
            self.failed([row], f"{target.name}: {error}")
            return False
        return True

    def as_people(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """The lead with its owner and previous owners as emails where the CRM's users say so."""
        def email(ident: Any) -> Any:
            owner = self.owners.get(str(ident)) if ident else None
            return owner.email if owner is not None and owner.email else ident
        return {**lead, "owner": email(lead.get("owner")),
                "previous_owners": [email(p) for p in lead.get("previous_owners") or []]}

    def crm_owner(self, target: Connector | None, who: str, role: str) -> str:
        """The id ``target`` knows a person by, found by email among the users synced from it.

        A target with no users synced (a CSV file) takes the person as written. A person with no
        active user there fails here, before anything is sent, naming the person and the CRM.
        """
        if target is None or not self.store.owners.has_owners(target.name):
            return who
        if who in self.owners and self.owners[who].active:
            return who  # already one of its ids
        found = self.store.owners.id_for(target.name, who)
        if found is None:
            raise Unresolved(f"{who} ({role}) has no active user in {target.name}: add the user in that CRM "
                             "(with this email) or change the policy; nothing was sent")
        return found

    def push_target(self, lead_id: str) -> Connector | None:
        """The lead's source connector, when it can write owner changes, tasks and fields back."""
        for source in self.store.events.sources_of(lead_id, besides=SOURCE):
            connector = self.connectors.get(source)
            if connector is not None and connector.takes_actions():
                return connector
        return None

    # ------------------------------------------------------------ helpers
    def lead(self, lead_id: str) -> dict[str, Any]:
        """The lead as the last run folded it, with an owner this pass gave it; a page's worth kept."""
        if lead_id not in self.leads:
            if len(self.leads) >= self.batch:
                self.leads.clear()
            lead = self.store.leads.state(lead_id)
            if lead_id in self.moved:
                lead["owner"], lead["previous_owners"] = self.moved[lead_id]
            self.leads[lead_id] = lead
        return self.leads[lead_id]

    def item(self, row: dict[str, Any], lead: Mapping[str, Any]) -> Item:
        action = row["action"]
        target = action.get("target")
        review = action.get("review")
        if review:  # the weekly review (`report --send`): its title and one-line summary
            return Item(key=row["key"], lead_id="", lead_name=str(review.get("title")), company="-",
                        policy=row["policy"], window=row["window"], level=row["level"],
                        timing=str(review.get("counts")), owner="-", link="", action=str(review.get("details")))
        name = " ".join(str(lead[k]) for k in ("first_name", "last_name") if lead.get(k)) or str(
            lead.get("name") or lead.get("email") or row["lead_id"] or (target or {}).get("target", ""))
        link = safe_link(lead.get("url"))  # http(s) only: a link from data is never javascript:
        if not link and self.link_template and row["lead_id"]:
            link = safe_link(self.link_template.replace("{lead_id}", quote(row["lead_id"], safe="")))
        # Every field from data is one line without control characters: it goes into headers and subjects.
        return Item(key=row["key"], lead_id=one_line(row["lead_id"] or ""), lead_name=one_line(name),
                    company=one_line(lead.get("company") or "-"), policy=row["policy"], window=row["window"],
                    level=row["level"], timing=self.timing(row), owner=one_line(lead.get("owner") or "-"),
                    link=link, action=one_line(describe_action(action)))

    def timing(self, row: dict[str, Any]) -> str:
        target = row["action"].get("target")
        if target:
            grade = target.get("grade") or "missed"
            return f"{grade} {', '.join(target.get('periods') or [])} (goal {target.get('goal')})"
        found = self.instance(row)
        if not found or not found["due_at"]:
            return "due " + row["due_at"][:16]
        due = datetime.fromisoformat(found["due_at"])
        if found["stopped_at"]:
            return f"{found['status']} (stopped {found['stopped_at'][:16]})"
        if due <= self.now:
            return f"overdue by {format_span(self.now - due)}"
        return f"{format_span(due - self.now)} left"

    def failed(self, rows: list[dict[str, Any]], error: str, count_attempt: bool = False) -> None:
        """Record a failure: retried after a backoff, dead after ``max_attempts``. A row a dead run left in
        flight may have arrived then, so when its resend fails it is given up as dead, not retried: a
        new claim would make it a new message (a third copy, or its item inside another digest)."""
        message = scrub(error)
        for row in rows:
            self.report.note_error(row["key"], message)
        if self.dry_run:
            return
        doubtful = [row for row in rows if row["status"] == outbox.SENDING]
        if doubtful:
            reason = (f"interrupted while being sent, then its resend failed ({message}); not sent again "
                      "(it may have arrived: check with the recipient)")
            self.store.outbox.retire([(row["key"], outbox.DEAD, reason) for row in doubtful])
            for row in doubtful:
                self.report.note_dead(row)
        keys = [row["key"] for row in rows if row["status"] != outbox.SENDING]
        if not keys:
            return
        dead = self.store.outbox.mark_failed(keys, message, self.now, max_attempts=self.max_attempts,
                                             backoff=self.backoff, count_attempt=count_attempt)
        self.report.failed += len(keys) - len(dead)
        for row in rows:
            if row["key"] in dead:
                self.report.note_dead(row)


def obsolete_reason(row: Mapping[str, Any], instance: Mapping[str, Any] | None, level_when: str | None) -> str | None:
    """Why an action should not go out any more, or None.

    Every action of a window that stopped before the action came due (an event arrived late)
    was never really due. A window that stopped later but before delivery (quiet hours, a
    receiver that was down) makes reminders, reassignments and tasks pointless; a breach
    notice and a field change still report what happened, so they go.
    """
    if row["action"].get("target") or not row["lead_id"]:
        return None  # a period target's escalation has no window
    if instance is None:
        return "its window no longer exists (the lead's history changed)"
    if not instance["stopped_at"]:
        return None
    stopped, status = instance["stopped_at"], instance["status"]
    if datetime.fromisoformat(stopped) <= datetime.fromisoformat(row["due_at"]):
        return f"the window stopped ({status}) at {stopped[:16]}, before this came due"
    kind = row["action"].get("action")
    if kind in ("reassign", "task") or (kind == "notify" and level_when in REMINDER_LEVELS):
        return f"the window stopped ({status}) at {stopped[:16]}, before this went out"
    return None


def _span(delta: timedelta) -> str:
    """A maximum age as it was most likely written: 1d, 12h, 90m."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _seconds(duration: Mapping[str, Any]) -> float:
    from sla_engine.language.model import UNIT_SECONDS

    return float(duration.get("amount", 0)) * UNIT_SECONDS.get(str(duration.get("unit")), 0)


def _plugin_notifiers() -> dict[str, Callable[..., Any]]:
    from sla_engine.plugins import notifiers

    return notifiers()


def deliver(policy_set: PolicySet, store: Store, as_of: datetime, *, dry_run: bool = False,
            connectors: Iterable[Connector] = (), people: Mapping[str, Person] | None = None,
            notifiers: Mapping[str, Callable[..., Any]] | None = None, templates_dir: Path | None = None,
            digest: str | bool = "off", max_attempts: int = 5, backoff: timedelta = timedelta(minutes=5),
            link_template: str | None = None, checkpoint: Checkpoint | None = None,
            max_age: timedelta | None = DEFAULT_MAX_AGE, print_messages: bool = True,
            batch: int = outbox.BATCH, progress: Callable[[int, int | None], None] | None = None) -> DeliveryReport:
    """Deliver every due outbox row once. Hold ``store.locked()`` around it.

    ``notifiers`` maps channel → factory (default: the plugins'); ``digest`` is ``"run"`` for
    one message per recipient per run, ``"day"`` for at most one a day (True means ``"run"``);
    ``max_age`` expires rows due longer ago (None: never); a dry run prints each message on
    stdout unless ``print_messages`` is False; ``checkpoint`` is called between steps (tests
    inject crashes there); ``batch`` bounds the rows read, held and written at once.
    """
    mode = "run" if digest is True else "off" if digest is False else digest
    return Delivery(policy_set, store, as_of, dry_run=dry_run, connectors=connectors, people=people,
                    notifiers=notifiers, templates_dir=templates_dir, digest=mode, max_attempts=max_attempts,
                    backoff=backoff, link_template=link_template, checkpoint=checkpoint, max_age=max_age,
                    print_messages=print_messages, batch=batch, progress=progress).run()


def claimed_person(row: Mapping[str, Any]) -> Person:
    """Who a message in flight was claimed for (``channel:address`` and the name), so its resend
    reaches the same person even if the lead was reassigned since: same key, same recipient."""
    channel, _, ident = str(row["recipient"]).partition(":")
    address = Address(env=ident.removeprefix("env:")) if ident.startswith("env:") else Address(literal=ident)
    detail = json.loads(row["detail"]) if str(row.get("detail") or "").startswith("{") else {}
    return Person(key=ident, name=str(detail.get("name") or ident), addresses={channel: address})
