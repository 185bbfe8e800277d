"""Rates the store has observed over its whole history, for the plan: win rate, deal size, conversions.

The won and lost flags and the opportunity amount come from each lead's folded state; a stage
conversion is, of the leads that ever entered the source stage, the share that entered the
target stage at or after that entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sla_engine.language.policy_set import PolicySet
from sla_engine.store.db import Store


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

    def __post_init__(self) -> None:
        self.store = self.store.for_metrics()  # its SQL reads JSON as SQLite does

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        return tuple(self.store.conn.execute(sql, params).fetchone())

    def win_rate(self) -> Observed:
        won, closed = self._one(
            "SELECT sum(json_extract(state, '$.won') = 1), "
            "sum(json_extract(state, '$.won') = 1 OR json_extract(state, '$.lost') = 1) "
            "FROM leads WHERE coalesce(json_extract(state, '$.deleted'), 0) = 0"
        )
        return Observed(won / closed if closed else None, int(closed or 0))

    def deal_size(self) -> Observed:
        average, n = self._one(
            "SELECT avg(json_extract(state, '$.opportunity_amount')), count(json_extract(state, "
            "'$.opportunity_amount')) FROM leads WHERE json_extract(state, '$.won') = 1 "
            "AND coalesce(json_extract(state, '$.deleted'), 0) = 0"
        )
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
