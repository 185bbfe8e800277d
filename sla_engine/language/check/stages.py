"""Scores and stages: what a lead is, read from its fields and events."""

from __future__ import annotations

from sla_engine.language import model as m
from sla_engine.language.check.conditions import ConditionChecks
from sla_engine.language.check.types import LEAD, _describe, _group
from sla_engine.language.errors import suggest


class StageChecks(ConditionChecks):
    """Scores and stages (a definition is one condition)."""

    def check_score(self, score: m.ScoreDecl) -> None:
        """A score adds points per number: points per a text field would silently add nothing."""
        for rule in score.rules:
            if rule.when is not None:
                self.condition(rule.when, LEAD)
            if rule.per is not None:
                pos = self.within(rule.pos, "per", rule.per)
                type_ = self.name_type(rule.per, LEAD, pos)
                if type_ is not None and _group(type_) != "number":
                    self.report("E202", f"`per {rule.per}` needs a number, but '{rule.per}' is {_describe(type_)}",
                                pos, "points per … multiply by a number field or score")

    def check_stage(self, stage: m.Stage) -> None:
        """A stage read from a field that does not exist would never be entered."""
        if stage.expr is not None:
            self.condition(stage.expr, LEAD)
            return
        if stage.from_field is None:
            return
        pos = self.after(stage.pos, "from", stage.from_field)
        type_ = self.fields.get(stage.from_field)
        if type_ is None:
            if stage.from_field not in self.broken:
                self.report("E201", f"unknown field '{stage.from_field}'", pos, suggest(stage.from_field, self.fields))
            return
        if stage.from_values is not None:
            self.check_list(type_, stage.from_field, stage.from_values, LEAD)
