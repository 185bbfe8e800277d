"""The revenue plan worked backwards, beside the conversion rates the store has observed.

300K a month at 25K a deal is 12 clients; at a 30 % win rate 40 opportunities; at 50 % SQL to
opportunity 80 SQLs; at 25 % MQL to SQL 320 MQLs. The arithmetic is policy_set.plan_numbers
(rounding up at each step, as finance does); this module adds what history says: the observed
win rate (won / closed), stage-to-stage conversion (of the leads that ever entered the source
stage, the share that entered the target stage at or after), the average won deal size, and
what the plan needs if those observed rates hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet, plan_numbers
from sla_engine.store.db import Store
from sla_engine.store.history import History, Observed


class PlanError(ValueError):
    """A plan that cannot be worked backwards (no revenue, a rate that is not a rate)."""


@dataclass
class Step:
    """One line of the plan: how many of a stage the period needs, and the rate that led here."""

    stage: str
    needed: int
    rate_name: str | None = None
    assumed: float | None = None
    observed: Observed | None = None
    needed_at_observed: int | None = None


@dataclass
class PlanReport:
    name: str
    revenue: float
    period: str
    deal_size: float
    observed_deal_size: Observed | None
    steps: list[Step] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.name, "revenue": self.revenue, "period": self.period, "deal_size": self.deal_size,
            "observed_deal_size": _observed(self.observed_deal_size),
            "steps": [
                {"stage": s.stage, "needed": s.needed, "rate": s.rate_name, "assumed": s.assumed,
                 "observed": _observed(s.observed), "needed_at_observed": s.needed_at_observed}
                for s in self.steps
            ],
        }


def _observed(value: Observed | None) -> dict[str, Any] | None:
    return None if value is None else {"rate": value.rate, "sample": value.sample}


def parse_rate(text: str | float) -> float:
    """30%, 30 or 0.3 all mean a 30 % rate."""
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        raise PlanError(f"{text!r} is not a rate: write it as 30%") from None
    if raw.endswith("%") or value > 1:
        value /= 100
    if not 0 < value <= 1:
        raise PlanError(f"{text!r} is not a rate between 0% and 100%")
    return value


def plan_from_flags(revenue: float, deal_size: float, win_rate: float, conversions: dict[tuple[str, str], float],
                    period: str = "month", name: str = "plan") -> m.PlanDecl:
    """A plan given on the command line, in the policy's own shape."""
    return m.PlanDecl(
        name=name, revenue=revenue, period=period, deal_size=deal_size, win_rate=win_rate,
        conversions=[m.PlanConversion(source=s, target=t, rate=r) for (s, t), r in conversions.items()],
    )


def _chain(plan: m.PlanDecl) -> list[m.PlanConversion]:
    """The conversions plan_numbers walks, from opportunity back to the first stage."""
    rates = {c.target: c for c in plan.conversions}
    chain, stage = [], "opportunity"
    while stage in rates and rates[stage].rate > 0:
        conversion = rates.pop(stage)
        chain.append(conversion)
        stage = conversion.source
    return chain


def work_backwards(plan: m.PlanDecl, store: Store | None = None, policy_set: PolicySet | None = None) -> PlanReport:
    if plan.revenue is None or not plan.deal_size:
        raise PlanError(f"plan {plan.name}: give a revenue and a deal size")
    numbers = plan_numbers(plan)
    history = History(store, policy_set) if store is not None else None
    report = PlanReport(
        name=plan.name, revenue=plan.revenue, period=plan.period or "month", deal_size=plan.deal_size,
        observed_deal_size=history.deal_size() if history else None,
    )
    report.steps.append(Step("clients", numbers["clients"]))
    if "opportunities" in numbers:
        report.steps.append(Step("opportunities", numbers["opportunities"], "win rate", plan.win_rate,
                                 history.win_rate() if history else None))
    for conversion in _chain(plan):
        stage = {"opportunity": "opportunities"}.get(conversion.source, f"{conversion.source}s")
        if stage not in numbers:
            break
        report.steps.append(Step(
            stage, numbers[stage], f"{conversion.source} → {conversion.target}", conversion.rate,
            history.conversion(conversion.source, conversion.target) if history else None,
        ))
    if history is not None:
        _needed_at_observed(plan, report)
    return report


def _needed_at_observed(plan: m.PlanDecl, report: PlanReport) -> None:
    """The same plan with every observed rate in place of the assumed one."""
    observed = {step.rate_name: step.observed.rate for step in report.steps
                if step.observed is not None and step.observed.rate}
    if not observed:
        return
    deal = report.observed_deal_size.rate if report.observed_deal_size and report.observed_deal_size.rate else None
    variant = plan.model_copy(update={
        "deal_size": deal or plan.deal_size,
        "win_rate": observed.get("win rate", plan.win_rate),
        "conversions": [c.model_copy(update={"rate": observed.get(f"{c.source} → {c.target}", c.rate)})
                        for c in plan.conversions],
    })
    numbers = plan_numbers(variant)
    for step in report.steps:
        step.needed_at_observed = numbers.get(step.stage)


def render_plan(report: PlanReport) -> str:
    """The plan as a plain table, one stage a line."""
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.0f}%" if round(value * 100, 6).is_integer() \
            else f"{value * 100:.1f}%"

    lines = [f"plan {report.name}: revenue {report.revenue:,.0f} per {report.period}, "
             f"deal size {report.deal_size:,.0f}"]
    if report.observed_deal_size is not None and report.observed_deal_size.rate is not None:
        lines[0] += (f" (observed {report.observed_deal_size.rate:,.0f} over "
                     f"{report.observed_deal_size.sample:,} won deals)")
    has_history = any(s.observed is not None for s in report.steps)
    header = f"  {'stage':<15}{'per ' + report.period:>12}  {'rate':<24}{'assumed':>8}"
    if has_history:
        header += f"  {'observed':>18}"
    show_observed = any(s.needed_at_observed is not None for s in report.steps)
    if show_observed:
        header += f"  {'needed at observed':>18}"
    lines.append(header)
    for step in report.steps:
        observed = "-"
        if step.observed is not None and step.observed.rate is not None:
            observed = f"{pct(step.observed.rate)} of {step.observed.sample:,}"
        assumed = pct(step.assumed) if step.rate_name else ""
        line = f"  {step.stage:<15}{step.needed:>12,}  {step.rate_name or '':<24}{assumed:>8}"
        if has_history:
            line += f"  {observed if step.rate_name else '':>18}"
        if show_observed:
            line += f"  {'' if step.needed_at_observed is None else f'{step.needed_at_observed:,}':>18}"
        lines.append(line.rstrip())
    return "\n".join(lines)
