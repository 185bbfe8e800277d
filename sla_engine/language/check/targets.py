"""Targets: period goals over metrics, judged per week, month or quarter."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sla_engine.language import model as m
from sla_engine.language.check.base import _article
from sla_engine.language.check.types import DURATION, NUMBER, PERCENT, Scope, Type, _describe
from sla_engine.language.check.windows import WindowChecks
from sla_engine.language.errors import suggest
from sla_engine.language.policy_set import PolicySet
from sla_engine.language.vocabulary import TARGET_FIELDS, TARGET_OWNERS, TARGET_PERIODS

_AGGREGATE = re.compile(r"(average|median|p[1-9][0-9]?)")
_GOAL_TYPES = {"count": NUMBER, "met_rate": PERCENT, "rate": PERCENT, "completeness": PERCENT, "elapsed": DURATION}
_METRIC_WORDS = {"count": "count", "met_rate": "met rate", "rate": "rate", "completeness": "completeness",
                 "elapsed": "elapsed time"}
_GOAL_EXAMPLES = {"number": "a number such as 120 or a plan value such as inbound_2026.mqls",
                  "percent": "a percentage such as 90%", "duration": "a duration such as 4h"}


class TargetChecks(WindowChecks):
    """A policy's targets: metric, period, owner, goal, escalations."""

    def check_target(self, policy: m.Policy, target: m.Target) -> None:
        """A target needs something to measure, a period, an owner and a goal in the right unit."""
        if target.metric is None:
            self.report("E216", f"target '{target.name}' has no `metric`: there is nothing to measure", target.pos,
                        "add e.g. `metric count of mql`")
        else:
            self.check_metric(policy, target.metric)
        if target.where is not None:
            self.condition(target.where, Scope(extra=self.target_names(policy)))
            self.check_reads_no_events(target.where, "`where`", target.where.pos)
        self.check_target_period(target)
        self.check_target_owner(target)
        self.check_accountable(target)
        self.check_group_by(target)
        self.check_target_goal(target)
        if target.tolerance is not None and target.tolerance_is_percent and target.tolerance > 100:
            self.report("E208", f"tolerance {target.tolerance:g}% is outside 0-100%",
                        self.in_block(target.pos, "tolerance", None))
        self.check_target_escalations(target)

    def target_names(self, policy: m.Policy) -> dict[str, Type]:
        """`tier`, `policy` and `window` in a target's `where` hold the names this policy declares."""
        names = {"tier": [t.name for t in policy.tiers], "policy": list(self.ps.policies),
                 "window": [w.name for w in policy.windows]}
        return {key: Type("enum", tuple(names[key]), label=key, names=key) for key in TARGET_FIELDS}

    def check_metric(self, policy: m.Policy, metric: m.Metric) -> None:
        """A metric over a misspelt stage or window would report zero forever."""
        subject = metric.subject or ""
        if metric.kind == "count":
            self.check_metric_subject(subject, self.within(metric.pos, "of", subject), ("stage",), "count of")
        elif metric.kind == "rate":
            self.check_metric_subject(subject, self.within(metric.pos, "of", subject), ("stage", "definition"),
                                      "rate of")
            if subject in self.ps.definitions:
                self.check_reads_no_events(self.ps.definitions[subject], f"`rate of {subject}`",
                                           self.within(metric.pos, "of", subject))
            among = metric.among or ""
            self.check_metric_subject(among, self.within(metric.pos, "among", among), ("stage",), "among")
        elif metric.kind in ("met_rate", "elapsed"):
            self.check_window_ref(policy, subject, self.within(metric.pos, "of", subject))
        if metric.kind == "elapsed" and not _AGGREGATE.fullmatch(metric.aggregate or ""):
            self.report("E216", f"unknown aggregate '{metric.aggregate}'", self.within(metric.pos, None, pick=0),
                        "use average, median or pNN such as p90")
        for name in metric.fields:
            if name not in self.fields and name not in self.broken:
                pos = self.within(metric.pos, name)
                if pos == metric.pos:
                    pos = self.within(metric.pos, f'"{name}"')
                self.report("E201", f"unknown field '{name}'", pos, suggest(name, self.fields))

    def check_reads_no_events(self, expr: m.Node, what: str, pos: m.Pos) -> None:
        """A target judges each lead's current fields: a count of events or a `becomes` (true only at
        an event) would read 0 or false there, whatever the history. A stage can hold them instead."""
        found = _reads_events(self.ps, expr, set())
        if found is None:
            return
        node, name = found
        via = f" (through '{name}')" if name else ""
        if isinstance(node, m.Count):
            self.report("E216", f"{what} reads {_count_text(node)}{via}, which a target cannot judge: a target "
                        "reads each lead's current fields, not its events", pos,
                        "declare it as a stage (`stage NAME when count(...) >= 3`, entered at the event that "
                        "reaches the count) and use `rate of NAME among mql`")
        else:
            self.report("E216", f"{what} reads `becomes {node.stage}`{via}, which is true only at an event "
                        "and never in a target", pos, f"use the stage itself (`{node.stage}`)")

    def check_metric_subject(self, name: str, pos: m.Pos, kinds: tuple[str, ...], where: str) -> None:
        """Counting a definition as a stage would measure nothing: say what the name really is."""
        known: dict[str, Mapping[str, object]] = {
            "stage": self.ps.stages, "definition": self.ps.definitions, "score": self.ps.scores, "field": self.fields}
        if any(name in known[kind] for kind in kinds) or name in self.broken:
            return
        wanted = " or ".join(kinds)
        other = next((kind for kind in known if name in known[kind]), None)
        if other is not None:
            self.report("E216", f"`{where}` needs {_article(wanted)}, but '{name}' is {_article(other)}", pos)
        else:
            candidates = [n for kind in kinds for n in known[kind]]
            self.report("E201", f"unknown {wanted} '{name}'", pos, suggest(name, candidates))

    def check_window_ref(self, policy: m.Policy, name: str, pos: m.Pos) -> None:
        """Met rates and elapsed times read the clocks of this policy's own windows."""
        windows = [w.name for w in policy.windows]
        if name not in windows and name not in self.broken:
            self.report("E201", f"policy '{policy.name}' has no window '{name}'", pos, suggest(name, windows))

    def check_target_period(self, target: m.Target) -> None:
        """Targets are judged per day, week, month or quarter; any other period cannot be reported."""
        if target.period is not None and target.period not in TARGET_PERIODS:
            self.report("E216", f"unknown period '{target.period}'", self.in_block(target.pos, "period", target.period),
                        suggest(target.period, TARGET_PERIODS) or f"use one of: {', '.join(TARGET_PERIODS)}")

    def check_target_owner(self, target: m.Target) -> None:
        """The dashboard groups targets by the side that owns them."""
        if target.owner is None or target.owner in TARGET_OWNERS or target.owner in self.ps.contacts:
            return
        self.report("E216", f"target owner '{target.owner}' is not {', '.join(TARGET_OWNERS)} or a contact",
                    self.in_block(target.pos, "owner", target.owner),
                    suggest(target.owner, [*TARGET_OWNERS, *self.ps.contacts]))

    def check_accountable(self, target: m.Target) -> None:
        """The dashboard names the person who answers for a target: a declared contact."""
        if target.accountable is None or target.accountable in self.ps.contacts:
            return
        self.report("E201", f"unknown contact '{target.accountable}'",
                    self.in_block(target.pos, "accountable", target.accountable),
                    suggest(target.accountable, list(self.ps.contacts)))

    def check_group_by(self, target: m.Target) -> None:
        """Grouping by a field no lead has puts every lead in one empty group."""
        allowed = [*self.fields, *TARGET_FIELDS]
        for name in target.group_by:
            if name not in allowed and name not in self.broken:
                self.report("E201", f"unknown field '{name}'", self.group_by_pos(target, name), suggest(name, allowed))

    def group_by_pos(self, target: m.Target, name: str) -> m.Pos:
        """The name in `group by a, b, c` (the model keeps names without positions)."""
        source = self._source(target.pos)
        if source is None:
            return target.pos
        items = source.block(target.pos)
        found = source.find(items, ["group", "by"], pick=0)
        if not found:
            return target.pos
        start = items.index(source.index(found[0].line, found[0].column)) + 2
        for i in items[start:]:
            word = source.tokens[i].text
            if word == name:
                return source.pos(i)
            if word != "," and not word.isidentifier():
                break
        return target.pos

    def check_target_goal(self, target: m.Target) -> None:
        """A goal in the wrong unit (hours for a rate) can never be judged."""
        if target.goal is None:
            return
        value = target.goal.value
        value_type = self.goal_value_type(value)
        if isinstance(value, m.Duration):
            self.check_positive(value, "a goal")
        if isinstance(value, m.Literal_) and value.type == "percent" and not 0 <= value.value <= 100:
            self.report("E208", f"goal {value.value:g}% is outside 0-100%", value.pos)
        if target.metric is None or value_type is None:
            return
        expected = _GOAL_TYPES[target.metric.kind]
        if value_type.name != expected.name:
            self.report("E202", f"{_article(_METRIC_WORDS[target.metric.kind])} goal is {_describe(expected)}, not "
                        f"{_describe(value_type)}", value.pos, f"write {_GOAL_EXAMPLES[expected.name]}")

    def goal_value_type(self, value: m.Node) -> Type | None:
        """What kind of value a target goal is, checking plan references on the way."""
        if isinstance(value, m.Duration):
            return DURATION
        if isinstance(value, m.Literal_):
            return Type(value.type)
        if isinstance(value, m.Ref) and len(value.path) == 2:
            return self.plan_value(value)
        if isinstance(value, m.Ref):
            self.report("E201", f"unknown plan value '{value.dotted}'", value.pos,
                        "a goal names a plan value as PLAN.VALUE, e.g. inbound_2026.mqls")
            return None
        self.report("E202", "a goal is a number, percentage, duration or plan value", value.pos)
        return None

    def check_target_escalations(self, target: m.Target) -> None:
        """Targets are judged per period, so they escalate when a period ends at risk, or after missed
        periods in increasing order."""
        highest: m.Escalation | None = None
        at_risk: m.Escalation | None = None
        for escalation in target.escalations:
            self.check_escalation(escalation)
            if escalation.when == "warning":  # `when at risk`: a completed period graded at risk
                if at_risk is not None:
                    self.report("E210", f"`when at risk` is given twice in target '{target.name}' (first at "
                                f"{at_risk.pos})", self.head(escalation.pos), "keep one of them")
                elif target.tolerance is None:
                    self.report("E210", f"`{self.level_text(escalation)}` never fires: target '{target.name}' has "
                                "no `tolerance`, so a period is on target or missed, never at risk",
                                self.head(escalation.pos), "add e.g. `tolerance 5%`")
                at_risk = at_risk or escalation
                continue
            if escalation.when != "missed":
                self.report("E210", f"a target escalates `when at risk` or `when missed N periods`, not "
                            f"`{self.level_text(escalation).removeprefix('escalate ')}`", self.head(escalation.pos))
                continue
            periods = escalation.missed_periods or 0
            if periods < 1:
                self.report("E207", "`when missed 0 periods` is not a positive number of periods",
                            self.within(escalation.pos, "missed", None))
            if highest is not None and periods <= (highest.missed_periods or 0):
                self.report_level_order(escalation, highest)
            else:
                highest = escalation


def _reads_events(ps: PolicySet, node: object, seen: set[str], via: str | None = None
                  ) -> tuple[m.Count | m.Becomes, str | None] | None:
    """The first `count(...)` or `becomes` a condition reads, directly or through the definitions,
    scores and stages it names, with the outermost name it came through."""
    if isinstance(node, (m.Count, m.Becomes)):
        return node, via
    if isinstance(node, m.Ref) and len(node.path) == 1:
        name = node.path[0]
        named = ps.definitions.get(name) or ps.scores.get(name) or ps.stages.get(name)
        if named is None or name in seen:
            return None
        seen.add(name)
        return _reads_events(ps, named, seen, via or name)
    if isinstance(node, m.Node):
        for key in type(node).model_fields:
            found = _reads_events(ps, getattr(node, key), seen, via)
            if found is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _reads_events(ps, item, seen, via)
            if found is not None:
                return found
    return None


def _count_text(node: m.Count) -> str:
    return f"`count({node.event}{' by owner' if node.by_owner else ''}{' since ' + node.since if node.since else ''})`"
