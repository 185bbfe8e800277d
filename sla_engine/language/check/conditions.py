"""Conditions and their operands: every name known, every comparison meaningful."""

from __future__ import annotations

from dataclasses import replace

from sla_engine.language import model as m
from sla_engine.language.check.base import CheckerBase
from sla_engine.language.check.plans import _plan_values
from sla_engine.language.check.types import (
    _ORDERED,
    _ORDERING,
    BOOLEAN,
    DURATION,
    NUMBER,
    TEXT,
    Scope,
    Type,
    _describe,
    _event_fields,
    _field_type,
    _group,
)
from sla_engine.language.errors import suggest
from sla_engine.language.patterns import PatternError, compile_pattern
from sla_engine.language.scope import written_name
from sla_engine.language.vocabulary import EVENT_KINDS


class ConditionChecks(CheckerBase):
    """Conditions, wherever they are written."""

    def condition(self, expr: m.Node, scope: Scope) -> None:
        """A condition must be true or false, with every name known and every comparison meaningful."""
        if isinstance(expr, m.And | m.Or):
            for item in expr.items:
                self.condition(item, scope)
        elif isinstance(expr, m.Not):
            self.condition(expr.operand, scope)
        elif isinstance(expr, m.Truth):
            self.check_truth(expr, scope)
        elif isinstance(expr, m.Becomes):
            self.check_stage_ref(expr.stage, self.within(expr.pos, "becomes", expr.stage))
        elif isinstance(expr, m.Compare):
            self.check_compare(expr, scope)
        elif isinstance(expr, m.Member):
            self.check_member(expr, scope)
        elif isinstance(expr, m.Between):
            self.check_between(expr, scope)
        elif isinstance(expr, m.Matches):
            self.check_matches(expr, scope)
        elif isinstance(expr, m.IsSet):
            self.operand(expr.operand, scope)

    def check_truth(self, expr: m.Truth, scope: Scope) -> None:
        """`when industry` is always true for any industry: a condition must be true or false."""
        type_ = self.operand(expr.operand, scope)
        if type_ is None or type_.name == "boolean":
            return
        text = self.text(expr.operand)
        self.report("E202", f"`{text}` is {_describe(type_)}, not true or false", expr.operand.pos,
                    f"compare it (e.g. `{text} == ...`) or ask `{text} is set`")

    def check_stage_ref(self, name: str, pos: m.Pos) -> None:
        """`becomes X` for a stage that does not exist is never true."""
        if name not in self.ps.stages and name not in self.broken:
            self.report("E201", f"unknown stage '{name}'", pos, suggest(name, map(written_name, self.ps.stages)))

    def check_compare(self, expr: m.Compare, scope: Scope) -> None:
        """Comparing a number with a text is never true: the engine would silently skip the lead."""
        left = self.operand(expr.left, scope)
        right = self.operand(expr.right, scope, quote_hint=True)
        if left is None or right is None:
            return
        if expr.op in _ORDERING:
            for side, type_ in ((expr.left, left), (expr.right, right)):
                if _group(type_) not in _ORDERED:
                    self.report("E202", f"`{expr.op}` compares numbers, durations, dates and times, but "
                                f"`{self.text(side)}` is {_describe(type_)}", side.pos)
                    return
        if _group(left) != _group(right):
            self.report("E202", f"cannot compare `{self.text(expr.left)}` ({_describe(left)}) with "
                        f"`{self.text(expr.right)}` ({_describe(right)})", expr.pos)
            return
        self.check_enum_value(left, expr.right)
        self.check_enum_value(right, expr.left)

    def check_member(self, expr: m.Member, scope: Scope) -> None:
        """`x in [...]` is never true for values x cannot hold."""
        type_ = self.operand(expr.operand, scope)
        if type_ is not None:
            self.check_list(type_, self.text(expr.operand), expr.values, scope)

    def check_list(self, type_: Type, label: str, values: m.ListValue, scope: Scope) -> None:
        """Each listed value must be something the operand can equal."""
        element = TEXT if type_.name == "text_list" else type_
        for item in values.items:
            item_type = self.list_item_type(item, scope)
            if item_type is None:
                continue
            if _group(item_type) != _group(element):
                self.report("E202", f"`{self.text(item)}` is {_describe(item_type)}, but `{label}` is "
                            f"{_describe(type_)}", item.pos)
            else:
                self.check_enum_value(element, item, listed=True)

    def list_item_type(self, item: m.Node, scope: Scope) -> Type | None:
        """The type of a listed value; a bare name in a list is the text of that name."""
        if isinstance(item, m.Ref) and len(item.path) == 1:
            return TEXT
        if isinstance(item, m.Env):
            self.report("E202", "env(...) reads a secret for delivery; it has no value in a condition", item.pos)
            return None
        return self.operand(item, scope)

    def check_enum_value(self, type_: Type, node: m.Node, listed: bool = False) -> None:
        """`persona == "champoin"` is never true: the value must be one the field can hold.

        A bare name is a value only inside a list (``persona in [champion]``); elsewhere it is a field.
        """
        if type_.name != "enum" and not (type_.name == "text" and type_.values):
            return
        if isinstance(node, m.Literal_) and node.type == "text":
            value = str(node.value)
        elif listed and isinstance(node, m.Ref) and len(node.path) == 1:
            value = node.path[0]
        else:
            return
        if value.casefold() in {v.casefold() for v in type_.values}:
            return
        hint = suggest(value, type_.values) or (f"known: {', '.join(type_.values)}" if type_.values else None)
        if type_.name == "text":
            # A source may send other values, so this is a warning: the condition holds only if one does.
            self.warn("W301", f"'{value}' is not a known {type_.label}: {', '.join(type_.values)}", node.pos, hint)
        elif type_.names:
            self.report("E201", f"unknown {type_.names} '{value}'", node.pos, hint)
        else:
            self.report("E202", f"'{value}' is not one of {type_.label}'s values ({', '.join(type_.values)})",
                        node.pos, hint)

    def check_between(self, expr: m.Between, scope: Scope) -> None:
        """`between` needs ordered values of one kind on all three sides."""
        type_ = self.operand(expr.operand, scope)
        if type_ is not None and _group(type_) not in _ORDERED:
            self.report("E202", f"`between` needs a number, duration, date or time, but `{self.text(expr.operand)}` "
                        f"is {_describe(type_)}", expr.operand.pos)
            type_ = None
        for bound in (expr.low, expr.high):
            bound_type = self.operand(bound, scope)
            if type_ is not None and bound_type is not None and _group(bound_type) != _group(type_):
                self.report("E202", f"`{self.text(bound)}` is {_describe(bound_type)}, but "
                            f"`{self.text(expr.operand)}` is {_describe(type_)}", bound.pos)

    def check_matches(self, expr: m.Matches, scope: Scope) -> None:
        """A pattern that does not compile would fail the whole run; matching a number never matches."""
        type_ = self.operand(expr.operand, scope)
        if type_ is not None and _group(type_) != "text":
            self.report("E202", f"`matches` tests a text, but `{self.text(expr.operand)}` is {_describe(type_)}",
                        expr.operand.pos)
        try:
            compile_pattern(expr.pattern)
        except PatternError as error:
            self.report("E213", f"invalid pattern: {error}", self.last_token(expr.pos),
                        "patterns are RE2 syntax: no lookaround (?=…) and no backreferences \\1")

    def operand(self, node: m.Node, scope: Scope, quote_hint: bool = False) -> Type | None:
        """The operand's type, reporting unknown names; None when it cannot be known."""
        if isinstance(node, m.Literal_):
            return Type(node.type)
        if isinstance(node, m.Duration):
            return DURATION
        if isinstance(node, m.ListValue):
            return Type("list")
        if isinstance(node, m.Ref):
            return self.ref_type(node, scope, quote_hint)
        if isinstance(node, m.Count):
            return self.count_type(node, scope)
        return None

    def ref_type(self, ref: m.Ref, scope: Scope, quote_hint: bool = False) -> Type | None:
        """A bare name is a field, score, definition or stage; a dotted one a plan value."""
        if len(ref.path) == 1:
            return self.name_type(ref.path[0], scope, ref.pos, quote_hint)
        if len(ref.path) == 2:
            return self.plan_value(ref)
        self.report("E201", f"unknown name '{ref.dotted}'", ref.pos)
        return None

    def name_type(self, name: str, scope: Scope, pos: m.Pos, quote_hint: bool = False) -> Type | None:
        """Resolve a bare name as the engine does: event field, definition, score, stage, target name, field."""
        event = _event_fields(scope.event_kind)
        if name in event:
            return _field_type(name, event[name])
        if name in self.ps.definitions or name in self.ps.stages:
            return BOOLEAN
        if name in self.ps.scores:
            return NUMBER
        if name in scope.extra:
            return scope.extra[name]
        if name in self.fields:
            return self.fields[name]
        if name in self.broken:
            return None
        candidates = [*event, *map(written_name, [*self.ps.definitions, *self.ps.scores, *self.ps.stages]),
                      *scope.extra, *self.fields]
        quoted = f'a text needs double quotes: "{name}"' if quote_hint else None
        if quote_hint and any(name in type_.values for type_ in self.fields.values()):
            hint = quoted
        else:
            hint = suggest(name, candidates) or quoted
        self.report("E201", f"unknown name '{name}': not a field, score, definition or stage", pos, hint)
        return None

    def plan_value(self, ref: m.Ref) -> Type | None:
        """`inbound_2026.mqls`: a number the plan works out from its revenue goal."""
        plan_name, value = ref.path
        plan = self.ps.plans.get(plan_name)
        if plan is None:
            if plan_name not in self.broken:
                self.report("E201", f"unknown plan '{plan_name}'", self.within(ref.pos, plan_name, pick=0),
                            suggest(plan_name, self.ps.plans))
            return None
        values = _plan_values(plan)
        if value not in values:
            self.report("E201", f"plan '{plan_name}' has no value '{value}' (it has {', '.join(values)})",
                        self.within(ref.pos, ".", value), suggest(value, values))
            return None
        return NUMBER

    def count_type(self, count: m.Count, scope: Scope) -> Type:
        """count(...) is a number of events of a kind the sources send."""
        kind = count.event
        kind_pos = self.within(count.pos, "of", kind) if count.distinct else self.within(count.pos, "(", kind)
        if kind not in EVENT_KINDS:
            self.report("E201", f"unknown event kind '{kind}'", kind_pos,
                        suggest(kind, EVENT_KINDS) or f"use one of: {', '.join(EVENT_KINDS)}")
            kind = "*"
        if count.distinct is not None:
            self.check_distinct(count, kind)
        if count.where is not None:
            self.condition(count.where, replace(scope, event_kind=kind))
        if count.since is not None:
            self.check_since(count, scope)
        if count.within is not None:
            self.check_recency(count.within)
        return NUMBER

    def check_recency(self, within: m.Duration) -> None:
        """`within 7d` is the last 7 days before each instant judged: plain time, never a calendar's open hours
        (an event would leave the window at a closing hour, and a lead stop qualifying overnight)."""
        if within.business:
            plain = m.format_duration(within.model_copy(update={"business": False}))
            self.report("E218", f"`within {m.format_duration(within)}` counts business time; recency is plain time",
                        within.pos, f"write `within {plain}`")
        else:
            self.check_positive(within, "`within`")

    def check_distinct(self, count: m.Count, kind: str) -> None:
        """`distinct F` counts different values of an event field; a lead field would count nothing."""
        fields = _event_fields(kind)
        if count.distinct in fields:
            return
        known = ", ".join(fields) or "no fields"
        self.report("E201", f"'{count.distinct}' is not a field of {count.event} events (they have {known})",
                    self.within(count.pos, "distinct", count.distinct), suggest(count.distinct or "", fields))

    def check_since(self, count: m.Count, scope: Scope) -> None:
        """`since start` needs a running clock; `since STAGE` needs a stage."""
        pos = self.within(count.pos, "since", count.since)
        if count.since == "start":
            if not scope.window:
                self.report("E217", "`since start` counts from a clock's start, and there is no clock here", pos,
                            "use it in a window's `stops` or `pauses`, or count `since STAGE`")
            return
        if count.since not in self.ps.stages and count.since not in self.broken:
            self.report("E201", f"unknown stage '{count.since}'", pos, suggest(count.since or "", [
                *map(written_name, self.ps.stages), "start"]))
