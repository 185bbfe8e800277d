"""Compile policy conditions into Python closures over a lead's state.

Rules a policy author relies on (docs/semantics.md):
- text comparisons (==, !=, in, not in, matches) ignore case: CRMs spell "Director" and "director";
- a missing value makes every comparison false; ask with `is missing`;
- inside `on KIND where ...` and `count(KIND where ...)` the event's own fields shadow lead fields.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sla_engine.events import Event
from sla_engine.language import model as m
from sla_engine.language.patterns import compile_pattern
from sla_engine.language.policy_set import PolicySet, plan_numbers
from sla_engine.language.vocabulary import EVENT_FIELDS

from .state import LeadState

Compiled = Callable[["Context"], Any]


@dataclass
class Context:
    state: LeadState
    history: list[tuple[Event, str | None]] = field(default_factory=list)
    stage_entered: dict[str, datetime] = field(default_factory=dict)
    event: Event | None = None
    window_start: datetime | None = None
    now: datetime | None = None  # the instant judged: an event's, or one where time alone changes a `within` count
    entered_now: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)
    memo: dict[int, Any] = field(default_factory=dict)  # see engine.dependencies.FieldMemo


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">=": operator.ge,
    "<=": operator.le, ">": operator.gt, "<": operator.lt,
}


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    return value


def as_number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Line both sides up: CSV sources deliver numbers and instants as text."""
    left, right = _norm(left), _norm(right)
    if isinstance(left, str) and _is_number(right):
        left = as_number(left)
    elif isinstance(right, str) and _is_number(left):
        right = as_number(right)
    elif isinstance(left, datetime) and isinstance(right, str):
        right = _parse_instant(right)
    elif isinstance(right, datetime) and isinstance(left, str):
        left = _parse_instant(left)
    return left, right


def _parse_instant(text: str) -> datetime | str:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.casefold() in ("true", "yes", "1")
    return bool(value)


class Compiler:
    """Compiles each named definition, score and stage once per policy set."""

    def __init__(self, policy_set: PolicySet,
                 remember_named: Callable[[str, Compiled], Compiled] | None = None) -> None:
        self.policy_set = policy_set
        self._named: dict[str, Compiled] = {}
        self._remember_named = remember_named  # wraps each compiled name, e.g. to reuse its value
        self._plans = {name: plan_numbers(plan) for name, plan in policy_set.plans.items()}

    # ------------------------------------------------------------ names
    def named(self, name: str) -> Compiled:
        """A definition (bool), score (number) or stage (bool), compiled on first use."""
        if name not in self._named:
            self._named[name] = lambda ctx: None  # guards a cycle the checker reports
            ps = self.policy_set
            if name in ps.definitions:
                self._named[name] = self.condition(ps.definitions[name].expr)
            elif name in ps.scores:
                self._named[name] = self._score(ps.scores[name])
            elif name in ps.stages:
                self._named[name] = self.stage(ps.stages[name])
            else:
                del self._named[name]
                raise KeyError(name)
            if self._remember_named is not None:
                self._named[name] = self._remember_named(name, self._named[name])
        return self._named[name]

    def stage(self, stage: m.Stage) -> Compiled:
        if stage.expr is not None:
            return self.condition(stage.expr)
        field_name = stage.from_field or "status"
        wanted = {_norm(self.literal(v)) for v in (stage.from_values.items if stage.from_values else [])}
        return lambda ctx: _norm(ctx.state.fields.get(field_name)) in wanted

    def _score(self, score: m.ScoreDecl) -> Compiled:
        parts: list[Callable[[Context], float]] = []
        for rule in score.rules:
            points = rule.points
            if rule.when is not None:
                cond = self.condition(rule.when)
                parts.append(lambda ctx, c=cond, p=points: p if c(ctx) else 0.0)  # type: ignore[misc]
            elif rule.per is not None:
                per = self._field(rule.per)
                parts.append(lambda ctx, f=per, p=points: p * _number(f(ctx)))  # type: ignore[misc]
        cap = score.cap

        def total(ctx: Context) -> float:
            value = sum(part(ctx) for part in parts)
            return min(value, cap) if cap is not None else value
        return total

    def _field(self, name: str, event_kind: str | None = None) -> Compiled:
        if event_kind is not None and name in EVENT_FIELDS.get(event_kind, {}):
            return lambda ctx: ctx.event.payload.get(name) if ctx.event is not None else None
        ps = self.policy_set
        if name in ps.definitions or name in ps.scores or name in ps.stages:
            return self._named_ref(name)
        return lambda ctx: ctx.extra[name] if name in ctx.extra else ctx.state.fields.get(name)

    def _named_ref(self, name: str) -> Compiled:
        """A reference to a definition, score or stage, looked up at its first use (it may be compiled later)."""
        target: Compiled | None = None

        def ref(ctx: Context) -> Any:
            nonlocal target
            if target is None:
                target = self.named(name)
            return target(ctx)
        return ref

    # ------------------------------------------------------------ values
    def literal(self, value: m.Node) -> Any:
        if isinstance(value, m.Literal_):
            return value.value
        if isinstance(value, m.Duration):
            return value.seconds
        if isinstance(value, m.ListValue):
            return [self.literal(item) for item in value.items]
        if isinstance(value, m.Ref):
            if len(value.path) == 2:
                return self._plans.get(value.path[0], {}).get(value.path[1])
            return value.path[0]
        return None

    def operand(self, node: m.Node, event_kind: str | None = None) -> Compiled:
        if isinstance(node, m.Ref):
            if len(node.path) == 2:
                constant = self.literal(node)
                return lambda ctx: constant
            return self._field(node.path[0], event_kind)
        if isinstance(node, m.Count):
            return self._count(node)
        constant = self.literal(node)
        return lambda ctx: constant

    def _count(self, node: m.Count) -> Compiled:
        kind = node.event
        where = self.condition(node.where, event_kind=kind) if node.where is not None else None
        distinct, by_owner, since = node.distinct, node.by_owner, node.since
        within = timedelta(seconds=node.within.seconds) if node.within is not None else None

        def count(ctx: Context) -> int:
            floor: datetime | None = None
            if since == "start":
                floor = ctx.window_start
            elif since is not None:
                floor = ctx.stage_entered.get(since)
                if floor is None:
                    return 0
            # An event counts `within D` from its instant until D later: [occurred_at, occurred_at + D).
            recent = ctx.now - within if within is not None and ctx.now is not None else None
            seen: set[Any] = set()
            total = 0
            outer = ctx.event
            try:
                for event, owner in ctx.history:
                    if event.type != kind or (floor is not None and event.occurred_at < floor):
                        continue
                    if recent is not None and event.occurred_at <= recent:
                        continue
                    if by_owner and not _same_person(event.payload.get("by"), owner):
                        continue
                    if where is not None:
                        ctx.event = event
                        if not where(ctx):
                            continue
                    if distinct is not None:
                        seen.add(_norm(event.payload.get(distinct)))
                    else:
                        total += 1
            finally:
                ctx.event = outer
            return len(seen) if distinct is not None else total
        return count

    # ------------------------------------------------------------ conditions
    def condition(self, expr: m.Node, event_kind: str | None = None) -> Compiled:
        c = self.condition
        if isinstance(expr, m.Or):
            return _any_of([c(i, event_kind) for i in expr.items])
        if isinstance(expr, m.And):
            return _all_of([c(i, event_kind) for i in expr.items])
        if isinstance(expr, m.Not):
            inner = c(expr.operand, event_kind)
            return lambda ctx: not inner(ctx)
        if isinstance(expr, m.Truth):
            value = self.operand(expr.operand, event_kind)
            return lambda ctx: truthy(value(ctx))
        if isinstance(expr, m.Becomes):
            stage = expr.stage
            return lambda ctx: stage in ctx.entered_now
        if isinstance(expr, m.Compare):
            return self._compare(expr, event_kind)
        if isinstance(expr, m.Member):
            value = self.operand(expr.operand, event_kind)
            options = {_norm(v) for v in self.literal(expr.values)}
            negated = expr.negated

            def member(ctx: Context) -> bool:
                got = value(ctx)
                if got is None:
                    return False
                for v in got if isinstance(got, list) else (got,):
                    if not isinstance(v, dict | list) and _norm(v) in options:
                        return not negated
                return negated
            return member
        if isinstance(expr, m.Between):
            value, low, high = (self.operand(x, event_kind) for x in (expr.operand, expr.low, expr.high))

            def between(ctx: Context) -> bool:
                got, lo, hi = value(ctx), low(ctx), high(ctx)
                if got is None or lo is None or hi is None:
                    return False
                got, lo = _comparable(got, lo)
                got, hi = _comparable(got, hi)
                try:
                    return lo <= got <= hi
                except TypeError:
                    return False
            return between
        if isinstance(expr, m.Matches):
            value = self.operand(expr.operand, event_kind)
            pattern = compile_pattern(expr.pattern)  # RE2: linear time, whatever the pattern
            return lambda ctx: isinstance(v := value(ctx), str) and pattern.search(v) is not None
        if isinstance(expr, m.IsSet):
            value = self.operand(expr.operand, event_kind)
            missing = expr.missing
            return lambda ctx: _is_missing(value(ctx)) == missing
        raise TypeError(f"not a condition: {type(expr).__name__}")

    def _compare(self, expr: m.Compare, event_kind: str | None) -> Compiled:
        left = self.operand(expr.left, event_kind)
        right = self.operand(expr.right, event_kind)
        op = _OPS[expr.op]

        def compare(ctx: Context) -> bool:
            a, b = left(ctx), right(ctx)
            if a is None or b is None:
                return False
            kind_a, kind_b = type(a), type(b)
            if kind_a in _NUMBERS and kind_b in _NUMBERS:  # the common case, kept cheap
                return bool(op(a, b))
            if kind_a is str and kind_b is str:
                return bool(op(a.casefold(), b.casefold()))
            a, b = _comparable(a, b)
            try:
                return bool(op(a, b))
            except TypeError:
                return False
        return compare


_NUMBERS = (int, float)


def _any_of(items: list[Compiled]) -> Compiled:
    def any_of(ctx: Context) -> bool:
        for item in items:  # noqa: SIM110 - a plain loop: any() would build a generator per call
            if item(ctx):
                return True
        return False
    return any_of


def _all_of(items: list[Compiled]) -> Compiled:
    def all_of(ctx: Context) -> bool:
        for item in items:  # noqa: SIM110 - a plain loop: all() would build a generator per call
            if not item(ctx):
                return False
        return True
    return all_of


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _same_person(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a).casefold() == str(b).casefold()
