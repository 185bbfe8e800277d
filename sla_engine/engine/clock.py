"""One window's clock for one lead: its instances, started, paused, stopped, breached and
escalated event by event, as docs/semantics.md says."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sla_engine.engine.calendar import CALENDAR_TIME, BusinessCalendar
from sla_engine.engine.compile import CompiledPolicy, CompiledPolicySet, CompiledTrigger, CompiledWindow
from sla_engine.engine.conditions import Context
from sla_engine.engine.status import ClockStatus
from sla_engine.engine.trace import Part, TraceLine
from sla_engine.events import Disposition, Event, EventType, LeadEvent, utc
from sla_engine.language import model as m

RUNNING, PAUSED, MET, BREACHED, CANCELLED, NOT_APPLICABLE = (
    ClockStatus.RUNNING, ClockStatus.PAUSED, ClockStatus.MET, ClockStatus.BREACHED, ClockStatus.CANCELLED,
    ClockStatus.NOT_APPLICABLE,
)
MAX_REPEATS = 500  # an `every N after breach` reminder stops after this many, whatever N is


def elapsed_business(calendar: BusinessCalendar, start: datetime, end: datetime, paused_seconds: float) -> timedelta:
    """A clock's business time from start to end less the time it spent paused; never negative."""
    return max(calendar.diff(start, end) - timedelta(seconds=paused_seconds or 0), timedelta(0))




@dataclass
class Instance:
    """One run of one SLA clock for one lead: the unit that is met or breached."""

    lead_id: str
    policy: str
    window: str
    cycle: int
    tier: str | None
    started_at: datetime
    status: str = RUNNING
    due_at: datetime | None = None
    stopped_at: datetime | None = None
    breached_at: datetime | None = None
    warning_at: datetime | None = None
    cancelled_reason: str | None = None
    met_late: bool = False
    goal: str | None = None
    calendar: str | None = None
    paused_seconds: float = 0.0
    paused_since: datetime | None = None
    policy_hash: str = ""
    ended_at: datetime | None = None  # when a breached clock was ended by a delete, disqualification or recycle

    @property
    def key(self) -> str:
        return f"{self.lead_id}|{self.policy}|{self.window}|{self.cycle}"

    @property
    def finished(self) -> bool:
        """Stopped, cancelled, not applicable, or a breached clock ended by a delete, disqualification or recycle."""
        return (self.stopped_at is not None or self.status in (CANCELLED, NOT_APPLICABLE)
                or self.cancelled_reason is not None)

    def as_row(self) -> dict[str, Any]:
        row = vars(self).copy()  # the fields, in order; flat: no deep copy needed
        for key in _INSTANT_FIELDS:
            value = row[key]
            if value is not None:
                row[key] = utc(value).isoformat()
        row["key"] = self.key
        return row


_INSTANT_FIELDS = tuple(f.name for f in fields(Instance) if "datetime" in str(f.type))  # stored as ISO text


@dataclass
class DueAction:
    """An escalation action whose instant has come; keyed so it is recorded once.

    ``action`` is the policy's action as JSON, shared by every DueAction of that action: read it, do not change it.
    """

    lead_id: str
    policy: str
    window: str
    cycle: int
    level: str
    level_index: int
    repeat: int
    action_index: int
    action: dict[str, Any]
    due_at: datetime

    @property
    def key(self) -> str:
        return (f"{self.lead_id}|{self.policy}|{self.window}|{self.cycle}|"
                f"{self.level_index}.{self.repeat}|{self.action_index}")


class Clock:
    """The instances of one window for one lead, advanced event by event."""

    __slots__ = ("cal", "current", "ev", "goal", "instances", "lead_id", "pauses", "policy",
                 "policy_hash", "recycled_since_start", "start_was_true", "trace", "window")

    def __init__(self, evaluator: CompiledPolicySet, policy: CompiledPolicy, window: CompiledWindow,
                 lead_id: str, policy_hash: str, trace: list[TraceLine] | None) -> None:
        self.ev = evaluator
        self.policy = policy
        self.window = window
        self.lead_id = lead_id
        self.policy_hash = policy_hash
        self.trace = trace
        self.instances: list[Instance] = []
        self.current: Instance | None = None
        self.start_was_true = False
        self.recycled_since_start = False
        self.goal: m.Goal | None = None
        self.cal: BusinessCalendar = CALENDAR_TIME
        self.pauses: dict[int, list[tuple[datetime, datetime]]] = {}  # each cycle's ended pauses, [paused, resumed)

    @property
    def running(self) -> bool:
        """Whether the current instance is unfinished: then every event may change it."""
        inst = self.current
        return inst is not None and not inst.finished

    def _say(self, t: datetime, *words: Part) -> None:
        """A trace line about this clock; instants among the words are shown in the reader's zone."""
        if self.trace is not None:
            self.trace.append(TraceLine(t, words, (self.policy.decl.name, self.window.decl.name)))

    # ------------------------------------------------------------ time passing
    def advance_to(self, t: datetime) -> None:
        """A running clock whose deadline passes before t is breached, and stays breached."""
        inst = self.current
        if inst is None or inst.finished or inst.status == BREACHED or inst.paused_since is not None:
            return
        if inst.due_at is not None and inst.due_at < t:
            inst.status = BREACHED
            inst.breached_at = inst.due_at
            if self.trace is not None:
                self._say(inst.due_at, "breached: the deadline passed")

    # ------------------------------------------------------------ events
    def on_event(self, event: Event, t: datetime, ctx: Context, recycled: bool) -> None:
        inst = self.current
        if inst is not None and not inst.finished:
            ctx.window_start = inst.started_at
            self._running_event(inst, event, t, ctx)
        if recycled:
            self.recycled_since_start = True
            if inst is not None and not inst.finished and self.window.decl.restarts_on_recycle:
                self._close(inst, t, "recycled")
        start = self.window.start
        if start is None:
            return
        ctx.window_start = t
        fired = self._fires(start, event, ctx, edge_state="start")
        if not fired:
            return
        if self.current is not None and not self._may_restart():
            return
        if self.current is not None and not self.current.finished:
            return
        self._start(t, ctx)

    def _may_restart(self) -> bool:
        return self.window.decl.restarts_on_recycle and self.recycled_since_start

    def _fires(self, trigger: CompiledTrigger, event: Event, ctx: Context, edge_state: str) -> bool:
        if trigger.event is not None:
            if event.type != trigger.event:
                return False
            if trigger.by_owner:
                owner = ctx.history[-1][1] if ctx.history else None
                by = event.payload.get("by")
                if not by or not owner or str(by).casefold() != str(owner).casefold():
                    return False
            return trigger.where is None or bool(trigger.where(ctx))
        now = bool(trigger.condition(ctx)) if trigger.condition else False
        if edge_state == "start":
            was, self.start_was_true = self.start_was_true, now
            return now and not was
        return now

    def _start(self, t: datetime, ctx: Context) -> None:
        policy = self.policy
        if policy.applies is not None and not policy.applies(ctx):
            return
        if policy.effective_at is not None and t < policy.effective_at:
            self._say(t, "clock would start, but the policy takes effect only at ", policy.effective_at)
            return
        cycle = len(self.instances) + 1
        tier = self._tier(ctx, explain_at=t)
        goal = self.window.decl.goal_for(tier) if (tier or not policy.tiers) else None
        inst = Instance(
            lead_id=self.lead_id, policy=policy.decl.name, window=self.window.decl.name,
            cycle=cycle, tier=tier, started_at=t, policy_hash=self.policy_hash,
        )
        self.instances.append(inst)
        self.current = inst
        self.pauses[cycle] = []
        self.recycled_since_start = False
        if goal is None:
            inst.status = NOT_APPLICABLE
            self._say(t, f"clock would start, but tier {tier or 'none'} has no goal: not applicable")
            return
        self._retarget(inst, goal)
        if self.trace is not None:
            self._say(t, f"clock starts (cycle {cycle}, tier {tier or '-'}); {inst.goal} on {self.cal.name} → due ",
                      inst.due_at)
        self._running_event(inst, None, t, ctx)

    def _tier(self, ctx: Context, explain_at: datetime | None = None) -> str | None:
        for tier, condition in self.policy.tiers:
            matched = condition is None or bool(condition(ctx))
            if explain_at is not None and self.trace is not None:
                self._say(explain_at, f"tier {tier.name}? {self.ev.why(tier.when, ctx)} → "
                                      f"{'yes' if matched else 'no'}")
            if matched:
                return tier.name
        return None

    def _retarget(self, inst: Instance, goal: m.Goal) -> None:
        """(Re)compute the deadline from the start on the goal's calendar, the ended pauses measured on it.

        A tier change keeps the elapsed business time; its paused spans are re-measured on the new calendar.
        """
        self.goal = goal
        self.cal = self.ev.calendar_for(self.policy.decl, self.window.decl, goal)
        inst.goal = m.format_duration(goal.duration)
        inst.calendar = self.cal.name
        self._measure_pauses(inst)
        duration = goal.duration
        if duration.business_days:
            base = self.cal.add_business_days(inst.started_at, duration.days)
        else:
            base = self.cal.add(inst.started_at, timedelta(seconds=duration.seconds))
        budget = self.cal.diff(inst.started_at, base)  # the goal's business time
        # Always add, even nothing: business days may end at a closing, and the count lands at the next opening.
        inst.due_at = utc(self.cal.add(base, timedelta(seconds=inst.paused_seconds)))
        inst.warning_at = self._warning_at(inst, budget)

    def _measure_pauses(self, inst: Instance) -> None:
        inst.paused_seconds = sum(
            (self.cal.diff(paused, resumed) for paused, resumed in self.pauses.get(inst.cycle, ())), timedelta(0),
        ).total_seconds()

    def _warning_at(self, inst: Instance, budget: timedelta) -> datetime | None:
        """The earliest warning: when the clock's running business time reaches a share of the goal's."""
        assert inst.due_at is not None
        warnings = self.window.decl.warnings
        if not warnings:
            return None
        candidates: list[datetime] = []
        for warning in warnings:
            if warning.percent is not None:
                candidates.append(self._running_reaches(inst, budget * (warning.percent / 100)))
            elif warning.before is not None:
                before = timedelta(seconds=warning.before.seconds)
                if (warning.before.business or self.cal is CALENDAR_TIME) and budget > before:
                    candidates.append(self._running_reaches(inst, budget - before))
                elif not warning.before.business and self.cal is not CALENDAR_TIME:
                    candidates.append(inst.due_at - before)
        return utc(min(candidates)) if candidates else None

    def _running_reaches(self, inst: Instance, amount: timedelta) -> datetime:
        """The instant the clock has run `amount` of business time since its start, skipping the ended
        pauses: a count that runs out just as a pause begins lands where it ends, as the deadline does."""
        cursor, left = inst.started_at, amount
        for paused, resumed in self.pauses.get(inst.cycle, ()):
            reached = self.cal.add(cursor, left)
            if reached < paused:
                return reached
            left -= self.cal.diff(cursor, paused)
            cursor = max(cursor, resumed)
        return self.cal.add(cursor, left)

    def _running_event(self, inst: Instance, event: Event | None, t: datetime, ctx: Context) -> None:
        """At each event: re-target on a tier change, then stop, else cancel, else pause.

        A stop wins over a cancellation at the same event: a disqualification or recycle
        with a reason code is exactly what a feedback window asks for.
        """
        if inst.finished or inst.status == NOT_APPLICABLE:
            return
        if inst.status != BREACHED:
            tier = self._tier(ctx)
            if tier is not None and tier != inst.tier:
                goal = self.window.decl.goal_for(tier)
                if goal is not None:
                    self._say(t, f"tier changes {inst.tier} → {tier}; goal re-targeted")
                    inst.tier = tier
                    self._retarget(inst, goal)
        if self._stops(event, ctx):
            self._stop(inst, t)
            return
        fields = ctx.state.fields
        if fields.get("deleted") or fields.get("disposition") == Disposition.DISQUALIFIED:
            reason = "deleted" if fields.get("deleted") else "disqualified"
            if event is None or event.type in (EventType.DELETED, EventType.DISPOSITION):
                self._close(inst, t, reason)
                return
        self._pause(inst, t, ctx)

    def _stops(self, event: Event | None, ctx: Context) -> bool:
        stop = self.window.stop
        if stop is None:
            return False
        if event is None:
            # At the start instant only a condition can already hold; an event stop needs a later event.
            return stop.event is None and self._fires(stop, NO_EVENT, ctx, edge_state="stop")
        return self._fires(stop, event, ctx, edge_state="stop")

    def _pause(self, inst: Instance, t: datetime, ctx: Context) -> None:
        """Pause or resume. After a breach the deadline stays, but paused time still leaves elapsed time."""
        if self.window.pause is None:
            return
        paused = bool(self.window.pause(ctx))
        if paused and inst.paused_since is None:
            inst.paused_since = t
            if inst.status != BREACHED:
                inst.status = PAUSED
            self._say(t, "clock paused")
        elif not paused and inst.paused_since is not None:
            self._end_pause(inst, t)
            if self.trace is not None:
                if inst.status == BREACHED:
                    self._say(t, "clock resumes (already breached: the deadline stays)")
                else:
                    self._say(t, "clock resumes; deadline moves to ", inst.due_at)

    def _end_pause(self, inst: Instance, t: datetime) -> None:
        """The pause in progress ends at t: it is measured, and moves the deadline unless the clock breached."""
        if inst.paused_since is None:
            return
        self.pauses.setdefault(inst.cycle, []).append((inst.paused_since, t))
        inst.paused_since = None
        if inst.status == BREACHED:
            self._measure_pauses(inst)
            return
        inst.status = RUNNING
        if self.goal is not None:
            self._retarget(inst, self.goal)
        else:
            self._measure_pauses(inst)

    def _stop(self, inst: Instance, t: datetime) -> None:
        self._end_pause(inst, t)  # a stop while paused: the pause so far counts
        inst.stopped_at = t
        if inst.status == BREACHED or (inst.due_at is not None and t > inst.due_at):
            inst.status = BREACHED
            inst.breached_at = inst.breached_at or inst.due_at
            inst.met_late = True
            self._say(t, "stopped after the deadline: met late, recorded as breached")
        else:
            inst.status = MET
            if self.trace is not None:
                left = self.cal.diff(t, inst.due_at) if inst.due_at else timedelta(0)
                self._say(t, f"stopped: met with {m.format_span(left)} to spare")

    def _close(self, inst: Instance, t: datetime, reason: str) -> None:
        """Deleted, disqualified or recycled: no longer owed. A breach stays, ended for good: no later event
        stops it and no level falls after t."""
        self._end_pause(inst, t)
        inst.cancelled_reason = reason
        if inst.status == BREACHED:
            inst.ended_at = t
            self._say(t, f"breached clock ends ({reason}): no later contact stops it")
            return
        inst.status = CANCELLED
        inst.stopped_at = t
        self._say(t, f"cancelled ({reason})")

    # ------------------------------------------------------------ escalations
    def say_warning(self, inst: Instance) -> None:
        if inst.warning_at is not None:
            self._say(inst.warning_at, f"cycle {inst.cycle}: warning falls")

    def escalations(self, inst: Instance, as_of: datetime) -> tuple[list[DueAction], datetime | None]:
        """Due actions up to as_of, and the next instant one becomes due."""
        if inst.due_at is None or inst.status == NOT_APPLICABLE:
            return [], None
        end = inst.stopped_at or inst.ended_at
        pauses = self.pauses.get(inst.cycle, ())
        due: list[DueAction] = []
        upcoming: list[datetime] = []
        window = self.window.decl
        for index, level in enumerate(window.escalations):
            quiet = level.quiet_hours or window.quiet_hours
            quiet_cal = self.ev.calendars.get(quiet) if quiet else None
            for repeat, instant in enumerate(self._instants(inst, level, as_of)):
                if end is not None and instant >= end:
                    self._say_level(inst, level.label, repeat, instant, "after the clock stopped or ended: not due")
                    break
                if inst.paused_since is not None and instant >= inst.paused_since:
                    self._say_level(inst, level.label, repeat, instant, "while the clock is paused: not due")
                    break
                if any(paused <= instant < resumed for paused, resumed in pauses):
                    self._say_level(inst, level.label, repeat, instant, "while the clock was paused: not due")
                    continue  # no level is due while the clock is paused
                fire_at = utc(quiet_cal.next_open(instant)) if quiet_cal else instant
                moved: tuple[Part, ...] = ()
                if quiet_cal is not None and fire_at != instant:
                    moved = ("; quiet hours move it to ", fire_at)
                if fire_at > as_of:
                    self._say_level(inst, level.label, repeat, instant, "after the as-of", *moved, ": not due yet")
                    upcoming.append(fire_at)
                    break
                self._say_level(inst, level.label, repeat, instant, "due", *moved)
                for action_index, action in enumerate(self.window.actions[index]):
                    due.append(DueAction(
                        lead_id=inst.lead_id, policy=inst.policy, window=inst.window, cycle=inst.cycle,
                        level=level.label, level_index=index, repeat=repeat, action_index=action_index,
                        action=action, due_at=fire_at,
                    ))
        return due, min(upcoming) if upcoming else None

    def _say_level(self, inst: Instance, label: str, repeat: int, instant: datetime, *outcome: Part) -> None:
        if self.trace is not None:
            again = f" (repeat {repeat + 1})" if repeat else ""
            self._say(instant, f"cycle {inst.cycle}: escalate {label}{again} falls ", *outcome)

    def _instants(self, inst: Instance, level: m.Escalation, as_of: datetime) -> Iterable[datetime]:
        assert inst.due_at is not None
        if level.when == "warning":
            if inst.warning_at is not None:
                yield inst.warning_at
            return
        if level.when == "breach":
            yield inst.due_at
            return
        if level.after is None:
            return
        step = level.after
        instant = inst.due_at
        for _ in range(MAX_REPEATS if level.when == "every_after_breach" else 1):
            if step.business:
                instant = utc(self.cal.add(instant, timedelta(seconds=step.seconds)))
            else:
                instant = instant + timedelta(seconds=step.seconds)
            yield instant
            if instant > as_of:
                return


# A placeholder, never validated nor stored.
NO_EVENT: Any = LeadEvent.model_construct(  # type: ignore[call-arg]
    event_id="", lead_id="", source="", type=None, payload={})  # type: ignore[arg-type]
