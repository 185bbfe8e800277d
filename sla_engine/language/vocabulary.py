"""The names a policy may use without declaring them, shared by the checker and the engine."""

from __future__ import annotations

from sla_engine.events import STANDARD_FIELDS, EventType

# Lead fields the engine derives from the event history (beside the standard fields).
DERIVED_FIELDS: dict[str, str] = {
    "disposition": "text",
    "disposition_reason": "text",
    "disposition_at": "timestamp",
    "assigned_at": "timestamp",
    "converted": "boolean",
    "converted_at": "timestamp",
    "opportunity_amount": "number",
    "won": "boolean",
    "lost": "boolean",
    "deleted": "boolean",
    "previous_owners": "text_list",
}

LEAD_FIELDS: dict[str, str] = {**STANDARD_FIELDS, **DERIVED_FIELDS}

# Fields of each event kind, usable in `on KIND where ...` and `count(KIND where ...)`.
EVENT_FIELDS: dict[str, dict[str, str]] = {
    EventType.CREATED: {},
    EventType.UPDATED: {},
    EventType.STATUS_CHANGED: {"field": "text", "old": "text", "new": "text"},
    EventType.ASSIGNED: {"owner": "text", "owner_manager": "text", "team": "text"},
    EventType.ACTIVITY: {"channel": "text", "direction": "text", "outcome": "text", "by": "text"},
    EventType.DISPOSITION: {"disposition": "text", "reason": "text", "notes": "text"},
    EventType.CONVERTED: {"opportunity_id": "text", "amount": "number"},
    EventType.OPPORTUNITY_CLOSED: {"won": "boolean", "amount": "number"},
    EventType.DELETED: {"merged_into": "text"},
}
EVENT_KINDS: tuple[str, ...] = tuple(str(kind) for kind in EventType)

# Fields a target's `where` and `group by` may use, beside the lead fields.
TARGET_FIELDS: dict[str, str] = {"tier": "text", "policy": "text", "window": "text"}

CHANNELS = ("email", "slack", "webhook")
PERIODS = ("week", "month", "quarter")
TARGET_OWNERS = ("marketing", "sales", "joint")
# What a window can be to the dashboard's built-in metrics (`role speed_to_lead`).
WINDOW_ROLES = ("speed_to_lead", "feedback")
CONTACT_KEYS = ("name", "email", "slack", "webhook", "phone", "role", "manager", "calendar", "timezone")
TEAM_KEYS = ("name", "members", "manager", "email", "slack", "webhook", "calendar", "away")
