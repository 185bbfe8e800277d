"""A small CRM export read by a correct connector (``good``) and by copies of it with one mistake each.

The records are a JSON list of persons and activities, each with an ``id``, a ``lead_id``, a
``kind`` (``person`` or ``activity``), an ``at`` (ISO 8601 with an offset) and an ``updated_at``
the pull reads incrementally by. Push appends status lines to ``status_path``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sla_engine.connector import (
    Connector,
    ConnectorConfig,
    Cursor,
    PullResult,
    PushResult,
    Secret,
    StatusUpdate,
    Update,
    stable_event,
)
from sla_engine.events import EventRow, IdentifierError, event_row
from sla_engine.hookspecs import hookimpl


@dataclass(frozen=True)
class Rejected:
    file: str
    line: int
    reason: str
    raw: dict[str, Any]


class GoodConfig(ConnectorConfig):
    path: Path
    api_token: Secret
    status_path: Path
    windows: tuple[str, ...] = ("first_response",)


class Good(Connector):
    Config = GoodConfig
    streams = ("persons", "activities")
    config: GoodConfig

    def records(self) -> list[dict[str, Any]]:
        self.config.api_token.reveal()  # as a real client would, when it connects
        return json.loads(self.config.path.read_text(encoding="utf-8"))

    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        result = PullResult(items=iter(()))
        result.items = self._read(cursors, until, result)
        return result

    def _read(self, cursors: Mapping[str, Cursor | None], until: datetime, result: PullResult,
              as_rows: bool = False) -> Iterator[Any]:
        records = self.records()
        for stream, kind in (("persons", "person"), ("activities", "activity")):
            since = cursors.get(stream)
            for number, record in enumerate(records, start=1):
                updated = datetime.fromisoformat(record["updated_at"])
                if record["kind"] != kind or updated > until or (since is not None and updated <= since.at):
                    continue
                try:
                    event = self.event(record)
                    yield self.row(record, event) if as_rows else event
                except (ValueError, KeyError, ValidationError, IdentifierError) as error:
                    yield Rejected(str(self.config.path), number, str(error).splitlines()[0], record)
            result.cursors[stream] = self.cursor(until)

    def cursor(self, until: datetime) -> Cursor:
        return Cursor(until)

    def row(self, record: dict[str, Any], event: Any) -> EventRow:
        return event_row(event)

    def key(self, record: dict[str, Any]) -> str:
        return f"{record['kind']}/{record['id']}"

    def occurred_at(self, record: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(record["at"])

    def event(self, record: dict[str, Any]) -> Any:
        if record["kind"] == "person":
            return stable_event(source=self.name, lead_id=record["lead_id"], type="assigned",
                                occurred_at=self.occurred_at(record), key=self.key(record),
                                payload={"owner": record["owner"]})
        return stable_event(source=self.name, lead_id=record["lead_id"], type="activity",
                            occurred_at=self.occurred_at(record), key=self.key(record),
                            payload={"channel": record["channel"], "by": record["by"]})

    def push(self, updates: Sequence[Update]) -> list[PushResult]:
        results = []
        with self.config.status_path.open("a", encoding="utf-8") as out:
            for update in updates:
                results.append(self.write(out, update))
        return results

    def write(self, out: Any, update: Update) -> PushResult:
        if not isinstance(update, StatusUpdate):
            return PushResult(update.key, update.lead_id, ok=False, error="this export takes status only")
        if update.window not in self.config.windows:
            return PushResult(update.key, update.lead_id, ok=True, skipped=True)
        out.write(json.dumps({"lead_id": update.lead_id, "window": update.window, "status": update.status}) + "\n")
        return PushResult(update.key, update.lead_id, ok=True)

    @classmethod
    def takes_actions(cls) -> bool:
        return False


class CursorGoesBackwards(Good):
    """Sets every cursor to a fixed date, so each sync re-reads everything."""

    def cursor(self, until: datetime) -> Cursor:
        return Cursor(datetime.fromisoformat("2020-01-01T00:00:00+00:00"))


class IdsFromThePerson(Good):
    """Builds an activity's key from the person, so a lead's activities share one id."""

    def key(self, record: dict[str, Any]) -> str:
        return f"{record['kind']}/{record['lead_id']}"


class NaiveDatetimes(Good):
    """Drops the offset: every event is refused for a naive datetime and quarantined wholesale."""

    def occurred_at(self, record: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(record["at"]).replace(tzinfo=None)


class PlainSecretConfig(ConnectorConfig):
    path: Path
    api_token: str
    status_path: Path
    windows: tuple[str, ...] = ("first_response",)


class PlainSecret(Good):
    """Takes its API token as a plain string, written in clear in sla-engine.toml."""

    Config = PlainSecretConfig

    def records(self) -> list[dict[str, Any]]:
        return json.loads(self.config.path.read_text(encoding="utf-8"))


class KnowsOneStatus(Good):
    """Writes only breaches and skips every other status without a word."""

    def write(self, out: Any, update: Update) -> PushResult:
        if isinstance(update, StatusUpdate) and update.status != "breached":
            return PushResult(update.key, update.lead_id, ok=True, skipped=True)
        return super().write(out, update)


class OneResultPerBatch(Good):
    """Answers a batch with one result, so the engine cannot tell which update failed."""

    def push(self, updates: Sequence[Update]) -> list[PushResult]:
        super().push(updates)
        return [PushResult(updates[0].key, updates[0].lead_id, ok=True)] if updates else []


class RawRows(Good):
    """Hands the store rows it builds itself (pull_rows) with the lead id as the export has it."""

    def pull_rows(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        result = PullResult(items=iter(()))
        result.items = self._read(cursors, until, result, as_rows=True)
        return result

    def row(self, record: dict[str, Any], event: Any) -> EventRow:
        return event_row(event)._replace(lead_id=record["lead_id"])


CONNECTORS = {"good": Good, "cursor-backwards": CursorGoesBackwards, "ids-from-person": IdsFromThePerson,
              "naive-datetimes": NaiveDatetimes, "plain-secret": PlainSecret, "knows-one-status": KnowsOneStatus,
              "one-result-per-batch": OneResultPerBatch, "raw-rows": RawRows}


@hookimpl
def register_connectors(register: Callable[[str, type], None]) -> None:
    for name, connector in CONNECTORS.items():
        register(name, connector)
