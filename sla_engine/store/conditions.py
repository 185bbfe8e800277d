"""A policy's conditions and names as SQL over the leads' stored state, for the metric queries.

A target's ``where`` and ``group by`` (and a policy's ``applies when``) read the lead's current
fields, plus ``tier``, ``policy`` and ``window``. Conditions follow docs/semantics.md (text
ignores case, a missing value makes a comparison false): the common forms are translated to SQL
that gives the engine's answer exactly (``_translate``, in the store's dialect: ``json_sql.py``),
and anything else (definitions' bodies are expanded first; scores, patterns) is judged by the
engine's own compiler (``_python_call``). On SQLite that compiler is registered on the
connection as an SQL function. PostgreSQL cannot call Python, so before a query runs the rows it
reads (its ``universe``) are streamed a page at a time, judged here, and the answers copied into
a temporary table the query looks them up in (``PostgresStore.judge_rows``); a translated leaf
that SQL cannot settle on PostgreSQL (a number written as unusual text) is NULL and judged the
same way. tests/store/test_conditions_sql.py holds both to the engine on generated states.
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
from sla_engine.store.json_sql import Dialect, PostgresJson, dialect_for

TARGET_NAMES = ("tier", "policy", "window")
_FUNCTION_NUMBERS = itertools.count(1)


@dataclass
class Names:
    """How `tier`, `policy`, `window` and lead fields read in one query."""

    lead: str
    tier: str
    policy: str
    window: str
    state: str = "l.state"  # the lead's fields as the dialect reads them (json_sql.lead_doc)
    state_text: str = "l.state"  # the stored JSON text, which the engine's compiler reads


@dataclass
class Pending:
    """A condition or value PostgreSQL needs judged in Python before the query runs."""

    number: int
    judge: Callable[[str | None, Any, Any, Any], Any]
    names: Names
    boolean: bool
    undecided: str | None  # the rows SQL left open (a leaf that is NULL); None: every row


class Params(dict[str, Any]):
    """Named SQL parameters collected while a query is built, so fragments compose freely."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Pending] = []

    def __call__(self, value: Any) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f":{name}"


@dataclass
class SqlConditions:
    """The store and the policy set, with the SQL functions conditions call registered once."""

    store: Store
    policy_set: PolicySet
    compiler: Compiler = field(init=False)
    dialect: Dialect = field(init=False)

    def __post_init__(self) -> None:
        self.compiler = Compiler(self.policy_set)
        self.dialect = dialect_for(self.store)
        from sla_engine.store.postgres_store import PostgresStore

        if isinstance(self.store, PostgresStore):
            self.store.refresh_statistics()

    @property
    def true(self) -> str:
        return self.dialect.true

    def query(self, sql: str, ps: Params, universe: str | None = None) -> list[tuple[Any, ...]]:
        """Run a metric query; ``universe`` (``FROM … WHERE …``) holds every row its conditions read.

        On PostgreSQL the conditions judged in Python are judged first, over the universe's rows
        (streamed, a page at a time), and forgotten after the query.
        """
        if not ps.pending:
            return [_plain_row(row) for row in self.store.conn.execute(sql, ps).fetchall()]
        from sla_engine.store.postgres_store import PostgresStore

        if universe is None or not isinstance(self.store, PostgresStore):
            raise ValueError("a query with conditions judged in Python needs its universe")  # a bug of ours
        store = self.store
        try:
            for pending in ps.pending:
                names = pending.names
                rows = (f"SELECT DISTINCT {names.lead}, {names.state_text}, {names.tier}, {names.policy}, "
                        f"{names.window} {universe}")
                if pending.undecided is not None:
                    rows += f" AND ({pending.undecided}) IS NULL"
                store.judge_rows(pending.number, rows, ps, pending.judge, pending.boolean)
            return [_plain_row(row) for row in store.conn.execute(sql, ps).fetchall()]
        finally:
            store.forget_judged([pending.number for pending in ps.pending])

    def lead_names(self, ps: Params, policy: str | None, lead: str) -> Names:
        # A lead has a few clocks: read them by its id, never by the policy's (often stale) index.
        policy_test = f" AND {self.dialect.unindexed('w.policy')} = {ps(policy)}" if policy else ""
        tier = (f"(SELECT w.tier FROM window_instances w WHERE w.lead_id = {lead}{policy_test} "
                "ORDER BY w.started_at DESC LIMIT 1)")
        return Names(lead=lead, tier=tier, policy=f"CAST({ps(policy)} AS text)" if policy else "NULL",
                     window="NULL", state=self.dialect.lead_doc("l"))

    def instance_names(self) -> Names:
        return Names(lead="wi.lead_id", tier="wi.tier", policy="wi.policy", window="wi.window",
                     state=self.dialect.lead_doc("l"))

    def lead_filter(self, ps: Params, scope: Scope, names: Names) -> str:
        """Not deleted, covered by the policy's `applies when`, and the target's `where`."""
        parts = [self.dialect.is_off(names.state, self.dialect.path(ps, "deleted"))]
        policy = self.policy_set.policies.get(scope.policy or "")
        if policy is not None and policy.applies is not None:
            parts.append(self.condition(ps, policy.applies, names))
        if scope.where is not None:
            parts.append(self.condition(ps, scope.where, names))
        return " AND ".join(parts)

    def condition(self, ps: Params, expr: m.Node, names: Names, expanding: frozenset[str] = frozenset()) -> str:
        """A policy condition as a SQL expression that is always true or false; definitions are expanded."""
        if isinstance(expr, m.And | m.Or):
            joiner = " AND " if isinstance(expr, m.And) else " OR "
            return "(" + joiner.join(self.condition(ps, item, names, expanding) for item in expr.items) + ")"
        if isinstance(expr, m.Not):
            return f"(NOT {self.condition(ps, expr.operand, names, expanding)})"
        definition = _definition(self.policy_set, expr)
        if definition is not None and definition.name not in expanding:
            return self.condition(ps, definition.expr, names, expanding | {definition.name})
        false = self.dialect.false
        translated = _translate(ps, expr, names, self._plain_name, self.dialect)
        if translated is None:
            return f"coalesce({self._python_call(ps, self.compiler.condition(expr), names, boolean=True)}, {false})"
        sql, settled = translated
        if settled:
            return f"coalesce({sql}, {false})"
        judged = self._python_call(ps, self.compiler.condition(expr), names, boolean=True, undecided=sql)
        return f"coalesce({sql}, {judged}, {false})"

    def value(self, ps: Params, name: str, names: Names) -> str:
        """A `group by` name as a SQL expression."""
        if name in TARGET_NAMES:
            return getattr(names, name)
        if self._plain_name(name):
            return self.dialect.value(names.state, self.dialect.path(ps, name))
        return self._python_call(ps, self.compiler.operand(m.Ref(path=[name])), names, boolean=False)

    def _plain_name(self, name: str) -> bool:
        ps = self.policy_set
        return name not in ps.definitions and name not in ps.scores and name not in ps.stages

    def _python_call(self, ps: Params, compiled: Callable[[Context], Any], names: Names, boolean: bool,
                     undecided: str | None = None) -> str:
        """A compiled condition or value over the lead's fields: an SQL function on SQLite, a
        looked-up answer on PostgreSQL (judged before the query runs, see ``query``)."""
        number = next(_FUNCTION_NUMBERS)  # unique per connection, whoever built the query

        def call(state: str | None, tier: Any, policy: Any, window: Any) -> Any:
            lead = LeadState("", fields=dict(_fields(state or "{}")))
            ctx = Context(state=lead, extra={"tier": tier, "policy": policy, "window": window})
            try:
                result = compiled(ctx)
            except (TypeError, ValueError, KeyError):
                result = None
            if boolean or isinstance(result, bool):
                return int(bool(result))
            return result if isinstance(result, str | int | float) or result is None else str(result)

        if not isinstance(self.dialect, PostgresJson):
            function = f"sla_py_{number}"
            self.store.conn.create_function(function, 4, call, deterministic=True)
            return f"{function}({names.state_text}, {names.tier}, {names.policy}, {names.window})"
        ps.pending.append(Pending(number, call, names, boolean, undecided))
        column = "j.hit" if boolean else "j.value"
        return (f"(SELECT {column} FROM pg_temp.sla_judged j WHERE j.fn = {number} AND j.lead_id = {names.lead} "
                f"AND j.tier IS NOT DISTINCT FROM {names.tier} AND j.policy IS NOT DISTINCT FROM {names.policy} "
                f'AND j."window" IS NOT DISTINCT FROM {names.window})')

    def groups(self, ps: Params, group_by: Sequence[str], names: Names) -> tuple[str, str]:
        """(`, expr AS g0, …` for SELECT, `, g0, …` for GROUP BY)."""
        select = "".join(f", {self.value(ps, name, names)} AS g{i}" for i, name in enumerate(group_by))
        by = "".join(f", g{i}" for i in range(len(group_by)))
        return select, by


def _plain_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row as SQLite gives it: a JSON list or object as its text, true and false as 1 and 0."""
    return tuple(_plain(value) for value in row)


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


@lru_cache(maxsize=8)
def _fields(state: str) -> tuple[tuple[str, Any], ...]:
    return tuple(json.loads(state).items())


# ---------------------------------------------------------------- conditions in SQL


def _translate(ps: Params, expr: m.Node, names: Names, plain: Callable[[str], bool],
               dialect: Dialect) -> tuple[str, bool] | None:
    """The common condition forms as exact SQL, and whether SQL settles every row (else None:
    the engine judges the rest).

    Exact means: the same answer as engine/conditions.py for every value a lead field can
    hold in the store's JSON (text, number, boolean, list, null or absent); where a dialect
    cannot settle a row (it says NULL) the engine judges that row.
    """
    if isinstance(expr, m.IsSet):
        target = _target(ps, expr.operand, names, plain, dialect)
        if target is None:
            return None
        kind, sql = target
        missing = f"({sql} IS NULL OR {sql} = '')" if kind == "column" else dialect.missing(names.state, sql)
        return (missing if expr.missing else f"(NOT {missing})"), True
    if isinstance(expr, m.Truth):
        target = _target(ps, expr.operand, names, plain, dialect)
        if target is None or target[0] == "column":
            return None
        return dialect.truth(names.state, target[1]), True
    if isinstance(expr, m.Member):
        texts = [str(item.value) for item in expr.values.items
                 if isinstance(item, m.Literal_) and item.type == "text"]
        target = _target(ps, expr.operand, names, plain, dialect)
        if target is None or len(texts) != len(expr.values.items) or not all(map(dialect.foldable, texts)):
            return None
        options = ", ".join(ps(text.casefold()) for text in texts) or "NULL"
        kind, sql = target
        if kind == "column":
            hit = f"({dialect.fold(sql)} IN ({options}))"
            present = f"({sql} IS NOT NULL)"
        else:
            hit = dialect.member(names.state, sql, options)
            present = dialect.present(names.state, sql)
        return (f"({present} AND NOT {hit})" if expr.negated else hit), True
    if isinstance(expr, m.Compare):
        return _compare(ps, expr, names, plain, dialect)
    return None


_FLIP: dict[str, m.CompareOp] = {"==": "==", "!=": "!=", ">=": "<=", "<=": ">=", ">": "<", "<": ">"}


def _compare(ps: Params, expr: m.Compare, names: Names, plain: Callable[[str], bool],
             dialect: Dialect) -> tuple[str, bool] | None:
    left, right, op = expr.left, expr.right, expr.op
    if isinstance(left, m.Literal_) and not isinstance(right, m.Literal_):
        left, right, op = right, left, _FLIP[op]
    target = _target(ps, left, names, plain, dialect)
    if target is None or not isinstance(right, m.Literal_):
        return None
    kind, sql = target
    sql_op = "=" if op == "==" else op
    if right.type in ("number", "percent") and kind == "field":
        unequal = dialect.true if op == "!=" else dialect.false  # text that is no number, a list: unequal
        return (dialect.compare_number(names.state, sql, sql_op, ps(float(right.value)), unequal),
                not isinstance(dialect, PostgresJson))
    text = str(right.value)
    if right.type != "text" or op not in ("==", "!=") or _looks_typed(text) or not dialect.foldable(text):
        return None
    literal = ps(text.casefold())
    if kind == "column":
        equal = f"({dialect.fold(sql)} = {literal})"
        return (equal if op == "==" else f"({sql} IS NOT NULL AND NOT {equal})"), True
    equal = dialect.text_equal(names.state, sql, literal)
    if op == "==":
        return equal, True
    return f"({dialect.present(names.state, sql)} AND NOT {equal})", True


def _target(ps: Params, operand: m.Node, names: Names, plain: Callable[[str], bool],
            dialect: Dialect) -> tuple[str, str] | None:
    """("column", sql) for tier/policy/window, ("field", its path) for a plain lead field."""
    if not isinstance(operand, m.Ref) or len(operand.path) != 1:
        return None
    name = operand.path[0]
    if name in TARGET_NAMES:
        return "column", getattr(names, name)
    if not plain(name):
        return None
    return "field", dialect.path(ps, name)


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
