"""Tiers: the first matching tier decides a lead's goal, so each must be reachable."""

from __future__ import annotations

import json

from sla_engine.language import model as m
from sla_engine.language.check.base import _before
from sla_engine.language.check.conditions import ConditionChecks
from sla_engine.language.check.types import LEAD


def _shape(expr: m.Node) -> str:
    """An expression's meaning without its position, to compare two conditions."""
    return json.dumps(m.without_positions(expr.model_dump(mode="json")), sort_keys=True)


def _disjuncts(expr: m.Node) -> list[m.Node]:
    return [d for item in expr.items for d in _disjuncts(item)] if isinstance(expr, m.Or) else [expr]


def _conjuncts(expr: m.Node) -> list[m.Node]:
    return [c for item in expr.items for c in _conjuncts(item)] if isinstance(expr, m.And) else [expr]


def _implies(later: m.Node, earlier: m.Node) -> bool:
    """Whether every lead matching ``later`` surely matches ``earlier``, judged from the conditions' text.

    Each way ``later`` can be true must satisfy every part of one way ``earlier`` can be true:
    ``A and B`` implies ``A``; ``lead_score >= 80`` implies ``lead_score >= 65``;
    ``industry == "Software"`` implies ``industry in ["Software", "Fintech"]``.
    """
    options = [_conjuncts(d) for d in _disjuncts(earlier)]
    return all(
        any(all(any(_atom_implies(fact, need) for fact in _conjuncts(way)) for need in option) for option in options)
        for way in _disjuncts(later)
    )


def _atom_implies(fact: m.Node, need: m.Node) -> bool:
    if _shape(fact) == _shape(need):
        return True
    bounds = _bound(fact), _bound(need)
    if bounds[0] is not None and bounds[1] is not None:
        return _bound_implies(bounds[0], bounds[1])
    values = _values(fact), _values(need)
    if values[0] is not None and values[1] is not None:
        return values[0][0] == values[1][0] and values[0][1] <= values[1][1]
    return False


def _bound(node: m.Node) -> tuple[str, str, float] | None:
    """``lead_score >= 80`` as ("lead_score", ">=", 80.0)."""
    if (isinstance(node, m.Compare) and isinstance(node.left, m.Ref) and isinstance(node.right, m.Literal_)
            and node.right.type in ("number", "percent")):
        return node.left.dotted, node.op, float(node.right.value)
    return None


def _bound_implies(fact: tuple[str, str, float], need: tuple[str, str, float]) -> bool:
    (name, op, x), (needed_name, needed_op, y) = fact, need
    if name != needed_name:
        return False
    if needed_op in (">=", ">"):
        return op in (">=", ">", "==") and (x > y or (x == y and (needed_op == ">=" or op == ">")))
    if needed_op in ("<=", "<"):
        return op in ("<=", "<", "==") and (x < y or (x == y and (needed_op == "<=" or op == "<")))
    if needed_op == "!=":
        return op == "==" and x != y
    return op == "==" and x == y


def _values(node: m.Node) -> tuple[str, frozenset[str]] | None:
    """``industry in ["A", "B"]`` or ``industry == "A"`` as the field and the texts it may hold."""
    if isinstance(node, m.Compare) and node.op == "==" and isinstance(node.left, m.Ref):
        right = node.right
        if isinstance(right, m.Literal_) and right.type == "text":
            return node.left.dotted, frozenset({str(right.value).casefold()})
    if isinstance(node, m.Member) and not node.negated and isinstance(node.operand, m.Ref):
        items = node.values.items
        if all(isinstance(i, m.Literal_) and i.type == "text" for i in items):
            return node.operand.dotted, frozenset(str(i.value).casefold() for i in items)  # type: ignore[union-attr]
    return None


class TierChecks(ConditionChecks):
    """Tier conditions and which tiers can ever match."""

    def check_tiers(self, policy: m.Policy) -> None:
        """Tier conditions decide which goal a lead gets: they must be valid conditions."""
        for tier in policy.tiers:
            if tier.when is not None:
                self.condition(tier.when, LEAD)
        self.check_unreachable_tiers(policy)

    def not_covered(self, policy: m.Policy) -> list[m.Pos]:
        """Every `otherwise not covered` of a policy (the model keeps only one)."""
        found = self.all_in_block(policy.pos, "otherwise", "not", "covered", pick=0)
        return found or ([policy.not_covered] if policy.not_covered else [])

    def check_unreachable_tiers(self, policy: m.Policy) -> None:
        """The first matching tier wins: a tier an earlier one always beats gets no leads and its goal never runs."""
        uncovered = self.not_covered(policy)
        for second in uncovered[1:]:
            self.report("E205", f"`otherwise not covered` is already given at {uncovered[0]}", second)
        earlier: list[m.Tier] = []
        for tier in policy.tiers:
            if uncovered and _before(uncovered[0], tier.pos):
                self.report("E205", f"tier '{tier.name}' can never match: it comes after `otherwise not covered` "
                            f"at {uncovered[0]}", tier.pos, "move it above `otherwise not covered`")
            else:
                self.check_tier_reachable(tier, earlier)
            earlier.append(tier)
        catch_all = next((t for t in policy.tiers if t.when is None), None)
        if catch_all is not None and uncovered and _before(catch_all.pos, uncovered[0]):
            self.report("E205", f"`otherwise not covered` never applies: tier '{catch_all.name}' at {catch_all.pos} "
                        "already takes every lead", uncovered[0])

    def check_tier_reachable(self, tier: m.Tier, earlier: list[m.Tier]) -> None:
        """An earlier catch-all or broader condition takes every lead this tier would get."""
        for first in earlier:
            if first.when is None:
                self.report("E205", f"tier '{tier.name}' can never match: tier '{first.name}' at {first.pos} "
                            "(otherwise) already takes every lead", tier.pos, "put the catch-all tier last")
                return
            if tier.when is not None and _implies(tier.when, first.when):
                self.report("E205", f"tier '{tier.name}' can never match: every lead it matches is taken by tier "
                            f"'{first.name}' at {first.pos}, which comes first", tier.pos,
                            "put the narrower tier first")
                return
