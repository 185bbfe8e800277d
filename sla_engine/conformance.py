"""The connector conformance kit: what every connector must do, as tests its author runs.

Subclass ``ConnectorConformance`` in your plugin's tests, set ``connector_type`` to the name
your plugin registers and give an ``options`` fixture that points the connector at a test
system holding a few leads (a fake server, a fixture file) whose records are all readable.
pytest then runs every check below against your connector, installed and loaded through its
entry point::

    from sla_engine.conformance import ConnectorConformance

    class TestMyConnector(ConnectorConformance):
        connector_type = "pipedrive"

        @pytest.fixture
        def options(self, tmp_path):
            return {"api_token": {"env": "PIPEDRIVE_TOKEN"}, "base_url": start_fake(tmp_path)}

Each check fails with what to fix. The fixtures a test class may override are ``options``
(required), ``until`` (the run's start: now, unless the test data lies in the future),
``status_window`` (the window push is given, one the options map to a field) and
``messy_options`` (data whose lead ids carry a BOM, spaces or a control character; skipped
when not given). Imports pytest: use it from tests only (docs/connectors.md).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

import pytest

from sla_engine.connector import (
    Connector,
    ConnectorConfigError,
    Cursor,
    FieldChange,
    OwnerChange,
    Secret,
    StatusUpdate,
    TaskRequest,
    Update,
)
from sla_engine.engine.status import ClockStatus
from sla_engine.events import EventRow, IdentifierError, LeadEvent, event_row, normalize_identifier
from sla_engine.plugins import connectors, loaded_plugins, reset
from sla_engine.store.db import Store
from sla_engine.sync import push_updates, sync_sources

SECRET_PROBE = "conformance-s3cr3t-do-not-echo"
STATUSES = tuple(ClockStatus)
"""Every status a StatusUpdate may carry."""
RUNNING, BREACHED, NOT_APPLICABLE = ClockStatus.RUNNING, ClockStatus.BREACHED, ClockStatus.NOT_APPLICABLE
# Option names that hold a credential: declared as str they would sit in sla-engine.toml in clear.
CREDENTIAL_NAME = re.compile(r"(^|_)(token|secret|password|passwd|api_?key|private_?key|credentials?)($|_)", re.I)


def _is_secret(annotation: Any) -> bool:
    return annotation is Secret or Secret in get_args(annotation)


def _rows(items: list[Any]) -> list[EventRow]:
    return [event_row(i) if isinstance(i, LeadEvent) else i for i in items if isinstance(i, LeadEvent | EventRow)]


def _rejections(items: list[Any]) -> list[Any]:
    return [i for i in items if not isinstance(i, LeadEvent | EventRow)]


class ConnectorConformance:
    """Checks for one connector type. Override ``options`` (and ``until`` if your data is in the future)."""

    connector_type: str = ""
    """The type name your plugin registers (``register("pipedrive", ...)``)."""

    @pytest.fixture
    def options(self) -> dict[str, Any]:
        """Required: the ``[[sources]]`` options (less name and type) for readable test data (a fake's URL)."""
        raise NotImplementedError("give an options fixture that points the connector at test data")

    @pytest.fixture
    def until(self) -> datetime:
        """The run's start: pulls read nothing after it. Now; later than your test data's times."""
        return datetime.now(timezone.utc)

    @pytest.fixture
    def status_window(self) -> str:
        """The window the push checks send status for: one your ``options`` map to a field."""
        return "first_response"

    @pytest.fixture
    def messy_options(self) -> dict[str, Any] | None:
        """Options whose test data has lead ids with a BOM, surrounding spaces and a control character inside."""
        return None

    @pytest.fixture
    def connector_class(self) -> type[Connector]:
        """Your class, as the installed plugin registers it (the plugins are loaded afresh)."""
        reset()
        registry = connectors()
        assert self.connector_type in registry, (
            f"no connector {self.connector_type!r} registered; is the plugin installed with an "
            f"entry point in group 'sla_engine'? registered: {sorted(registry)}"
        )
        return registry[self.connector_type]

    @pytest.fixture
    def connector(self, connector_class: type[Connector], options: dict[str, Any]) -> Connector:
        """An instance named ``conformance``, configured with ``options``."""
        return connector_class.configure("conformance", options)

    def pull(self, connector: Connector, until: datetime,
             cursors: dict[str, Cursor | None] | None = None) -> tuple[list[Any], Any]:
        """Pull (from the beginning, unless ``cursors``) and read every item: (items, PullResult)."""
        result = connector.pull(cursors if cursors is not None else dict.fromkeys(connector.streams), until)
        items = list(result.items)
        return items, result

    # ------------------------------------------------------------ registration and configuration
    def test_is_registered_by_an_installed_distribution(self, connector_class: type[Connector]) -> None:
        """The connector loads through an entry point of an installed package, as users will load it."""
        assert issubclass(connector_class, Connector)
        registering = [p for p in loaded_plugins() if "register_connectors" in p.hooks]
        assert any(p.distribution for p in registering), "register through an entry point of an installed package"

    def test_configuration_rejects_unknown_options(self, connector_class: type[Connector],
                                                   options: dict[str, Any]) -> None:
        """A misspelt option is an error, not silently ignored."""
        with pytest.raises(ConnectorConfigError):
            connector_class.configure("conformance", {**options, "no_such_option_for_conformance": 1})

    def test_credentials_are_declared_as_secrets(self, connector_class: type[Connector],
                                                 options: dict[str, Any]) -> None:
        """A token declared ``str`` is written in clear in sla-engine.toml and printed with the config."""
        plain = [name for name, field in connector_class.Config.model_fields.items()
                 if CREDENTIAL_NAME.search(name) and not _is_secret(field.annotation)]
        plain += [name for name, value in options.items()
                  if isinstance(value, str) and CREDENTIAL_NAME.search(name) and name not in plain]
        assert not plain, (
            f"option(s) {', '.join(plain)} hold a credential but are not declared as sla_engine.connector.Secret: "
            f"declare `{plain[0]}: Secret` so a configuration can only say where it is "
            '({env = "VAR"} or {file = "PATH"}), and call .reveal() when connecting'
        )

    def test_secrets_are_references_and_never_echoed(self, connector_class: type[Connector],
                                                     options: dict[str, Any]) -> None:
        """A secret given literally is refused without being repeated, and never appears in the config's repr."""
        secrets = [name for name, field in connector_class.Config.model_fields.items() if _is_secret(field.annotation)]
        if not secrets:
            pytest.skip("this connector takes no secret (and no option is named like one)")
        for name in secrets:
            with pytest.raises(ConnectorConfigError) as raised:
                connector_class.configure("conformance", {**options, name: SECRET_PROBE})
            assert SECRET_PROBE not in str(raised.value)
        assert SECRET_PROBE not in repr(connector_class.configure("conformance", options).config)

    # ------------------------------------------------------------ pulling
    def test_pull_streams_lazily(self, connector: Connector, until: datetime) -> None:
        """``items`` is an iterator, so a first sync of a million leads never sits in memory."""
        result = connector.pull(dict.fromkeys(connector.streams), until)
        assert iter(result.items) is result.items, "items must be an iterator, not a list held in memory"
        for _ in result.items:
            pass

    def test_pull_gives_events_or_rejections(self, connector: Connector, until: datetime) -> None:
        """Every item is a LeadEvent (with a time zone) or a rejection with a reason."""
        items, _ = self.pull(connector, until)
        events = [i for i in items if isinstance(i, LeadEvent)]
        assert events, "the test data should give at least one event"
        for item in items:
            if not isinstance(item, LeadEvent):
                assert getattr(item, "reason", None), f"a non-event item must say why (a reason): {item!r}"
        assert all(e.occurred_at.tzinfo is not None for e in events)

    def test_readable_test_data_gives_no_rejections(self, connector: Connector, until: datetime) -> None:
        """A connector that turns its own mistakes (a naive datetime) into rejections sends everything to quarantine."""
        items, _ = self.pull(connector, until)
        rejected = _rejections(items)
        reasons = sorted({str(getattr(r, "reason", r)) for r in rejected})
        assert not rejected, (
            f"{len(rejected)} of {len(items)} records of the test data were rejected, e.g. {reasons[:3]}: the "
            "options fixture must point at readable data, so each rejection is a record the connector cannot "
            "read; fix the connector (a datetime without a time zone? a field read under the wrong name?)"
        )

    def test_pull_rows_gives_the_store_what_pull_gives(self, connector: Connector, until: datetime) -> None:
        """The engine ingests through pull_rows: an override must give pull's events, some as their rows."""
        items, _ = self.pull(connector, until)
        rows = list(connector.pull_rows(dict.fromkeys(connector.streams), until).items)

        def kept(items: list[Any]) -> tuple[list[EventRow], list[str]]:
            return sorted(_rows(items)), sorted(str(i.reason) for i in _rejections(items))

        assert kept(rows) == kept(items)

    def test_cursors_are_per_declared_stream_and_never_pass_until(self, connector: Connector,
                                                                  until: datetime) -> None:
        """Cursors are kept per declared stream and never pass the run's start."""
        _, result = self.pull(connector, until)
        assert set(result.cursors) <= set(connector.streams)
        for stream, cursor in result.cursors.items():
            assert cursor.at <= until, f"cursor of {stream} passes the run's start"

    def test_cursors_never_go_backwards(self, connector: Connector, until: datetime) -> None:
        """A pull started from a cursor returns a cursor at or after it, or every sync reads from further back."""
        _, first = self.pull(connector, until)
        assert set(first.cursors) == set(connector.streams), (
            f"a complete pull must set a cursor for every stream; missing: "
            f"{sorted(set(connector.streams) - set(first.cursors))} (set result.cursors[stream] = Cursor(until))")
        recent = {stream: Cursor(until - timedelta(seconds=1)) for stream in connector.streams}
        for start in (first.cursors, recent):
            _, again = self.pull(connector, until, dict(start))
            for stream, cursor in start.items():
                moved = again.cursors.get(stream)
                assert moved is not None and moved.at >= cursor.at, (
                    f"the cursor of stream {stream!r} went backwards: the pull started at {cursor.at.isoformat()} "
                    f"and returned {moved.at.isoformat() if moved else 'none'}; return how far the stream has "
                    "been read (Cursor(until) once it is complete), never an earlier or fixed time")

    def test_a_second_pull_from_the_returned_cursors_reads_nothing_again(self, connector: Connector,
                                                                         until: datetime) -> None:
        """Pulled again from the cursors it returned, with nothing changed, a connector reads (almost) nothing."""
        if not connector.streams:
            pytest.skip("this connector declares no stream (streams = ()): it keeps no cursor and reads all each time")
        first_items, first = self.pull(connector, until)
        again_items, _ = self.pull(connector, until, dict(first.cursors))
        first_rows, again_rows = set(_rows(first_items)), _rows(again_items)
        new = [row for row in again_rows if row not in first_rows]
        assert not new, f"a second pull with nothing changed gave {len(new)} events the first did not, e.g. {new[0]}"
        assert len(again_rows) <= max(1, len(first_rows) // 2), (
            f"a second pull from the cursors the first returned read {len(again_rows)} of {len(first_rows)} events "
            "again: read only records changed after the cursor (or after (cursor.at, cursor.after_id)), or every "
            "sync re-reads everything")

    def test_the_same_data_gives_the_same_event_ids(self, connector: Connector, until: datetime) -> None:
        """Ids come from the facts, not from when they were read, so a re-read is an upsert."""
        first, _ = self.pull(connector, until)
        again, _ = self.pull(connector, until)
        ids = sorted(e.event_id for e in first if isinstance(e, LeadEvent))
        assert ids == sorted(e.event_id for e in again if isinstance(e, LeadEvent))

    def test_no_two_facts_share_an_event_id(self, connector: Connector, until: datetime) -> None:
        """An id built from the person, not the activity, makes the store keep one rep touch of several."""
        items, _ = self.pull(connector, until)
        by_id: dict[str, set[EventRow]] = defaultdict(set)
        for row in _rows(items):
            by_id[row.event_id].add(row)
        shared = {event_id: rows for event_id, rows in by_id.items() if len(rows) > 1}
        if shared:
            event_id, rows = next(iter(shared.items()))
            described = "; ".join(f"{r.type} of lead {r.lead_id} at {r.occurred_at} {r.payload}" for r in sorted(rows))
            pytest.fail(f"{len(shared)} event ids are each given to different facts, e.g. {event_id}: {described}. "
                        "Build each id from the remote record's own identity: stable_event(..., key=f'{stream}/"
                        "{record id}') with the activity's (or history row's) id, not the person's")

    def test_lead_ids_are_normalised(self, connector: Connector, until: datetime) -> None:
        """An id with a BOM or a trailing space would split one lead into two."""
        items, _ = self._pull_rows(connector, until)
        for row in _rows(items):
            try:
                clean = normalize_identifier(row.lead_id)
            except IdentifierError as error:
                pytest.fail(f"lead id {row.lead_id!r} cannot be read ({error}): reject its record instead")
            assert clean == row.lead_id, (
                f"lead id {row.lead_id!r} is not normalised: pass ids through "
                "sla_engine.events.normalize_identifier (LeadEvent does; an EventRow must too)")

    def _pull_rows(self, connector: Connector, until: datetime) -> tuple[list[Any], Any]:
        result = connector.pull_rows(dict.fromkeys(connector.streams), until)
        return list(result.items), result

    def test_messy_lead_ids_are_cleaned_or_their_records_rejected(self, connector_class: type[Connector],
                                                                  messy_options: dict[str, Any] | None,
                                                                  until: datetime) -> None:
        """With ``messy_options``: padded and BOM'd ids come out clean, an id with a control character is rejected."""
        if messy_options is None:
            pytest.skip("give a messy_options fixture: test data with lead ids padded with spaces, led by a BOM "
                        "and holding a control character")
        connector = connector_class.configure("conformance", messy_options)
        items, _ = self._pull_rows(connector, until)
        rows = _rows(items)
        assert rows, "the messy test data should still give the events whose ids can be cleaned"
        for row in rows:
            assert normalize_identifier(row.lead_id) == row.lead_id, (
                f"lead id {row.lead_id!r} kept its BOM, spaces or control character: use normalize_identifier")
        assert _rejections(items), ("an id with a control character inside cannot be cleaned: reject its record "
                                    "(IdentifierError from normalize_identifier says why)")

    def test_a_second_sync_stores_no_new_event(self, connector: Connector, until: datetime, tmp_path: Path) -> None:
        """Through the engine's own sync: the first stores events without id conflicts, the second nothing new."""
        store = Store(tmp_path / "conformance.db")
        try:
            (first,) = sync_sources(store, [connector], until)
            (second,) = sync_sources(store, [connector], until)
        finally:
            store.close()
        assert first.counts["new_events"] > 0
        assert first.counts.get("conflicts", 0) == 0, "two facts share an event id (see test_no_two_facts_share…)"
        assert second.counts["new_events"] == 0

    # ------------------------------------------------------------ pushing
    def _leads(self, connector: Connector, until: datetime) -> tuple[list[str], list[str]]:
        """Lead ids of the test data, and the owners its assignments name."""
        items, _ = self.pull(connector, until)
        events = [i for i in items if isinstance(i, LeadEvent)]
        owners = sorted({str(e.payload["owner"]) for e in events if e.type == "assigned" and e.payload.get("owner")})
        return sorted({e.lead_id for e in events}), owners

    def test_push_writes_every_status_and_answers_each_update_once(self, connector: Connector, until: datetime,
                                                                   status_window: str) -> None:
        """Every status value, with realistic tiers and times, is answered once per update and written, not skipped."""
        if not connector.can_push():
            pytest.skip("this connector only reads")
        leads, _ = self._leads(connector, until)
        updates = [
            StatusUpdate(lead_id=leads[n % len(leads)], policy="inbound", window=status_window, cycle=1 + n // 6,
                         tier="tier1" if n % 2 else None, status=status,
                         due_at=until - timedelta(hours=1) if status != NOT_APPLICABLE else None,
                         breached_at=until - timedelta(minutes=30) if status == BREACHED else None)
            for n, status in enumerate(STATUSES)
        ]
        # one update per (lead, window): push the statuses one at a time, as successive runs would
        for update in updates:
            self._one_result_each(connector, [update], written=True)

    def _one_result_each(self, connector: Connector, updates: Sequence[Update], written: bool) -> dict[str, Any]:
        results = list(connector.push(updates))
        keys = sorted(r.key for r in results)
        assert keys == sorted(u.key for u in updates), (
            f"push must answer each update exactly once, by its key: sent {sorted(u.key for u in updates)}, "
            f"answered {keys}")
        by_key = {r.key: r for r in results}
        for update in updates:
            result = by_key[update.key]
            assert result.lead_id == update.lead_id, f"result for {update.key} names lead {result.lead_id!r}"
            assert result.ok, f"{type(update).__name__} {update.key} failed: {result.error}"
            if written:
                assert not result.skipped, (
                    f"{type(update).__name__} {update.key} was skipped: nothing was written for window "
                    f"{getattr(update, 'window', '?')!r}. Map it (or override the status_window fixture with the "
                    "window your options map), and skip only what the target truly has no place for")
        return by_key

    def test_a_repeated_push_sends_nothing(self, connector: Connector, until: datetime, tmp_path: Path,
                                           status_window: str) -> None:
        """One result per update, and the same updates pushed again through the engine send nothing."""
        if not connector.can_push() or connector.snapshot_push:
            pytest.skip("this connector only reads, or rewrites everything on each push")
        leads, _ = self._leads(connector, until)
        updates = [StatusUpdate(lead_id=lead, policy="inbound", window=status_window, cycle=1, tier=None,
                                status=RUNNING, due_at=until, breached_at=None) for lead in leads[:3]]
        self._one_result_each(connector, updates, written=False)
        store = Store(tmp_path / "push.db")
        try:
            first = push_updates(store, connector, updates)
            assert not first.failed, [r.error for r in first.failed]
            assert push_updates(store, connector, updates).planned == []
        finally:
            store.close()

    def test_escalation_actions_get_one_result_each_and_name_what_they_cannot_do(self, connector: Connector,
                                                                                until: datetime) -> None:
        """A task, a status field change and a reassignment each get one result; an unknown field is named."""
        if not connector.takes_actions():
            pytest.skip("this connector takes no escalation actions")
        leads, owners = self._leads(connector, until)
        lead = leads[0]
        owner = owners[-1] if owners else None
        updates: list[Update] = [
            TaskRequest(key="conformance|task", lead_id=lead, subject="Call this lead: first response breached",
                        description="Tier 1 lead, 2 business hours goal", due_at=until + timedelta(hours=1),
                        owner=owner),
            FieldChange(key="conformance|status", lead_id=lead, field="status", value="Working"),
        ]
        if owner is not None:
            updates.append(OwnerChange(key="conformance|owner", lead_id=lead, owner=owner))
        self._one_result_each(connector, updates, written=False)
        unmapped = self._answers(connector, [FieldChange(key="conformance|set", lead_id=lead,
                                                         field="no_such_field_anywhere", value="x")])
        result = unmapped["conformance|set"]
        assert result.ok or "no_such_field_anywhere" in (result.error or ""), "say which field cannot be written"

    def _answers(self, connector: Connector, updates: Sequence[Update]) -> dict[str, Any]:
        results = {r.key: r for r in connector.push(updates)}
        assert sorted(results) == sorted(u.key for u in updates)
        return results
