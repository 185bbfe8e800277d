"""Contacts and teams: the people an escalation reaches."""

from __future__ import annotations

from sla_engine.language import model as m
from sla_engine.language.check.calendars import CalendarChecks
from sla_engine.language.errors import suggest


class ContactChecks(CalendarChecks):
    """Contacts, teams and references to them."""

    def check_contact(self, contact: m.ContactDecl) -> None:
        """A misspelt attribute (`emial`) would leave a person unreachable when a lead breaches."""
        kind = "team" if contact.is_team else "contact"
        keys = self.channels.team_keys() if contact.is_team else self.channels.contact_keys()
        seen: dict[str, m.Attribute] = {}
        for attribute in contact.attributes:
            pos = self.within(attribute.pos, None, pick=0)
            if attribute.key not in keys:
                self.report("E215", f"'{attribute.key}' is not an attribute of a {kind}", pos,
                            suggest(attribute.key, keys) or f"use one of: {', '.join(keys)}")
                continue
            if attribute.key in seen:
                self.report("E215", f"{kind} '{contact.name}' gives '{attribute.key}' twice (first at "
                            f"{seen[attribute.key].pos})", pos, "keep one of them")
                continue
            seen[attribute.key] = attribute
            self.check_attribute(attribute)

    def check_attribute(self, attribute: m.Attribute) -> None:
        """An address that is not a text cannot be delivered to; a calendar must exist."""
        value = attribute.value
        if attribute.key == "calendar":
            name = value.path[0] if isinstance(value, m.Ref) else getattr(value, "value", None)
            if isinstance(name, str):
                self.check_calendar_ref(name, value.pos)
            else:
                self.report("E215", "`calendar` names a calendar", value.pos)
        elif attribute.key == "members":
            self.check_members(value)
        elif attribute.key == "timezone" and isinstance(value, m.Literal_) and value.type == "text":
            self.check_timezone(value.value, value.pos)
        elif attribute.key == "manager" and isinstance(value, m.Ref):
            self.check_contact_ref(value)
        elif attribute.key != "away" and not _is_text(value):
            self.report("E215", f"`{attribute.key}` should be a text in double quotes or env(\"VARIABLE\")", value.pos)

    def check_members(self, value: m.Node) -> None:
        """Round-robin reassignment picks from members: each must be an address, not a number or name."""
        if not isinstance(value, m.ListValue):
            self.report("E215", "`members` is a list of texts, e.g. [\"ana@example.com\"]", value.pos)
            return
        for item in value.items:
            if not _is_text(item):
                self.report("E215", "each member is a text in double quotes", item.pos)

    def check_contact_ref(self, ref: m.Ref) -> None:
        """A manager or owner who is not declared cannot be notified."""
        name = ref.dotted
        if name not in self.ps.contacts and name not in self.broken:
            self.report("E201", f"unknown contact '{name}'", ref.pos, suggest(name, self.ps.contacts))


def _is_text(value: m.Node) -> bool:
    return isinstance(value, m.Env) or (isinstance(value, m.Literal_) and value.type == "text")
