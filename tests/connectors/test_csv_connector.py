"""The csv and crm-export connectors: configuration, TYPE:ARG, the status file and the actions file."""

from __future__ import annotations

import csv
from datetime import datetime, timezone

import pytest

from connectors.csv_connector import CrmExportConnector, CsvConnector, safe_cell
from connectors.csv_source import Rejected
from connectors.csv_writer import write_event_log
from sla_engine.connector import (
    ConnectorConfigError,
    ConnectorError,
    FieldChange,
    OwnerChange,
    StatusUpdate,
    TaskRequest,
)
from sla_engine.events import EventRow, LeadEvent, event_row
from tests.engine.test_evaluate import activity, created

UNTIL = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2", "'-2"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("plain", "plain"), (None, ""), (3, "3"),
    (datetime(2026, 11, 2, 14, tzinfo=timezone.utc), "2026-11-02T14:00:00Z"),
])
def test_cells_never_start_a_formula(value, cell):
    assert safe_cell(value) == cell


def test_type_arg_reads_an_event_log_and_keeps_no_cursor(tmp_path):
    write_event_log([created("L1", datetime(2026, 11, 2, 9, tzinfo=timezone.utc))], tmp_path / "e.csv")
    connector = CsvConnector.from_target("csv:e.csv", str(tmp_path / "e.csv"))
    result = connector.pull({}, UNTIL)
    assert [e.lead_id for e in result.items] == ["L1"] and result.cursors == {}


def test_pull_rows_gives_the_store_what_pull_gives_with_ordinary_rows_as_event_rows(tmp_path):
    path = tmp_path / "e.csv"
    write_event_log([created("L1", datetime(2026, 11, 2, 9, tzinfo=timezone.utc)),
                     activity("L1", datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc))], path)
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    no_channel = {"event_id": "e9", "lead_id": "L2", "occurred_at": "2026-11-02T09:00:00Z", "type": "activity"}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(",".join(no_channel.get(name, "") for name in header) + "\n")
    connector = CsvConnector.configure("csv", {"path": str(path)})
    pulled = [event_row(item) if isinstance(item, LeadEvent) else item for item in connector.pull({}, UNTIL).items]
    rows = list(connector.pull_rows({}, UNTIL).items)
    assert rows == pulled
    assert [type(row) for row in rows] == [EventRow, EventRow, Rejected]
    assert rows[2].reason == "activity needs channel"


def test_a_missing_file_is_a_connector_error(tmp_path):
    connector = CsvConnector.configure("csv", {"path": str(tmp_path / "nope.csv")})
    with pytest.raises(ConnectorError, match=r"nope\.csv"):
        connector.pull({}, UNTIL)


def test_a_location_is_required():
    with pytest.raises(ConnectorConfigError, match="give path"):
        CsvConnector.configure("csv", {"timezone": "UTC"})


def test_push_never_overwrites_the_event_log_it_reads(tmp_path):
    write_event_log([created("L1", datetime(2026, 11, 2, 9, tzinfo=timezone.utc))], tmp_path / "e.csv")
    update = StatusUpdate("L1", "p", "w", 1, None, "running", None, None)
    with pytest.raises(ConnectorError, match="is an event log"):
        CsvConnector.configure("crm", {"path": str(tmp_path / "e.csv")}).push([update])


def test_crm_export_reads_the_pair_in_a_directory_and_cannot_be_written(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,created_at,owner\nL1,2026-11-02T09:00:00Z,rep@example.com\n")
    (tmp_path / "activities.csv").write_text("lead_id,occurred_at,channel\nL1,2026-11-02T09:30:00Z,call\n")
    connector = CrmExportConnector.from_target("crm-export:.", str(tmp_path))
    types = sorted(str(e.type) for e in connector.pull({}, UNTIL).items)
    assert types == ["activity", "assigned", "created"]
    assert not connector.can_push()


def test_bytes_that_are_not_utf8_part_way_through_are_a_connector_error(tmp_path):
    path = tmp_path / "events.csv"
    write_event_log([created(f"L{n}", datetime(2026, 11, 2, 9, n, tzinfo=timezone.utc)) for n in range(3)], path)
    path.write_bytes(path.read_bytes() + b"L9,2026-11-02T09:00:00Z,created,\xff\xfe\n" * 5000)
    connector = CsvConnector.configure("csv", {"path": str(path)})
    with pytest.raises(ConnectorError, match=r"events\.csv"):
        list(connector.pull({}, UNTIL).items)


def test_actions_go_to_an_actions_file_beside_the_log_once_each_and_leave_the_status_file_alone(tmp_path):
    log = tmp_path / "events.csv"
    write_event_log([created("L1", datetime(2026, 11, 2, 9, tzinfo=timezone.utc))], log)
    connector = CsvConnector.configure("crm", {"path": str(log), "status_path": str(tmp_path / "status.csv")})
    assert connector.takes_actions() and connector.event_source() == "csv"
    due = datetime(2026, 11, 2, 15, tzinfo=timezone.utc)
    actions = [OwnerChange(key="k1", lead_id="L1", owner="=HYPERLINK(evil)"),
               TaskRequest(key="k2", lead_id="L1", subject="Call now\nplease", due_at=due, owner="rep@example.com"),
               FieldChange(key="k3", lead_id="L1", field="sla_status", value="breached")]
    results = connector.push(actions)
    assert all(r.ok for r in results) and len(results) == 3
    assert connector.push(actions[:1])[0].ok  # a resend after an interrupted delivery
    assert not (tmp_path / "status.csv").exists()
    with (tmp_path / "events.actions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["key"], r["action"]) for r in rows] == [("k1", "reassign"), ("k2", "task"), ("k3", "set")]
    assert rows[0]["owner"] == "'=HYPERLINK(evil)"
    assert (rows[1]["subject"], rows[1]["due_at"]) == ("Call now please", "2026-11-02T15:00:00Z")
    assert (rows[2]["field"], rows[2]["value"]) == ("sla_status", "breached")


def test_a_row_cut_short_by_a_crash_is_replaced_by_the_resend(tmp_path):
    path = tmp_path / "actions.csv"
    connector = CsvConnector.configure("crm", {"path": str(tmp_path / "status.csv"), "actions_path": str(path)})
    connector.push([OwnerChange(key="k1", lead_id="L1", owner="a@example.com")])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("k2,L2,reass")  # the process died mid-write
    connector.push([OwnerChange(key="k2", lead_id="L2", owner="b@example.com")])
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["key"], r["owner"]) for r in rows] == [("k1", "a@example.com"), ("k2", "b@example.com")]


def test_a_push_with_statuses_and_actions_writes_both(tmp_path):
    connector = CsvConnector.from_target("csv:status.csv", str(tmp_path / "status.csv"))
    update = StatusUpdate("L1", "p", "w", 1, None, "running", None, None)
    results = connector.push([update, OwnerChange(key="k1", lead_id="L1", owner="a@example.com")])
    assert all(r.ok for r in results)
    assert (tmp_path / "status.csv").read_text().count("\n") == 2
    assert (tmp_path / "status.actions.csv").read_text().startswith("key,lead_id,action")
