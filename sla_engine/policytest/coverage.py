"""Which parts of a policy set the tests exercise, so a reviewer sees what no test pins down.

An item is exercised when any test's evaluation
- a definition: evaluated true at least once, or read by a target a case checked (its metric's
  subject or its `where`, directly or through other definitions, scores and stages: targets are
  judged by the report's queries, not by the evaluator observed here);
- a stage: was entered;
- a tier: was given to a clock;
- a window: started a clock with a deadline;
- an escalation level (of a window or a target): fired an action;
- a target: had its value, status or escalations checked by a case.

Everything but definitions is read from the engine's public results (instances, actions,
stage entries). Definitions are observed by wrapping ``Compiler.named`` on the evaluator's
compiler: conditions look a definition up through that method each time they read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet

KINDS = ("definition", "stage", "tier", "window", "escalation", "target")
Key = tuple[str, ...]


@dataclass(frozen=True)
class Item:
    kind: str
    key: Key
    label: str
    pos: m.Pos


def items(policy_set: PolicySet) -> list[Item]:
    """Everything coverage counts, in declaration order."""
    found = [Item("definition", ("definition", d.name), f"define {d.name}", d.pos)
             for d in policy_set.definitions.values()]
    found += [Item("stage", ("stage", s.name), f"stage {s.name}", s.pos) for s in policy_set.stages.values()]
    for policy in policy_set.policies.values():
        p = policy.name
        found += [Item("tier", ("tier", p, t.name), f"{p}: tier {t.name}", t.pos) for t in policy.tiers]
        for window in policy.windows:
            found.append(Item("window", ("window", p, window.name), f"{p}: window {window.name}", window.pos))
            found += [
                Item("escalation", ("escalation", p, window.name, str(i)),
                     f"{p}: window {window.name}: escalate {level.label}", level.pos)
                for i, level in enumerate(window.escalations)
            ]
        for target in policy.targets:
            found.append(Item("target", ("target", p, target.name), f"{p}: target {target.name}", target.pos))
            found += [
                Item("escalation", ("target escalation", p, target.name, str(i)),
                     f"{p}: target {target.name}: escalate {level.label}", level.pos)
                for i, level in enumerate(target.escalations)
            ]
    return found


@dataclass
class Recorder:
    """What the tests of one policy set exercised."""

    exercised: set[Key] = field(default_factory=set)

    def observe(self, evaluator: Evaluator) -> None:
        """Record every definition that evaluates true while this evaluator runs."""
        compiler = evaluator.compiler
        original: Callable[[str], Any] = compiler.named
        definitions = set(evaluator.policy_set.definitions)
        wrapped: dict[str, Callable[[Any], Any]] = {}
        seen = self.exercised

        def named(name: str) -> Callable[[Any], Any]:
            compiled = original(name)
            if name not in definitions:
                return compiled
            if name not in wrapped:
                key = ("definition", name)

                def observed(ctx: Any, compiled: Callable[[Any], Any] = compiled) -> Any:
                    value = compiled(ctx)
                    if value:
                        seen.add(key)
                    return value
                wrapped[name] = observed
            return wrapped[name]

        compiler.named = named  # type: ignore[method-assign]

    def lead(self, result: LeadResult) -> None:
        for stage, _ in result.stage_entries:
            self.exercised.add(("stage", stage))
        for instance in result.instances:
            if instance.tier is not None:
                self.exercised.add(("tier", instance.policy, instance.tier))
            if instance.due_at is not None:
                self.exercised.add(("window", instance.policy, instance.window))
        for action in result.actions:
            self.exercised.add(("escalation", action.policy, action.window, str(action.level_index)))

    def target(self, policy: str, target: str, reads: Iterable[str] = ()) -> None:
        """A case checked this target; `reads`: the definitions it reads (see definitions_read)."""
        self.exercised.add(("target", policy, target))
        self.exercised.update(("definition", name) for name in reads)

    def target_escalation(self, policy: m.Policy, target: str, level: str) -> None:
        """A target escalation fired (an outbox row names its level by label)."""
        for t in policy.targets:
            if t.name == target:
                for i, escalation in enumerate(t.escalations):
                    if escalation.label == level:
                        self.exercised.add(("target escalation", policy.name, target, str(i)))


def definitions_read(policy_set: PolicySet, target: m.Target) -> set[str]:
    """The definitions a target reads: its metric's subject and its `where`, and through them the
    definitions, scores and stages they name."""
    found: set[str] = set()
    seen: set[str] = set()
    named = (policy_set.definitions, policy_set.scores, policy_set.stages)

    def walk(node: object) -> None:
        if isinstance(node, m.Ref) and len(node.path) == 1:
            name = node.path[0]
            if name in policy_set.definitions:
                found.add(name)
            for table in named:
                if name in table and name not in seen:
                    seen.add(name)
                    walk(table[name])
        elif isinstance(node, m.Node):
            for key in type(node).model_fields:
                walk(getattr(node, key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    metric = target.metric
    if metric is not None and metric.kind == "rate" and metric.subject in policy_set.definitions:
        walk(m.Ref(path=[metric.subject]))
    if target.where is not None:
        walk(target.where)
    return found


@dataclass
class Coverage:
    """One policy set's coverage: every item and whether a test exercised it."""

    policies: str
    items: list[Item]
    exercised: set[Key]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def covered(self) -> int:
        return sum(1 for item in self.items if item.key in self.exercised)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    @property
    def missing(self) -> list[Item]:
        return [item for item in self.items if item.key not in self.exercised]

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """Covered and total per kind of item."""
        counts: dict[str, tuple[int, int]] = {}
        for kind in KINDS:
            mine = [item for item in self.items if item.kind == kind]
            if mine:
                counts[kind] = (sum(1 for item in mine if item.key in self.exercised), len(mine))
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "policies": self.policies,
            "covered": self.covered,
            "total": self.total,
            "percent": round(self.percent, 1),
            "by_kind": {kind: {"covered": c, "total": t} for kind, (c, t) in self.by_kind().items()},
            "missing": [{"kind": item.kind, "item": item.label, "file": item.pos.file, "line": item.pos.line}
                        for item in self.missing],
        }


def combined_percent(coverages: list[Coverage]) -> float:
    total = sum(c.total for c in coverages)
    return 100.0 * sum(c.covered for c in coverages) / total if total else 100.0


REASONS = {
    "definition": "never true in any test",
    "stage": "never entered",
    "tier": "never given to a clock",
    "window": "no clock started",
    "escalation": "never fired",
    "target": "no test checks it",
}
