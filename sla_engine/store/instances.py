"""Window instances (clocks) as the engine last judged them, and the running count per status.

``status_counts`` is kept as instances are written, so a run's summary costs the same whatever
the store's size (a GROUP BY over every instance did not).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sla_engine.engine.status import FINAL_STATUSES
from sla_engine.store.sql import chunks, dict_rows, marks


def _count_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """The status_counts row an instance is counted in."""
    tier = row.get("tier")
    return (row["policy"], row["window"], "-" if tier is None else tier, row["status"])


class Instances:
    """The ``window_instances`` and ``status_counts`` tables."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def save(self, rows_by_lead: dict[str, list[dict[str, Any]]], run_id: int,
             judging: Mapping[tuple[str, str], str] | None = None,
             counts: Counter[tuple[str, str, str, str]] | None = None) -> list[dict[str, Any]]:
        """Upsert each lead's instances; finished ones judged under another policy stay as judged.

        Returns the rows whose status is new (for "new breaches" and "new warnings"), in lead order,
        each with its ``previous_status`` and ``previous_warning_at``. An unchanged row is not
        written again. A stored instance the lead's rows no longer hold is withdrawn when it is open,
        or when it was judged under its window's definition judging now (``judging``: (policy, window)
        → fingerprint): a late event showed the clock never ran. One finished under an earlier
        definition stays as history.

        The running counts change with the instances, here, or in ``counts`` when given, for the
        caller to write with ``add_counts`` just before its commit: processes judging one run side by
        side then hold those shared rows only for the moment of their commit.
        """
        existing: dict[str, dict[str, dict[str, Any]]] = {}
        for chunk in chunks(list(rows_by_lead)):
            for row in dict_rows(self.conn.execute(
                    f"SELECT * FROM window_instances WHERE lead_id IN ({marks(chunk)})", chunk)):
                existing.setdefault(row["lead_id"], {})[row["key"]] = row
        changed: list[dict[str, Any]] = []
        writes: list[dict[str, Any]] = []
        withdrawn: list[tuple[str]] = []
        deferred = counts is not None
        counts = Counter() if counts is None else counts
        for lead_id, rows in rows_by_lead.items():
            before = existing.get(lead_id, {})
            keep = set()
            for row in rows:
                old = before.get(row["key"])
                keep.add(row["key"])
                if old is not None and old["status"] in FINAL_STATUSES and old["policy_hash"] != row["policy_hash"]:
                    continue
                if old is not None and old.get("stopped_at") and old["policy_hash"] != row["policy_hash"]:
                    continue
                record = {**row, "met_late": int(row["met_late"]), "updated_run": run_id,
                          "first_run": old["first_run"] if old else run_id}
                if old is not None and all(old.get(k) == v for k, v in record.items()
                                           if k not in ("updated_run", "first_run")):
                    continue
                writes.append(record)
                if old is not None:
                    counts[_count_key(old)] -= 1
                counts[_count_key(record)] += 1
                changed.append({**record, "previous_status": old["status"] if old else None,
                                "previous_warning_at": old["warning_at"] if old else None})
            for key, old in before.items():
                if key not in keep and (old["status"] not in FINAL_STATUSES
                                        or (judging is not None
                                            and judging.get((old["policy"], old["window"])) == old["policy_hash"])):
                    # An instance the history no longer supports (e.g. a corrected event) is withdrawn.
                    withdrawn.append((key,))
                    counts[_count_key(old)] -= 1
        by_columns: dict[tuple[str, ...], list[list[Any]]] = {}
        for record in writes:
            by_columns.setdefault(tuple(record), []).append(list(record.values()))
        for names, values in by_columns.items():
            columns = ", ".join(f'"{name}"' for name in names)
            updates = ", ".join(f'"{name}" = excluded."{name}"' for name in names if name != "key")
            self.conn.executemany(
                f"INSERT INTO window_instances ({columns}) VALUES ({marks(names)}) "
                f"ON CONFLICT (key) DO UPDATE SET {updates}", values,
            )
        self.conn.executemany("DELETE FROM window_instances WHERE key = ?", withdrawn)
        if not deferred:
            self.add_counts(counts)
        return changed

    def add_counts(self, counts: Counter[tuple[str, str, str, str]]) -> None:
        """Add changes to the running counts, in key order: two processes adding at once lock the rows
        they share in the same order, so neither waits on the other in a cycle."""
        changes = sorted((key, n) for key, n in counts.items() if n)
        self.conn.executemany(
            'INSERT INTO status_counts (policy, "window", tier, status, n) VALUES (?, ?, ?, ?, ?) '
            'ON CONFLICT (policy, "window", tier, status) DO UPDATE SET n = status_counts.n + excluded.n',
            [(*key, n) for key, n in changes],
        )
        self.conn.executemany(
            'DELETE FROM status_counts WHERE policy = ? AND "window" = ? AND tier = ? AND status = ? AND n = 0',
            [key for key, _ in changes],
        )

    def rows(self, lead_id: str | None = None) -> list[dict[str, Any]]:
        """Every instance (or one lead's), in key order."""
        if lead_id is None:
            return dict_rows(self.conn.execute("SELECT * FROM window_instances ORDER BY key"))
        return dict_rows(self.conn.execute("SELECT * FROM window_instances WHERE lead_id = ? ORDER BY key",
                                           (lead_id,)))

    def status_counts(self) -> dict[tuple[str, str, str, str], int]:
        """How many clocks are in each (policy, window, tier or "-", status), as kept by ``save``."""
        rows = self.conn.execute('SELECT policy, "window", tier, status, n FROM status_counts')
        return {(policy, window, tier, status): n for policy, window, tier, status, n in rows}

    def timing(self, key: str) -> dict[str, Any] | None:
        """An instance's due, status and stop as stored now, or None when it was withdrawn."""
        found = self.conn.execute(
            "SELECT due_at, status, stopped_at FROM window_instances WHERE key = ?", (key,)).fetchone()
        return {"due_at": found[0], "status": found[1], "stopped_at": found[2]} if found else None
