"""The fake CRMs served over HTTPS on loopback, and a project whose sources they are: fixtures for every test
that runs the command line against them (`sync`, `evaluate` with sync and push, `doctor`), registered in
tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.test_evaluate import POLICY
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.server import Served

SF_SESSION = "00Dfake!session.s3cr3t-VALUE"
HS_TOKEN = "pat-na1-s3cr3t-token-VALUE"


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[tuple[FakeSalesforce, Served]]:
    fake = FakeSalesforce(session_id=SF_SESSION)
    (tmp_path / "sf").mkdir()
    served = Served(fake, tmp_path / "sf")  # each server its own CA file
    yield fake, served
    served.close()


@pytest.fixture
def hubspot(tmp_path: Path) -> Iterator[tuple[FakeHubSpot, Served]]:
    fake = FakeHubSpot(token=HS_TOKEN)
    (tmp_path / "hs").mkdir()
    served = Served(fake, tmp_path / "hs")
    yield fake, served
    served.close()


@dataclass
class CrmProject:
    """A project folder (``policies/inbound.sla``, the secrets in the environment) whose configuration
    names the loopback CRMs as sources: ``configure(project.salesforce("crm"), …)`` writes sla-engine.toml."""

    folder: Path
    sf: Served
    hs: Served

    def salesforce(self, name: str, options: str = "") -> str:
        """A ``[[sources]]`` table reading the Salesforce fake; ``options`` are more lines of the table."""
        return f"""
[[sources]]
name = "{name}"
type = "salesforce"
instance_url = "{self.sf.url}"
session_id = {{ env = "SF_SESSION_ID" }}
ca_bundle = "{self.sf.ca_path}"
backoff_seconds = 0.01
{options}"""

    def hubspot(self, name: str, options: str = "") -> str:
        """A ``[[sources]]`` table reading the HubSpot fake."""
        return f"""
[[sources]]
name = "{name}"
type = "hubspot"
host = "{self.hs.url}"
token = {{ env = "HUBSPOT_TOKEN" }}
ca_bundle = "{self.hs.ca_path}"
backoff_seconds = 0.01
{options}"""

    def configure(self, *sources: str) -> Path:
        """Write sla-engine.toml with these source tables; returns the project folder."""
        (self.folder / "sla-engine.toml").write_text('policies = "policies"\n' + "".join(sources), encoding="utf-8")
        return self.folder


@pytest.fixture
def crm_project(tmp_path: Path, salesforce: tuple[FakeSalesforce, Served], hubspot: tuple[FakeHubSpot, Served],
                monkeypatch: pytest.MonkeyPatch) -> CrmProject:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "inbound.sla").write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("SF_SESSION_ID", SF_SESSION)
    monkeypatch.setenv("HUBSPOT_TOKEN", HS_TOKEN)
    # A CA bundle in the environment must not override the test CA (requests' trust_env).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    return CrmProject(tmp_path, salesforce[1], hubspot[1])
