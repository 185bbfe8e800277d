"""Normalized lead events: the one shape every source produces and the engine folds.

A lead's state at any instant is the fold of its events in ``occurred_at`` order, so
sources only ever append facts; they never compute state. See docs/events.md.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import types
import typing
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]  # CPython's C encoder
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from sla_engine.safe_text import escape_control


def utc(value: datetime) -> datetime:
    """The same instant in UTC, the zone every stored and compared instant is in."""
    return value.astimezone(timezone.utc)


class EventType(StrEnum):
    """What an event records; each type has its payload model (docs/events.md)."""

    CREATED = "created"
    UPDATED = "updated"
    STATUS_CHANGED = "status_changed"
    ASSIGNED = "assigned"
    ACTIVITY = "activity"
    DISPOSITION = "disposition"
    CONVERTED = "converted"
    OPPORTUNITY_CLOSED = "opportunity_closed"
    DELETED = "deleted"


class Channel(StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    SMS = "sms"
    SOCIAL = "social"
    OTHER = "other"


class Disposition(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NURTURE = "nurture"
    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"


# Standard lead fields every source may fill, with their policy-language types.
STANDARD_FIELDS: dict[str, str] = {
    "email": "text",
    "name": "text",
    "company": "text",
    "title": "text",
    "seniority": "text",
    "industry": "text",
    "company_size": "number",
    "annual_revenue": "number",
    "country": "text",
    "region": "text",
    "source": "text",
    "campaign": "text",
    "form": "text",
    "lead_score": "number",
    "fit_score": "number",
    "engagement_score": "number",
    "target_account": "boolean",
    "status": "text",
    "stage": "text",
    "owner": "text",
    "owner_manager": "text",
    "team": "text",
    "created_at": "timestamp",
}


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class CreatedPayload(_Payload):
    attributes: dict[str, Any] = Field(default_factory=dict)


class UpdatedPayload(_Payload):
    changes: dict[str, Any]


class StatusChangedPayload(_Payload):
    field: str = "status"
    old: str | None = None
    new: str


class AssignedPayload(_Payload):
    owner: str
    owner_manager: str | None = None
    team: str | None = None


class ActivityPayload(_Payload):
    channel: Channel
    direction: str = "outbound"
    outcome: str | None = None
    by: str | None = None


class DispositionPayload(_Payload):
    disposition: Disposition
    reason: str | None = None
    notes: str | None = None


class ConvertedPayload(_Payload):
    opportunity_id: str | None = None
    amount: float | None = None


class OpportunityClosedPayload(_Payload):
    won: bool
    amount: float | None = None


class DeletedPayload(_Payload):
    merged_into: str | None = None


PAYLOAD_MODELS: dict[EventType, type[_Payload]] = {
    EventType.CREATED: CreatedPayload,
    EventType.UPDATED: UpdatedPayload,
    EventType.STATUS_CHANGED: StatusChangedPayload,
    EventType.ASSIGNED: AssignedPayload,
    EventType.ACTIVITY: ActivityPayload,
    EventType.DISPOSITION: DispositionPayload,
    EventType.CONVERTED: ConvertedPayload,
    EventType.OPPORTUNITY_CLOSED: OpportunityClosedPayload,
    EventType.DELETED: DeletedPayload,
}


class IdentifierError(ValueError):
    """An identifier with a control or invisible character inside it: reading it either way would guess."""


def normalize_identifier(text: str, name: str = "lead_id") -> str:
    """An identifier as every connector must give it: surrounding whitespace, BOMs and control
    characters removed, anything else invisible inside it refused.

    A corrupted export (a trailing NUL, a BOM before the first cell, a padded cell) must not turn one
    lead into two; an id with such a character in its middle cannot be read safely, so its row is
    quarantined. Every connector and the plugin kit call this one function (docs/security.md).
    """
    if text.isprintable() and text[:1] != " " and text[-1:] != " " and text:
        return text  # the common case, one C-level scan
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    cleaned = text[start:end]
    if not cleaned:
        raise IdentifierError(f"{name} is empty")
    bad = next((char for char in cleaned if char != " " and not char.isprintable()), None)
    if bad is not None:
        raise IdentifierError(f"{name} '{escape_control(cleaned)}' contains U+{ord(bad):04X} "
                              f"({unicodedata.name(bad, 'a control character').lower()})")
    return cleaned


def _invisible(char: str) -> bool:
    return char.isspace() or not char.isprintable()


def make_event_id(source: str, lead_id: str, type_: str, occurred_at: datetime, key: str = "") -> str:
    """A stable id from the event's identity, so a re-sync upserts instead of duplicating."""
    instant = occurred_at.astimezone(timezone.utc).isoformat()  # one instant, one id, whatever the offset
    raw = "\x1f".join([source, lead_id, str(type_), instant, key])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class LeadEvent(BaseModel):
    """One fact about one lead at one instant."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    """The same each time the same fact is read: build it with ``stable_event`` or ``LeadEvent.build``."""
    lead_id: str = Field(min_length=1)
    """The lead, cleaned by ``normalize_identifier``."""
    occurred_at: datetime
    """When it happened; a time zone is required."""
    source: str
    """The connector instance's name (``self.name``)."""
    type: EventType
    """What happened."""
    payload: dict[str, Any] = Field(default_factory=dict)
    """The fields of the event's type (docs/events.md), checked against its payload model."""

    @field_validator("lead_id")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return normalize_identifier(value)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("occurred_at has no time zone; declare the source's zone")
        return value

    @model_validator(mode="after")
    def _payload_fits_type(self) -> LeadEvent:
        model = PAYLOAD_MODELS[self.type]
        validated = model.model_validate(self.payload)
        object.__setattr__(self, "payload", validated.model_dump(mode="json", exclude_none=False))
        return self

    @classmethod
    def trusted(cls, event_id: str, lead_id: str, occurred_at: datetime, source: str, type: EventType,
                payload: dict[str, Any]) -> LeadEvent:
        """What ``model_construct`` makes of values already checked as the validators check them.

        A reader builds one per row, and this costs a third of ``model_construct``, which first looks
        every field up by name and alias.
        """
        event = _new_object(cls)
        _set_slot(event, "__dict__", {"event_id": event_id, "lead_id": lead_id, "occurred_at": occurred_at,
                                      "source": source, "type": type, "payload": payload})
        _set_slot(event, "__pydantic_fields_set__", set(_FIELD_NAMES))
        _set_slot(event, "__pydantic_extra__", None)
        _set_slot(event, "__pydantic_private__", None)
        return event

    @classmethod
    def build(
        cls,
        *,
        source: str,
        lead_id: str,
        type: EventType | str,
        occurred_at: datetime,
        payload: dict[str, Any] | None = None,
        key: str = "",
        event_id: str | None = None,
    ) -> LeadEvent:
        """Build an event whose id derives from its identity unless the source has one."""
        type_ = EventType(type)
        lead_id = normalize_identifier(lead_id)  # before the id is made from it
        return cls(
            event_id=event_id or make_event_id(source, lead_id, type_, occurred_at, key),
            lead_id=lead_id,
            occurred_at=occurred_at,
            source=source,
            type=type_,
            payload=payload or {},
        )


class Event(Protocol):
    """What judging reads of an event: a validated ``LeadEvent``, or a stored one read back as it is."""

    @property
    def event_id(self) -> str: ...
    @property
    def lead_id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def source(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


class EventRow(NamedTuple):
    """An event as the store keeps it: ``occurred_at`` as UTC ISO text, ``payload`` as JSON text.

    A source that has checked an event as LeadEvent's validators would may yield this in place of
    the LeadEvent (see ``Connector.pull_rows``): the store then writes it without building one.
    """

    event_id: str
    """As ``LeadEvent.event_id``."""
    lead_id: str
    """As ``LeadEvent.lead_id``, already normalised."""
    occurred_at: str
    """UTC ISO 8601 text (``stored_instant``)."""
    source: str
    """As ``LeadEvent.source``."""
    type: str
    """An ``EventType`` value."""
    payload: str
    """JSON text (``payload_text``), checked against the type's payload model."""


def stored_instant(value: datetime) -> str:
    """An instant as the store writes it: ISO 8601 in UTC, ``+00:00``."""
    return value.astimezone(timezone.utc).isoformat()


# How the store writes a payload: json.dumps(payload, sort_keys=True, default=str), one encoder for all.
payload_text = json.JSONEncoder(sort_keys=True, default=str).encode


def _plain_encoder() -> Callable[[dict[str, Any]], str]:
    """``payload_text`` for a payload read from a file: the encoder json.dumps builds per call, built once.

    It skips the check for a payload that contains itself, which a payload read from a file cannot.
    """
    if c_make_encoder is None:
        return payload_text
    encode = c_make_encoder(None, str, encode_basestring_ascii, None, ": ", ", ", True, False, True)
    return lambda payload: "".join(encode(payload, 0))


plain_payload_text = _plain_encoder()  # the same text as payload_text, for payloads without cycles


def event_row(event: LeadEvent) -> EventRow:
    """The row the store keeps for an event."""
    return EventRow(event.event_id, event.lead_id, stored_instant(event.occurred_at), event.source,
                    str(event.type), payload_text(event.payload))


_FIELD_NAMES = tuple(LeadEvent.model_fields)
_new_object = object.__new__
_set_slot = object.__setattr__  # the model is frozen: its own __setattr__ refuses


# ---------------------------------------------------------------- payloads checked cheaply
# A reader checks millions of payloads: these checks, written from the payload models, vouch for
# the ordinary values and send anything else to pydantic, so every rejection reason comes from the
# models and an accepted payload is exactly what the models give.

BOOLEAN_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


class PayloadError(ValueError):
    """A payload its type's model refuses; the message says why, as a RevOps reader would."""


UNSURE = object()  # a cheap check cannot vouch for the value: ask pydantic
Check = Callable[[Any], Any]


def check_text(value: Any) -> Any:
    """Text is its own value; anything else is for pydantic to judge."""
    return value if type(value) is str else UNSURE


def _float(value: Any) -> Any:
    if type(value) is float or type(value) is int:
        return float(value)
    if type(value) is str and _PLAIN_NUMBER.fullmatch(value):
        return float(value)
    return UNSURE


def _bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    if type(value) is str:
        return BOOLEAN_WORDS.get(value.lower(), UNSURE)
    return UNSURE


def _mapping(value: Any) -> Any:
    """Values here come from cells or finite JSON, which model_dump(mode='json') leaves as they are."""
    return value if type(value) is dict else UNSURE


def _choice(values: frozenset[str]) -> Check:
    return lambda value: value if type(value) is str and value in values else UNSURE


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
_SIMPLE_CHECKS: dict[Any, Check] = {str: check_text, float: _float, bool: _bool, dict[str, Any]: _mapping}


def _check_for(annotation: Any) -> Check | None:
    """A cheap check equivalent to pydantic's for this annotation, or None if we have none."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _choice(frozenset(str(member.value) for member in annotation))
    if annotation in _SIMPLE_CHECKS:
        return _SIMPLE_CHECKS[annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        inner = _check_for(rest[0]) if len(rest) == 1 else None
        return None if inner is None else _optional(inner)
    return None


@dataclass(frozen=True)
class PayloadSpec:
    """A payload model's fields with cheap checks; `normalize` gives what model_dump(mode='json') gives."""

    fields: tuple[tuple[str, Check, FieldInfo], ...]

    @classmethod
    def of(cls, model: type[BaseModel]) -> PayloadSpec | None:
        fields = []
        for name, info in model.model_fields.items():
            check = _check_for(info.annotation)
            if check is None or info.alias:
                return None
            fields.append((name, check, info))
        return cls(tuple(fields))

    def normalize(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for name, check, info in self.fields:
            if name in payload:
                value = check(payload[name])
                if value is UNSURE:
                    return None
                out[name] = value
            elif info.is_required():
                return None
            else:
                out[name] = info.get_default(call_default_factory=True)
        for name, value in payload.items():
            if name not in out:
                out[name] = value  # an extra field: the models allow and keep them
        return out


PAYLOAD_SPECS: dict[EventType, PayloadSpec | None] = {type_: PayloadSpec.of(m) for type_, m in PAYLOAD_MODELS.items()}
CHOICE_FIELDS = frozenset(  # payload fields whose value is one of an enum's (read lowercased)
    name for model in PAYLOAD_MODELS.values() for name, info in model.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, enum.Enum)
)


def validated_payload(type_: EventType, payload: dict[str, Any], *, fast: bool = True) -> dict[str, Any]:
    """The payload as LeadEvent would store it; a PayloadError saying why if the model refuses it.

    Values come from cells (text) or JSON without NaN or infinities: for those, the cheap checks
    (``PAYLOAD_SPECS``) and pydantic agree (tests/test_events.py proves it on generated payloads);
    a payload the checks cannot vouch for goes through pydantic. ``fast=False`` always does.
    """
    spec = PAYLOAD_SPECS[type_] if fast else None
    if spec is not None:
        normalized = spec.normalize(payload)
        if normalized is not None:
            return normalized
    try:
        return PAYLOAD_MODELS[type_].model_validate(payload).model_dump(mode="json", exclude_none=False)
    except ValidationError as error:
        raise PayloadError(_human(type_, error)) from None


def _human(type_: EventType, error: ValidationError) -> str:
    """Pydantic's errors, said as a RevOps reader would: 'activity channel 'fax' is not one of ...'."""
    return "; ".join(_one_problem(type_, problem) for problem in error.errors(include_url=False))


def _one_problem(type_: EventType, problem: Any) -> str:
    where = ".".join(str(part) for part in problem["loc"]) or "payload"
    kind: str = problem["type"]
    shown = _shown(problem.get("input"))
    if kind == "missing":
        return f"{type_} needs {where}"
    if kind == "enum":
        choices = problem["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return f"{type_} {where} {shown} is not one of {choices}"
    if kind.startswith(("float", "int", "decimal")):
        return f"{type_} {where} {shown} is not a number"
    if kind.startswith("bool"):
        return f"{type_} {where} {shown} is not true or false"
    if kind == "string_type":
        return f"{type_} {where} must be text, not {shown}"
    if kind in ("dict_type", "model_type"):
        return f"{type_} {where} must be a JSON object, not {shown}"
    return f"{type_} {where}: {problem['msg']}"


def _shown(value: Any) -> str:
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    return escape_control(text if len(text) <= 80 else text[:77] + "...")
