"""What a traced evaluation says: instants, events and conditions in the words of the policy.

Judging never reads these; `explain` (a trace) and the reports do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from sla_engine.events import Event, EventType, utc
from sla_engine.language import model as m
from sla_engine.language.errors import source_lines
from sla_engine.language.policy_set import PolicySet


def names_read(node: object) -> list[str]:
    """The single names a condition reads, in order, for explanations."""
    found: list[str] = []
    if isinstance(node, m.Ref) and len(node.path) == 1:
        found.append(node.path[0])
    if isinstance(node, m.Count):
        return found
    if isinstance(node, m.Node):
        for name in type(node).model_fields:
            found.extend(names_read(getattr(node, name)))
    elif isinstance(node, list):
        for item in node:
            found.extend(names_read(item))
    return found


def source_text(policy_set: PolicySet, node: m.Node) -> str:
    """The policy text a node was parsed from, on one line."""
    pos = node.pos
    lines = source_lines(policy_set.sources.get(pos.file, ""))
    if not lines or pos.line > len(lines):
        return type(node).__name__
    if pos.line == pos.end_line:
        return lines[pos.line - 1][pos.column - 1:pos.end_column - 1]
    parts = [lines[pos.line - 1][pos.column - 1:]]
    parts.extend(lines[pos.line:pos.end_line - 1])
    parts.append(lines[pos.end_line - 1][:pos.end_column - 1])
    return " ".join(part.strip() for part in parts)


Part = str | datetime | None
"""A piece of a trace line's words: text, or an instant (None: never) shown in the reader's zone."""

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class TraceLine:
    """One line of a trace: when, the clock it is about, and its words.

    The instants among the words stay instants until the line is shown, so a reader sees every
    time of a trace in one zone (the policy's, a test file's or UTC), never a UTC stamp beside a
    deadline on a calendar's clock.
    """

    at: datetime
    parts: tuple[Part, ...]
    clock: tuple[str, str] | None = None
    """(policy, window) of the clock the line is about; None for the lead's own events and stages."""

    def text(self, zone: tzinfo = timezone.utc) -> str:
        """``2026-11-20 16:30:00 EST  [policy/window] words, due Mon 2026-11-23 10:30``."""
        local = utc(self.at).astimezone(zone)
        about = f"[{self.clock[0]}/{self.clock[1]}] " if self.clock else ""
        words = "".join(part if isinstance(part, str) else instant_text(part, zone) for part in self.parts)
        return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}  {about}{words}"


def instant_text(t: datetime | None, zone: tzinfo) -> str:
    """An instant inside a trace line, with its day and date (a deadline five business days away
    is not this week's Tuesday); the line's own stamp names the zone."""
    if t is None:
        return "never"
    local = utc(t).astimezone(zone)
    return f"{DAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M}"


def policy_zone(policy_set: PolicySet, name: str) -> str:
    """Where a policy's times are read: its time zone, else its calendar's, else UTC."""
    policy = policy_set.policies[name]
    calendar = policy_set.calendars.get(policy.calendar or "")
    return policy.timezone or (calendar.timezone if calendar else None) or "UTC"


def describe_event(event: Event) -> str:
    payload = event.payload
    kind = event.type
    if kind == EventType.CREATED:
        return "created"
    if kind == EventType.UPDATED:
        note = f" ({payload['note']})" if payload.get("note") else ""  # e.g. values first seen, not back-dated
        return "updated " + ", ".join(f"{k}={v!r}" for k, v in payload.get("changes", {}).items()) + note
    if kind == EventType.STATUS_CHANGED:
        return f"{payload.get('field', 'status')} {payload.get('old')!r} → {payload.get('new')!r}"
    if kind == EventType.ASSIGNED:
        return f"assigned to {payload.get('owner')}"
    if kind == EventType.ACTIVITY:
        what = " ".join(str(p) for p in (payload.get("direction"), payload.get("channel")) if p) or "activity"
        return f"{what} by {payload['by']}" if payload.get("by") else f"{what} (by no one recorded)"
    if kind == EventType.DISPOSITION:
        return f"disposition {payload.get('disposition')} ({payload.get('reason') or 'no reason'})"
    return str(kind).replace("_", " ")
