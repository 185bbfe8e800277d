"""The names a policy may use without declaring them, shared by the checker and the engine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sla_engine.events import STANDARD_FIELDS, Channel, Disposition, EventType

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

# Text fields whose values the engine knows (docs/events.md). A source may still send others, so a
# literal outside these is a warning (`disposition == "acepted"` is most likely a typo), not an error.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "disposition": tuple(Disposition),
    "channel": tuple(Channel),
    "direction": ("inbound", "outbound"),
}

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

PERIODS = ("week", "month", "quarter")  # a plan's revenue period
TARGET_PERIODS = ("day", *PERIODS)  # a target may also be judged per day (speed to lead, routing)
TARGET_OWNERS = ("marketing", "sales", "joint")
# What a window can be to the dashboard's built-in metrics (`role speed_to_lead`).
WINDOW_ROLES = ("speed_to_lead", "feedback")

# Channels are the notifiers the installed plugins register (``via teams`` needs a plugin that
# registers "teams"). A notifier that sends to an address declares what it is (its ``address``
# attribute); a contact or team may then give one for that channel. These three ship with
# sla-engine, and a person's address is picked in this order when a policy names no channel.
SHIPPED_CHANNELS = ("email", "slack", "webhook")
CONTACT_ATTRIBUTES = ("name", "phone", "role", "manager", "calendar", "timezone")
TEAM_ATTRIBUTES = ("name", "members", "manager", "calendar", "away")


@dataclass(frozen=True)
class Channels:
    """The notifier channels a policy may name: each with its plugin, and those that take an address."""

    plugins: dict[str, str]
    """channel → the plugin that registers it"""
    addressed: tuple[str, ...]
    """the channels whose notifier sends to an address, in the order a person's address is picked"""

    @classmethod
    def of(cls, plugins: Mapping[str, str], addressed: Iterable[str]) -> Channels:
        names = set(addressed)
        ordered = (*[c for c in SHIPPED_CHANNELS if c in names], *sorted(names - set(SHIPPED_CHANNELS)))
        return cls(dict(sorted(plugins.items())), ordered)

    def contact_keys(self) -> tuple[str, ...]:
        """What a ``contact`` may give: its attributes and an address per addressed channel."""
        return (*CONTACT_ATTRIBUTES[:1], *self.addressed, *CONTACT_ATTRIBUTES[1:])

    def team_keys(self) -> tuple[str, ...]:
        """What a ``team`` may give: its attributes and an address per addressed channel."""
        return (*TEAM_ATTRIBUTES[:3], *self.addressed, *TEAM_ATTRIBUTES[3:])


def installed_channels() -> Channels:
    """The channels the loaded notifier plugins register.

    The plugin registry sits beside the language (it imports nothing of ours at load), so the
    checker and delivery agree on one list: what is installed. Raises PluginError for a broken plugin.
    """
    from sla_engine.plugins import registrations

    found = registrations("register_notifiers")
    return Channels.of({name: r.plugin for name, r in found.items()},
                       [name for name, r in found.items() if getattr(r.factory, "address", None)])
