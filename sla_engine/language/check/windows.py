"""Windows: SLA clocks that must start, stop, have goals and escalate in order."""

from __future__ import annotations

from sla_engine.language import model as m
from sla_engine.language.check.actions import ActionChecks
from sla_engine.language.check.calendars import CalendarChecks
from sla_engine.language.check.types import Scope
from sla_engine.language.errors import suggest
from sla_engine.language.vocabulary import EVENT_KINDS, WINDOW_ROLES

_GOAL_FILLERS = frozenset({"within", "in", "under"})  # `goal within 24h`: English, not a tier
_LEVEL_RANK = {"warning": 0, "breach": 1, "after_breach": 2, "every_after_breach": 3}


def _literally_false(expr: m.Node | None) -> bool:
    return (isinstance(expr, m.Truth) and isinstance(expr.operand, m.Literal_)
            and expr.operand.type == "boolean" and expr.operand.value is False)


class WindowChecks(ActionChecks, CalendarChecks):
    """A policy's windows and their escalations."""

    def check_window(self, policy: m.Policy, window: m.Window) -> None:
        """A window is an SLA clock: it must start, stop, have goals and escalate in order."""
        self.check_window_runs(window)
        if window.start is not None:
            self.check_trigger(window.start, in_window=False)
        if window.stop is not None:
            self.check_trigger(window.stop, in_window=True)
        if window.pause is not None:
            self.condition(window.pause, Scope(window=True))
        if window.calendar is not None:
            self.check_calendar_ref(window.calendar, self.in_block(window.pos, "calendar", window.calendar))
        if window.quiet_hours is not None:
            self.check_calendar_ref(window.quiet_hours,
                                    self.in_block(window.pos, "quiet", "hours", window.quiet_hours))
        self.check_goals(policy, window)
        self.check_warnings(window)
        self.check_window_escalations(window)

    def check_window_runs(self, window: m.Window) -> None:
        """A clock that never starts, never stops or has no goal measures nothing, silently."""
        if window.start is None:
            self.report("E206", f"window '{window.name}' never starts: it has no `starts`", window.pos,
                        "add e.g. `starts when becomes mql`")
        elif _literally_false(window.start.condition) or _literally_false(window.start.where):
            self.report("E206", f"window '{window.name}' never starts: its start condition is `false`",
                        window.start.pos)
        if window.stop is None:
            self.report("E206", f"window '{window.name}' never stops: it has no `stops`", window.pos,
                        "add e.g. `stops on activity by owner`")
        elif _literally_false(window.stop.condition) or _literally_false(window.stop.where):
            self.report("E206", f"window '{window.name}' never stops: its stop condition is `false`",
                        window.stop.pos)
        if not window.goals:
            self.report("E206", f"window '{window.name}' has no goal, so its clock can never be met or breached",
                        window.pos, "add e.g. `goal 24h`")

    def check_trigger(self, trigger: m.Trigger, in_window: bool) -> None:
        """An event kind the sources never send would leave the clock waiting forever."""
        if trigger.condition is not None:
            self.condition(trigger.condition, Scope(window=in_window))
        if trigger.event is None:
            return
        kind = trigger.event
        if kind not in EVENT_KINDS:
            self.report("E201", f"unknown event kind '{kind}'", self.within(trigger.pos, "on", kind),
                        suggest(kind, EVENT_KINDS) or f"use one of: {', '.join(EVENT_KINDS)}")
            kind = "*"
        if trigger.where is not None:
            self.condition(trigger.where, Scope(event_kind=kind, window=in_window))

    def check_goals(self, policy: m.Policy, window: m.Window) -> None:
        """Each tier gets one goal, for a tier that exists, counted on a real calendar."""
        tiers = [t.name for t in policy.tiers]
        seen: dict[str | None, m.Goal] = {}
        for goal in window.goals:
            if goal.tier in _GOAL_FILLERS and goal.tier not in tiers:
                self.report("E201", f"`goal {goal.tier} {m.format_duration(goal.duration)}` reads '{goal.tier}' as a "
                            "tier: a goal is written without it", self.within(goal.pos, "goal", goal.tier),
                            f"write `goal {m.format_duration(goal.duration)}`, or `goal TIER "
                            f"{m.format_duration(goal.duration)}` for one tier's goal")
            elif goal.tier is not None and goal.tier not in tiers and goal.tier not in self.broken:
                self.report("E201", f"unknown tier '{goal.tier}' in policy '{policy.name}'",
                            self.within(goal.pos, "goal", goal.tier),
                            suggest(goal.tier, tiers) or (None if tiers else "this policy declares no tiers"))
            if goal.tier in seen:
                which = f"tier '{goal.tier}'" if goal.tier else "every other tier"
                self.report("E203", f"window '{window.name}' already has a goal for {which} at "
                            f"{seen[goal.tier].pos}", goal.pos, "keep one of them")
            else:
                seen[goal.tier] = goal
            self.check_positive(goal.duration, "a goal")
            if goal.calendar is not None:
                self.check_calendar_ref(goal.calendar, self.within(goal.pos, "on", goal.calendar))
            if goal.duration.business and not (goal.calendar or window.calendar or policy.calendar):
                self.report("E212", f"goal `{m.format_duration(goal.duration)}` counts business time but no "
                            "calendar says when business is open", goal.duration.pos,
                            "add `calendar NAME` to the policy, the window or the goal (`on NAME`)")

    def check_warnings(self, window: m.Window) -> None:
        """A warning at or after the deadline gives the owner no time to act."""
        for warning in window.warnings:
            if warning.percent is not None and warning.percent >= 100:
                self.report("E209", f"`warn at {warning.percent:g}%` is at or after the deadline",
                            self.within(warning.pos, "at", None), "warn before 100%, e.g. `warn at 75%`")
            if warning.before is not None:
                self.check_positive(warning.before, "a warning")
                self.check_warning_before(window, warning.before)

    def check_warning_before(self, window: m.Window, before: m.Duration) -> None:
        """`warn 3h before due` on a 2h goal would warn before the clock even starts."""
        for goal in window.goals:
            goal_clock = (goal.duration.business, goal.duration.business_days)
            same_clock = (before.business, before.business_days) == goal_clock
            if same_clock and before.seconds >= goal.duration.seconds > 0:
                which = f"goal {goal.tier} " if goal.tier else "goal "
                self.report("E209", f"`warn {m.format_duration(before)} before due` is at or before the start of the "
                            f"clock: {which}is {m.format_duration(goal.duration)}", before.pos,
                            "warn less time before the deadline than the goal itself")
                return

    def check_window_escalations(self, window: m.Window) -> None:
        """Levels run in time order; listing them out of order hides which one fires when."""
        highest: tuple[tuple[int, float], m.Escalation] | None = None
        for escalation in window.escalations:
            self.check_escalation(escalation)
            if escalation.when == "missed":
                self.report("E210", "`when missed N periods` belongs in a target; a window escalates at warning, "
                            "on breach or after breach", self.head(escalation.pos))
                continue
            if escalation.when == "warning" and not window.warnings:
                self.report("E210", f"`{self.level_text(escalation)}` never fires: window '{window.name}' has no "
                            "`warn`", self.head(escalation.pos),
                            "add e.g. `warn at 75%`: a clock is at risk from its warning")
            after = escalation.after.seconds if escalation.when == "after_breach" and escalation.after else 0.0
            key = (_LEVEL_RANK[escalation.when], after)
            if highest is not None and key <= highest[0]:
                self.report_level_order(escalation, highest[1])
            else:
                highest = (key, escalation)

    def report_level_order(self, escalation: m.Escalation, earlier: m.Escalation) -> None:
        """Say which level is out of place, and what the right order is."""
        if escalation.label == earlier.label:
            message = f"`escalate {escalation.label}` is already given at {earlier.pos}"
        else:
            message = f"`escalate {escalation.label}` comes after `escalate {earlier.label}` but happens before it"
        self.report("E210", message, self.head(escalation.pos),
                    "order levels: at warning, on breach, N after breach (increasing N), every N after breach")

    def check_escalation(self, escalation: m.Escalation) -> None:
        """Delays, quiet-hours calendars and actions of one escalation level."""
        if escalation.after is not None:
            self.check_positive(escalation.after, "an escalation delay")
        if escalation.quiet_hours is not None:
            self.check_calendar_ref(escalation.quiet_hours,
                                    self.within(escalation.pos, "quiet", "hours", escalation.quiet_hours))
        for action in escalation.actions:
            self.check_action(action)

    def check_window_roles(self, policy: m.Policy) -> None:
        """A role names what the built-in metrics read a window as: one of each per policy."""
        taken: dict[str, str] = {}
        for window in policy.windows:
            if window.role is None:
                continue
            pos = self.in_block(window.pos, "role", window.role)
            if window.role not in WINDOW_ROLES:
                self.report("E201", f"unknown window role '{window.role}'", pos,
                            suggest(window.role, WINDOW_ROLES) or f"use one of: {', '.join(WINDOW_ROLES)}")
            elif window.role in taken:
                self.report("E203", f"window '{taken[window.role]}' already has role '{window.role}'", pos,
                            "give the role to one window of the policy")
            else:
                taken[window.role] = window.name
