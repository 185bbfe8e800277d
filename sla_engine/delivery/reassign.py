"""Round-robin reassignment to a team's members, fair across runs.

The turn is kept in the ``round_robin`` table: each pick takes the first eligible member
after the last one picked, in the team's member order. A member is not eligible when they
are the lead's owner, a previous owner (``skip previous owners``), marked ``away``, or
outside the team's calendar hours at delivery time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sla_engine.delivery.recipients import Unresolved
from sla_engine.engine.calendar import BusinessCalendar
from sla_engine.engine.compile import build_calendar
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet
from sla_engine.store.db import Store


def _texts(value: Any) -> list[str]:
    if isinstance(value, m.ListValue):
        return [str(item.value) for item in value.items if isinstance(item, m.Literal_)]
    if isinstance(value, m.Literal_) and value.value:
        return [str(value.value)]
    return []


def team_calendar(policy_set: PolicySet, team: m.ContactDecl) -> BusinessCalendar | None:
    value = team.get("calendar")
    name = value.dotted if isinstance(value, m.Ref) else getattr(value, "value", None)
    decl = policy_set.calendars.get(str(name)) if name else None
    return build_calendar(decl) if decl is not None else None


def eligible(policy_set: PolicySet, action: Mapping[str, Any], lead: Mapping[str, Any],
             now: datetime) -> list[str]:
    """The team's members who may take this lead now, in member order."""
    team = policy_set.contacts.get(str(action.get("team")))
    if team is None or not team.is_team:
        raise Unresolved(f"unknown team {action.get('team')!r}")
    members = _texts(team.get("members"))
    away = {a.casefold() for a in _texts(team.get("away"))}
    skip = {str(lead.get("owner") or "").casefold()}
    if action.get("skip_previous"):
        skip |= {str(p).casefold() for p in lead.get("previous_owners") or []}
    calendar = team_calendar(policy_set, team)
    if calendar is not None and not calendar.is_open(now):
        return []
    return [p for p in members if p.casefold() not in skip and p.casefold() not in away]


def pick(store: Store, team: str, members: Sequence[str], candidates: Sequence[str]) -> str:
    """The first candidate after the team's last pick, in member order (round robin)."""
    if not candidates:
        raise Unresolved(f"no member of team {team!r} can take the lead now "
                         "(all previous owners, away, or outside the team's hours)")
    last = store.round_robin.last_pick(team)
    start = members.index(last) + 1 if last in members else 0
    order = list(members[start:]) + list(members[:start])
    return next(member for member in order if member in candidates)


def members_of(policy_set: PolicySet, team: str) -> list[str]:
    decl = policy_set.contacts.get(team)
    return _texts(decl.get("members")) if decl is not None else []
