"""A lead's state as the fold of its events, one event at a time.

The engine walks a lead's events in ``occurred_at`` order (ties broken by event id, so the
order is total and every run folds the same way) and judges the policy after each one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, TypeVar

from sla_engine.events import Event, EventType

# An event's place in its lead's history: (occurred_at, event_id), read without a Python call.
event_order: Callable[[Event], tuple[datetime, str]] = attrgetter("occurred_at", "event_id")
E = TypeVar("E", bound=Event)


def sorted_events(events: Iterable[E]) -> list[E]:
    return sorted(events, key=event_order)


@dataclass
class LeadState:
    lead_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    previous_owners: list[str] = field(default_factory=list)
    recycles: int = 0

    def apply(self, event: Event) -> tuple[str, ...]:
        """Fold one event into the state; returns the fields it wrote (changed or not)."""
        payload = event.payload
        kind = event.type
        f = self.fields
        if kind == EventType.ACTIVITY:
            return ()
        if kind == EventType.CREATED:
            attributes = {k: v for k, v in payload.get("attributes", {}).items() if v is not None}
            f.update(attributes)
            f.setdefault("created_at", event.occurred_at)
            return (*attributes, "created_at")
        if kind == EventType.UPDATED:
            changes = payload.get("changes", {})
            for key, value in changes.items():
                if key == "owner":
                    self._set_owner(value)
                else:
                    f[key] = value
            return (*changes, "previous_owners") if "owner" in changes else tuple(changes)
        if kind == EventType.STATUS_CHANGED:
            target = payload.get("field") or "status"
            f[target] = payload.get("new")
            if target == "status" and str(payload.get("new") or "").casefold() == "recycled":
                self.recycles += 1
            return (target,)
        if kind == EventType.ASSIGNED:
            self._set_owner(payload["owner"])
            if payload.get("owner_manager"):
                f["owner_manager"] = payload["owner_manager"]
            if payload.get("team"):
                f["team"] = payload["team"]
            f["assigned_at"] = event.occurred_at
            return ("owner", "previous_owners", "owner_manager", "team", "assigned_at")
        if kind == EventType.DISPOSITION:
            f["disposition"] = payload["disposition"]
            f["disposition_reason"] = payload.get("reason")
            f["disposition_at"] = event.occurred_at
            if payload["disposition"] == "recycled":
                self.recycles += 1
            return ("disposition", "disposition_reason", "disposition_at")
        if kind == EventType.CONVERTED:
            f["converted"] = True
            f["converted_at"] = event.occurred_at
            if payload.get("amount") is not None:
                f["opportunity_amount"] = payload["amount"]
            return ("converted", "converted_at", "opportunity_amount")
        if kind == EventType.OPPORTUNITY_CLOSED:
            f["won"] = bool(payload.get("won"))
            f["lost"] = not payload.get("won")
            if payload.get("amount") is not None:
                f["opportunity_amount"] = payload["amount"]
            return ("won", "lost", "opportunity_amount")
        if kind == EventType.DELETED:
            f["deleted"] = True
            return ("deleted",)
        return ()

    def _set_owner(self, owner: str | None) -> None:
        current = self.fields.get("owner")
        if current and current != owner and current not in self.previous_owners:
            self.previous_owners.append(current)
        self.fields["owner"] = owner
        self.fields["previous_owners"] = list(self.previous_owners)

    def snapshot(self) -> dict[str, Any]:
        """The current fields, JSON-ready, for the store (which writes them with sorted keys)."""
        return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in self.fields.items()}
