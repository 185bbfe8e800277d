"""Secrets never reach what the tool prints or stores: remembered values, their URL paths, and
secret-shaped strings a CRM echoes back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sla_engine.connector import ConnectorError, Secret
from sla_engine.delivery.http import PostFailed, post_json
from sla_engine.delivery.message import Templates
from sla_engine.redact import remember, scrub


def test_a_remembered_webhook_url_is_scrubbed_whole_and_by_its_path():
    url = "https://hooks.example.com/services/T0ABC/B0DEF/s3cretPathValue"
    remember(f" {url} ")
    assert scrub(f"failed: {url}") == "failed: ***"
    assert scrub("InvalidURL: '/services/T0ABC/B0DEF/s3cretPathValue' (found at least ' ')") == \
        "InvalidURL: '***' (found at least ' ')"


@pytest.mark.parametrize("leak", [
    "rejected Bearer pat-na1-0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    "token pat-eu1-0a1b2c3d-4e5f-6789-abcd-ef0123456789 is expired",
    "POST /services/T01ABCDEF/B02GHIJKL/AbCdEfGhIjKlMnOpQrStUvWx failed",
    "session 00D5e000000abcd!AQ8AQJ_6b4x3yE9nV2RoQb0Lq1mZ8fW.7sT3uVwXyZaBcDe",
])
def test_secret_shapes_are_scrubbed_even_when_never_read_here(leak):
    assert "***" in scrub(leak)
    for fragment in ("0a1b2c3d-4e5f", "AbCdEfGhIjKl", "AQ8AQJ_6b4x3"):
        assert fragment not in scrub(leak)


def test_a_connector_error_quoting_a_crm_body_that_echoes_the_token_prints_scrubbed(monkeypatch):
    monkeypatch.setenv("TEST_CRM_TOKEN", "custom-token-value-123456")
    token = Secret(env="TEST_CRM_TOKEN").reveal()
    error = ConnectorError(f"HubSpot answered 401: invalid token {token} for this portal")
    assert "custom-token-value" not in str(error) and "***" in str(error)


def test_a_webhook_url_with_a_stray_space_fails_without_naming_its_path():
    url = "https://hooks.slack.com/services/T0/B0/aVeryS3cretPath WITH-SPACE"
    with pytest.raises(PostFailed) as caught:
        post_json(url, {"text": "x"}, timeout=1)
    assert "aVeryS3cret" not in str(caught.value) and "not a valid URL" in str(caught.value)
    assert "aVeryS3cret" not in scrub("InvalidURL: '/services/T0/B0/aVeryS3cretPath WITH-SPACE'")


def test_a_template_linked_out_of_its_directory_is_not_read(tmp_path: Path):
    outside = tmp_path / "private.txt"
    outside.write_text("the payroll file", encoding="utf-8")
    templates = tmp_path / "templates"
    templates.mkdir()
    os.symlink(outside, templates / "body.txt")
    (templates / "subject.txt").write_text("Custom $lead_name", encoding="utf-8")
    chosen = Templates(templates)
    assert chosen.get("body") != "the payroll file" and chosen.get("subject") == "Custom $lead_name"
