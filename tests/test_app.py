"""The application facade: what every command and a server do before their own job."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from sla_engine import app
from sla_engine.config import Config
from tests.engine.test_evaluate import POLICY


def test_the_store_is_beside_policies_named_on_the_command_line_else_where_configured(tmp_path):
    config = Config(policies=tmp_path / "configured" / "policies", base_dir=tmp_path)
    assert app.store_path(config, None, None) == tmp_path / "configured" / "sla-engine.db"
    assert app.store_path(config, tmp_path / "other" / "policies", None) == tmp_path / "other" / "sla-engine.db"
    assert app.store_path(config, tmp_path / "other" / "policies", tmp_path / "x.db") == tmp_path / "x.db"
    configured_db = Config(policies=tmp_path / "policies", db=tmp_path / "state" / "s.db", base_dir=tmp_path)
    assert app.store_path(configured_db, None, None) == tmp_path / "state" / "s.db"


def test_as_of_needs_a_zone_and_defaults_to_now():
    assert app.parse_as_of("2026-10-30T18:00:00Z") == datetime(2026, 10, 30, 18, tzinfo=timezone.utc)
    before = datetime.now(timezone.utc)
    assert before <= app.parse_as_of(None) <= datetime.now(timezone.utc)
    with pytest.raises(app.AsOfError, match="time zone"):
        app.parse_as_of("2026-10-30T18:00:00")
    with pytest.raises(app.AsOfError, match="not an ISO 8601"):
        app.parse_as_of("yesterday")


def test_a_policy_set_with_errors_is_refused_with_every_error_rendered(tmp_path):
    (tmp_path / "good.sla").write_text(POLICY, encoding="utf-8")
    assert app.load_policies(tmp_path / "good.sla").policies
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.sla").write_text(POLICY.replace("calendar ", "calendar_typo ", 1), encoding="utf-8")
    (bad / "b.sla").write_text("policy broken {\n  window w {\n}\n", encoding="utf-8")
    with pytest.raises(app.InvalidPolicies) as refused:
        app.load_policies(bad)
    assert len(refused.value.diagnostics) >= 2
    assert "a.sla:" in refused.value.rendered and "b.sla:" in refused.value.rendered
    assert "^" in refused.value.rendered
    with pytest.raises(app.AppError, match="nowhere"):
        app.load_policies(tmp_path / "nowhere")


def test_a_source_is_a_configured_name_or_type_and_argument(tmp_path):
    config = Config.model_validate({"sources": [{"name": "crm", "type": "csv", "path": str(tmp_path / "e.csv")}],
                                    "base_dir": str(tmp_path)})
    assert [c.name for c in app.sources(config)] == ["crm"]
    assert app.connector(config, f"csv:{tmp_path / 'f.csv'}") is not None
    with pytest.raises(app.AppError, match="neither a configured source"):
        app.connector(config, "nothing")
    with pytest.raises(app.AppError, match="give TYPE:ARG"):
        app.connector(config, "csv")


def test_only_an_existing_store_is_opened_for_reading(tmp_path):
    with pytest.raises(app.AppError, match="no store yet"):
        app.open_existing_store(tmp_path / "sla-engine.db")
    app.open_store(tmp_path / "sla-engine.db").close()
    app.open_existing_store(tmp_path / "sla-engine.db").close()


def test_the_people_file_is_beside_the_policies_unless_named(tmp_path: Path):
    policies = tmp_path / "policies"
    policies.mkdir()
    assert app.people_file(policies) is None
    (policies / "people.json").write_text("[]", encoding="utf-8")
    assert app.people_file(policies) == policies / "people.json"
    (policies / "people.csv").write_text("id,name\n", encoding="utf-8")
    assert app.people_file(policies / "inbound.sla") == policies / "people.csv"
    assert app.people_file(policies, tmp_path / "mine.csv") == tmp_path / "mine.csv"
