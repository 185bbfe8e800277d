"""What a metric answers: a value per period and group, and how values of groups merge.

The metric queries (store/metrics.py) produce these; target rules (engine/targets.py) judge them
and the dashboard shows them, so they belong to neither.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sla_engine.language import model as m

Group = tuple[Any, ...]


class MetricError(ValueError):
    """A metric the store cannot answer (an unknown aggregate, an `among` that is no stage)."""


@dataclass(frozen=True)
class Scope:
    """Which leads or clocks a metric reads: a policy, a `where` filter, `group by` names."""

    policy: str | None = None
    where: m.Expr | None = None
    group_by: tuple[str, ...] = ()


@dataclass
class Value:
    """A metric's value for one period and group; `sample` is what it was computed over."""

    value: float | None
    sample: int
    hits: float | None = None
    values: list[float] | None = None  # elapsed metrics: every clock's business seconds


Results = dict[tuple[str, Group], Value]


def count_value(n: Any) -> Value:
    return Value(float(n or 0), int(n or 0), float(n or 0))


def project(results: Results, keep: int | None, unit: str, aggregate: str | None = None) -> Results:
    """Merge groups: keep one component of the group (keep=i) or none (the total).

    Counts and shares add up (a lead or clock is in exactly one group); durations are
    aggregated again from every clock's value.
    """
    merged: dict[tuple[str, Group], list[Value]] = defaultdict(list)
    for (label, group), value in results.items():
        merged[(label, (group[keep],) if keep is not None else ())].append(value)
    out: Results = {}
    for key, values in merged.items():
        if unit == "seconds":
            every = [v for value in values for v in (value.values or [])]
            out[key] = Value(aggregator(aggregate or "median")(every), len(every), values=every)
        elif unit == "count":
            out[key] = count_value(sum(v.sample for v in values))
        else:
            out[key] = share_value(sum(v.hits or 0 for v in values), sum(v.sample for v in values))
    return out


def share_value(hits: Any, total: Any) -> Value:
    total = int(total or 0)
    hits = float(hits or 0)
    return Value(100.0 * hits / total if total else None, total, hits)


def aggregator(name: str) -> Callable[[list[float]], float | None]:
    """average, median or pNN (nearest rank) over a list; None when it is empty."""
    key = name.casefold()
    if key in ("average", "avg", "mean"):
        return lambda values: statistics.fmean(values) if values else None
    if key == "median":
        return lambda values: statistics.median(values) if values else None
    if key in ("min", "max"):
        return lambda values: (min if key == "min" else max)(values) if values else None
    if key.startswith("p") and key[1:].replace(".", "", 1).isdigit() and 0 < float(key[1:]) <= 100:
        share = float(key[1:]) / 100
        return lambda values: percentile(values, share)
    raise MetricError(f"unknown aggregate {name!r}: use average, median or pNN such as p90")


def percentile(values: list[float], share: float) -> float | None:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(round(share * len(ordered), 9)), 1)
    return ordered[rank - 1]
