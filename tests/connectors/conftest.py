"""Fixtures: real connectors pointed at the fake CRMs served on loopback (``salesforce``, ``hubspot``: tests/fakes/
crm_project.py, shared with the command-line tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.salesforce import SalesforceConnector
from tests.fakes.crm_project import HS_TOKEN as HS_TOKEN  # re-exported: the fakes' secrets
from tests.fakes.crm_project import SF_SESSION as SF_SESSION
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.server import Served


@pytest.fixture
def sf_options(salesforce: tuple[FakeSalesforce, Served], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The options a [[sources]] table would give, pointing at the fake."""
    _, served = salesforce
    monkeypatch.setenv("SF_SESSION_ID", SF_SESSION)
    # A CA bundle in the environment must not override the test CA (requests' trust_env).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    return {"session_id": {"env": "SF_SESSION_ID"}, "instance_url": served.url, "ca_bundle": str(served.ca_path),
            "backoff_seconds": 0.01, "lookback_seconds": 0}


@pytest.fixture
def hs_options(hubspot: tuple[FakeHubSpot, Served], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    _, served = hubspot
    monkeypatch.setenv("HUBSPOT_TOKEN", HS_TOKEN)
    return {"token": {"env": "HUBSPOT_TOKEN"}, "host": served.url, "ca_bundle": str(served.ca_path),
            "backoff_seconds": 0.01, "lookback_seconds": 0}


@pytest.fixture
def make_sf(sf_options: dict[str, Any]) -> Callable[..., SalesforceConnector]:
    def make(name: str = "sf", **overrides: Any) -> SalesforceConnector:
        return SalesforceConnector.configure(name, {**sf_options, **overrides})
    return make


@pytest.fixture
def make_hs(hs_options: dict[str, Any]) -> Callable[..., HubSpotConnector]:
    def make(name: str = "hs", **overrides: Any) -> HubSpotConnector:
        return HubSpotConnector.configure(name, {**hs_options, **overrides})
    return make
