"""Escalation actions: each must be something that can be carried out."""

from __future__ import annotations

from sla_engine.language import model as m
from sla_engine.language.check.conditions import ConditionChecks
from sla_engine.language.check.types import DURATION, Type, _describe, _group
from sla_engine.language.errors import suggest


class ActionChecks(ConditionChecks):
    """Notify, reassign, create a task, set a field."""

    def check_action(self, action: m.Node) -> None:
        """An action that cannot be carried out is found now, not when a lead breaches."""
        if isinstance(action, m.Notify):
            self.check_recipient(action.recipient)
            self.check_channel(action)
        elif isinstance(action, m.Reassign):
            self.check_reassign(action)
        elif isinstance(action, m.CreateTask):
            if action.recipient is not None:
                self.check_recipient(action.recipient)
            if action.due is not None:
                self.check_positive(action.due, "a task due time")
        elif isinstance(action, m.SetField):
            self.check_set(action)

    def check_recipient(self, recipient: m.Recipient) -> None:
        """An escalation to someone the policy does not know is never delivered."""
        if recipient.kind != "named" or recipient.name is None:
            return
        if recipient.name not in self.ps.contacts and recipient.name not in self.broken:
            self.report("E214", f"unknown recipient '{recipient.name}'", recipient.pos,
                        suggest(recipient.name, [*self.ps.contacts, "owner", "manager"])
                        or "declare it with `contact NAME { ... }` or `team NAME { ... }`")

    def check_channel(self, notify: m.Notify) -> None:
        """A channel no installed plugin delivers, or a contact with no address on it, reaches nobody."""
        if notify.channel is not None and notify.channel not in self.channels.plugins:
            installed = ", ".join(f"{c} (plugin {p})" for c, p in self.channels.plugins.items()) or "none"
            hint = suggest(notify.channel, list(self.channels.plugins))
            self.report("E214", f"unknown channel '{notify.channel}'", self.within(notify.pos, "via", notify.channel),
                        (f"{hint}; " if hint else "") + f"installed channels: {installed}; a notifier plugin that "
                        f"registers '{notify.channel}' adds it (see `sla-engine plugins` and docs/plugins.md)")
            return
        contact = self.ps.contacts.get(notify.recipient.name or "") if notify.recipient.kind == "named" else None
        if contact is None or contact.is_team:
            return
        if notify.channel in self.channels.addressed and contact.get(notify.channel) is None:
            self.report("E214", f"contact '{contact.name}' has no {notify.channel} address",
                        self.within(notify.pos, "via", notify.channel),
                        f"add `{notify.channel} \"...\"` to contact '{contact.name}'")
        elif notify.channel is None and all(contact.get(c) is None for c in self.channels.addressed):
            self.report("E214", f"contact '{contact.name}' has no {', '.join(self.channels.addressed)} address "
                        "to notify", notify.recipient.pos)

    def check_reassign(self, action: m.Reassign) -> None:
        """Round-robin reassignment needs a team's members to choose from."""
        pos = self.within(action.pos, "to", action.team)
        target = self.ps.contacts.get(action.team)
        if target is not None and not target.is_team:
            self.report("E214", f"'{action.team}' is a contact, not a team; reassign picks from a team's members", pos)
        elif target is None and action.team not in self.broken:
            teams = [c.name for c in self.ps.contacts.values() if c.is_team]
            self.report("E214", f"unknown team '{action.team}'", pos, suggest(action.team, teams))

    def check_set(self, action: m.SetField) -> None:
        """Writing a text into a number field would be rejected by the CRM at delivery time."""
        field_type = self.fields.get(action.field)
        value = action.value
        if isinstance(value, m.Env):
            self.report("E202", f"`set {action.field}` writes a value into the CRM, but env(\"{value.variable}\") "
                        "reads a secret, for a contact's address; it is never written to a lead", value.pos,
                        "write the value itself, e.g. set status = \"Escalated\"")
            return
        if field_type is None or not isinstance(value, m.Literal_ | m.Duration):
            return
        value_type = DURATION if isinstance(value, m.Duration) else Type(value.type)
        if _group(field_type) != _group(value_type):
            self.report("E202", f"'{action.field}' is {_describe(field_type)}, but the value is "
                        f"{_describe(value_type)}", value.pos)
        else:
            self.check_enum_value(field_type, value)
