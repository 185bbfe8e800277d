"""The connector conformance kit: what every connector must do, as tests its author runs.

Subclass ``ConnectorConformance`` in your plugin's tests, set ``connector_type`` to the name
your plugin registers and give an ``options`` fixture that points the connector at a test
system holding a few leads (a fake server, a fixture file). pytest then runs every check
below against your connector, installed and loaded through its entry point::

    from sla_engine.conformance import ConnectorConformance

    class TestMyConnector(ConnectorConformance):
        connector_type = "pipedrive"

        @pytest.fixture
        def options(self, tmp_path):
            return {"api_token": {"env": "PIPEDRIVE_TOKEN"}, "base_url": start_fake(tmp_path)}

Imports pytest: use it from tests only (docs/connectors.md).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, get_args

import pytest

from sla_engine.connector import Connector, ConnectorConfigError, FieldChange, Secret, StatusUpdate, TaskRequest
from sla_engine.events import EventRow, LeadEvent, event_row
from sla_engine.plugins import connectors, loaded_plugins, reset
from sla_engine.store.db import Store
from sla_engine.sync import push_updates, sync_sources

SECRET_PROBE = "conformance-s3cr3t-do-not-echo"


def _is_secret(annotation: Any) -> bool:
    return annotation is Secret or Secret in get_args(annotation)


class ConnectorConformance:
    """Checks for one connector type. Override ``options`` (and ``until`` if your data is in the future)."""

    connector_type: str = ""

    @pytest.fixture
    def options(self) -> dict[str, Any]:
        raise NotImplementedError("give an options fixture that points the connector at test data")

    @pytest.fixture
    def until(self) -> datetime:
        return datetime.now(timezone.utc)

    @pytest.fixture
    def connector_class(self) -> type[Connector]:
        reset()
        registry = connectors()
        assert self.connector_type in registry, (
            f"no connector {self.connector_type!r} registered; is the plugin installed with an "
            f"entry point in group 'sla_engine'? registered: {sorted(registry)}"
        )
        return registry[self.connector_type]

    @pytest.fixture
    def connector(self, connector_class: type[Connector], options: dict[str, Any]) -> Connector:
        return connector_class.configure("conformance", options)

    def pull(self, connector: Connector, until: datetime) -> tuple[list[Any], Any]:
        result = connector.pull(dict.fromkeys(connector.streams), until)
        items = list(result.items)
        return items, result

    # ------------------------------------------------------------ registration and configuration
    def test_is_registered_by_an_installed_distribution(self, connector_class: type[Connector]) -> None:
        assert issubclass(connector_class, Connector)
        registering = [p for p in loaded_plugins() if "register_connectors" in p.hooks]
        assert any(p.distribution for p in registering), "register through an entry point of an installed package"

    def test_configuration_rejects_unknown_options(self, connector_class: type[Connector],
                                                   options: dict[str, Any]) -> None:
        with pytest.raises(ConnectorConfigError):
            connector_class.configure("conformance", {**options, "no_such_option_for_conformance": 1})

    def test_secrets_are_references_and_never_echoed(self, connector_class: type[Connector],
                                                     options: dict[str, Any]) -> None:
        secrets = [name for name, field in connector_class.Config.model_fields.items() if _is_secret(field.annotation)]
        if not secrets:
            pytest.skip("this connector takes no secret")
        for name in secrets:
            with pytest.raises(ConnectorConfigError) as raised:
                connector_class.configure("conformance", {**options, name: SECRET_PROBE})
            assert SECRET_PROBE not in str(raised.value)
        assert SECRET_PROBE not in repr(connector_class.configure("conformance", options).config)

    # ------------------------------------------------------------ pulling
    def test_pull_streams_lazily(self, connector: Connector, until: datetime) -> None:
        result = connector.pull(dict.fromkeys(connector.streams), until)
        assert iter(result.items) is result.items, "items must be an iterator, not a list held in memory"
        for _ in result.items:
            pass

    def test_pull_gives_events_or_rejections(self, connector: Connector, until: datetime) -> None:
        items, _ = self.pull(connector, until)
        events = [i for i in items if isinstance(i, LeadEvent)]
        assert events, "the test data should give at least one event"
        for item in items:
            if not isinstance(item, LeadEvent):
                assert getattr(item, "reason", None), f"a non-event item must say why (a reason): {item!r}"
        assert all(e.occurred_at.tzinfo is not None for e in events)

    def test_pull_rows_gives_the_store_what_pull_gives(self, connector: Connector, until: datetime) -> None:
        """The engine ingests through pull_rows: an override must give pull's events, some as their rows."""
        items, _ = self.pull(connector, until)
        rows = list(connector.pull_rows(dict.fromkeys(connector.streams), until).items)

        def kept(items: list[Any]) -> tuple[list[EventRow], list[str]]:
            events = sorted(event_row(i) if isinstance(i, LeadEvent) else i for i in items
                            if isinstance(i, LeadEvent | EventRow))
            return events, sorted(str(i.reason) for i in items if not isinstance(i, LeadEvent | EventRow))

        assert kept(rows) == kept(items)

    def test_cursors_are_per_declared_stream_and_never_pass_until(self, connector: Connector,
                                                                  until: datetime) -> None:
        _, result = self.pull(connector, until)
        assert set(result.cursors) <= set(connector.streams)
        for stream, cursor in result.cursors.items():
            assert cursor.at <= until, f"cursor of {stream} passes the run's start"

    def test_the_same_data_gives_the_same_event_ids(self, connector: Connector, until: datetime) -> None:
        first, _ = self.pull(connector, until)
        again, _ = self.pull(connector, until)
        ids = sorted(e.event_id for e in first if isinstance(e, LeadEvent))
        assert ids == sorted(e.event_id for e in again if isinstance(e, LeadEvent))

    def test_a_second_sync_stores_no_new_event(self, connector: Connector, until: datetime, tmp_path: Path) -> None:
        store = Store(tmp_path / "conformance.db")
        try:
            (first,) = sync_sources(store, [connector], until)
            (second,) = sync_sources(store, [connector], until)
        finally:
            store.close()
        assert first.counts["new_events"] > 0
        assert second.counts["new_events"] == 0

    # ------------------------------------------------------------ pushing
    def test_push_answers_each_update_once_and_a_repeat_sends_nothing(self, connector: Connector, until: datetime,
                                                                      tmp_path: Path) -> None:
        if not connector.can_push():
            pytest.skip("this connector only reads")
        items, _ = self.pull(connector, until)
        leads = sorted({e.lead_id for e in items if isinstance(e, LeadEvent)})[:3]
        updates = [StatusUpdate(lead_id=lead, policy="conformance", window="w", cycle=1, tier=None,
                                status="running", due_at=until, breached_at=None) for lead in leads]
        results = list(connector.push(updates))
        assert sorted(r.key for r in results) == sorted(u.key for u in updates)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        if connector.snapshot_push:
            return
        store = Store(tmp_path / "push.db")
        try:
            push_updates(store, connector, updates)
            assert push_updates(store, connector, updates).planned == []
        finally:
            store.close()

    def test_escalation_actions_get_one_result_each_and_name_what_they_cannot_do(self, connector: Connector,
                                                                                until: datetime) -> None:
        if not connector.takes_actions():
            pytest.skip("this connector takes no escalation actions")
        items, _ = self.pull(connector, until)
        lead = sorted({e.lead_id for e in items if isinstance(e, LeadEvent)})[0]
        updates = [TaskRequest(key="conformance|task", lead_id=lead, subject="Call this lead", due_at=until),
                   FieldChange(key="conformance|set", lead_id=lead, field="no_such_field_anywhere", value="x")]
        results = {r.key: r for r in connector.push(updates)}
        assert sorted(results) == sorted(u.key for u in updates)
        assert results["conformance|task"].ok, results["conformance|task"].error
        unmapped = results["conformance|set"]
        assert unmapped.ok or "no_such_field_anywhere" in (unmapped.error or ""), "say which field cannot be written"
