"""Rates the store has observed over its whole history, for the plan: win rate, deal size, conversions.

The won and lost flags and the opportunity amount come from each lead's folded state; a stage
conversion is, of the leads that ever entered the source stage, the share that entered the
target stage at or after that entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sla_engine.language.policy_set import PolicySet
from sla_engine.store.conditions import Params
from sla_engine.store.db import Store
from sla_engine.store.json_sql import Dialect, dialect_for


@dataclass
class Observed:
    """A rate seen in the store, and how many leads it was computed over."""

    rate: float | None
    sample: int


@dataclass
class History:
    """Rates observed over the whole store."""

    store: Store
    policy_set: PolicySet | None
    json: Dialect = field(init=False)

    def __post_init__(self) -> None:
        self.json = dialect_for(self.store)

    def _one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> tuple[Any, ...]:
        return tuple(self.store.conn.execute(sql, params).fetchone())

    def win_rate(self) -> Observed:
        d, ps = self.json, Params()
        doc = d.lead_doc("l")
        won, lost = d.is_one(doc, d.path(ps, "won")), d.is_one(doc, d.path(ps, "lost"))
        won_count, closed = self._one(
            f"SELECT sum(CASE WHEN {won} THEN 1 ELSE 0 END), sum(CASE WHEN {won} OR {lost} THEN 1 ELSE 0 END) "
            f"FROM leads l WHERE {d.is_off(doc, d.path(ps, 'deleted'))}", ps)
        return Observed(won_count / closed if closed else None, int(closed or 0))

    def deal_size(self) -> Observed:
        d, ps = self.json, Params()
        doc = d.lead_doc("l")
        amount = d.number(doc, d.path(ps, "opportunity_amount"))
        average, n = self._one(
            f"SELECT avg({amount}), count({amount}) FROM leads l WHERE {d.is_one(doc, d.path(ps, 'won'))} "
            f"AND {d.is_off(doc, d.path(ps, 'deleted'))}", ps)
        return Observed(float(average) if average is not None else None, int(n or 0))

    def conversion(self, source: str, target: str) -> Observed | None:
        stages = self.policy_set.stages if self.policy_set is not None else {}
        if source not in stages or target not in stages:
            return None
        reached, entered = self._one(
            "SELECT count(DISTINCT CASE WHEN EXISTS (SELECT 1 FROM stage_entries t WHERE t.lead_id = s.lead_id "
            "AND t.stage = ? AND t.entered_at >= s.entered_at) THEN s.lead_id END), count(DISTINCT s.lead_id) "
            "FROM stage_entries s WHERE s.stage = ?",
            (target, source),
        )
        return Observed(reached / entered if entered else None, int(entered or 0))
