"""A JSON Lines connector for sla-engine: one lead event per line, read incrementally by updated_at.

Each line: {"lead_id", "type", "occurred_at", "updated_at", "payload", "id"}. A line that is not
such an event becomes a rejection with its line number, so the engine quarantines it.
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
    StatusUpdate,
    Update,
    stable_event,
)
from sla_engine.hookspecs import hookimpl


@dataclass(frozen=True)
class Rejected:
    file: str
    line: int
    reason: str
    raw: dict[str, Any]


class JsonlConfig(ConnectorConfig):
    path: Path
    status_path: Path | None = None


class JsonlConnector(Connector):
    Config = JsonlConfig
    streams = ("events",)
    target_option = "path"
    config: JsonlConfig

    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        result = PullResult(items=iter(()))
        result.items = self._read(cursors.get("events"), until, result)
        return result

    def _read(self, since: Cursor | None, until: datetime, result: PullResult) -> Iterator[Any]:
        with self.config.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    updated = datetime.fromisoformat(row["updated_at"])
                    if updated > until or (since is not None and updated < since.at):
                        continue
                    yield stable_event(source=self.name, lead_id=row["lead_id"], type=row["type"],
                                       occurred_at=datetime.fromisoformat(row["occurred_at"]),
                                       key=str(row["id"]), payload=row.get("payload") or {})
                except (ValueError, KeyError, TypeError, ValidationError) as error:
                    reason = str(error).splitlines()[0]
                    yield Rejected(str(self.config.path), number, reason, {"line": line.strip()})
        result.cursors["events"] = Cursor(until)

    @classmethod
    def takes_actions(cls) -> bool:
        return False  # a status log: escalation actions stay recorded in sla-engine only

    def push(self, updates: Sequence[Update]) -> list[PushResult]:
        target = self.config.status_path or self.config.path.with_suffix(".status.jsonl")
        results = []
        with target.open("a", encoding="utf-8") as out:
            for update in updates:
                if not isinstance(update, StatusUpdate):
                    results.append(PushResult(update.key, update.lead_id, ok=False, error="status only"))
                    continue
                out.write(json.dumps({"lead_id": update.lead_id, "window": update.window,
                                      "status": update.status, "due_at": str(update.due_at)}) + "\n")
                results.append(PushResult(update.key, update.lead_id, ok=True))
        return results


@hookimpl
def register_connectors(register: Callable[[str, type], None]) -> None:
    register("jsonl", JsonlConnector)
