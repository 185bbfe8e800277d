"""Leads: each lead's folded state, whether it must be judged again, and its funnel stage entries.

A lead is marked dirty when one of its events is new or changed (``Events`` does that as it
stores them) and clean when a run saves its state; a run judges the dirty leads and those whose
next check has come (``Worklist.select_due``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sla_engine.events import payload_text
from sla_engine.store.sql import chunks, iso, marks

_state_text = payload_text  # lead state is written as payloads are: sorted keys, str() for the rest


class Leads:
    """The ``leads`` and ``stage_entries`` tables."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def mark_dirty(self, lead_ids: Iterable[str]) -> None:
        """These leads must be judged again (a lead first seen is added)."""
        self.conn.executemany(
            "INSERT INTO leads (lead_id, dirty) VALUES (?, 1) "
            "ON CONFLICT (lead_id) DO UPDATE SET dirty = 1",
            ((lead_id,) for lead_id in lead_ids),
        )

    def save(self, leads: Iterable[tuple[str, dict[str, Any], datetime | None]], run_id: int) -> None:
        """Each lead's state and next check, marked clean: (lead_id, state, next_check) triples."""
        self.conn.executemany(
            "INSERT INTO leads (lead_id, state, dirty, next_check_at, evaluated_run) VALUES (?, ?, 0, ?, ?) "
            "ON CONFLICT (lead_id) DO UPDATE SET state = excluded.state, dirty = 0, "
            "next_check_at = excluded.next_check_at, evaluated_run = excluded.evaluated_run",
            ((lead_id, _state_text(state), iso(next_check) if next_check else None,
              run_id) for lead_id, state, next_check in leads),
        )

    def save_stage_entries(self, entries_by_lead: dict[str, list[tuple[str, datetime]]]) -> None:
        """Replace each lead's stage entries with those its whole history gives."""
        for chunk in chunks(list(entries_by_lead)):
            self.conn.execute(f"DELETE FROM stage_entries WHERE lead_id IN ({marks(chunk)})", chunk)
        self.conn.executemany(
            "INSERT INTO stage_entries (lead_id, stage, entered_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            ((lead_id, stage, iso(entered_at))
             for lead_id, entries in entries_by_lead.items() for stage, entered_at in entries),
        )

    def state(self, lead_id: str) -> dict[str, Any]:
        """A lead's current fields as the last run folded them (empty for a lead never judged)."""
        row = self.conn.execute("SELECT state FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}
