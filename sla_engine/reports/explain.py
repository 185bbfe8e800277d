"""`sla-engine explain`: one lead's timeline and the arithmetic behind each deadline.

Every time is shown in one zone, named in the header: the zone of the policies that judge the
lead when they agree, else UTC (``zone`` picks another).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.engine.trace import TraceLine, instant_text, policy_zone
from sla_engine.events import LeadEvent, utc
from sla_engine.language.actions import describe_action
from sla_engine.language.policy_set import PolicySet


def explanation(policy_set: PolicySet, lead_id: str, events: list[LeadEvent], as_of: datetime,
                window: str | None = None, zone: str | None = None) -> dict[str, Any]:
    """What `explain --format json` prints: the trace lines, each clock and each due escalation.

    Instants are ISO 8601 in UTC; the trace's words give their times in ``zone`` (named in the output).
    """
    result = _judge(policy_set, lead_id, events, as_of)
    shown, _ = trace_zone(policy_set, result, window, zone)
    return {
        "lead_id": lead_id,
        "as_of": as_of.isoformat(),
        "zone": shown.key,
        "trace": [line.text(shown) for line in _lines(result, window)],
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


def render_explanation(policy_set: PolicySet, lead_id: str, events: list[LeadEvent], as_of: datetime,
                       window: str | None = None, people: Mapping[str, str] | None = None,
                       zone: str | None = None) -> str:
    """The explanation; ``people`` (a CRM owner id -> who that is) names the owners the events give as ids."""
    result = _judge(policy_set, lead_id, events, as_of)
    shown, why = trace_zone(policy_set, result, window, zone)
    local = utc(as_of).astimezone(shown)
    lines = [f"lead {lead_id} as of {instant_text(as_of, shown)} {local.tzname()}", why, ""]
    lines += [line.text(shown) for line in _lines(result, window)]
    lines.append("")
    for instance in result.instances:
        if window and instance.window != window:
            continue
        due = instant_text(instance.due_at, shown) if instance.due_at else "-"
        extra = " (met late)" if instance.met_late else ""
        lines.append(f"{instance.policy}/{instance.window} cycle {instance.cycle}: {instance.status}{extra}; "
                     f"tier {instance.tier or '-'}; goal {instance.goal or '-'} on {instance.calendar or '-'}; "
                     f"due {due}")
    for action in result.actions:
        if window and action.window != window:
            continue
        lines.append(f"  due {instant_text(action.due_at, shown)}: {action.policy}/{action.window} "
                     f"{action.level}: {describe_action(action.action)}")
    named = people_in(events, people or {})
    if named:
        lines += ["", "people:"] + [f"  {ident} = {who}" for ident, who in named.items()]
    return "\n".join(lines)


def trace_zone(policy_set: PolicySet, result: LeadResult, window: str | None = None,
               chosen: str | None = None) -> tuple[ZoneInfo, str]:
    """The one zone a lead's explanation shows its times in, and the header line that says why.

    ``chosen`` (a zone name, already checked) wins; else the zone of the policies whose clocks
    the lead met, when they agree; else UTC.
    """
    if chosen:
        return ZoneInfo(chosen), f"times in {chosen}"
    judged = {i.policy for i in result.instances if not window or i.window == window}
    judged |= {line.clock[0] for line in result.trace if line.clock and (not window or line.clock[1] == window)}
    zones = {policy_zone(policy_set, name) for name in judged if name in policy_set.policies}
    if len(zones) == 1:
        (name,) = zones
        what = "policy" if len(judged) == 1 else "policies"
        return ZoneInfo(name), f"times in {name} (the zone of {what} {', '.join(sorted(judged))})"
    if not zones:
        return ZoneInfo("UTC"), "times in UTC (no policy judged this lead)"
    return ZoneInfo("UTC"), (f"times in UTC (this lead's policies keep time in {', '.join(sorted(zones))}: "
                             "--zone shows one of them)")


def people_in(events: list[LeadEvent], people: Mapping[str, str]) -> dict[str, str]:
    """The owner ids the events name (each owner, who made each activity) that are known people."""
    named: dict[str, str] = {}
    for event in events:
        for key in ("owner", "by"):
            ident = str(event.payload.get(key) or "")
            if ident in people:
                named.setdefault(ident, people[ident])
    return named


def _judge(policy_set: PolicySet, lead_id: str, events: list[LeadEvent], as_of: datetime) -> LeadResult:
    return Evaluator(policy_set).evaluate(lead_id, events, as_of, policy_hash=policy_set.content_hash, explain=True)


def _lines(result: LeadResult, window: str | None) -> list[TraceLine]:
    """The trace, narrowed to one window's lines (and the lead's own events and stages)."""
    return [line for line in result.trace if not window or line.clock is None or line.clock[1] == window]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
