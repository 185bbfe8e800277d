"""Write lead events as an event log, the CSV format ``csv_source.read_event_log`` reads back.

Every value goes in the cell that reads back as exactly that value, or else in the row's payload
JSON, so a written log reads back as the same events (tests/connectors/test_csv_source.py).
The format is described in docs/events.md.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from connectors.csv_source import (
    FOLDED_KEY,
    IDENTITY_COLUMNS,
    PAYLOAD_COLUMNS,
    PAYLOAD_JSON,
    STANDARD_ATTRIBUTE_COLUMNS,
)
from sla_engine.events import CHOICE_FIELDS, STANDARD_FIELDS, EventType, LeadEvent

__all__ = ["EventLogWriter", "event_log_columns", "format_timestamp", "write_event_log"]

_NOT_FIELDS = frozenset((*IDENTITY_COLUMNS, PAYLOAD_JSON))


def event_log_columns(attributes: Sequence[str] = ()) -> tuple[str, ...]:
    """The writer's header: identity, each type's payload columns, lead fields, then the payload JSON."""
    columns = list(IDENTITY_COLUMNS)
    for name in (*(c for cs in PAYLOAD_COLUMNS.values() for c in cs), *STANDARD_ATTRIBUTE_COLUMNS, *attributes):
        if name not in columns and name != PAYLOAD_JSON:
            columns.append(name)
    columns.append(PAYLOAD_JSON)
    return tuple(columns)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 with its offset; UTC as Z."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _cell(value: Any, kind: str) -> str | None:
    """The cell that reads back as exactly `value` for a column of this kind, or None if there is none."""
    if kind in ("text", "choice"):
        if type(value) is not str or not value or value != value.strip() or "\r" in value or "\x00" in value:
            return None  # the reader strips cells, reads an empty one as "not given", and ends a line at \r
        return value if kind == "text" or value == value.lower() else None
    if kind == "number" and type(value) in (int, float) and math.isfinite(value):
        return repr(value)
    if kind == "float" and type(value) is float:
        return repr(value)  # a payload amount: pydantic reads 'inf' back as inf
    if kind == "boolean" and type(value) is bool:
        return "true" if value else "false"
    return None


_PAYLOAD_KINDS: dict[str, str] = {"amount": "float", "won": "boolean", **dict.fromkeys(CHOICE_FIELDS, "choice")}


class EventLogWriter:
    """Writes events as event log rows one at a time, so a generator can stream millions of them.

    A value that would not read back identically from a cell (a non-standard attribute, a number
    in a text column, surrounding spaces, None in `attributes`) goes in the payload JSON column.
    """

    def __init__(self, handle: TextIO, attributes: Sequence[str] = ()) -> None:
        self.columns = event_log_columns(attributes)
        self._attribute_columns = frozenset(self.columns) - _NOT_FIELDS
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(self.columns)

    def write(self, event: LeadEvent) -> None:
        self.write_raw(self.row(event))

    def write_raw(self, row: Mapping[str, str]) -> None:
        """A row as given (e.g. a deliberately broken one); keys must be columns of this log."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"not columns of this event log: {', '.join(sorted(unknown))}")
        self._writer.writerow([row.get(name, "") for name in self.columns])

    def row(self, event: LeadEvent) -> dict[str, str]:
        type_ = EventType(event.type)
        row = {"event_id": event.event_id, "lead_id": event.lead_id,
               "occurred_at": format_timestamp(event.occurred_at), "type": str(type_)}
        extra: dict[str, Any] = {}
        folded = FOLDED_KEY.get(type_)
        for name, value in event.payload.items():
            if name == folded and isinstance(value, dict):
                rest = self._fields_into(row, value)
                if rest or (not value and type_ is EventType.UPDATED):
                    extra[name] = rest  # an empty `changes` is said explicitly, or it reads as a mistake
            elif name in PAYLOAD_COLUMNS.get(type_, ()):
                if value is None:
                    continue  # an empty cell reads back as the model's default, None
                cell = _cell(value, _PAYLOAD_KINDS.get(name, "text"))
                if cell is None:
                    extra[name] = value
                else:
                    row[name] = cell
            else:
                extra[name] = value
        if extra:
            row[PAYLOAD_JSON] = json.dumps(extra, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return row

    def _fields_into(self, row: dict[str, str], fields: Mapping[str, Any]) -> dict[str, Any]:
        """Put each lead field in its column when it reads back the same; return the rest."""
        rest = {}
        for name, value in fields.items():
            cell = None
            if name in self._attribute_columns:
                kind = STANDARD_FIELDS.get(name, "text")
                cell = _cell(value, kind) if kind != "timestamp" else None
            if cell is None:
                rest[name] = value
            else:
                row[name] = cell
        return rest


def write_event_log(events: Iterable[LeadEvent], path: str | Path, *, attributes: Sequence[str] = ()) -> int:
    """Write events in the event log format read_event_log reads; returns the number of rows.

    `attributes` adds columns for non-standard lead fields (they would otherwise go in the JSON).
    """
    count = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = EventLogWriter(handle, attributes)
        for event in events:
            writer.write(event)
            count += 1
    return count
