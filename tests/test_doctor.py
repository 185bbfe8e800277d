"""`sla-engine doctor`: every secret resolved and one harmless authenticated call per source and
notifier, against the loopback fakes of Salesforce, HubSpot and an SMTP server; nothing secret printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sla_engine.cli import main
from tests.delivery.conftest import smtp  # noqa: F401 - the SMTP server fixture
from tests.fakes.crm_project import HS_TOKEN, SF_SESSION
from tests.test_cli import invoke_in


@pytest.fixture
def project(crm_project) -> Path:
    return crm_project.configure(crm_project.salesforce("sf"), crm_project.hubspot("hs"))


def doctor(project: Path, *args: str) -> tuple[int, dict[str, dict[str, str]], str]:
    result = invoke_in(project, main, "doctor", "--format", "json", *args)
    return result.exit_code, {f["what"]: f for f in json.loads(result.stdout)}, result.output


def test_a_ready_installation_is_ok_with_one_real_call_each(project, salesforce, smtp):  # noqa: F811
    code, found, output = doctor(project)
    assert code == 0, output
    assert {what: f["status"] for what, f in found.items()} == {
        "configuration": "ok", "policies": "ok", "store": "ok", "source sf (salesforce)": "ok",
        "source hs (hubspot)": "ok", "notifier email": "ok",
    }
    assert [r.query.get("q") for r in salesforce[0].requests] == ["SELECT Id FROM Lead LIMIT 1"]  # a read
    assert smtp.logins == [("mailer", "smtp-pass-123")] and smtp.messages == []  # logged in, sent nothing
    assert "not created yet" in found["store"]["detail"]
    text = invoke_in(project, main, "doctor")
    assert "ok" in text.output and "notifier email" in text.output
    assert SF_SESSION not in text.output and HS_TOKEN not in text.output and "smtp-pass-123" not in text.output


def test_each_problem_is_named_with_its_reason_and_no_secret(project, monkeypatch):
    monkeypatch.setenv("SF_SESSION_ID", "00Dexpired!" + SF_SESSION)
    monkeypatch.delenv("HUBSPOT_TOKEN")
    monkeypatch.delenv("SLA_ENGINE_SMTP_HOST", raising=False)
    (project / "sla-engine.db").write_bytes(b"not a database at all" * 100)
    code, found, output = doctor(project)
    assert code == 1
    assert found["source sf (salesforce)"]["status"] == "failed"
    assert "INVALID_SESSION_ID" in found["source sf (salesforce)"]["detail"]
    assert found["source hs (hubspot)"] == {"what": "source hs (hubspot)", "status": "failed",
                                           "detail": "environment variable HUBSPOT_TOKEN is not set "
                                                     "(needed by source 'hs', option token)"}
    assert "SLA_ENGINE_SMTP_HOST" in found["notifier email"]["detail"]
    assert found["store"]["status"] == "failed" and "damaged" in found["store"]["detail"]
    assert SF_SESSION not in output


def test_a_broken_configuration_stops_at_the_first_finding(tmp_path):
    (tmp_path / "sla-engine.toml").write_text("policies = [\n")
    result = invoke_in(tmp_path, main, "doctor")
    assert result.exit_code == 1
    assert "configuration" in result.output and "failed" in result.output
