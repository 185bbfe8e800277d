"""A throwaway policy project (policies/, policies/tests/, sla-engine.toml) as the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policytest.helpers import PROJECT_POLICY


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies" / "tests").mkdir(parents=True)
    (tmp_path / "policies" / "inbound.sla").write_text(PROJECT_POLICY, encoding="utf-8")
    (tmp_path / "sla-engine.toml").write_text('policies = "policies"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path
