"""The built-in connectors pass the same conformance kit a third party runs (sla_engine.conformance)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connectors.csv_writer import write_event_log
from sla_engine.conformance import ConnectorConformance
from tests.engine.test_evaluate import activity, assigned, created

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)
# The kit pushes status for window first_response (its status_window fixture): map it, as a user would.
SF_PUSH = [{"window": "first_response", "tier": "SLA_Tier__c", "status": "SLA_Status__c", "due_at": "SLA_Due__c",
            "breached_at": "SLA_Breached_At__c"}]
HS_PUSH = [{"window": "first_response", "tier": "sla_tier", "status": "sla_status", "due_at": "sla_due_at",
            "breached_at": "sla_breached_at"}]


class TestCsvConformance(ConnectorConformance):
    connector_type = "csv"

    @pytest.fixture
    def options(self, tmp_path):
        write_event_log([created("L1", T0, lead_score=90), assigned("L1", T0), activity("L1", T0)],
                        tmp_path / "events.csv")
        return {"path": str(tmp_path / "events.csv"), "status_path": str(tmp_path / "status.csv")}


class TestSalesforceConformance(ConnectorConformance):
    connector_type = "salesforce"

    @pytest.fixture
    def options(self, salesforce, sf_options):
        fake, _ = salesforce
        for n in range(3):
            lead = fake.add_lead(T0 + timedelta(minutes=n), OwnerId="005000000000001AAA")
            fake.add("Task", T0 + timedelta(minutes=n + 5), WhoId=lead, TaskSubtype="Call", IsClosed=True)
        return {**sf_options, "push_status": SF_PUSH}


class TestHubSpotConformance(ConnectorConformance):
    connector_type = "hubspot"

    @pytest.fixture
    def options(self, hubspot, hs_options):
        fake, _ = hubspot
        for n in range(3):
            fake.add("contacts", T0 + timedelta(minutes=n), hs_lead_status="NEW", hubspot_owner_id="11")
        return {**hs_options, "push_status": HS_PUSH}
