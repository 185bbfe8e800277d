"""The whole checker: one class built from the checks of each declaration kind."""

from __future__ import annotations

from sla_engine.language import model as m
from sla_engine.language.check.base import _sorted
from sla_engine.language.check.names import NameChecks
from sla_engine.language.check.plans import PlanChecks
from sla_engine.language.check.policies import PolicyChecks
from sla_engine.language.check.stages import StageChecks
from sla_engine.language.check.types import LEAD
from sla_engine.language.errors import Diagnostic
from sla_engine.language.policy_set import PolicySet
from sla_engine.language.vocabulary import Channels


def check_policy_set(policy_set: PolicySet, channels: Channels | None = None,
                     warnings: list[Diagnostic] | None = None) -> list[Diagnostic]:
    """Every semantic error of a parsed policy set, sorted by file, line and column.

    ``channels`` are the notifier channels a policy may name (default: those the installed plugins register).
    ``warnings``: if given, receives what is probably a mistake but may be meant (W codes).
    """
    checker = Checker(policy_set, channels=channels)
    found = checker.run()
    if warnings is not None:
        warnings.extend(_sorted(checker.warned))
    return found


def channels_used(policy_set: PolicySet) -> list[str]:
    """The channels a policy set's escalations name (``via CHANNEL``), for saying who delivers each."""
    found = {node.channel for node in m.nodes_within(list(policy_set.declarations()))
             if isinstance(node, m.Notify) and node.channel is not None}
    return sorted(found)


class Checker(NameChecks, StageChecks, PlanChecks, PolicyChecks):
    """Every check of every declaration, over one shared symbol table."""

    def run(self) -> list[Diagnostic]:
        self.check_duplicates()
        self.check_repeated_items()
        self.check_shared_names()
        self.check_local_names()
        self.check_cycles()
        for declaration in self.ps.declarations():
            self.check_declaration(declaration)
        return _sorted(self.found)

    def check_declaration(self, declaration: m.Node) -> None:
        """Each kind of declaration has its own ways to go wrong."""
        if isinstance(declaration, m.ScoreDecl):
            self.check_score(declaration)
        elif isinstance(declaration, m.Definition):
            self.condition(declaration.expr, LEAD)
        elif isinstance(declaration, m.Stage):
            self.check_stage(declaration)
        elif isinstance(declaration, m.CalendarDecl):
            self.check_calendar(declaration)
        elif isinstance(declaration, m.ContactDecl):
            self.check_contact(declaration)
        elif isinstance(declaration, m.PlanDecl):
            self.check_plan(declaration)
        elif isinstance(declaration, m.Policy):
            self.check_policy(declaration)
