"""A policy's conditions and names as SQL over the leads' stored state, for the metric queries.

A target's ``where`` and ``group by`` (and a policy's ``applies when``) read the lead's current
fields, plus ``tier``, ``policy`` and ``window``. Conditions follow docs/semantics.md (text
ignores case, a missing value makes a comparison false): the common forms are translated to SQL
that gives the engine's answer exactly (``_translate``), and anything else (definitions' bodies
are expanded first; scores, patterns) is judged by the engine's own compiler, registered on the
store's connection as an SQL function (``_python_call``). tests/store/test_conditions_sql.py
holds the translation to the engine on generated states.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sla_engine.engine.conditions import Compiler, Context, as_number
from sla_engine.engine.measures import Scope
from sla_engine.engine.state import LeadState
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet
from sla_engine.store.db import Store

TARGET_NAMES = ("tier", "policy", "window")
_FUNCTION_NUMBERS = itertools.count(1)


class Params(dict[str, Any]):
    """Named SQL parameters collected while a query is built, so fragments compose freely."""

    def __call__(self, value: Any) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f":{name}"


@dataclass
class Names:
    """How `tier`, `policy`, `window` and lead fields read in one query."""

    lead: str
    tier: str
    policy: str
    window: str
    state: str = "l.state"


@dataclass
class SqlConditions:
    """The store and the policy set, with the SQL functions conditions call registered once."""

    store: Store
    policy_set: PolicySet
    compiler: Compiler = field(init=False)

    def __post_init__(self) -> None:
        self.compiler = Compiler(self.policy_set)
        self.store = self.store.for_metrics()  # the SQL calls Python functions: SQLite hosts them
        conn = self.store.conn
        conn.create_function("sla_fold", 1, _fold, deterministic=True)
        conn.create_function("sla_num", 1, _num, deterministic=True)

    def lead_names(self, ps: Params, policy: str | None, lead: str) -> Names:
        policy_test = f" AND w.policy = {ps(policy)}" if policy else ""
        tier = (f"(SELECT w.tier FROM window_instances w WHERE w.lead_id = {lead}{policy_test} "
                "ORDER BY w.started_at DESC LIMIT 1)")
        return Names(lead=lead, tier=tier, policy=ps(policy) if policy else "NULL", window="NULL")

    @staticmethod
    def instance_names() -> Names:
        return Names(lead="wi.lead_id", tier="wi.tier", policy="wi.policy", window="wi.window")

    def lead_filter(self, ps: Params, scope: Scope, names: Names) -> str:
        """Not deleted, covered by the policy's `applies when`, and the target's `where`."""
        parts = [f"coalesce(json_extract({names.state}, '$.deleted'), 0) = 0"]
        policy = self.policy_set.policies.get(scope.policy or "")
        if policy is not None and policy.applies is not None:
            parts.append(self.condition(ps, policy.applies, names))
        if scope.where is not None:
            parts.append(self.condition(ps, scope.where, names))
        return " AND ".join(parts)

    def condition(self, ps: Params, expr: m.Node, names: Names, expanding: frozenset[str] = frozenset()) -> str:
        """A policy condition as a SQL expression that is always 0 or 1; definitions are expanded."""
        if isinstance(expr, m.And | m.Or):
            joiner = " AND " if isinstance(expr, m.And) else " OR "
            return "(" + joiner.join(self.condition(ps, item, names, expanding) for item in expr.items) + ")"
        if isinstance(expr, m.Not):
            return f"(NOT {self.condition(ps, expr.operand, names, expanding)})"
        definition = _definition(self.policy_set, expr)
        if definition is not None and definition.name not in expanding:
            return self.condition(ps, definition.expr, names, expanding | {definition.name})
        translated = _translate(ps, expr, names, self._plain_name)
        if translated is not None:
            return f"coalesce({translated}, 0)"
        return f"coalesce({self._python_call(ps, self.compiler.condition(expr), names, boolean=True)}, 0)"

    def value(self, ps: Params, name: str, names: Names) -> str:
        """A `group by` name as a SQL expression."""
        if name in TARGET_NAMES:
            return getattr(names, name)
        if self._plain_name(name):
            return f"json_extract({names.state}, {ps('$.' + name)})"
        return self._python_call(ps, self.compiler.operand(m.Ref(path=[name])), names, boolean=False)

    def _plain_name(self, name: str) -> bool:
        ps = self.policy_set
        return name not in ps.definitions and name not in ps.scores and name not in ps.stages

    def _python_call(self, ps: Params, compiled: Callable[[Context], Any], names: Names, boolean: bool) -> str:
        """Register a compiled condition or value as a SQL function over the lead's fields."""
        function = f"sla_py_{next(_FUNCTION_NUMBERS)}"  # unique per connection, whoever built the query

        def call(state: str | None, tier: Any, policy: Any, window: Any) -> Any:
            lead = LeadState("", fields=dict(_fields(state or "{}")))
            ctx = Context(state=lead, extra={"tier": tier, "policy": policy, "window": window})
            try:
                result = compiled(ctx)
            except (TypeError, ValueError, KeyError):
                result = None
            if boolean:
                return int(bool(result))
            return result if isinstance(result, str | int | float) or result is None else str(result)

        self.store.conn.create_function(function, 4, call, deterministic=True)
        return f"{function}({names.state}, {names.tier}, {names.policy}, {names.window})"

    def groups(self, ps: Params, group_by: Sequence[str], names: Names) -> tuple[str, str]:
        """(`, expr AS g0, …` for SELECT, `, g0, …` for GROUP BY)."""
        select = "".join(f", {self.value(ps, name, names)} AS g{i}" for i, name in enumerate(group_by))
        by = "".join(f", g{i}" for i in range(len(group_by)))
        return select, by


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _num(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        number = as_number(value)
        return number if isinstance(number, float) else None
    return None


@lru_cache(maxsize=8)
def _fields(state: str) -> tuple[tuple[str, Any], ...]:
    return tuple(json.loads(state).items())


# ---------------------------------------------------------------- conditions in SQL


def _translate(ps: Params, expr: m.Node, names: Names, plain: Callable[[str], bool]) -> str | None:
    """The common condition forms as exact SQL (else None: the engine judges the rest).

    Exact means: the same answer as engine/conditions.py for every value a lead field can
    hold in the store's JSON (text, number, boolean, list, null or absent).
    """
    if isinstance(expr, m.IsSet):
        target = _target(ps, expr.operand, names, plain)
        if target is None:
            return None
        kind, sql = target
        if kind == "column":
            missing = f"({sql} IS NULL OR {sql} = '')"
        else:
            path = sql
            missing = (f"(coalesce(json_type({names.state}, {path}), 'null') = 'null' "
                       f"OR (json_type({names.state}, {path}) = 'text' AND json_extract({names.state}, {path}) = '') "
                       f"OR (json_type({names.state}, {path}) = 'array' "
                       f"AND json_array_length({names.state}, {path}) = 0))")
        return missing if expr.missing else f"(NOT {missing})"
    if isinstance(expr, m.Truth):
        target = _target(ps, expr.operand, names, plain)
        if target is None or target[0] == "column":
            return None
        state, path = names.state, target[1]
        value = f"json_extract({state}, {path})"
        return (f"(CASE json_type({state}, {path}) WHEN 'true' THEN 1 WHEN 'integer' THEN {value} != 0 "
                f"WHEN 'real' THEN {value} != 0 WHEN 'text' THEN sla_fold({value}) IN ('true', 'yes', '1') "
                f"WHEN 'array' THEN json_array_length({state}, {path}) > 0 "
                f"WHEN 'object' THEN {value} != '{{}}' ELSE 0 END)")
    if isinstance(expr, m.Member):
        texts = [item.value for item in expr.values.items
                 if isinstance(item, m.Literal_) and item.type == "text"]
        target = _target(ps, expr.operand, names, plain)
        if target is None or len(texts) != len(expr.values.items):
            return None
        options = ", ".join(ps(str(text).casefold()) for text in texts) or "NULL"
        kind, sql = target
        if kind == "column":
            hit = f"(sla_fold({sql}) IN ({options}))"
            present = f"({sql} IS NOT NULL)"
        else:
            state, path = names.state, sql
            hit = (f"(CASE json_type({state}, {path}) "
                   f"WHEN 'text' THEN sla_fold(json_extract({state}, {path})) IN ({options}) "
                   f"WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each({state}, {path}) je "
                   f"WHERE je.type = 'text' AND sla_fold(je.value) IN ({options})) ELSE 0 END)")
            present = f"(coalesce(json_type({state}, {path}), 'null') != 'null')"
        return f"({present} AND NOT {hit})" if expr.negated else hit
    if isinstance(expr, m.Compare):
        return _compare(ps, expr, names, plain)
    return None


_FLIP: dict[str, m.CompareOp] = {"==": "==", "!=": "!=", ">=": "<=", "<=": ">=", ">": "<", "<": ">"}


def _compare(ps: Params, expr: m.Compare, names: Names, plain: Callable[[str], bool]) -> str | None:
    left, right, op = expr.left, expr.right, expr.op
    if isinstance(left, m.Literal_) and not isinstance(right, m.Literal_):
        left, right, op = right, left, _FLIP[op]
    target = _target(ps, left, names, plain)
    if target is None or not isinstance(right, m.Literal_):
        return None
    kind, sql = target
    sql_op = "=" if op == "==" else op
    if right.type in ("number", "percent") and kind == "field":
        state, path = names.state, sql
        value = f"json_extract({state}, {path})"
        literal = ps(float(right.value))
        unequal = int(op == "!=")  # text that is no number, a list or an object: unequal, not ordered
        return (f"(CASE json_type({state}, {path}) WHEN 'integer' THEN {value} {sql_op} {literal} "
                f"WHEN 'real' THEN {value} {sql_op} {literal} WHEN 'true' THEN 1 {sql_op} {literal} "
                f"WHEN 'false' THEN 0 {sql_op} {literal} "
                f"WHEN 'text' THEN coalesce(sla_num({value}) {sql_op} {literal}, {unequal}) "
                f"WHEN 'array' THEN {unequal} WHEN 'object' THEN {unequal} ELSE 0 END)")
    if right.type != "text" or op not in ("==", "!=") or _looks_typed(str(right.value)):
        return None
    literal = ps(str(right.value).casefold())
    if kind == "column":
        equal = f"(sla_fold({sql}) = {literal})"
        return equal if op == "==" else f"({sql} IS NOT NULL AND NOT {equal})"
    state, path = names.state, sql
    equal = f"(json_type({state}, {path}) = 'text' AND sla_fold(json_extract({state}, {path})) = {literal})"
    if op == "==":
        return equal
    return f"(coalesce(json_type({state}, {path}), 'null') != 'null' AND NOT {equal})"


def _target(ps: Params, operand: m.Node, names: Names, plain: Callable[[str], bool]) -> tuple[str, str] | None:
    """("column", sql) for tier/policy/window, ("field", json path) for a plain lead field."""
    if not isinstance(operand, m.Ref) or len(operand.path) != 1:
        return None
    name = operand.path[0]
    if name in TARGET_NAMES:
        return "column", getattr(names, name)
    if not plain(name):
        return None
    return "field", ps("$." + name)


def _definition(policy_set: PolicySet, expr: m.Node) -> m.Definition | None:
    """The definition a bare name refers to (`where director_plus`), to translate it in place."""
    if isinstance(expr, m.Truth) and isinstance(expr.operand, m.Ref) and len(expr.operand.path) == 1:
        return policy_set.definitions.get(expr.operand.path[0])
    return None


def _looks_typed(text: str) -> bool:
    """Text the engine would compare as a number or an instant: left to the engine."""
    if isinstance(as_number(text), float):
        return True
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
