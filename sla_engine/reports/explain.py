"""`sla-engine explain`: one lead's timeline and the arithmetic behind each deadline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sla_engine.engine.evaluate import Evaluator
from sla_engine.events import LeadEvent
from sla_engine.language.actions import describe_action
from sla_engine.language.policy_set import PolicySet


def explanation(policy_set: PolicySet, lead_id: str, events: list[LeadEvent], as_of: datetime,
                window: str | None = None) -> dict[str, Any]:
    """What `explain --format json` prints: the trace lines, each clock and each due escalation."""
    result = Evaluator(policy_set).evaluate(lead_id, events, as_of, policy_hash=policy_set.content_hash,
                                            explain=True)
    return {
        "lead_id": lead_id,
        "as_of": as_of.isoformat(),
        "trace": [line for line in result.trace if not window or "[" not in line or f"/{window}]" in line],
        "instances": [{
            "policy": i.policy, "window": i.window, "cycle": i.cycle, "status": i.status, "met_late": i.met_late,
            "tier": i.tier, "goal": i.goal, "calendar": i.calendar, "started_at": _iso(i.started_at),
            "due_at": _iso(i.due_at), "stopped_at": _iso(i.stopped_at),
        } for i in result.instances if not window or i.window == window],
        "escalations": [{
            "policy": a.policy, "window": a.window, "level": a.level, "due_at": _iso(a.due_at),
            "action": describe_action(a.action),
        } for a in result.actions if not window or a.window == window],
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def render_explanation(policy_set: PolicySet, lead_id: str, events: list[LeadEvent], as_of: datetime,
                       window: str | None = None, people: Mapping[str, str] | None = None) -> str:
    """The explanation; ``people`` (a CRM owner id -> who that is) names the owners the events give as ids."""
    evaluator = Evaluator(policy_set)
    result = evaluator.evaluate(lead_id, events, as_of, policy_hash=policy_set.content_hash, explain=True)
    lines = [f"lead {lead_id} as of {as_of:%Y-%m-%d %H:%M %Z}", ""]
    for line in result.trace:
        if window and "[" in line and f"/{window}]" not in line:
            continue
        lines.append(line)
    lines.append("")
    for instance in result.instances:
        if window and instance.window != window:
            continue
        due = instance.due_at.strftime("%Y-%m-%d %H:%M UTC") if instance.due_at else "-"
        extra = " (met late)" if instance.met_late else ""
        lines.append(f"{instance.policy}/{instance.window} cycle {instance.cycle}: {instance.status}{extra}; "
                     f"tier {instance.tier or '-'}; goal {instance.goal or '-'} on {instance.calendar or '-'}; "
                     f"due {due}")
    for action in result.actions:
        if window and action.window != window:
            continue
        lines.append(f"  due {action.due_at:%Y-%m-%d %H:%M UTC}: {action.policy}/{action.window} "
                     f"{action.level}: {describe_action(action.action)}")
    named = people_in(events, people or {})
    if named:
        lines += ["", "people:"] + [f"  {ident} = {who}" for ident, who in named.items()]
    return "\n".join(lines)


def people_in(events: list[LeadEvent], people: Mapping[str, str]) -> dict[str, str]:
    """The owner ids the events name (each owner, who made each activity) that are known people."""
    named: dict[str, str] = {}
    for event in events:
        for key in ("owner", "by"):
            ident = str(event.payload.get(key) or "")
            if ident in people:
                named.setdefault(ident, people[ident])
    return named
