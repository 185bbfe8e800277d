"""Per-rule fingerprints: which windows and targets a policy change touches, so a run re-judges only those.

A rule's fingerprint hashes everything its judgement can depend on: the rule itself, its policy's
other settings (segment, tiers, zone, calendar, its own definitions and stages) and every shared
declaration (fields, scores, definitions, stages, calendars, contacts, plans). Positions in the
source are left out, so moving a rule or editing a comment changes nothing; any other edit that
could change a verdict changes the fingerprint of every rule that can see it.

A window has two: ``whole`` (any change to its verdicts) and ``reach`` (what decides which leads
get a clock at all: its start, the policy's ``applies`` and the conditions they can name). A
change to ``whole`` alone can only change the leads that already have an instance of the window;
a change to ``reach`` (or a new window) can give any lead a clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet

WINDOW = "window"
TARGET = "target"

# Policy settings that only shape a clock once it has started: they cannot give a lead a clock.
_NOT_REACH = {"windows", "targets", "tiers", "not_covered", "calendar", "title", "description", "owner", "version"}


class Fingerprint(NamedTuple):
    whole: str
    reach: str


RuleKey = tuple[str, str, str]  # (WINDOW or TARGET, policy, rule name)


_POS = set(m.Pos.model_fields)


def _plain(value: Any) -> Any:
    """A model dump without source positions (a Pos that marks a setting, like ``not_covered``, stays a mark)."""
    if isinstance(value, dict):
        if set(value) == _POS:
            return True
        return {k: _plain(v) for k, v in value.items() if k != "pos"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dump(node: m.Node | None, exclude: Iterable[str] = ()) -> Any:
    if node is None:
        return None
    return _plain(node.model_dump(mode="json", exclude=set(exclude)))


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def rule_fingerprints(policy_set: PolicySet) -> dict[RuleKey, Fingerprint]:
    """Every window's and target's fingerprint in the set."""
    shared = {kind.__name__: {name: _dump(node) for name, node in sorted(names.items())}
              for kind, names in policy_set.namespaces().items() if kind is not m.Policy}
    reach_shared = {kind: names for kind, names in shared.items()
                    if kind not in ("CalendarDecl", "ContactDecl", "PlanDecl")}
    found: dict[RuleKey, Fingerprint] = {}
    for name, policy in policy_set.policies.items():
        settings = _dump(policy, exclude={"windows", "targets"})
        reach_settings = _dump(policy, exclude=_NOT_REACH)
        for window in policy.windows:
            whole = _digest(shared, settings, _dump(window))
            reach = _digest(reach_shared, reach_settings, _dump(window.start))
            found[(WINDOW, name, window.name)] = Fingerprint(whole, reach)
        for target in policy.targets:
            whole = _digest(shared, settings, _dump(target))
            found[(TARGET, name, target.name)] = Fingerprint(whole, whole)
    return found


class Changes(NamedTuple):
    """What a policy change touches, rule by rule."""

    any_lead: bool  # a window that can give any lead a clock changed, or there are no fingerprints to go by
    windows: list[tuple[str, str]]  # (policy, window) whose verdicts may change for leads that have one
    rules: int  # rules added, removed or changed

    @property
    def nothing(self) -> bool:
        return self.rules == 0 and not self.any_lead


def changes(before: dict[RuleKey, Fingerprint], after: dict[RuleKey, Fingerprint]) -> Changes:
    """The windows to re-judge between two sets of fingerprints (``before`` empty: everything)."""
    if not before:
        return Changes(True, [], len(after))
    any_lead = False
    windows: list[tuple[str, str]] = []
    rules = 0
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        rules += 1
        kind, policy, name = key
        if kind != WINDOW:
            continue
        if new is None or old is None or old.reach != new.reach:
            any_lead = any_lead or new is not None  # a removed window only touches the leads that have it
        windows.append((policy, name))
    return Changes(any_lead, windows, rules)
