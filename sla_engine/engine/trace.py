"""What a traced evaluation says: instants, events and conditions in the words of the policy.

Judging never reads these; `explain` (a trace) and the reports do.
"""

from __future__ import annotations

from datetime import datetime

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


STAMP_WIDTH = len("2026-01-01 00:00:00Z")


def stamp(t: datetime) -> str:
    return utc(t).strftime("%Y-%m-%d %H:%M:%SZ")


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
