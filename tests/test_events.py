"""LeadEvent: the one event shape every source produces."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sla_engine.events import (
    PAYLOAD_MODELS,
    EventType,
    IdentifierError,
    LeadEvent,
    PayloadError,
    normalize_identifier,
    plain_payload_text,
    validated_payload,
)


def test_a_trusted_event_is_the_event_model_construct_makes():
    values = {"event_id": "e1", "lead_id": "L1", "occurred_at": datetime(2026, 8, 3, 9, tzinfo=timezone.utc),
              "source": "csv", "type": EventType.ACTIVITY,
              "payload": {"channel": "call", "direction": "outbound", "outcome": None, "by": None}}
    trusted, constructed = LeadEvent.trusted(**values), LeadEvent.model_construct(**values)
    assert trusted == constructed
    assert trusted.model_fields_set == constructed.model_fields_set
    assert trusted.model_dump() == constructed.model_dump() == LeadEvent.model_validate(values).model_dump()
    moved = trusted.model_copy(update={"lead_id": "L2"})
    assert moved.lead_id == "L2" and trusted.lead_id == "L1"


# ---------------------------------------------------------------- identifiers


@pytest.mark.parametrize("raw", ["L1", "L1\x00", "\ufeffL1", " L1 ", "\tL1\r\n", "L1\u200b", "\x00\ufeff L1 \x00"])
def test_surrounding_whitespace_bom_and_control_characters_are_not_part_of_an_identifier(raw):
    assert normalize_identifier(raw) == "L1"


@pytest.mark.parametrize("raw", ["L\x001", "L\u202e1", "L\t1", "L\u200b1", "L\u00a01"])
def test_an_invisible_character_inside_an_identifier_is_refused_and_shown_escaped(raw):
    with pytest.raises(IdentifierError) as caught:
        normalize_identifier(raw)
    assert caught.value.args[0].isprintable()
    assert "contains U+" in str(caught.value)


@pytest.mark.parametrize("raw", ["", " ", "\x00", "\ufeff"])
def test_an_identifier_of_nothing_visible_is_empty(raw):
    with pytest.raises(IdentifierError, match="is empty"):
        normalize_identifier(raw)


def test_an_event_built_with_a_padded_id_belongs_to_the_lead_and_has_the_leads_event_id():
    at = datetime(2026, 8, 3, 9, tzinfo=timezone.utc)
    clean = LeadEvent.build(source="s", lead_id="L1", type="created", occurred_at=at)
    padded = LeadEvent.build(source="s", lead_id="\ufeffL1\x00", type="created", occurred_at=at)
    assert padded.lead_id == "L1" and padded.event_id == clean.event_id
    with pytest.raises(ValidationError):
        LeadEvent(event_id="e", lead_id="L\x001", occurred_at=at, source="s", type="created")


# ---------------------------------------------------------------- payloads checked cheaply


# What a row can hold: text from cells, and JSON values (the reader refuses NaN and infinities in JSON).
PAYLOAD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["call", "Call", "fax", "accepted", "true", "YES", "y", "off", "1", "0", "12", "12.50", "-0",
                     "007", "1e3", " 5", "1_000", "inf", "", "status"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=4), st.booleans()), max_size=3),
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[EventType, dict[str, Any]]:
    type_ = draw(st.sampled_from(list(EventType)))
    names = [*PAYLOAD_MODELS[type_].model_fields, "extra", "note"]
    keys = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    return type_, {key: draw(PAYLOAD_VALUES) for key in keys}


def outcome(type_: EventType, payload: dict[str, Any], *, fast: bool) -> Any:
    try:
        return validated_payload(type_, dict(payload), fast=fast)
    except PayloadError as error:
        return ("rejected", str(error))


@settings(max_examples=400, deadline=None)
@given(payloads())
def test_the_cheap_payload_check_agrees_with_pydantic_on_every_payload(case):
    type_, payload = case
    assert outcome(type_, payload, fast=True) == outcome(type_, payload, fast=False)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_a_payload_read_from_a_file_is_written_as_json_dumps_writes_it(payload):
    assert plain_payload_text(payload) == json.dumps(payload, sort_keys=True, default=str)
