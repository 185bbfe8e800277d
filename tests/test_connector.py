"""The connector toolkit: what every connector's events share."""

from __future__ import annotations

from datetime import datetime, timezone

from sla_engine.connector import stable_event


def test_a_stable_event_from_a_padded_crm_id_is_the_clean_ids_event():
    at = datetime(2026, 8, 3, 9, tzinfo=timezone.utc)
    clean = stable_event(source="crm", lead_id="00Q1", type="created", occurred_at=at, key="created")
    padded = stable_event(source="crm", lead_id="\ufeff00Q1\x00 ", type="created", occurred_at=at, key="created")
    assert (padded.lead_id, padded.event_id) == ("00Q1", clean.event_id)
