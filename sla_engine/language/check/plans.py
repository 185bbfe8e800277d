"""Plans: a revenue goal worked back into volumes, stage by stage."""

from __future__ import annotations

from sla_engine.language import model as m
from sla_engine.language.check.base import CheckerBase, _either
from sla_engine.language.errors import suggest
from sla_engine.language.policy_set import plan_numbers
from sla_engine.language.vocabulary import PERIODS


def _plural(stage: str) -> str:
    return {"opportunity": "opportunities"}.get(stage, f"{stage}s")


def _plan_values(plan: m.PlanDecl) -> list[str]:
    """The names ``PLAN.VALUE`` may use: what the plan works out, or would once complete."""
    names = {"clients", "opportunities", *plan_numbers(plan), *(_plural(c.source) for c in plan.conversions)}
    return sorted(names)


def _chain(into: dict[str, m.PlanConversion]) -> list[m.PlanConversion]:
    """The conversions plan_numbers walks, from opportunity back as far as they go."""
    chain: list[m.PlanConversion] = []
    stage = "opportunity"
    while stage in into and into[stage] not in chain:
        chain.append(into[stage])
        stage = into[stage].source
    return chain


class PlanChecks(CheckerBase):
    """A plan works the revenue goal back into MQLs."""

    def check_plan(self, plan: m.PlanDecl) -> None:
        """A plan works the revenue goal back into MQLs: a gap anywhere leaves marketing without a number."""
        missing = [label for label, value in (("revenue", plan.revenue), ("deal size", plan.deal_size),
                                              ("win rate", plan.win_rate)) if value is None]
        if missing:
            self.report("E211", f"plan '{plan.name}' has no {_either(missing)}, so it cannot work out volumes",
                        plan.pos)
        if plan.period is not None and plan.period not in PERIODS:
            self.report("E211", f"unknown revenue period '{plan.period}'",
                        self.in_block(plan.pos, "revenue", None, "per", None),
                        suggest(plan.period, PERIODS) or f"use one of: {', '.join(PERIODS)}")
        if plan.deal_size is not None and plan.deal_size <= 0:
            self.report("E211", "the deal size must be more than 0", self.in_block(plan.pos, "deal", "size", None))
        if plan.win_rate is not None and not 0 < plan.win_rate <= 1:
            self.report("E211", f"win rate {plan.win_rate * 100:g}% is not between 0% (excluded) and 100%",
                        self.in_block(plan.pos, "win", "rate", None))
        for conversion in plan.conversions:
            self.check_conversion(conversion)
        self.check_conversion_chain(plan)

    def check_conversion(self, conversion: m.PlanConversion) -> None:
        """A 0% or 150% conversion rate makes the worked-back volumes meaningless."""
        if not 0 < conversion.rate <= 1:
            self.report("E211", f"conversion rate {conversion.rate * 100:g}% is not between 0% (excluded) and 100%",
                        self.last_token(conversion.pos))
        for pick, stage in ((0, conversion.source), (2, conversion.target)):
            if stage not in self.ps.stages and stage not in self.broken:
                self.report("E201", f"unknown stage '{stage}'", self.within(conversion.pos, None, "to", None,
                                                                             pick=pick),
                            suggest(stage, self.ps.stages))

    def check_conversion_chain(self, plan: m.PlanDecl) -> None:
        """Each stage must convert from the one before, from opportunity back to mql, or the MQL goal is unknown."""
        into: dict[str, m.PlanConversion] = {}
        for conversion in plan.conversions:
            if conversion.target in into:
                self.report("E211", f"a second conversion into '{conversion.target}' (the first is at "
                            f"{into[conversion.target].pos}); the plan uses only the last", conversion.pos,
                            "keep one of them")
            into[conversion.target] = conversion
        chain = _chain(into)
        reached = [conversion.source for conversion in chain]
        if "mql" not in reached:
            stage = reached[-1] if reached else "opportunity"
            self.report("E211", f"plan '{plan.name}' cannot work back from opportunity to mql: nothing converts "
                        f"into '{stage}'", plan.pos, f"add a line such as `sql to {stage} 50%`"
                        if stage == "opportunity" else f"add a line such as `mql to {stage} 25%`")
            return
        for conversion in into.values():
            if conversion not in chain:
                self.report("E211", f"conversion {conversion.source} to {conversion.target} is not on the chain "
                            "from opportunity back to mql; the plan ignores it", conversion.pos)
