"""CSV connectors: an event log or a CRM export pair in; a status file out (``--push csv:PATH``).

The reading is connectors/csv_source.py's; this module is the configuration and the status
writer (connectors/csv_plugin.py registers them). A CSV file has no "changed since", so a pull
re-reads the whole file and keeps no cursor: stable event ids make the re-read an upsert.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from connectors.csv_source import CsvSourceError, format_timestamp, read_crm_export, read_event_log
from sla_engine.connector import (
    Connector,
    ConnectorConfig,
    ConnectorError,
    Cursor,
    PullResult,
    PushResult,
    StatusUpdate,
    Update,
)

STATUS_COLUMNS = ("lead_id", "policy", "window", "cycle", "tier", "status", "due_at", "breached_at")
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

    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        c = self.config
        source = c.source or self.default_source
        pair = self.files()
        try:
            if pair is not None:
                items = read_crm_export(*pair, source=source, timezone=c.timezone, columns=c.columns)
            else:
                assert c.path is not None
                items = read_event_log(c.path, source=source, timezone=c.timezone, columns=c.columns)
        except CsvSourceError as error:
            raise ConnectorError(f"{self.name}: {error}") from None
        return PullResult(items=self._reading(items))

    def _reading(self, items: Iterator[Any]) -> Iterator[Any]:
        """A file can also fail part-way (bytes that are not UTF-8): say so as a connector error."""
        try:
            yield from items
        except (CsvSourceError, UnicodeDecodeError) as error:
            raise ConnectorError(f"{self.name}: {error}") from None

    def push(self, updates: Sequence[Update]) -> list[PushResult]:
        """Rewrite the file with the current status of every lead and window, atomically."""
        path = self.config.status_path or self.config.path
        if path is None:
            raise ConnectorError(f"{self.name}: give status_path = FILE to write status to")
        if _is_event_log(path):
            raise ConnectorError(f"{self.name}: {path} is an event log, not a status file; "
                                 "give status_path = FILE (or --push csv:OTHER.csv)")
        statuses = [u for u in updates if isinstance(u, StatusUpdate)]
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
        results = [PushResult(u.key, u.lead_id, ok=True, remote_id=str(path)) for u in statuses]
        results += [PushResult(u.key, u.lead_id, ok=False, error="a CSV status file holds SLA status only")
                    for u in updates if not isinstance(u, StatusUpdate)]
        return results


class CrmExportConnector(CsvConnector):
    """``crm-export``: ``path`` names a directory with leads.csv and activities.csv."""

    default_source = "crm-export"
    snapshot_push = False

    def files(self) -> tuple[Path, Path]:
        c = self.config
        directory = c.path or Path(".")
        return c.leads or directory / "leads.csv", c.activities or directory / "activities.csv"

    push = Connector.push  # type: ignore[assignment]  # a CRM export is read-only
