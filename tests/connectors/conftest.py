"""Fixtures: the fake CRMs served over HTTPS on loopback, and real connectors pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.salesforce import SalesforceConnector
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.server import Served

SF_SESSION = "00Dfake!session.s3cr3t-VALUE"
HS_TOKEN = "pat-na1-s3cr3t-token-VALUE"


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[tuple[FakeSalesforce, Served]]:
    fake = FakeSalesforce(session_id=SF_SESSION)
    served = Served(fake, tmp_path)
    yield fake, served
    served.close()


@pytest.fixture
def hubspot(tmp_path: Path) -> Iterator[tuple[FakeHubSpot, Served]]:
    fake = FakeHubSpot(token=HS_TOKEN)
    served = Served(fake, tmp_path)
    yield fake, served
    served.close()


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
