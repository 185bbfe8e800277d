"""Who a notification or task goes to: the policy's contacts, the lead's owner and manager, a people file.

A static recipient (``notify cro``) is checked by ``sla-engine check``; one that comes from
data (the lead's owner, their manager) can be missing or unknown, which is a recorded
failure of that action, never a crash of the run.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sla_engine.connector import Owner
from sla_engine.delivery.secrets import MissingSecret, remember
from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet
from sla_engine.language.vocabulary import CONTACT_ATTRIBUTES, SHIPPED_CHANNELS, TEAM_ATTRIBUTES

PEOPLE_COLUMNS = ("id", "name", "email", "slack", "webhook", "manager", "calendar")
"""The usual columns; any other column is an address on the channel of that name (``teams``)."""
PEOPLE_ATTRIBUTES = ("id", "name", "manager", "calendar")


class Unresolved(RuntimeError):
    """A recipient the data names but nobody can be found for (or has no address on the channel)."""


@dataclass(frozen=True)
class Address:
    """An address as written: a literal, or the environment variable that holds it (read late)."""

    literal: str | None = None
    env: str | None = None

    @property
    def ident(self) -> str:
        """Names the address without revealing an environment value (for grouping and the outbox)."""
        return f"env:{self.env}" if self.env else str(self.literal)

    def reveal(self) -> str:
        if self.env is None:
            return str(self.literal)
        value = os.environ.get(self.env, "").strip()
        if not value:
            raise MissingSecret(f"environment variable {self.env} is not set")
        remember(value)
        return value


@dataclass(frozen=True)
class Person:
    """Someone we can reach: a display name and an address per channel."""

    key: str
    name: str
    addresses: dict[str, Address] = field(default_factory=dict)
    manager: str | None = None
    calendar: str | None = None

    def channel(self, wanted: str | None, addressed: Sequence[str] = SHIPPED_CHANNELS) -> tuple[str, Address]:
        """The channel to use (the policy's, else the first this person has) and its address.

        ``addressed`` are the channels whose notifier sends to an address, in the order they are
        tried; any other (stdout, a pager plugin keyed by person) is given the person's key.
        """
        if wanted is not None:
            if wanted in self.addresses:
                return wanted, self.addresses[wanted]
            if wanted not in addressed:
                return wanted, Address(literal=self.key)
            raise Unresolved(f"{self.name} has no {wanted} address")
        for name in addressed:
            if name in self.addresses:
                return name, self.addresses[name]
        raise Unresolved(f"{self.name} has no address on any channel")


def _address(value: Any) -> Address | None:
    if isinstance(value, m.Env):
        return Address(env=value.variable)
    if isinstance(value, m.Literal_) and value.value not in (None, ""):
        return Address(literal=str(value.value))
    if isinstance(value, str) and value:
        return Address(literal=value)
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, m.Ref):
        return value.dotted
    if isinstance(value, m.Literal_):
        return None if value.value is None else str(value.value)
    return value if isinstance(value, str) else None


def from_contact(contact: m.ContactDecl) -> Person:
    attributes = TEAM_ATTRIBUTES if contact.is_team else CONTACT_ATTRIBUTES
    addresses = {a.key: address for a in contact.attributes
                 if a.key not in attributes and (address := _address(a.value)) is not None}
    return Person(key=contact.name, name=_text(contact.get("name")) or contact.name, addresses=addresses,
                  manager=_text(contact.get("manager")), calendar=_text(contact.get("calendar")))


def load_people(path: Path | None) -> dict[str, Person]:
    """A people file (CSV with columns id,name,email,slack,webhook,manager,calendar, or a JSON list of such).

    Any other column is an address on the channel it names (``teams``, for a Teams notifier plugin).
    """
    if path is None or not path.exists():
        return {}
    if path.suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    else:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    people: dict[str, Person] = {}
    for row in rows:
        ident = str(row.get("id") or row.get("email") or "").strip()
        if not ident:
            continue
        addresses = {str(c): Address(literal=str(v).strip()) for c, v in row.items()
                     if c not in PEOPLE_ATTRIBUTES and c is not None and str(v or "").strip()}
        people[ident] = Person(key=ident, name=str(row.get("name") or ident), addresses=addresses,
                               manager=(str(row.get("manager") or "").strip() or None),
                               calendar=(str(row.get("calendar") or "").strip() or None))
    return people


class Directory:
    """Finds a Person for a contact name, a CRM user id or an email address.

    A CRM user id is looked up in the people file first, then among the users synced from the
    CRMs (``owners``), whose email then finds the contact or person.
    """

    def __init__(self, policy_set: PolicySet, people: Mapping[str, Person] | None = None,
                 owners: Mapping[str, Owner] | None = None) -> None:
        self.policy_set = policy_set
        self.people = dict(people or {})
        self.owners = dict(owners or {})
        self.contacts = {name: from_contact(c) for name, c in policy_set.contacts.items()}
        self.by_email = {str(a.literal).casefold(): p for p in self.contacts.values()
                         if (a := p.addresses.get("email")) is not None and a.literal}

    def find(self, ident: str) -> Person:
        if ident in self.people:
            return self.people[ident]
        if ident in self.contacts:
            return self.contacts[ident]
        if ident.casefold() in self.by_email:
            return self.by_email[ident.casefold()]
        owner = self.owners.get(ident)
        if owner is not None:
            if owner.kind == "queue" or not owner.email:
                raise Unresolved(f"the lead is owned by {owner.name or ident} ({owner.kind} {ident}), "
                                 "which has no email to reach")
            if owner.email in self.people:
                return self.people[owner.email]
            if owner.email.casefold() in self.by_email:
                return self.by_email[owner.email.casefold()]
            return Person(key=owner.email, name=owner.name or owner.email,
                          addresses={"email": Address(literal=owner.email)})
        if "@" in ident:
            return Person(key=ident, name=ident, addresses={"email": Address(literal=ident)})
        raise Unresolved(f"no contact or person {ident!r} (add them to the people file or a `contact`)")

    def resolve(self, recipient: Mapping[str, Any], lead: Mapping[str, Any]) -> Person:
        """The person an action's recipient means for this lead."""
        kind = recipient.get("kind")
        if kind == "named":
            name = str(recipient.get("name") or "")
            if name not in self.contacts:
                raise Unresolved(f"unknown contact {name!r}")
            return self.contacts[name]
        owner = lead.get("owner")
        if kind == "owner":
            if not owner:
                raise Unresolved("the lead has no owner")
            return self.find(str(owner))
        if kind == "manager":
            manager = lead.get("owner_manager")
            if not manager and owner:
                try:
                    manager = self.find(str(owner)).manager
                except Unresolved:
                    manager = None
            if not manager and lead.get("team") in self.policy_set.contacts:
                manager = _text(self.policy_set.contacts[str(lead["team"])].get("manager"))
            if not manager:
                raise Unresolved(f"no manager known for owner {owner!r}" if owner else "the lead has no owner")
            return self.find(str(manager))
        raise Unresolved(f"unknown recipient kind {kind!r}")
