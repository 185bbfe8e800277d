"""A policy set compiled once for judging: conditions as closures, triggers, calendars, and the
indexes that say which stages and clocks an event can change (see engine/dependencies.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sla_engine.engine.calendar import CALENDAR_TIME, BusinessCalendar
from sla_engine.engine.conditions import Compiled, Compiler, Context
from sla_engine.engine.dependencies import (
    SHAPES_KEPT,
    FieldMemo,
    fields_read_by_name,
    recency_by_kind,
    stages_to_enter,
)
from sla_engine.engine.periods import effective_at
from sla_engine.engine.trace import names_read, source_text
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet


def build_calendar(decl: m.CalendarDecl) -> BusinessCalendar:
    weekly = tuple(
        (day, interval.start, interval.end)
        for hours in decl.hours for day in hours.days for interval in hours.intervals
    )
    return BusinessCalendar(
        name=decl.name,
        timezone=decl.timezone or "UTC",
        weekly=weekly,
        holiday_country=decl.holidays,
        holiday_subdivision=decl.subdivision,
        closed_dates=frozenset(decl.closed),
        open_dates=tuple(
            (o.day, tuple((i.start, i.end) for i in o.intervals)) for o in decl.open
        ),
    )



# ---------------------------------------------------------------- compiled policies


@dataclass
class CompiledTrigger:
    event: str | None
    by_owner: bool
    where: Compiled | None
    condition: Compiled | None
    enters: frozenset[str] | None = None  # the condition holds only at an event that enters one of these stages


@dataclass
class CompiledWindow:
    decl: m.Window
    start: CompiledTrigger | None
    stop: CompiledTrigger | None
    pause: Compiled | None
    actions: list[list[dict[str, Any]]] = field(default_factory=list)  # per escalation level, dumped once


@dataclass
class CompiledPolicy:
    decl: m.Policy
    applies: Compiled | None
    tiers: list[tuple[m.Tier, Compiled | None]]
    windows: list[CompiledWindow]
    effective_at: datetime | None = None  # no clock of the policy starts before this instant


class CompiledPolicySet:
    """A policy set compiled once; `engine.evaluate.Evaluator` applies it lead by lead."""

    def __init__(self, policy_set: PolicySet) -> None:
        self.policy_set = policy_set
        self.memo = FieldMemo(policy_set)
        self.compiler = Compiler(policy_set, remember_named=self.memo.wrap_named)
        self.calendars = {name: build_calendar(decl) for name, decl in policy_set.calendars.items()}
        self.stages = [(name, self._stage(stage)) for name, stage in policy_set.stages.items()]
        self._stage_fields = [fields_read_by_name(name, policy_set) for name in policy_set.stages]
        self._stages_reading: dict[tuple[str, ...], list[tuple[str, Compiled]]] = {}
        self.policies = [self._compile_policy(p) for p in policy_set.policies.values()]
        self.recency = recency_by_kind(policy_set)  # event kind -> the `within` spans counting it
        # One clock per window and lead, in this order.
        self.windows = [(policy, window) for policy in self.policies for window in policy.windows]
        self._starters: dict[tuple[str, frozenset[str] | None], tuple[int, ...]] = {}
        # An `on KIND` start is gated by its policy's `applies` (see may_start).
        self._start_gates = [
            policy.applies if window.start is not None and window.start.event is not None else None
            for policy, window in self.windows
        ]

    def stages_reading(self, written: tuple[str, ...]) -> list[tuple[str, Compiled]]:
        """The stages an event that wrote these fields may enter: those reading one of them, and
        those reading more than fields. Every other stage keeps its value, so none is entered."""
        found = self._stages_reading.get(written)
        if found is None:
            names = set(written)
            found = [stage for stage, fields in zip(self.stages, self._stage_fields, strict=True)
                     if fields is None or not fields.isdisjoint(names)]
            if len(self._stages_reading) < SHAPES_KEPT:
                self._stages_reading[written] = found
        return found

    def starters_of(self, kind: str, entered: frozenset[str] | None = None) -> tuple[int, ...]:
        """The windows (by index) whose start trigger judges an event of this kind: a start
        condition judges every event (its edge is tracked), `on KIND` only events of that kind.

        `entered`: the stages this event and the one before entered. A start condition true
        only on entering stages none of which is among them was false at the last event and is
        false now: it has no edge, and is left out. None: judge every start condition."""
        found = self._starters.get((kind, entered))
        if found is None:
            found = tuple(
                index for index, (_, window) in enumerate(self.windows)
                if (start := window.start) is not None and start.event in (None, kind)
                and not (entered is not None and start.enters is not None and start.enters.isdisjoint(entered))
            )
            if len(self._starters) < SHAPES_KEPT:
                self._starters[kind, entered] = found
        return found

    def may_start(self, starters: Iterable[int], ctx: Context) -> list[int]:
        """The starters whose clock this event may start: an `on KIND` start does nothing while
        its policy does not apply (a start condition is judged anyway: its edge is tracked).
        Judging `applies` here, before the clocks, is safe: it reads no clock (`since start` is
        for stops and pauses only)."""
        gates = self._start_gates
        return [index for index in starters if (applies := gates[index]) is None or applies(ctx)]

    def _condition(self, expr: m.Node | None) -> Compiled | None:
        """A condition judged once per change of the lead fields it reads (see engine.dependencies)."""
        if expr is None:
            return None
        return self.memo.wrap(expr, self.compiler.condition(expr))

    def _stage(self, stage: m.Stage) -> Compiled:
        compiled = self.compiler.stage(stage)
        if stage.expr is None:
            return self.memo.remember([stage.from_field or "status"], compiled)
        return self.memo.wrap(stage.expr, compiled)

    def _trigger(self, trigger: m.Trigger | None) -> CompiledTrigger | None:
        if trigger is None:
            return None
        c = self.compiler
        return CompiledTrigger(
            event=trigger.event,
            by_owner=trigger.by_owner,
            where=c.condition(trigger.where, event_kind=trigger.event) if trigger.where else None,
            condition=self._condition(trigger.condition),
            enters=stages_to_enter(trigger.condition) if trigger.condition is not None else None,
        )

    def _compile_policy(self, policy: m.Policy) -> CompiledPolicy:
        return CompiledPolicy(
            decl=policy,
            applies=self._condition(policy.applies),
            tiers=[(tier, self._condition(tier.when)) for tier in policy.tiers],
            windows=[
                CompiledWindow(
                    decl=w, start=self._trigger(w.start), stop=self._trigger(w.stop),
                    pause=self._condition(w.pause),
                    actions=[[m.without_positions(action.model_dump(mode="json")) for action in level.actions]
                             for level in w.escalations],
                )
                for w in policy.windows
            ],
            effective_at=effective_at(policy.effective, policy.timezone),
        )

    def why(self, expr: m.Node | None, ctx: Context) -> str:
        """A condition as written in the policy, with the values it saw."""
        if expr is None:
            return "otherwise"
        values = []
        for name in dict.fromkeys(names_read(expr)):
            try:
                value = self.compiler.operand(m.Ref(path=[name]))(ctx)
            except KeyError:
                continue
            values.append(f"{name}={value!r}")
        text = source_text(self.policy_set, expr)
        return f"`{text}`" + (f" ({', '.join(values)})" if values else "")

    def calendar_for(self, policy: m.Policy, window: m.Window, goal: m.Goal | None) -> BusinessCalendar:
        """Business goals count on the goal's, else the window's, else the policy's calendar."""
        if goal is not None and not goal.duration.business:
            return CALENDAR_TIME
        name = (goal.calendar if goal else None) or window.calendar or policy.calendar
        if name and name in self.calendars:
            return self.calendars[name]
        return CALENDAR_TIME
