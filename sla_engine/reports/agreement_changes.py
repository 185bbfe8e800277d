"""What changed in the agreement between two versions of a policy set, in the agreement's own words.

Each version is read as a list of facts — one per commitment detail ("First contact, Tier 1
goal" → "2 business hours on the ny office calendar") keyed by the model's names, not its
labels — so a renamed label or a moved line is not a change, and a changed goal reads as
"First contact, Tier 1 goal: 2 business hours → 1 business hour".
"""

from __future__ import annotations

from dataclasses import dataclass

from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet, plan_numbers
from sla_engine.reports import agreement as a


@dataclass(frozen=True)
class Fact:
    key: tuple[str, ...]
    label: str
    text: str


@dataclass(frozen=True)
class Change:
    label: str
    old: str | None  # None: added
    new: str | None  # None: removed

    def line(self) -> str:
        if self.old is None:
            return f"{self.label}: added — {self.new}"
        if self.new is None:
            return f"{self.label}: removed (was {self.old})"
        return f"{self.label}: {self.old} → {self.new}"


def facts(policy_set: PolicySet) -> list[Fact]:
    """Every commitment detail of every policy, as the agreement phrases it."""
    people = a.People(policy_set)
    found: list[Fact] = []
    for stage in policy_set.stages.values():
        meaning = a.condition(stage.expr) if stage.expr is not None else (
            f"its {a.words(stage.from_field or '')} is {a.value(stage.from_values)}")
        found.append(Fact(("stage", stage.name), f"Definition of {a.stage_word(stage.name)}", meaning))
    for definition in policy_set.definitions.values():
        found.append(Fact(("define", definition.name), f"“{a.words(definition.name).capitalize()}”",
                          a.condition(definition.expr)))
    for score in policy_set.scores.values():
        found.append(Fact(("score", score.name), f"The {a.words(score.name)} score", a.score_sentence(score)))
    for calendar in policy_set.calendars.values():
        found.append(Fact(("calendar", calendar.name), f"Calendar “{a.words(calendar.name)}”",
                          a.calendar_sentence(calendar, year=0)))
    for plan in policy_set.plans.values():
        numbers = plan_numbers(plan)
        for key, amount in numbers.items():
            found.append(Fact(("plan", plan.name, key), f"Plan {a.words(plan.name)}, {a.words(key)}",
                              a.number(amount)))
    for policy in policy_set.policies.values():
        found += _policy_facts(policy, policy_set, people)
    return found


def _policy_facts(policy: m.Policy, policy_set: PolicySet, people: a.People) -> list[Fact]:
    title = a.clean(policy.title) if policy.title else a.words(policy.name)
    tiers = {t.name: (a.clean(t.label) if t.label else a.words(t.name)) for t in policy.tiers}
    found = [Fact((policy.name, "version"), f"{title}, version", a.clean(policy.version or "none")),
             Fact((policy.name, "effective"), f"{title}, effective",
                  a.day_text(policy.effective) if policy.effective else "not set"),
             Fact((policy.name, "scope"), f"{title}, leads covered",
                  a.condition(policy.applies) if policy.applies is not None else "every lead")]
    for tier in policy.tiers:
        found.append(Fact((policy.name, "tier", tier.name), f"{title}, {tiers[tier.name]} leads",
                          a.condition(tier.when) if tier.when is not None else "every other lead"))
    if policy.not_covered is not None:
        found.append(Fact((policy.name, "not_covered"), f"{title}, leads in no tier", "not covered"))
    for window in policy.windows:
        label = a.clean(window.label) if window.label else a.words(window.name).capitalize()
        key = (policy.name, "window", window.name)
        calendar = window.calendar or policy.calendar
        found.append(Fact((*key, "start"), f"{label}, starts when",
                          a.trigger(window.start) if window.start else "never"))
        found.append(Fact((*key, "stop"), f"{label}, stops when", a.trigger(window.stop) if window.stop else "never"))
        for goal in window.goals:
            who = f"{tiers.get(goal.tier, a.words(goal.tier))} goal" if goal.tier else "goal"
            found.append(Fact((*key, "goal", goal.tier or ""), f"{label}, {who}", a.goal_text(goal, calendar)))
        if window.pause is not None:
            found.append(Fact((*key, "pause"), f"{label}, paused while", a.condition(window.pause)))
        for index, warning in enumerate(window.warnings):
            text = (f"at {a.number(warning.percent)} % of the time" if warning.percent is not None
                    else f"{a.duration(warning.before)} before the deadline" if warning.before else "")
            found.append(Fact((*key, "warn", str(index)), f"{label}, warning", text))
        found.append(Fact((*key, "recycle"), f"{label}, after a recycle",
                          "a new clock" if window.restarts_on_recycle else "no new clock"))
        for level in window.escalations:
            found.append(Fact((*key, "escalate", level.label), f"{label}, {_level(level)}",
                              a.join([a.action(x, people) for x in level.actions])))
    # A window's label is not a change to what a target measures: name the window itself.
    unlabelled = policy.model_copy(update={"windows": [w.model_copy(update={"label": None}) for w in policy.windows]})
    for target in policy.targets:
        label = a.clean(target.label) if target.label else a.words(target.name).capitalize()
        key = (policy.name, "target", target.name)
        found.append(Fact((*key, "goal"), f"{label}, goal", a.target_goal(target, policy_set)))
        if target.metric is not None:
            found.append(Fact((*key, "metric"), f"{label}, measures",
                              a.metric_text(target.metric, unlabelled, policy_set.stages)))
        found.append(Fact((*key, "period"), f"{label}, period", target.period or "month"))
        if target.where is not None:
            found.append(Fact((*key, "where"), f"{label}, counts", a.scope_phrase(target.where, policy)))
        if target.tolerance is not None:
            amount = (f"{a.number(target.tolerance)} %" if target.tolerance_is_percent
                      else a.number(target.tolerance))
            found.append(Fact((*key, "tolerance"), f"{label}, at risk within", amount))
        found.append(Fact((*key, "owner"), f"{label}, owed by", a.SIDES.get(target.owner or "", target.owner or "")))
        if target.accountable:
            found.append(Fact((*key, "accountable"), f"{label}, answered for by", people.name(target.accountable)))
        for level in target.escalations:
            found.append(Fact((*key, "escalate", level.label), f"{label}, {_level(level)}",
                              a.join([a.action(x, people) for x in level.actions])))
    return found


def _level(level: m.Escalation) -> str:
    if level.when == "missed":
        periods = level.missed_periods or 1
        return "after one missed period" if periods == 1 else f"after {periods} missed periods in a row"
    return {"warning": "at the warning", "breach": "at the deadline"}.get(
        level.when, f"{'every ' if level.when == 'every_after_breach' else ''}"
                    f"{a.duration(level.after) if level.after else ''} after the deadline")


def changes(old: PolicySet, new: PolicySet) -> list[Change]:
    """The facts that differ, in the new version's order, then those the new version dropped."""
    before = {fact.key: fact for fact in facts(old)}
    after = {fact.key: fact for fact in facts(new)}
    found = []
    for key, fact in after.items():
        if key not in before:
            found.append(Change(fact.label, None, fact.text))
        elif before[key].text != fact.text:
            found.append(Change(fact.label, before[key].text, fact.text))
    found += [Change(fact.label, fact.text, None) for key, fact in before.items() if key not in after]
    return found


def to_text(old_label: str, new_label: str, found: list[Change], markdown: bool = False) -> str:
    title = f"Changes to the agreement: {old_label} → {new_label}"
    if not found:
        return f"{title}\n\nNo change to the agreement.\n"
    if markdown:
        return "\n".join([f"## {a._md(title)}", "", *(f"- {a._md(c.line())}" for c in found)]) + "\n"
    return "\n".join([title, "", *(f"- {c.line()}" for c in found)]) + "\n"
