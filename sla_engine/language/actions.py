"""An escalation action in the policy's own words, from its stored (dumped) form.

The outbox, explain, policy tests and diffs all show actions this one way.
"""

from __future__ import annotations

from typing import Any


def describe_action(action: dict[str, Any]) -> str:
    """An outbox action in the policy's own words."""
    kind = action.get("action")
    recipient = action.get("recipient") or {}
    who = recipient.get("name") if recipient.get("kind") == "named" else recipient.get("kind")
    if kind == "notify":
        return f"notify {who}" + (f" via {action['channel']}" if action.get("channel") else "")
    if kind == "reassign":
        extras = [" round robin" if action.get("round_robin") else "",
                  " skip previous owners" if action.get("skip_previous") else ""]
        return f"reassign to {action.get('team')}{''.join(extras)}"
    if kind == "set":
        value = (action.get("value") or {}).get("value")
        return f"set {action.get('field')} = {value!r}"
    if kind == "task":
        return f"task {action.get('subject')!r}" + (f" for {who}" if who else "")
    return str(action)
