"""Clock and target statuses: named once, spelled in files and output as they always were."""

from __future__ import annotations

import json
import sqlite3

from sla_engine.engine.status import FINAL_STATUSES, OPEN_STATUSES, ClockStatus, TargetStatus


def test_a_status_is_its_word_in_json_sqlite_and_text():
    assert json.dumps([ClockStatus.NOT_APPLICABLE, TargetStatus.ON_TARGET]) == '["not_applicable", "on target"]'
    conn = sqlite3.connect(":memory:")
    (stored,) = conn.execute("SELECT ?", (ClockStatus.BREACHED,)).fetchone()
    assert stored == "breached" and type(stored) is str and ClockStatus(stored) is ClockStatus.BREACHED
    assert f"{TargetStatus.AT_RISK}" == "at risk"


def test_every_clock_status_is_open_final_or_breached():
    assert set(OPEN_STATUSES) | set(FINAL_STATUSES) | {ClockStatus.BREACHED} == set(ClockStatus)
    assert not set(OPEN_STATUSES) & set(FINAL_STATUSES)
