"""What an operand holds, and where a condition is read (its scope)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sla_engine.language.vocabulary import EVENT_FIELDS, KNOWN_VALUES


@dataclass(frozen=True)
class Type:
    """What an operand holds. ``values`` lists an enum's values; ``names`` says they name tiers/windows/policies."""

    name: str
    values: tuple[str, ...] = ()
    label: str = ""
    names: str = ""


TEXT, NUMBER, BOOLEAN, DURATION = Type("text"), Type("number"), Type("boolean"), Type("duration")
PERCENT = Type("percent")


_GROUPS = {
    "text": "text", "enum": "text", "number": "number", "percent": "number",
    "timestamp": "instant", "date": "instant", "duration": "duration", "boolean": "boolean",
    "time": "time", "text_list": "text_list", "list": "list",
}
_ORDERED = frozenset({"number", "instant", "duration", "time"})
_DESCRIBED = {
    "text": "a text", "number": "a number", "percent": "a percentage", "boolean": "true or false",
    "timestamp": "a timestamp", "duration": "a duration", "text_list": "a list of texts",
    "date": "a date", "time": "a time of day", "list": "a list",
}
_ORDERING = frozenset({">", "<", ">=", "<="})


def _group(type_: Type) -> str:
    return _GROUPS.get(type_.name, type_.name)


def _describe(type_: Type) -> str:
    if type_.name == "enum":
        shown = ", ".join(type_.values[:8]) + (", ..." if len(type_.values) > 8 else "")
        return f"one of {shown}" if type_.values else "a name"
    return _DESCRIBED.get(type_.name, type_.name)


@dataclass(frozen=True)
class Scope:
    """Where a condition is read: which event's fields shadow lead fields, whether a clock runs."""

    event_kind: str | None = None  # "*" when the kind is unknown: accept any event field
    window: bool = False
    extra: dict[str, Type] = field(default_factory=dict)


LEAD = Scope()


def _event_fields(kind: str | None) -> dict[str, str]:
    if kind == "*":
        return {name: type_ for fields in EVENT_FIELDS.values() for name, type_ in fields.items()}
    return dict(EVENT_FIELDS.get(kind, {})) if kind else {}


def _field_type(name: str, type_: str) -> Type:
    """A standard field's type; a text field with known values carries them, to warn on others."""
    if type_ == "text" and name in KNOWN_VALUES:
        return Type("text", KNOWN_VALUES[name], label=name)
    return Type(type_)
