"""Reading CSV into lead events: each rule of docs/events.md ("CSV formats", "The quarantine") as a test."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors import csv_source
from connectors.csv_source import CsvSourceError, Rejected, read_crm_export, read_event_log
from connectors.csv_writer import event_log_columns, write_event_log
from sla_engine.events import STANDARD_FIELDS, EventRow, EventType, LeadEvent, event_row

UTC = timezone.utc
NY = ZoneInfo("America/New_York")


def csv_file(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def split(items: list[Any]) -> tuple[list[LeadEvent], list[Rejected]]:
    return [i for i in items if isinstance(i, LeadEvent)], [i for i in items if isinstance(i, Rejected)]


def read(path: Path, **options: Any) -> tuple[list[LeadEvent], list[Rejected]]:
    return split(list(read_event_log(path, **options)))


# ---------------------------------------------------------------- the quarantine


BAD_LOG = """\
lead_id,occurred_at,type,channel,by,owner,lead_score,payload
L1,2026-08-03T09:00:00Z,created,,,,85,
L1,2026-13-01T09:05:00Z,activity,call,rep@example.com,,,

,2026-08-03T09:05:00Z,activity,call,rep@example.com,,,
L1,2026-08-03T09:05:00Z,call_logged,call,rep@example.com,,,
L1,2026-08-03T09:05:00Z,activity,"fax
machine",rep@example.com,,,
L1,2026-08-03T09:05:00Z,activity,fax,rep@example.com,,,
L1,2026-08-03 09:05,activity,email,rep@example.com,,,
L1,2026-08-03T09:05:00Z,created,,,,high,
L1,2026-08-03T09:05:00Z,assigned,,,,,{owner: x}
L1,2026-08-03T09:05:00Z,assigned,,,,,"[1, 2]"
L1,2026-08-03T09:05:00Z,assigned,,,,
L1,2026-08-03T09:05:00Z,assigned,,,,,
L1,2026-08-03,activity,call,rep@example.com,,,
L1,,activity,call,rep@example.com,,,
L1,2026-08-03T09:05:00Z,,call,rep@example.com,,,
L1,2026-08-03T09:05:00Z,updated,,,,,
L1,2026-08-03T09:06:00Z,assigned,,,ana@example.com,,
"""

CHANNELS = "call, email, meeting, sms, social, other"
TYPES = "created, updated, status_changed, assigned, activity, disposition, converted, opportunity_closed, deleted"
EXPECTED_REJECTIONS = [
    (3, "occurred_at '2026-13-01T09:05:00Z' is not a timestamp"),
    (5, "lead_id is missing"),  # line 4 is blank: not a row, but it still counts as a line
    (6, f"type 'call_logged' is not one of {TYPES}"),
    (7, f"activity channel 'fax\\nmachine' is not one of {CHANNELS}"),  # a quoted cell over two lines
    (9, f"activity channel 'fax' is not one of {CHANNELS}"),
    (10, "occurred_at '2026-08-03 09:05' has no time zone; add an offset (Z, +02:00) or declare the source's timezone"),
    (11, "lead_score 'high' is not a number"),
    (12, "payload is not valid JSON (Expecting property name enclosed in double quotes at character 1)"),
    (13, "payload must be a JSON object, not list"),
    (14, "the row has 7 cells but the header has 8"),
    (15, "assigned needs owner"),
    (16, "occurred_at '2026-08-03' is a date without a time of day"),
    (17, "occurred_at is missing"),
    (18, "type is missing"),
    (19, "updated row changes nothing: fill at least one field column"),
]


def test_every_unreadable_row_is_rejected_with_its_physical_line_and_a_precise_reason(tmp_path):
    events, rejected = read(csv_file(tmp_path, BAD_LOG))
    assert [(r.line, r.reason) for r in rejected] == EXPECTED_REJECTIONS
    assert [(e.lead_id, e.type) for e in events] == [("L1", "created"), ("L1", "assigned")]


def test_a_rejected_row_keeps_the_file_name_and_the_raw_cells_under_the_files_own_headers(tmp_path):
    path = csv_file(tmp_path, BAD_LOG)
    _, rejected = read(path)
    fax = rejected[4]
    assert fax.file == str(path)
    assert fax.raw == {"lead_id": "L1", "occurred_at": "2026-08-03T09:05:00Z", "type": "activity", "channel": "fax",
                       "by": "rep@example.com", "owner": "", "lead_score": "", "payload": ""}


def test_read_equals_accepted_plus_quarantined_and_nothing_is_dropped(tmp_path):
    path = csv_file(tmp_path, BAD_LOG)
    items = list(read_event_log(path))
    events, rejected = split(items)
    data_rows = [line for line in BAD_LOG.splitlines()[1:] if line.strip()]
    assert len(items) == len(events) + len(rejected) == len(data_rows) - 1  # one row spans two lines


def test_a_row_with_too_many_cells_keeps_the_extra_cells_in_raw(tmp_path):
    path = csv_file(tmp_path, "lead_id,occurred_at,type\nL1,2026-08-03T09:00:00Z,created,surprise\n")
    (rejected,) = read_event_log(path)
    assert rejected.reason == "the row has 4 cells but the header has 3"
    assert rejected.raw == {"lead_id": "L1", "occurred_at": "2026-08-03T09:00:00Z", "type": "created",
                            "column_4": "surprise"}


def test_an_unclosed_quote_is_named_as_the_likely_cause(tmp_path):
    path = csv_file(tmp_path, (
        'lead_id,occurred_at,type,notes\n'
        'L1,"2026-08-03T09:00:00Z,created,oops\n'
        'L2,2026-08-03T09:00:00Z,created,\n'
    ))
    (rejected,) = read_event_log(path)
    assert rejected.line == 2
    assert rejected.reason.startswith("the row has 2 cells but the header has 4")
    assert rejected.reason.endswith("(an unclosed quote swallowed the lines after it?)")


def test_bad_rows_never_raise_but_a_bad_file_does_at_once(tmp_path):
    with pytest.raises(CsvSourceError, match="no such file"):
        read_event_log(tmp_path / "missing.csv")  # raised on the call, before any iteration
    with pytest.raises(CsvSourceError, match=r"missing required column\(s\) occurred_at, type"):
        read_event_log(csv_file(tmp_path, "lead_id,when\nL1,x\n"))
    with pytest.raises(CsvSourceError, match="the file is empty"):
        read_event_log(csv_file(tmp_path, ""))
    with pytest.raises(CsvSourceError, match="'type' appears twice"):
        read_event_log(csv_file(tmp_path, "lead_id,occurred_at,type,type\n"))
    with pytest.raises(CsvSourceError, match="unknown time zone 'Mars/Olympus'"):
        read_event_log(csv_file(tmp_path, "lead_id,occurred_at,type\n"), timezone="Mars/Olympus")


def test_a_file_that_is_not_utf8_is_an_error_not_garbled_data(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("lead_id,occurred_at,type,name\nL1,2026-08-03T09:00:00Z,created,José\n".encode("latin-1"))
    with pytest.raises(CsvSourceError, match="not UTF-8"):
        list(read_event_log(path))


def test_a_byte_order_mark_and_padded_cells_are_read_as_plain_values(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefflead_id , occurred_at,type,email\n L1 ,2026-08-03T09:00:00Z, Created ,  \n".encode())
    (event,) = read_event_log(path)
    assert (event.lead_id, event.type, event.payload) == ("L1", EventType.CREATED, {"attributes": {}})


# ---------------------------------------------------------------- columns and payloads


def test_created_takes_every_other_column_as_attributes_in_its_standard_type(tmp_path):
    path = csv_file(tmp_path, (
        "lead_id,occurred_at,type,email,lead_score,annual_revenue,target_account,company_size,pricing_visits,notes\n"
        "L1,2026-08-03T09:00:00Z,created,a@example.com,85,2.5e6,Yes,120,3,\n"
        "L2,2026-08-03T09:00:00Z,created,b@example.com,-3,0.5,0,,007,\n"
    ))
    events, rejected = read(path)
    assert rejected == []
    assert events[0].payload == {"attributes": {
        "email": "a@example.com", "lead_score": 85, "annual_revenue": 2.5e6, "target_account": True,
        "company_size": 120, "pricing_visits": "3",  # not a standard field: text, as in the file
    }}
    assert events[1].payload["attributes"] == {
        "email": "b@example.com", "lead_score": -3, "annual_revenue": 0.5, "target_account": False,
        "pricing_visits": "007",
    }


def test_updated_takes_every_other_column_as_changes(tmp_path):
    path = csv_file(tmp_path, "lead_id,occurred_at,type,lead_score,stage\nL1,2026-08-03T09:00:00Z,updated,72,mql\n")
    (event,) = read_event_log(path)
    assert event.payload == {"changes": {"lead_score": 72, "stage": "mql"}}


def test_a_typed_field_that_does_not_parse_is_rejected_by_name(tmp_path):
    path = csv_file(tmp_path, (
        "lead_id,occurred_at,type,target_account,company_size\n"
        "L1,2026-08-03T09:00:00Z,created,maybe,\n"
        "L1,2026-08-03T09:00:00Z,created,,1e999\n"
    ))
    _, rejected = read(path)
    assert [r.reason for r in rejected] == [
        "target_account 'maybe' is not true or false (write true/false, yes/no or 1/0)",
        "company_size '1e999' is not a number",
    ]


def test_other_types_read_their_own_columns_and_ignore_the_rest(tmp_path):
    path = csv_file(tmp_path, (
        "lead_id,occurred_at,type,channel,direction,outcome,by,disposition,reason,won,amount,email,field,new\n"
        "L1,2026-08-03T09:00:00Z,activity,Call,,no_answer,rep@example.com,,,,,a@example.com,,\n"
        "L1,2026-08-03T10:00:00Z,disposition,,,,,Recycled,no_response,,,,,\n"
        "L1,2026-08-03T11:00:00Z,opportunity_closed,,,,,,,yes,25000,,,\n"
        "L1,2026-08-03T12:00:00Z,status_changed,,,,,,,,,,,Nurture\n"
    ))
    events, rejected = read(path)
    assert rejected == []
    assert [e.payload for e in events] == [
        {"channel": "call", "direction": "outbound", "outcome": "no_answer", "by": "rep@example.com"},
        {"disposition": "recycled", "reason": "no_response", "notes": None},
        {"won": True, "amount": 25000.0},
        {"field": "status", "old": None, "new": "Nurture"},
    ]


def test_the_payload_column_is_merged_in_last(tmp_path):
    path = csv_file(tmp_path, (
        "lead_id,occurred_at,type,email,channel,payload\n"
        'L1,2026-08-03T09:00:00Z,created,a@example.com,,'
        '"{""attributes"": {""persona"": ""champion""}, ""via"": ""api""}"\n'
        'L1,2026-08-03T09:05:00Z,activity,,email,"{""subject"": ""Hello"", ""channel"": ""sms""}"\n'
        'L1,2026-08-03T09:06:00Z,updated,,,"{""changes"": {}}"\n'
    ))
    events, rejected = read(path)
    assert rejected == []
    assert events[0].payload == {"attributes": {"email": "a@example.com", "persona": "champion"}, "via": "api"}
    assert events[1].payload["channel"] == "sms" and events[1].payload["subject"] == "Hello"
    assert events[2].payload == {"changes": {}}  # said explicitly, so not a mistake


@pytest.mark.parametrize(("row", "reason"), [
    ("status_changed,,,,,", "status_changed needs new"),
    ("converted,,,,$25k,", "converted amount '$25k' is not a number"),
    ("opportunity_closed,,,,,perhaps", "opportunity_closed won 'perhaps' is not true or false"),
    ("disposition,,maybe,,,", "disposition disposition 'maybe' is not one of accepted, rejected, nurture, recycled, "
                              "disqualified"),
    ("activity,,,,,", "activity needs channel"),
])
def test_payload_reasons_are_pydantics_said_short(tmp_path, row, reason):
    header = "lead_id,occurred_at,type,owner,disposition,new,amount,won"
    path = csv_file(tmp_path, f"{header}\nL1,2026-08-03T09:00:00Z,{row}\n")
    (rejected,) = read_event_log(path)
    assert rejected.reason == reason


# ---------------------------------------------------------------- time zones


def test_naive_timestamps_are_rejected_unless_the_source_declares_its_zone(tmp_path):
    path = csv_file(tmp_path, (
        "lead_id,occurred_at,type\n"
        "L1,2026-01-15 09:30,created\n"
        "L2,2026-07-15T09:30:00,created\n"
        "L3,2026-07-15T09:30:00+02:00,created\n"
        "L4,2026-07-15T09:30:00Z,created\n"
    ))
    events, rejected = read(path)
    assert [r.line for r in rejected] == [2, 3]
    assert [e.lead_id for e in events] == ["L3", "L4"]
    declared, none = read(path, timezone="America/New_York")
    assert none == []
    assert [e.occurred_at.astimezone(UTC) for e in declared] == [
        datetime(2026, 1, 15, 14, 30, tzinfo=UTC),  # EST
        datetime(2026, 7, 15, 13, 30, tzinfo=UTC),  # EDT
        datetime(2026, 7, 15, 7, 30, tzinfo=UTC),  # an offset in the file wins over the declared zone
        datetime(2026, 7, 15, 9, 30, tzinfo=UTC),
    ]
    assert all(e.occurred_at.utcoffset() is not None for e in declared)


# ---------------------------------------------------------------- remapped columns


def test_columns_map_our_names_to_the_files(tmp_path):
    path = csv_file(tmp_path, (
        "Id,When,Kind,Channel,Rep,Email\n"
        "00Q1,2026-08-03T09:00:00Z,created,,,a@example.com\n"
        "00Q1,2026-08-03T09:30:00Z,activity,email,rep@example.com,\n"
    ))
    columns = {"lead_id": "Id", "occurred_at": "When", "type": "Kind", "channel": "Channel", "by": "Rep",
               "email": "Email"}
    events, rejected = read(path, columns=columns)
    assert rejected == []
    assert events[0].payload == {"attributes": {"email": "a@example.com"}}
    assert events[1].payload["by"] == "rep@example.com" and events[1].lead_id == "00Q1"


def test_a_missing_remapped_column_is_named_both_ways(tmp_path):
    path = csv_file(tmp_path, "Id,When,Kind\n")
    with pytest.raises(CsvSourceError, match=r"missing required column\(s\) lead_id \(as 'LeadId'\)"):
        read_event_log(path, columns={"lead_id": "LeadId", "occurred_at": "When", "type": "Kind"})


# ---------------------------------------------------------------- ids


def test_ids_are_deterministic_across_re_reads_and_column_order(tmp_path):
    one = csv_file(tmp_path, "lead_id,occurred_at,type,channel,by\nL1,2026-08-03T09:00:00Z,activity,call,r@x.com\n",
                   "one.csv")
    other = csv_file(tmp_path, "by,channel,type,occurred_at,lead_id\n"
                               "r@x.com,call,activity,2026-08-03T05:00:00-04:00,L1\n", "other.csv")
    first, again, reordered = (list(read_event_log(p)) for p in (one, one, other))
    assert first == again
    assert first[0].event_id == reordered[0].event_id  # same content, same instant written differently
    changed = csv_file(tmp_path, "lead_id,occurred_at,type,channel,by\nL1,2026-08-03T09:00:00Z,activity,sms,r@x.com\n",
                       "changed.csv")
    assert next(read_event_log(changed)).event_id != first[0].event_id


def test_an_event_id_column_is_used_as_given_and_the_source_name_is_part_of_a_derived_id(tmp_path):
    path = csv_file(tmp_path, (
        "event_id,lead_id,occurred_at,type\n"
        "crm-123,L1,2026-08-03T09:00:00Z,created\n"
        ",L2,2026-08-03T09:00:00Z,created\n"
    ))
    given_id, derived = read_event_log(path)
    assert given_id.event_id == "crm-123"
    assert next(iter(read_event_log(path, source="other"))).event_id == "crm-123"
    assert list(read_event_log(path, source="other"))[1].event_id != derived.event_id


# ---------------------------------------------------------------- fast path = the models


def test_every_event_read_is_what_full_validation_makes_of_it(tmp_path):
    events, _ = read(csv_file(tmp_path, BAD_LOG))
    path = csv_file(tmp_path, (
        "lead_id,occurred_at,type,channel,amount,won,owner,merged_into,new,payload\n"
        "L1,2026-08-03T09:00:00Z,activity,social,,,,,,\n"
        "L1,2026-08-03T09:00:00Z,converted,,1200.50,,,,,\n"
        "L1,2026-08-03T09:00:00Z,opportunity_closed,,,FALSE,,,,\n"
        "L1,2026-08-03T09:00:00Z,deleted,,,,,L0,,\n"
        'L1,2026-08-03T09:00:00Z,status_changed,,,,,,Qualified,"{""old"": null, ""why"": [1, 2.5]}"\n'
    ))
    more, rejected = read(path)
    assert rejected == []
    for event in events + more:
        assert LeadEvent.model_validate(event.model_dump()) == event


# What an event log cell can hold: mostly what a good export writes, else each way a cell can be odd or wrong.
ORDINARY_CELLS = {
    "type": [str(type_) for type_ in EventType],
    "lead_id": ["L1", "L2"],
    "occurred_at": ["2026-08-03T09:00:00Z", "2026-08-03T09:00:00.250+02:00"],
    "event_id": ["", "e1"],
    "payload": [""],
    "channel": ["call", "email"], "disposition": ["accepted", "nurture"], "won": ["true", "false"],
    "amount": ["", "12.50"], "new": ["Working"], "owner": ["ana@example.com"],
    **{name: ["", "12", "0.5"] for name, kind in STANDARD_FIELDS.items() if kind == "number"},
    **{name: ["", "true", "no"] for name, kind in STANDARD_FIELDS.items() if kind == "boolean"},
}
ODD_CELLS = {
    "type": ["Activity", " assigned ", "CREATED", "call_logged", ""],
    "lead_id": [" L3 ", ""],
    "occurred_at": ["2026-08-03 09:05", "2026-08-03T09:05:00", "2026-08-03", "2026-13-01T09:00:00Z",
                    "2026-08-03t09:00:00z", " 2026-08-03T10:00:00Z ", "", "2026-08-03T09:00:00+00:00",
                    "2026-08-03T09:00:00.5Z", "2026-W32-1T09:00:00Z", "\uff12\uff10\uff12\uff16-08-03T09:00:00Z"],
    "event_id": [" e3 "],
    "payload": ['{"attributes": {"persona": "x"}, "via": "api"}', '{"changes": {}}', '{"owner": 5}',
                '{"channel": "sms"}', '{"amount": 1.5, "won": "yes"}', "{owner: x}", "[1, 2]"],
}
ODD_FIELD = ["call", "Email", " sms ", "fax", "accepted", "Nurture", "maybe", "true", "FALSE", "yes", "perhaps", "12",
             "12.50", "-0", "007", "1e3", "$25k", "inf", "nan", "1_000", "New", "two\nlines", " padded "]
LOG_HEADER = [*event_log_columns(["persona"]), ""]  # an unnamed column is ignored


@st.composite
def event_log_rows(draw: st.DrawFn) -> list[list[str]]:
    """Rows of an event log, most cells ordinary, some odd; now and then a row of the wrong width."""
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        odd = draw(st.integers(0, 100))  # the chance, in %, of each cell of this row being odd
        row = []
        for name in LOG_HEADER:
            if draw(st.integers(1, 100)) <= odd:
                row.append(draw(st.sampled_from(ODD_CELLS.get(name, ODD_FIELD))))
            else:
                row.append(draw(st.sampled_from(ORDINARY_CELLS.get(name, ["", "", "text"]))))
        if draw(st.integers(0, 20)) == 0:
            row = row[:-1]
        rows.append(row)
    return rows


@settings(max_examples=300, deadline=None)
@given(event_log_rows(), st.sampled_from([None, "America/New_York"]), st.sampled_from(["csv", "other"]))
def test_the_fast_lane_reads_every_row_as_the_full_path_does(tmp_path_factory, rows, zone, source):
    path = tmp_path_factory.mktemp("lane") / "log.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([LOG_HEADER, *rows])
    fast = read_event_log(path, timezone=zone, source=source)
    full = list(read_event_log(path, timezone=zone, source=source, fast=False))
    assert [comparable(item) for item in fast] == [comparable(item) for item in full]
    rows = read_event_log(path, timezone=zone, source=source, rows=True)
    assert [kept(item) for item in rows] == [kept(item) for item in full]


def kept(item: LeadEvent | EventRow | Rejected) -> EventRow | Rejected:
    """What the store keeps of an item: the event's row, or the rejection."""
    return event_row(item) if isinstance(item, LeadEvent) else item


def comparable(item: LeadEvent | Rejected) -> Any:
    """An item as == sees it, but with the payload as JSON text: a NaN amount is then equal to itself."""
    if isinstance(item, Rejected):
        return item
    return (*item.model_dump(exclude={"payload"}).items(), item.model_fields_set,
            json.dumps(item.payload, sort_keys=True), list(item.payload))


def test_the_fast_lane_takes_the_ordinary_rows_of_the_example_data():
    shipped = Path(__file__).resolve().parents[2] / "examples" / "data" / "events.csv"
    events = list(read_event_log(shipped))
    assert events == list(read_event_log(shipped, fast=False))
    rows = list(read_event_log(shipped, rows=True))
    assert rows == [kept(item) for item in events]
    assert sum(isinstance(row, EventRow) for row in rows) > 0.9 * len(rows)


def test_a_payload_remembered_from_an_earlier_row_is_the_one_that_row_would_give(tmp_path, monkeypatch):
    log = ("event_id,lead_id,occurred_at,type,channel,by,new,amount\n"
           "e1,L1,2026-08-03T09:00:00Z,activity,call,rep@example.com,,\n"
           "e2,L2,2026-08-03T10:00:00+02:00,activity,call,rep@example.com,,\n"
           "e3,L3,2026-08-03T11:00:00Z,activity,CALL,rep@example.com,,\n"
           "e4,L4,2026-08-03T11:00:00Z,activity,call,ana@example.com,,\n"
           "e5,L5,2026-08-03T11:00:00Z,activity,email,rep@example.com,,\n"
           "e6,L6,2026-08-03T11:00:00Z,converted,,,,12.50\n"
           "e7,L7,2026-08-03T11:00:00Z,converted,,,,12.50\n"
           "e8,L8,2026-08-03T11:00:00Z,converted,,,,\n"
           "e9,L9,2026-08-03T11:00:00Z,status_changed,,,Working,\n")
    path = csv_file(tmp_path, log)
    expected = [kept(item) for item in read_event_log(path, fast=False)]
    assert list(read_event_log(path, rows=True)) == expected
    monkeypatch.setattr(csv_source, "_KNOWN_PAYLOADS", 1)  # full: later payloads are encoded each time
    assert list(read_event_log(path, rows=True)) == expected


# ---------------------------------------------------------------- writing


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 8, 3, hour, minute, tzinfo=NY)


def build(type_: str, payload: dict[str, Any], lead: str = "L1", when: datetime | None = None) -> LeadEvent:
    return LeadEvent.build(source="crm", lead_id=lead, type=type_, occurred_at=when or at(9), payload=payload,
                           key=json.dumps(payload, sort_keys=True))


def every_kind_of_event() -> list[LeadEvent]:
    return [
        build("created", {"attributes": {
            "email": "a@example.com", "name": 'Zoë "Z" O\'Neil, PhD', "lead_score": 85, "fit_score": 61.5,
            "target_account": True, "company_size": None, "title": "  padded  ", "industry": "",
            "notes": "two\nlines", "lead_source_detail": "webinar", "lead_score_text": "85",
        }}, when=at(9)),
        build("updated", {"changes": {"lead_score": "90", "owner": "b@example.com", "stage": "mql"}}, when=at(9, 1)),
        build("updated", {"changes": {}}, when=at(9, 2)),
        build("status_changed", {"old": "New", "new": "Working"}, when=at(9, 3)),
        build("assigned", {"owner": "ana.ruiz@example.com", "team": "na_sdr"}, when=at(9, 4)),
        build("activity", {"channel": "sms", "direction": "inbound", "by": "a@example.com", "thread": 7}),
        build("disposition", {"disposition": "nurture", "reason": "timing", "notes": "Q1, maybe"}),
        build("converted", {"opportunity_id": "OPP-1", "amount": 25000.5}),
        build("converted", {"amount": 1e20}),
        build("opportunity_closed", {"won": False}),
        build("deleted", {"merged_into": "L0"}),
        LeadEvent.build(source="crm", lead_id="L2", type="created", occurred_at=datetime(2026, 8, 3, 13, tzinfo=UTC)),
    ]


def test_write_then_read_gives_equal_events(tmp_path):
    events = every_kind_of_event()
    assert write_event_log(events, tmp_path / "log.csv") == len(events)
    again, rejected = read(tmp_path / "log.csv", source="crm")
    assert rejected == []
    assert again == events


def test_the_writer_uses_a_column_when_a_value_reads_back_the_same_and_json_otherwise(tmp_path):
    write_event_log(every_kind_of_event()[:1], tmp_path / "log.csv", attributes=["lead_source_detail"])
    header, row = (tmp_path / "log.csv").read_text(encoding="utf-8").split("\n", 1)
    assert header.split(",") == list(event_log_columns(["lead_source_detail"]))
    cells = dict(zip(header.split(","), next(csv.reader(io.StringIO(row))), strict=True))
    assert cells["lead_score"] == "85" and cells["target_account"] == "true"
    assert cells["occurred_at"] == "2026-08-03T09:00:00-04:00" and cells["lead_source_detail"] == "webinar"
    assert cells["notes"] == "two\nlines"  # any column but the identity ones holds a created row's field
    assert json.loads(cells["payload"]) == {"attributes": {
        "company_size": None, "title": "  padded  ", "industry": "", "lead_score_text": "85",
    }}


TEXT = st.text(max_size=12)
ZONES = st.sampled_from([UTC, NY, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Sydney"),
                         timezone(timedelta(hours=-3))])
# Real instants shown in a zone: a wall time in a DST gap or fold names no single instant, and Python never
# finds such a datetime equal to one in another zone, whatever offset the log kept.
MOMENTS = st.builds(lambda when, zone: when.replace(tzinfo=UTC).astimezone(zone),
                    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)), ZONES)
ATTRIBUTE_VALUES = st.one_of(TEXT, st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                             st.booleans(), st.none())
EVENTS = st.one_of(
    st.builds(lambda a: ("created", {"attributes": a}),
              st.dictionaries(st.sampled_from(["email", "lead_score", "target_account", "name", "x", "payload"]),
                              ATTRIBUTE_VALUES)),
    st.builds(lambda c: ("updated", {"changes": c}), st.dictionaries(st.sampled_from(["stage", "fit_score", "y"]),
                                                                     ATTRIBUTE_VALUES)),
    st.builds(lambda ch, d, o, b: ("activity", {"channel": ch, "direction": d, "outcome": o, "by": b}),
              st.sampled_from(["call", "email", "meeting"]), TEXT, st.none() | TEXT, st.none() | TEXT),
    st.builds(lambda o, n: ("status_changed", {"old": o, "new": n}), st.none() | TEXT, TEXT),
    st.builds(lambda w, a: ("opportunity_closed", {"won": w, "amount": a}), st.booleans(),
              st.none() | st.floats(allow_nan=False)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(EVENTS, MOMENTS, st.text("L0123456789", min_size=1, max_size=4)), max_size=6))
@example([(("created", {"attributes": {}}), datetime(2008, 4, 6, 2, 0, fold=1, tzinfo=ZoneInfo("Australia/Sydney")),
           "L1")])  # the second 02:00 of the night daylight saving ends
def test_any_events_survive_a_round_trip(tmp_path_factory, cases):
    events = [LeadEvent.build(source="s", lead_id=lead, type=type_, occurred_at=when, payload=payload, key=str(n))
              for n, ((type_, payload), when, lead) in enumerate(cases)]
    path = tmp_path_factory.mktemp("round") / "log.csv"
    write_event_log(events, path)
    # Instants compared in UTC: Python never calls a time in a repeated hour (the second 02:00 when
    # daylight saving ends) equal to a time in another zone, even when it is the same instant.
    assert [in_utc(event) for event in read_event_log(path, source="s")] == [in_utc(event) for event in events]


def in_utc(event: LeadEvent) -> LeadEvent:
    return event.model_copy(update={"occurred_at": event.occurred_at.astimezone(UTC)})


# ---------------------------------------------------------------- the CRM export pair


LEADS = """\
lead_id,created_at,status,owner,owner_manager,team,mql_at,assigned_at,disposition,disposition_reason,disposition_at,converted_at,amount,email,lead_score,target_account
L1,2026-08-03T13:00:00Z,Converted,ana@example.com,maria@example.com,na_sdr,2026-08-03T13:00:00Z,2026-08-03T13:04:00Z,Accepted,,2026-08-05T15:00:00Z,2026-08-10T16:00:00Z,25000,a@example.com,88,true
L2,2026-08-04T10:00:00Z,New,,,,,,,,,,,b@example.com,20,false
L3,2026-08-04T10:00:00Z,Working,bob@example.com,,,,,maybe,,,,,c@example.com,70,
"""
ACTIVITIES = """\
activity_id,lead_id,occurred_at,channel,direction,outcome,by
A1,L1,2026-08-03T13:20:00Z,Call,outbound,connected,ana@example.com
A2,L1,2026-08-03T15:00:00Z,email,inbound,replied,a@example.com
A3,L1,2026-08-03T15:00:00Z,pigeon,outbound,,ana@example.com
"""


def crm(tmp_path: Path) -> tuple[list[LeadEvent], list[Rejected]]:
    leads, activities = csv_file(tmp_path, LEADS, "leads.csv"), csv_file(tmp_path, ACTIVITIES, "activities.csv")
    return split(list(read_crm_export(leads, activities)))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_lead_row_becomes_the_events_it_implies_each_at_its_own_time(tmp_path):
    events, _ = crm(tmp_path)
    l1 = [(str(e.type), e.occurred_at, e.payload) for e in events if e.lead_id == "L1" and e.type != "activity"]
    assert l1 == [
        ("created", utc("2026-08-03T13:00:00Z"), {"attributes": {"email": "a@example.com", "lead_score": 88,
                                                                 "target_account": True}}),
        ("updated", utc("2026-08-03T13:00:00Z"), {"changes": {"stage": "mql"}}),
        ("assigned", utc("2026-08-03T13:04:00Z"), {"owner": "ana@example.com", "owner_manager": "maria@example.com",
                                                   "team": "na_sdr"}),
        ("disposition", utc("2026-08-05T15:00:00Z"), {"disposition": "accepted", "reason": None, "notes": None}),
        ("converted", utc("2026-08-10T16:00:00Z"), {"opportunity_id": None, "amount": 25000.0}),
        ("status_changed", utc("2026-08-10T16:00:00Z"), {"field": "status", "old": None, "new": "Converted"}),
    ]


def test_a_lead_with_only_a_status_gets_created_and_its_status(tmp_path):
    events, _ = crm(tmp_path)
    assert [(str(e.type), e.occurred_at) for e in events if e.lead_id == "L2"] == [
        ("created", utc("2026-08-04T10:00:00Z")), ("status_changed", utc("2026-08-04T10:00:00Z")),
    ]


def test_a_bad_lead_row_is_one_rejection_and_no_partial_events(tmp_path):
    events, rejected = crm(tmp_path)
    assert not [e for e in events if e.lead_id == "L3"]
    assert [(Path(r.file).name, r.line, r.reason) for r in rejected] == [
        ("leads.csv", 4, "disposition disposition 'maybe' is not one of accepted, rejected, nurture, recycled, "
                         "disqualified"),
        ("activities.csv", 4, f"activity channel 'pigeon' is not one of {CHANNELS}"),
    ]


def test_activities_become_activity_events_with_ids_from_the_crms_activity_id(tmp_path):
    events, _ = crm(tmp_path)
    activities = [e for e in events if e.type == "activity"]
    assert [(e.payload["channel"], e.payload["direction"], e.payload["by"]) for e in activities] == [
        ("call", "outbound", "ana@example.com"), ("email", "inbound", "a@example.com"),
    ]
    assert [e.event_id for e in activities] == [e.event_id for e in crm(tmp_path)[0] if e.type == "activity"]
    assert len({e.event_id for e in events}) == len(events)


def test_the_crm_export_needs_its_key_columns(tmp_path):
    leads = csv_file(tmp_path, "lead_id,status\n", "leads.csv")
    activities = csv_file(tmp_path, ACTIVITIES, "activities.csv")
    with pytest.raises(CsvSourceError, match=r"leads.csv: missing required column\(s\) created_at"):
        read_crm_export(leads, activities)


# ---------------------------------------------------------------- hostile cells


HOSTILE_LOG = (
    "lead_id,occurred_at,type,lead_score\n"
    "L1,2026-08-03T09:00:00Z,created,80\n"
    f"L2,2026-08-03T09:00:00Z,created,{'9' * 5000}\n"
    "L3,0001-01-01T00:00:00+01:00,created,80\n"
    "L4,9999-12-31T23:00:00-05:00,created,80\n"
    "L1\x00,2026-08-03T10:00:00Z,updated,81\n"
    "\ufeffL1,2026-08-03T11:00:00Z,updated,82\n"
    " L1 ,2026-08-03T12:00:00Z,updated,83\n"
    "L\x001,2026-08-03T13:00:00Z,updated,84\n"
    "L\x1b[2J5,2026-08-03T13:00:00Z,updated,84\n"
)


@pytest.mark.parametrize("fast", [True, False])
def test_hostile_cells_are_quarantined_with_a_printable_reason_and_padded_ids_join_their_lead(tmp_path, fast):
    events, rejected = read(csv_file(tmp_path, HOSTILE_LOG), fast=fast)
    assert [e.lead_id for e in events] == ["L1", "L1", "L1", "L1"]
    reasons = {r.line: r.reason for r in rejected}
    assert reasons[3].startswith("lead_score '9999") and "too long for a number (5000 characters)" in reasons[3]
    assert "outside the years 1 to 9999" in reasons[4] and "outside the years 1 to 9999" in reasons[5]
    assert "contains U+0000" in reasons[9]
    assert reasons[10] == "lead_id 'L\\x1b[2J5' contains U+001B (a control character)"
    assert all(reason.isprintable() and len(reason) < 200 for reason in reasons.values())
    assert sorted(reasons) == [3, 4, 5, 9, 10]


def test_hostile_cells_in_a_crm_export_are_quarantined_not_raised(tmp_path):
    leads = csv_file(tmp_path, "lead_id,created_at,lead_score\n"
                               f"L1,2026-08-03T09:00:00Z,{'1' * 4400}\n"
                               "L2,0001-01-01T00:00:00+01:00,5\n"
                               "\ufeffL3\x00,2026-08-03T09:00:00Z,5\n", "leads.csv")
    activities = csv_file(tmp_path, "lead_id,occurred_at,channel\nL3 ,2026-08-03T10:00:00Z,call\n", "acts.csv")
    events, rejected = split(list(read_crm_export(leads, activities)))
    assert {e.lead_id for e in events} == {"L3"}
    assert [r.line for r in rejected] == [2, 3]
