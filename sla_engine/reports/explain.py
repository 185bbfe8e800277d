"""`sla-engine explain`: one lead's timeline and the arithmetic behind each deadline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sla_engine.engine.evaluate import Evaluator
from sla_engine.events import LeadEvent
from sla_engine.language.actions import describe_action
from sla_engine.language.policy_set import PolicySet


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
