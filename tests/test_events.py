"""LeadEvent: the one event shape every source produces."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from sla_engine.events import EventType, IdentifierError, LeadEvent, normalize_identifier


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
