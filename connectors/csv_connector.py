"""CSV connectors: an event log or a CRM export pair in; a status file and an actions file out.

The reading is connectors/csv_source.py's; this module is the configuration and the writers
(connectors/csv_plugin.py registers them). A CSV file has no "changed since", so a pull
re-reads the whole file and keeps no cursor: stable event ids make the re-read an upsert.

Status is a snapshot (``--push csv:PATH`` rewrites the file atomically). Reassignments, tasks
and field changes from escalations are appended to an actions file, one row per outbox key,
for a person or an import job to carry into the CRM.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from connectors.csv_source import CsvSourceError, read_crm_export, read_event_log
from connectors.csv_writer import format_timestamp
from sla_engine.connector import (
    Connector,
    ConnectorConfig,
    ConnectorError,
    Cursor,
    FieldChange,
    OwnerChange,
    PullResult,
    PushResult,
    StatusUpdate,
    TaskRequest,
    Update,
)

STATUS_COLUMNS = ("lead_id", "policy", "window", "cycle", "tier", "status", "due_at", "breached_at")
ACTION_COLUMNS = ("key", "lead_id", "action", "owner", "field", "value", "subject", "description", "due_at",
                  "written_at")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CsvConfig(ConnectorConfig):
    path: Path | None = None
    """The event log; for crm-export, the directory holding leads.csv and activities.csv."""
    leads: Path | None = None
    activities: Path | None = None
    source: str | None = None
    """The events' source name (default: the connector type), part of each event's id."""
    timezone: str | None = None
    """The zone of timestamps written without an offset."""
    columns: dict[str, str] | None = Field(default=None)
    """Our column name -> the file's header, for files with other names."""
    status_path: Path | None = None
    """Where push writes status (default: path, for ``--push csv:PATH``)."""
    actions_path: Path | None = None
    """Where reassignments, tasks and field changes are appended (default: NAME.actions.csv beside path)."""

    @model_validator(mode="after")
    def _located(self) -> CsvConfig:
        if self.path is None and (self.leads is None or self.activities is None):
            raise ValueError('give path = "FILE" (or a directory for crm-export), or both leads and activities')
        return self


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ tab or CR would make it a formula."""
    text = "" if value is None else format_timestamp(value) if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _is_event_log(path: Path) -> bool:
    """Never overwrite an input: a file whose header has occurred_at is an event log."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError):
        return False
    return "occurred_at" in header


class CsvConnector(Connector):
    """``csv``: an event log (``path``), or a CRM export pair (``leads`` + ``activities``)."""

    Config = CsvConfig
    streams: ClassVar[tuple[str, ...]] = ()
    target_option = "path"
    snapshot_push = True
    config: CsvConfig
    default_source: ClassVar[str] = "csv"

    def files(self) -> tuple[Path, Path] | None:
        """The leads and activities files, when this instance reads a CRM export."""
        if self.config.leads is not None and self.config.activities is not None:
            return self.config.leads, self.config.activities
        return None

    def check(self) -> str:
        """`sla-engine doctor`'s call: the files are there and readable; nothing is read into the store."""
        paths = [p for p in (self.config.path, self.config.leads, self.config.activities) if p is not None]
        for path in paths:
            if not path.exists():
                raise ConnectorError(f"{path}: no such file or directory")
            if path.is_file():
                path.open("rb").close()
        return "readable: " + ", ".join(str(p) for p in paths)

    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        return self._pull(rows=False)

    def pull_rows(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        """An event log's ordinary rows come as EventRows: a large file is stored without a LeadEvent a row."""
        return self._pull(rows=True)

    def _pull(self, *, rows: bool) -> PullResult:
        c = self.config
        source = c.source or self.default_source
        pair = self.files()
        try:
            if pair is not None:
                items = read_crm_export(*pair, source=source, timezone=c.timezone, columns=c.columns)
            else:
                assert c.path is not None
                items = read_event_log(c.path, source=source, timezone=c.timezone, columns=c.columns, rows=rows)
        except CsvSourceError as error:
            raise ConnectorError(f"{self.name}: {error}") from None
        return PullResult(items=self._reading(items))

    def _reading(self, items: Iterator[Any]) -> Iterator[Any]:
        """A file can also fail part-way (bytes that are not UTF-8): say so as a connector error."""
        try:
            yield from items
        except (CsvSourceError, UnicodeDecodeError) as error:
            raise ConnectorError(f"{self.name}: {error}") from None

    @classmethod
    def takes_actions(cls) -> bool:
        return True  # they go to the actions file, apart from the status snapshot

    def event_source(self) -> str:
        return self.config.source or self.default_source

    def push(self, updates: Sequence[Update]) -> list[PushResult]:
        """Status rewrites the status file; actions are appended to the actions file."""
        statuses = [u for u in updates if isinstance(u, StatusUpdate)]
        actions = [u for u in updates if not isinstance(u, StatusUpdate)]
        results = self._write_statuses(statuses) if statuses or not actions else []
        return results + (self._append_actions(actions) if actions else [])

    def actions_file(self) -> Path:
        c = self.config
        if c.actions_path is not None:
            return c.actions_path
        if c.path is not None and c.leads is None:
            return c.path.with_name(f"{c.path.stem}.actions.csv")
        assert c.leads is not None
        return c.leads.with_name("actions.csv")

    def _append_actions(self, actions: list[Update]) -> list[PushResult]:
        """One row per key, ever: a resend after an interrupted delivery finds its row and writes nothing."""
        path = self.actions_file()
        if _is_event_log(path):
            raise ConnectorError(f"{self.name}: {path} is an event log; give actions_path = FILE")
        path.parent.mkdir(parents=True, exist_ok=True)
        written = _complete_rows(path)
        fresh = [a for a in actions if a.key not in written]
        with path.open("a", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            if not written and out.tell() == 0:
                writer.writerow(ACTION_COLUMNS)
            now = datetime.now(UTC)
            for action in dict((a.key, a) for a in fresh).values():
                row = _action_row(action) | {"key": action.key, "lead_id": action.lead_id, "written_at": now}
                # One physical line a row, so a row cut short by a crash is found by its missing newline.
                writer.writerow([" ".join(safe_cell(row.get(column)).splitlines()) for column in ACTION_COLUMNS])
            out.flush()
            os.fsync(out.fileno())
        return [PushResult(a.key, a.lead_id, ok=True, remote_id=str(path)) for a in actions]

    def _write_statuses(self, statuses: list[StatusUpdate]) -> list[PushResult]:
        """Rewrite the file with the current status of every lead and window, atomically."""
        path = self.config.status_path or self.config.path
        if path is None:
            raise ConnectorError(f"{self.name}: give status_path = FILE to write status to")
        if _is_event_log(path):
            raise ConnectorError(f"{self.name}: {path} is an event log, not a status file; "
                                 "give status_path = FILE (or --push csv:OTHER.csv)")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(STATUS_COLUMNS)
                for update in statuses:
                    writer.writerow([safe_cell(getattr(update, column)) for column in STATUS_COLUMNS])
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return [PushResult(u.key, u.lead_id, ok=True, remote_id=str(path)) for u in statuses]


def _action_row(action: Update) -> dict[str, Any]:
    if isinstance(action, OwnerChange):
        return {"action": "reassign", "owner": action.owner}
    if isinstance(action, TaskRequest):
        return {"action": "task", "owner": action.owner, "subject": action.subject,
                "description": action.description, "due_at": action.due_at}
    assert isinstance(action, FieldChange)
    return {"action": "set", "field": action.field, "value": action.value}


def _complete_rows(path: Path) -> set[str]:
    """The keys already written; a row cut short by a crash (no final newline) is removed first.

    That row was never acknowledged, so delivery sends it again and it is written whole.
    """
    if not path.exists():
        return set()
    with path.open("rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            handle.truncate(end)
            data = data[:end]
    rows = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    return {row["key"] for row in rows if row.get("key")}


class CrmExportConnector(CsvConnector):
    """``crm-export``: ``path`` names a directory with leads.csv and activities.csv."""

    default_source = "crm-export"
    snapshot_push = False

    def files(self) -> tuple[Path, Path]:
        c = self.config
        directory = c.path or Path(".")
        return c.leads or directory / "leads.csv", c.activities or directory / "activities.csv"

    push = Connector.push  # type: ignore[assignment]  # a CRM export is read-only
