"""The sla-engine connector conformance kit, run against this package as installed."""

from __future__ import annotations

import json

import pytest

from sla_engine.conformance import ConnectorConformance


class TestJsonlConnector(ConnectorConformance):
    connector_type = "jsonl"

    @pytest.fixture
    def options(self, tmp_path):
        rows = [
            {"id": 1, "lead_id": "L1", "type": "created", "occurred_at": "2026-11-02T09:00:00+00:00",
             "updated_at": "2026-11-02T09:00:00+00:00", "payload": {"attributes": {"lead_score": 90}}},
            {"id": 2, "lead_id": "L1", "type": "assigned", "occurred_at": "2026-11-02T09:01:00+00:00",
             "updated_at": "2026-11-02T09:01:00+00:00", "payload": {"owner": "rep@example.com"}},
            {"id": 3, "lead_id": "L2", "type": "activity", "occurred_at": "2026-11-02T09:02:00+00:00",
             "updated_at": "2026-11-02T09:02:00+00:00", "payload": {"channel": "call", "by": "rep@example.com"}},
        ]
        path = tmp_path / "events.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return {"path": str(path), "status_path": str(tmp_path / "status.jsonl")}
