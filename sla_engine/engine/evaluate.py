"""Judge one lead's history against every policy: window instances, deadlines, due actions.

Evaluation is a pure function of (policy set, the lead's events, as-of): the store and the
run loop decide which leads to judge; this module decides what is true of one lead. The
policy set is compiled once (engine/compile.py); each window's clock is engine/clock.py; a
trace's words are engine/trace.py. The rules are written out in docs/semantics.md.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sla_engine.engine.clock import NO_EVENT, RUNNING, Clock, DueAction, Instance
from sla_engine.engine.compile import CompiledPolicySet
from sla_engine.engine.conditions import Context
from sla_engine.engine.state import LeadState, sorted_events
from sla_engine.engine.trace import TraceLine, describe_event
from sla_engine.events import Event, utc
from sla_engine.language.scope import stage_words


@dataclass
class LeadResult:
    lead_id: str
    instances: list[Instance] = field(default_factory=list)
    actions: list[DueAction] = field(default_factory=list)
    next_check: datetime | None = None
    state: dict[str, Any] = field(default_factory=dict)
    stage_entries: list[tuple[str, datetime]] = field(default_factory=list)
    trace: list[TraceLine] = field(default_factory=list)



class Evaluator(CompiledPolicySet):
    """A policy set compiled once, then applied lead by lead."""

    def evaluate(self, lead_id: str, events: Iterable[Event], as_of: datetime,
                 policy_hash: str = "", explain: bool = False) -> LeadResult:
        as_of = utc(as_of)
        result = LeadResult(lead_id)
        trace = result.trace if explain else None
        state = LeadState(lead_id)
        ctx = Context(state=state)
        memo, forget = ctx.memo, self.memo.forget
        stage_now = {name: False for name, _ in self.stages}
        stages_judged = False
        held_at_recycle: dict[str, bool] | None = None  # each stage's condition at the last event, if a recycle
        clocks: dict[int, Clock] = {}  # by window index, each made when an event first reaches it
        running: list[int] = []  # the clocks (by index) whose current instance is unfinished
        next_checks: list[datetime] = []
        written: tuple[str, ...]
        for t, moment in self._moments(events, as_of, next_checks):
            for index in running:
                clocks[index].advance_to(t)
            ctx.now = t
            if moment is None:
                # No event: a counted event leaves a `within` window, and time alone may change a condition.
                event, written, recycled = NO_EVENT, (), False
                ctx.event = None
                if trace is not None:
                    trace.append(TraceLine(t, ("judged again: a counted event leaves its `within` span",)))
            else:
                event = moment
                owner_before = state.fields.get("owner")
                recycles_before = state.recycles
                written = state.apply(event)
                forget(memo, written)
                ctx.history.append((event, owner_before))
                ctx.event = event
                recycled = state.recycles > recycles_before
                if trace is not None:
                    trace.append(TraceLine(t, (describe_event(event),)))
            entered_before = ctx.entered_now
            if entered_before:
                ctx.entered_now = set()
            if recycled:
                # A recycle ends the lead's stages: one whose condition held before it (mql) is entered
                # again only by a later event that is not a recycle; one that holds only now (recycled)
                # is entered at the recycle. Right after a recycle, stage_now no longer says what held.
                was = stage_now if held_at_recycle is None else held_at_recycle
                stage_now = dict.fromkeys(stage_now, False)
                held_at_recycle = {}
                ctx.stage_entered.clear()
                stages_judged = False
                for name, condition in self.stages:
                    held_at_recycle[name] = now = bool(condition(ctx))
                    if not was[name] and now:
                        stage_now[name] = True
                        ctx.entered_now.add(name)
                        ctx.stage_entered[name] = t
                        result.stage_entries.append((name, t))
                        if trace is not None:
                            trace.append(TraceLine(t, (f"became {stage_words(name)}",)))
            else:
                held_at_recycle = None
                # Once judged, a stage that reads only fields is judged again when one of them is written.
                stages = self.stages_reading(written) if stages_judged else self.stages
                stages_judged = True
                for name, condition in stages:
                    now = bool(condition(ctx))
                    if now and not stage_now[name]:
                        ctx.entered_now.add(name)
                        ctx.stage_entered[name] = t
                        result.stage_entries.append((name, t))
                        if trace is not None:
                            trace.append(TraceLine(t, (f"became {stage_words(name)}",)))
                    stage_now[name] = now
            # Only a recycle, an unfinished instance or the start trigger can change a clock.
            if recycled:
                judged: Iterable[int] = range(len(self.windows))
            else:
                entered = frozenset(ctx.entered_now | entered_before)
                starters = self.may_start(self.starters_of(event.type, entered), ctx)
                judged = sorted({*running, *starters}) if running else starters
            for index in judged:
                clock = clocks.get(index)
                if clock is None:
                    policy, window = self.windows[index]
                    clock = clocks[index] = Clock(self, policy, window, lead_id, policy_hash, trace)
                clock.on_event(event, t, ctx, recycled)
            running = [index for index in judged if clocks[index].running]
            ctx.event = None
        for index in sorted(clocks):
            clock = clocks[index]
            if not clock.instances:
                continue
            clock.advance_to(as_of)
            for instance in clock.instances:
                if trace is not None:
                    clock.say_warning(instance)
                actions, next_check = clock.escalations(instance, as_of)
                result.actions.extend(actions)
                if next_check is not None:
                    next_checks.append(next_check)
                if instance.status in (RUNNING,) and instance.due_at and instance.due_at > as_of:
                    next_checks.append(instance.due_at)
            result.instances.extend(clock.instances)
        if trace is not None:
            trace.sort(key=lambda line: line.at)  # what each level did, in time order among the events
        result.next_check = min(next_checks) if next_checks else None
        result.state = state.snapshot()
        return result

    def _moments(self, events: Iterable[Event], as_of: datetime,
                 next_checks: list[datetime]) -> Iterator[tuple[datetime, Event | None]]:
        """The instants a lead is judged at, in order: each event up to the as-of, and each instant
        before it where a counted event leaves a `within` span (None: no event there). An event at
        exactly such an instant is judged there already. The first such instant or event after the
        as-of goes to ``next_checks``: the lead is judged again when it comes."""
        recency = self.recency
        pending: list[datetime] = []  # a heap of the instants events leave their `within` spans
        for event in sorted_events(events):
            t = utc(event.occurred_at)
            while pending and pending[0] <= t and pending[0] <= as_of:
                instant = _next_instant(pending)
                if instant < t:  # at the event's own instant the event is judged
                    yield instant, None
            if t > as_of:
                # Known but not yet happened as of this run: judge the lead again when it has.
                next_checks.append(t)
                break
            yield t, event
            for span in recency.get(event.type, ()) if recency else ():
                heapq.heappush(pending, t + span)
        while pending and pending[0] <= as_of:
            yield _next_instant(pending), None
        if pending:
            next_checks.append(pending[0])


def _next_instant(pending: list[datetime]) -> datetime:
    """The earliest instant of the heap, taken out with every copy of it."""
    instant = heapq.heappop(pending)
    while pending and pending[0] == instant:
        heapq.heappop(pending)
    return instant
