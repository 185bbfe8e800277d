"""LeadEvent: the one event shape every source produces."""

from __future__ import annotations

from datetime import datetime, timezone

from sla_engine.events import EventType, LeadEvent


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
