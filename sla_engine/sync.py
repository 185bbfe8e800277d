"""Sync: pull each source from its stored cursors, and push SLA status back to a target.

A pull starts ``lookback_seconds`` before each stored cursor (writes committed late are read
again; event ids make that harmless) and never reads, nor moves a cursor, past the run's start.
The new cursors are written by ``Pull.save`` in the transaction that stores the events, so a
crash between pulling and committing leaves both as they were and the rerun pulls again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sla_engine.connector import (
    Connector,
    ConnectorError,
    Cursor,
    Owner,
    PullResult,
    PushResult,
    StatusUpdate,
    Update,
    fingerprint,
)
from sla_engine.events import EventRow, LeadEvent, event_row
from sla_engine.store.db import Store
from sla_engine.store.events import EVENT_BATCH

UTC = timezone.utc
log = logging.getLogger(__name__)
Item = Any  # LeadEvent, EventRow or a source's Rejected row


@dataclass
class SourceCounts:
    name: str
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    new_events: int = 0
    conflicts: int = 0
    """Quarantined events whose id an earlier event of the same read already had (also in ``quarantined``)."""

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.name, "read": self.read, "accepted": self.accepted,
                "quarantined": self.quarantined, "new_events": self.new_events, "conflicts": self.conflicts}


def ingest(store: Store, name: str, items: Iterable[Item], run_id: int | None) -> SourceCounts:
    """Store a source's events; quarantine what cannot be read. read == accepted + quarantined.

    An item is a LeadEvent, an EventRow (an event its source has already put in the store's shape)
    or a row that could not be read. ``run_id`` is None for ``sla-engine sync``, which stores events
    outside an evaluate run. Two events under one id with different content (a source building ids
    from the wrong fields) keep the first; the other is quarantined and counted as a conflict.
    """
    counts = SourceCounts(name)
    session = store.events.begin_ingest()
    accepted: list[EventRow] = []

    def store_accepted() -> None:
        done = store.events.upsert_rows(accepted, run_id, session)
        counts.accepted += len(accepted) - len(done.conflicts)
        counts.new_events += done.written
        for kept, refused in done.conflicts:
            counts.quarantined += 1
            counts.conflicts += 1
            store.quarantine.keep(name, None, None, conflict_reason(kept, refused), refused._asdict(), run_id)
        accepted.clear()

    for item in items:
        if isinstance(item, EventRow):
            accepted.append(item)
        elif isinstance(item, LeadEvent):
            accepted.append(event_row(item))
        else:
            counts.quarantined += 1
            store.quarantine.keep(name, str(getattr(item, "file", "")), getattr(item, "line", None),
                             item.reason, dict(getattr(item, "raw", {})), run_id)
            continue
        if len(accepted) == EVENT_BATCH:
            store_accepted()
    store_accepted()
    counts.read = counts.accepted + counts.quarantined  # every item is one or the other
    return counts


def conflict_reason(kept: EventRow, refused: EventRow) -> str:
    """Why an event was refused: its id was already given to another fact in the same read."""
    differs = [f for f in EventRow._fields[1:] if getattr(kept, f) != getattr(refused, f)]
    return (f"event id {refused.event_id} was already read with a different {', '.join(differs)} "
            f"(lead {kept.lead_id}, {kept.type} at {kept.occurred_at}); the first was kept. Two facts share one "
            "id: build the id from the record's own identity (an activity's id, not the person's)")


def start_cursors(stored: Mapping[str, Cursor | None], streams: Iterable[str],
                  lookback: timedelta) -> dict[str, Cursor | None]:
    """Where each stream's pull starts: the stored cursor less the lookback (None: from the beginning)."""
    since: dict[str, Cursor | None] = {}
    for stream in streams:
        cursor = stored.get(stream)
        if cursor is not None and lookback > timedelta(0):
            cursor = Cursor(cursor.at - lookback)  # the id tiebreak means nothing once we step back
        since[stream] = cursor
    return since


class Pull:
    """One source's pull in one run: iterate it to ingest, then ``save`` its cursors.

    Nothing is fetched until iteration starts, so the network work happens inside the
    run's lock and transaction.
    """

    def __init__(self, store: Store, connector: Connector, until: datetime) -> None:
        self.connector = connector
        self.name = connector.name
        self.until = until.astimezone(UTC)
        lookback = timedelta(seconds=connector.config.lookback_seconds)
        self.since = start_cursors(store.sync_state.cursors(self.name), connector.streams, lookback)
        self.result: PullResult | None = None
        self.count = 0
        self.owners: list[Owner] | None = None
        self.owners_error: str | None = None
        self.progress: Callable[[int, int | None], None] | None = None
        """Told how many rows were read so far (and no total), as they are read: a terminal's bar."""

    def __iter__(self) -> Iterator[Any]:
        self.result = self.connector.pull_rows(self.since, self.until)
        progress = self.progress
        for item in self.result.items:
            self.count += 1
            if progress is not None:
                progress(self.count, None)
            yield item
        if progress is not None:
            progress(self.count, self.count)  # read to the end: the bar shows the whole count, not its last redraw
        if self.result.stopped is None:
            try:
                self.owners = self.connector.pull_owners()
            except ConnectorError as error:  # the events stand; the owners read last time stay
                self.owners_error = str(error)
                log.warning("%s: owners not read: %s", self.name, error)

    @property
    def stopped(self) -> str | None:
        return self.result.stopped if self.result else None

    def new_cursors(self) -> dict[str, Cursor]:
        """The cursors to store: never past the run's start."""
        if self.result is None:
            return {}
        capped = {}
        for stream, cursor in self.result.cursors.items():
            capped[stream] = cursor if cursor.at <= self.until else Cursor(self.until)
        return capped

    def save(self, store: Store) -> None:
        """Advance the cursors and replace the owners; call in the transaction that stored this pull's events."""
        store.sync_state.save_cursors(self.name, self.new_cursors())
        if self.owners is not None:
            store.owners.replace(self.name, self.owners)


def open_pulls(store: Store, connectors: Sequence[Connector], until: datetime) -> list[Pull]:
    return [Pull(store, connector, until) for connector in connectors]


@dataclass
class SyncSummary:
    name: str
    counts: dict[str, Any]
    cursors: dict[str, str]
    stopped: str | None
    owners: int | None = None
    """Users and queues read from the source; None when it has none (or they could not be read)."""
    owners_error: str | None = None


def sync_sources(store: Store, connectors: Sequence[Connector], until: datetime,
                 progress: Any = None) -> list[SyncSummary]:
    """Pull every source into the store, one transaction for all (``sla-engine sync``)."""
    summaries = []
    with store.transaction():
        for pull in open_pulls(store, connectors, until):
            items: Iterable[Any] = pull if progress is None else progress(pull)
            counts = ingest(store, pull.name, items, None)
            pull.save(store)
            summaries.append(SyncSummary(pull.name, counts.as_dict(),
                                         {s: c.dump() for s, c in pull.new_cursors().items()}, pull.stopped,
                                         len(pull.owners) if pull.owners is not None else None, pull.owners_error))
    return summaries


# ---------------------------------------------------------------- push


def status_updates(store: Store, overlay: Iterable[dict[str, Any]] = ()) -> list[StatusUpdate]:
    """The current status of each lead, policy and window (latest cycle), from the store.

    ``overlay`` holds instance rows not committed (a dry run's), which win over the store's.
    """
    rows: dict[str, dict[str, Any]] = {row["key"]: row for row in store.instances.rows()}
    for row in overlay:
        rows[row["key"]] = row
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows.values():
        ident = (row["lead_id"], row["policy"], row["window"])
        if ident not in latest or row["cycle"] > latest[ident]["cycle"]:
            latest[ident] = row
    return [
        StatusUpdate(
            lead_id=row["lead_id"], policy=row["policy"], window=row["window"], cycle=row["cycle"],
            tier=row.get("tier"), status=row["status"], due_at=_time(row.get("due_at")),
            breached_at=_time(row.get("breached_at")),
        )
        for _, row in sorted(latest.items())
    ]


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def update_key(update: Update) -> str:
    return update.key


@dataclass
class PushReport:
    target: str
    planned: list[Update] = field(default_factory=list)
    results: list[PushResult] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> int:
        """Updates written (accepted and not skipped)."""
        return sum(1 for r in self.results if r.ok and not r.skipped)

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.results if r.skipped)

    @property
    def failed(self) -> list[PushResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> dict[str, Any]:
        return {"target": self.target, "planned": len(self.planned), "written": self.ok,
                "skipped": self.skipped, "failed": len(self.failed), "dry_run": self.dry_run,
                "errors": [{"key": r.key, "lead_id": r.lead_id, "error": r.error} for r in self.failed]}


def plan_push(store: Store, target: Connector, updates: Sequence[Update]) -> list[Update]:
    """What must be sent: everything for a snapshot target, else only what changed since the last push."""
    if target.snapshot_push:
        return list(updates)
    done = store.sync_state.pushed(target.name)
    return [u for u in updates if done.get(update_key(u)) != fingerprint(u)]


def push_updates(store: Store, target: Connector, updates: Sequence[Update], *, dry_run: bool = False) -> PushReport:
    """Send the changed updates and remember those the target accepted."""
    report = PushReport(target.name, plan_push(store, target, updates), dry_run=dry_run)
    if dry_run or not report.planned:
        return report
    by_key = {update_key(u): u for u in report.planned}
    results = list(target.push(report.planned))
    report.results = results
    if not target.snapshot_push:
        with store.transaction():
            store.sync_state.record_pushed(target.name, [
                (r.key, fingerprint(by_key[r.key]), r.remote_id) for r in results if r.ok and r.key in by_key
            ])
    return report
