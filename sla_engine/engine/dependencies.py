"""Which lead fields a condition reads, so its value can be reused until one of them is written.

Most events write few fields (an activity writes none), yet the engine judges stages, tiers,
`applies`, pauses and stop conditions after every event. A condition that reads nothing but
lead fields has the same value as long as none of those fields is written, so the engine keeps
its last value (``FieldMemo``) and drops it when the fold writes a field it reads.

A condition that reads more than fields — a ``count(...)`` (the history, the clock's start,
stage entries) or ``becomes STAGE`` (the stages entered at this event) — is judged every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from sla_engine.engine.conditions import Compiled, Context
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet

SHAPES_KEPT = 4096  # lookups kept per set of fields written or stages entered (events have a few shapes)


class _ReadsMore(Exception):
    """The condition reads something besides lead fields."""


def fields_read(expr: m.Node, policy_set: PolicySet) -> frozenset[str] | None:
    """The lead fields `expr` reads, through the definitions, scores and stages it names.

    None when it reads anything else. Erring towards more fields is safe (the value is judged
    again more often); missing one is not, so every part of the tree is walked.
    """
    return _collected(lambda found: _walk(expr, policy_set, found, set()))


def fields_read_by_name(name: str, policy_set: PolicySet) -> frozenset[str] | None:
    """The lead fields a definition, score or stage reads; None when it reads anything else."""
    return _collected(lambda found: _name(name, policy_set, found, set()))


def _collected(walk: Callable[[set[str]], None]) -> frozenset[str] | None:
    found: set[str] = set()
    try:
        walk(found)
    except _ReadsMore:
        return None
    return frozenset(found)


def stages_to_enter(expr: m.Node) -> frozenset[str] | None:
    """The stages one of which an event must enter for the condition to hold there (``becomes
    STAGE``, and-ed with anything, or in every branch of an ``or``); None if it can hold at any
    event. Such a start condition is false at every other event: its clock has no edge there."""
    if isinstance(expr, m.Becomes):
        return frozenset([expr.stage])
    if isinstance(expr, m.And):
        return next((found for item in expr.items if (found := stages_to_enter(item)) is not None), None)
    if isinstance(expr, m.Or):
        stages: set[str] = set()
        for item in expr.items:
            found = stages_to_enter(item)
            if found is None:
                return None
            stages |= found
        return frozenset(stages)
    return None


def _walk(node: Any, ps: PolicySet, found: set[str], named: set[str]) -> None:
    if isinstance(node, m.Count | m.Becomes):
        raise _ReadsMore
    if isinstance(node, m.Ref):
        if len(node.path) == 1:
            _name(node.path[0], ps, found, named)
        return
    if isinstance(node, m.Node):
        for name in type(node).model_fields:
            if name != "pos":
                _walk(getattr(node, name), ps, found, named)
    elif isinstance(node, list | tuple):
        for item in node:
            _walk(item, ps, found, named)


def _name(name: str, ps: PolicySet, found: set[str], named: set[str]) -> None:
    """A single name is a definition, score or stage (walked once), else a lead field."""
    if name in named:
        return
    if name in ps.definitions:
        named.add(name)
        _walk(ps.definitions[name].expr, ps, found, named)
    elif name in ps.scores:
        named.add(name)
        for rule in ps.scores[name].rules:
            _walk(rule.when, ps, found, named)
            if rule.per is not None:
                _name(rule.per, ps, found, named)
    elif name in ps.stages:
        named.add(name)
        stage = ps.stages[name]
        if stage.expr is not None:
            _walk(stage.expr, ps, found, named)
        else:
            found.add(stage.from_field or "status")
    else:
        found.add(name)


class FieldMemo:
    """Wraps the conditions that read only lead fields so each lead judges them once per change.

    The remembered values live in the lead's ``Context.memo`` (slot → value); ``forget`` drops
    the slots that read a field an event wrote.
    """

    def __init__(self, policy_set: PolicySet) -> None:
        self.policy_set = policy_set
        self.dependents: dict[str, list[int]] = {}
        self.slots = 0
        self._reading: dict[tuple[str, ...], tuple[int, ...]] = {}  # written fields -> the slots they drop

    def wrap(self, expr: m.Node, compiled: Compiled) -> Compiled:
        """`compiled` (the compiled `expr`) as is when it reads more than fields, else remembered."""
        names = fields_read(expr, self.policy_set)
        return compiled if names is None else self.remember(names, compiled)

    def wrap_named(self, name: str, compiled: Compiled) -> Compiled:
        """`compiled` (the compiled definition, score or stage `name`), remembered like `wrap`:
        every condition that names it then shares its value."""
        names = fields_read_by_name(name, self.policy_set)
        return compiled if names is None else self.remember(names, compiled)

    def remember(self, names: Iterable[str], compiled: Compiled) -> Compiled:
        """`compiled`, a condition of the lead fields `names` only, judged again only when one is written."""
        slot = self.slots
        self.slots += 1
        for name in names:
            self.dependents.setdefault(name, []).append(slot)
        self._reading.clear()  # names are compiled on first use, so slots may come after forget() has run

        def remembered(ctx: Context) -> Any:
            memo = ctx.memo
            if slot in memo:
                return memo[slot]
            value = memo[slot] = compiled(ctx)
            return value
        return remembered

    def forget(self, memo: dict[int, Any], written: tuple[str, ...]) -> None:
        """Drop the values that read a field just written."""
        slots = self._reading.get(written)
        if slots is None:
            slots = tuple(dict.fromkeys(slot for name in written for slot in self.dependents.get(name, ())))
            if len(self._reading) < SHAPES_KEPT:
                self._reading[written] = slots
        for slot in slots:
            memo.pop(slot, None)


def recency_by_kind(policy_set: PolicySet) -> dict[str, tuple[timedelta, ...]]:
    """The `within` spans of the set's counts, by the event kind each counts.

    An event of such a kind leaves a `within D` count D after it happened: there, with no event,
    a condition may change (a lead stops qualifying), so the lead is judged again at that instant.
    """
    found: dict[str, set[timedelta]] = {}
    for node in m.nodes_within(list(policy_set.declarations())):
        if isinstance(node, m.Count) and node.within is not None:
            found.setdefault(node.event, set()).add(timedelta(seconds=node.within.seconds))
    return {kind: tuple(sorted(spans)) for kind, spans in found.items()}
