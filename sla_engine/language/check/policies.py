"""Policies: header, tiers, windows and targets, so every mistake shows at once."""

from __future__ import annotations

from collections.abc import Sequence

from sla_engine.language import model as m
from sla_engine.language.check.contacts import ContactChecks
from sla_engine.language.check.targets import TargetChecks
from sla_engine.language.check.tiers import TierChecks
from sla_engine.language.check.types import LEAD


class PolicyChecks(TierChecks, TargetChecks, ContactChecks):
    """A policy and everything in it."""

    def check_policy(self, policy: m.Policy) -> None:
        """A policy is checked header, tiers, windows and targets, so every mistake shows at once."""
        self.check_timezone(policy.timezone, self.in_block(policy.pos, "timezone", f'"{policy.timezone}"'))
        if policy.calendar is not None:
            self.check_calendar_ref(policy.calendar, self.in_block(policy.pos, "calendar", policy.calendar))
        if isinstance(policy.owner, m.Ref):
            self.check_contact_ref(policy.owner)
        if policy.applies is not None:
            self.condition(policy.applies, LEAD)
        self.check_policy_names(policy)
        self.check_tiers(policy)
        for window in policy.windows:
            self.check_window(policy, window)
        self.check_window_roles(policy)
        for target in policy.targets:
            self.check_target(policy, target)

    def check_policy_names(self, policy: m.Policy) -> None:
        """Tiers, windows and targets are named in reports and goals: a name used twice is ambiguous."""
        groups: tuple[tuple[str, Sequence[m.Tier | m.Window | m.Target]], ...] = (
            ("tier", policy.tiers), ("window", policy.windows), ("target", policy.targets))
        for kind, nodes in groups:
            first: dict[str, m.Node] = {}
            for node in nodes:
                if node.name in first:
                    self.report("E203", f"{kind} '{node.name}' is already declared at {first[node.name].pos}",
                                node.pos, "rename one of them")
                else:
                    first[node.name] = node
