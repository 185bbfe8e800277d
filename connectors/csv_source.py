"""Read lead events from CSV: an event log (one row per event) or a CRM's leads + activities export.

Reading is pure and streaming: every row becomes a LeadEvent or a Rejected that names the file,
the physical line and a reason a RevOps reader can act on. The caller stores the events and
quarantines the rejects. Both formats, and the writer's (csv_writer.py), are described in
docs/events.md.

Speed: the payload of an ordinary row is checked by the cheap checks the events module writes
from the payload models (``events.PAYLOAD_SPECS``, ``events.validated_payload``); anything they
are not sure of goes through pydantic itself, so every rejection reason comes from the models and
an accepted payload is exactly what the models give. An ordinary event log row is read straight
from its cells (`_LogPlan`); any other row takes the full path, which gives the same event or the
reason it is rejected. For the store, the lane can give the row the store keeps instead
(`rows=True`, an EventRow), with the JSON of the payloads a log repeats remembered.

Size: both readers share the fast lane and the full path it must agree with; they stay in one
file so that the fast path is held to its plain version in one place.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sla_engine.events import (
    BOOLEAN_WORDS,
    CHOICE_FIELDS,
    PAYLOAD_MODELS,
    PAYLOAD_SPECS,
    STANDARD_FIELDS,
    UNSURE,
    Check,
    EventRow,
    EventType,
    IdentifierError,
    LeadEvent,
    PayloadError,
    check_text,
    make_event_id,
    normalize_identifier,
    plain_payload_text,
    stored_instant,
    validated_payload,
)
from sla_engine.safe_text import escape_control

__all__ = [
    "CsvSourceError",
    "Rejected",
    "read_crm_export",
    "read_event_log",
]


class CsvSourceError(ValueError):
    """The file as a whole cannot be read (missing, no header, required column absent, not UTF-8)."""


@dataclass(frozen=True)
class Rejected:
    file: str  # path as given
    line: int  # 1-based physical line of the row's start (the header is line 1)
    reason: str
    raw: dict[str, str]


class _RowError(Exception):
    """One row cannot become events; the message is the quarantine reason."""


# ---------------------------------------------------------------- columns

IDENTITY_COLUMNS = ("event_id", "lead_id", "occurred_at", "type")
EVENT_LOG_REQUIRED = ("lead_id", "occurred_at", "type")
PAYLOAD_JSON = "payload"

# created and updated fold every other column into one mapping; the other types read named columns.
FOLDED_KEY: dict[EventType, str] = {EventType.CREATED: "attributes", EventType.UPDATED: "changes"}
PAYLOAD_COLUMNS: dict[EventType, tuple[str, ...]] = {
    type_: tuple(model.model_fields) for type_, model in PAYLOAD_MODELS.items() if type_ not in FOLDED_KEY
}

# Standard fields that can sit in their own column (a timestamp field goes in the payload JSON).
STANDARD_ATTRIBUTE_COLUMNS = tuple(name for name, kind in STANDARD_FIELDS.items() if kind != "timestamp")

LEAD_COLUMNS = (
    "lead_id", "created_at", "status", "owner", "owner_manager", "team", "mql_at", "assigned_at",
    "disposition", "disposition_reason", "disposition_at", "converted_at", "amount",
)
LEADS_REQUIRED = ("lead_id", "created_at")
ACTIVITIES_REQUIRED = ("lead_id", "occurred_at", "channel")
KNOWN_TYPES = ", ".join(str(t) for t in EventType)


# ---------------------------------------------------------------- reading the file


@dataclass(frozen=True)
class _Layout:
    """A file's header, read once up front so a bad file fails before any row is yielded."""

    path: Path
    label: str  # the path as the caller gave it, for messages and Rejected.file
    header: tuple[str, ...]  # as in the file
    names: tuple[str, ...]  # our names, after `columns`; "" for an unnamed column


def _open(path: Path) -> TextIO:
    return path.open(newline="", encoding="utf-8-sig")


def _layout(path: str | Path, required: Sequence[str], columns: Mapping[str, str] | None) -> _Layout:
    label = str(path)
    file = Path(path)
    try:
        with _open(file) as handle:
            header = next(csv.reader(handle), None)
    except FileNotFoundError:
        raise CsvSourceError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise CsvSourceError(f"{label}: is a directory, not a CSV file") from None
    except UnicodeDecodeError as error:
        raise CsvSourceError(f"{label}: not UTF-8 ({error.reason} at byte {error.start}); export it as UTF-8") from None
    if header is None:
        raise CsvSourceError(f"{label}: the file is empty; expected a header row with {', '.join(required)}")
    header = tuple(cell.strip() for cell in header)
    ours = {theirs: mine for mine, theirs in (columns or {}).items()}
    names = tuple(ours.get(cell, cell) for cell in header)
    missing = [name for name in required if name not in names]
    if missing:
        wanted = ", ".join(_column_label(name, columns) for name in missing)
        raise CsvSourceError(f"{label}: missing required column(s) {wanted}; the header has {', '.join(header)}")
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise CsvSourceError(f"{label}: column {name!r} appears twice in the header")
        seen.add(name)
    return _Layout(file, label, header, names)


def _column_label(name: str, columns: Mapping[str, str] | None) -> str:
    theirs = (columns or {}).get(name)
    return f"{name} (as '{theirs}')" if theirs and theirs != name else name


def _records(layout: _Layout) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(first physical line, cells, problem) per record; blank lines are not records."""
    with _open(layout.path) as handle:
        reader = csv.reader(handle)
        try:
            next(reader)  # the header, already checked
            end = reader.line_num
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:  # e.g. a cell over the csv module's size limit
                    yield end + 1, None, f"the row is not readable CSV: {error}"
                    end = reader.line_num
                    continue
                start, end = end + 1, reader.line_num
                if cells:
                    yield start, cells, None
        except UnicodeDecodeError as error:
            raise CsvSourceError(
                f"{layout.label}: not UTF-8 after line {reader.line_num} ({error.reason}); export it as UTF-8"
            ) from None


def _rows(layout: _Layout) -> Iterator[tuple[int, list[str], dict[str, str] | None, str | None]]:
    """(line, cells, values, problem): values maps our names to stripped, non-empty cells."""
    names = layout.names
    width = len(names)
    for line, cells, problem in _records(layout):
        if cells is None:
            yield line, [], None, problem
        elif len(cells) != width:
            yield line, cells, None, _width_problem(cells, width)
        else:
            yield line, cells, _values(names, cells), None


def _values(names: tuple[str, ...], cells: list[str]) -> dict[str, str]:
    """Our names to the row's stripped, non-empty cells; an unnamed column is left out."""
    values = {name: text for name, cell in zip(names, cells, strict=True) if cell and (text := cell.strip())}
    values.pop("", None)
    return values


def _width_problem(cells: list[str], width: int) -> str:
    reason = f"the row has {len(cells)} cells but the header has {width}"
    if cells and "\n" in cells[-1]:
        reason += " (an unclosed quote swallowed the lines after it?)"
    return reason


def _rejected(layout: _Layout, line: int, cells: list[str], reason: str) -> Rejected:
    raw = {}
    for index, cell in enumerate(cells):
        name = layout.header[index] if index < len(layout.header) and layout.header[index] else f"column_{index + 1}"
        raw[name] = cell
    return Rejected(layout.label, line, reason, raw)


# ---------------------------------------------------------------- cells to values


_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CsvSourceError(f"unknown time zone {name!r}; use an IANA name such as America/New_York") from None


def _timestamp(name: str, text: str | None, zone: ZoneInfo | None) -> datetime:
    """ISO 8601 (or 'YYYY-MM-DD HH:MM[:SS]'); naive only with a declared zone, so no instant is guessed."""
    if not text:
        raise _RowError(f"{name} is missing")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(f"{name} {_quoted(text)} is not a timestamp") from None
    if "T" not in text and " " not in text and "t" not in text:
        raise _RowError(f"{name} {_quoted(text)} is a date without a time of day")
    if value.tzinfo is None:
        if zone is None:
            raise _RowError(
                f"{name} {_quoted(text)} has no time zone; add an offset (Z, +02:00) or declare the source's timezone"
            )
        value = value.replace(tzinfo=zone)
    try:
        value.astimezone(dt_timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first instant Python can hold
        raise _RowError(f"{name} {_quoted(text)} is outside the years 1 to 9999 in UTC") from None
    return value


MAX_NUMBER_LENGTH = 100  # characters; far beyond any real score or revenue, far below int()'s 4,300-digit limit


def _number(name: str, text: str) -> int | float:
    if len(text) > MAX_NUMBER_LENGTH:
        raise _RowError(f"{name} {_quoted(text)} is too long for a number ({len(text)} characters)")
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
    raise _RowError(f"{name} {_quoted(text)} is not a number")


def _quoted(text: str) -> str:
    """A cell as a quarantine reason shows it: control characters escaped, a long one cut."""
    shown = escape_control(text if len(text) <= 60 else text[:57] + "...")
    return f"'{shown}'"


def _lead_id(values: Mapping[str, str]) -> str:
    text = values.get("lead_id")
    if not text:
        raise _RowError("lead_id is missing")
    try:
        return normalize_identifier(text)
    except IdentifierError as error:
        raise _RowError(str(error)) from None


def _boolean(name: str, text: str) -> bool:
    value = BOOLEAN_WORDS.get(text.lower())
    if value is None:
        raise _RowError(f"{name} {_quoted(text)} is not true or false (write true/false, yes/no or 1/0)")
    return value


def _field_value(name: str, text: str, zone: ZoneInfo | None) -> Any:
    """A lead field's cell in its standard type; a field we do not know stays text."""
    kind = STANDARD_FIELDS.get(name)
    if kind == "number":
        return _number(name, text)
    if kind == "boolean":
        return _boolean(name, text)
    if kind == "timestamp":
        return _timestamp(name, text, zone).isoformat()
    return text


def _fields(values: Mapping[str, str], skip: frozenset[str], zone: ZoneInfo | None) -> dict[str, Any]:
    return {name: _field_value(name, text, zone) for name, text in values.items() if name not in skip}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except ValueError as error:
        detail = f"{error.msg} at character {error.pos}" if isinstance(error, json.JSONDecodeError) else str(error)
        raise _RowError(f"payload is not valid JSON ({detail})") from None
    if not isinstance(value, dict):
        raise _RowError(f"payload must be a JSON object, not {type(value).__name__}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value



# ---------------------------------------------------------------- values to events


_NOT_FIELDS = frozenset((*IDENTITY_COLUMNS, PAYLOAD_JSON))
_LEAD_NOT_ATTRIBUTES = frozenset((*LEAD_COLUMNS, PAYLOAD_JSON))


def _event_type(text: str | None) -> EventType:
    if not text:
        raise _RowError("type is missing")
    try:
        return EventType(text.lower())
    except ValueError:
        raise _RowError(f"type {_quoted(text)} is not one of {KNOWN_TYPES}") from None


def _payload(type_: EventType, values: Mapping[str, str], zone: ZoneInfo | None) -> dict[str, Any]:
    """The row's payload: named columns by type, or every other column for created/updated."""
    folded = FOLDED_KEY.get(type_)
    if folded is not None:
        payload: dict[str, Any] = {folded: _fields(values, _NOT_FIELDS, zone)}
    else:
        payload = {name: values[name] for name in PAYLOAD_COLUMNS[type_] if name in values}
        for name in CHOICE_FIELDS.intersection(payload):
            payload[name] = payload[name].lower()
    if PAYLOAD_JSON in values:
        _merge(payload, _json_object(values[PAYLOAD_JSON]), folded)
    elif type_ is EventType.UPDATED and not payload["changes"]:
        raise _RowError("updated row changes nothing: fill at least one field column")
    return _checked(type_, payload)


def _checked(type_: EventType, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the models give it; the reason the models refuse it is the row's quarantine reason."""
    try:
        return validated_payload(type_, payload)
    except PayloadError as error:
        raise _RowError(str(error)) from None


def _merge(payload: dict[str, Any], extra: dict[str, Any], folded: str | None) -> None:
    """The payload JSON is applied last; its attributes/changes add to the columns' ones."""
    for name, value in extra.items():
        if name == folded and isinstance(value, dict):
            payload[name] = {**payload[name], **value}
        else:
            payload[name] = value


def _content_key(values: Mapping[str, str]) -> str:
    """The row's content, order-free, so re-reading the same row gives the same event id."""
    return "\x1f".join(f"{name}={text}" for name, text in sorted(values.items()) if name not in IDENTITY_COLUMNS)


def _event(source: str, lead_id: str, type_: EventType, occurred_at: datetime, payload: dict[str, Any],
           key: str, event_id: str | None = None) -> LeadEvent:
    """A LeadEvent from values already checked as its validators would check them."""
    return LeadEvent.trusted(
        event_id or make_event_id(source, lead_id, type_, occurred_at.astimezone(dt_timezone.utc), key),
        lead_id, occurred_at, source, type_, payload,
    )


def _log_event(values: Mapping[str, str], source: str, zone: ZoneInfo | None) -> LeadEvent:
    lead_id = _lead_id(values)
    occurred_at = _timestamp("occurred_at", values.get("occurred_at"), zone)
    type_ = _event_type(values.get("type"))
    payload = _payload(type_, values, zone)
    event_id = values.get("event_id")
    key = "" if event_id else _content_key(values)
    return _event(source, lead_id, type_, occurred_at, payload, key, event_id)


def read_event_log(path: str | Path, *, source: str = "csv", timezone: str | None = None,
                   columns: Mapping[str, str] | None = None, fast: bool = True,
                   rows: bool = False) -> Iterator[LeadEvent | EventRow | Rejected]:
    """Every row of an event log as a LeadEvent (or an EventRow, see `rows`) or a Rejected, lazily, in file order.

    The file and its header are checked now (CsvSourceError); rows are read as the caller iterates.
    `fast=False` sends every row through the full path, the reference the fast lane is tested against.
    `rows=True` gives the fast lane's events as EventRows, for the store: such a row costs no LeadEvent.
    """
    layout = _layout(path, EVENT_LOG_REQUIRED, columns)
    zone = _zone(timezone)
    return _read_log(layout, source, zone, _LogPlan.of(layout.names, zone) if fast else None, rows)


def _read_log(layout: _Layout, source: str, zone: ZoneInfo | None, plan: _LogPlan | None,
              rows: bool = False) -> Iterator[LeadEvent | EventRow | Rejected]:
    width = len(layout.names)
    fast_lane = None if plan is None else plan.row if rows else plan.event
    for line, cells, problem in _records(layout):
        if cells is None:
            yield _rejected(layout, line, [], problem or "unreadable row")
            continue
        if len(cells) != width:
            yield _rejected(layout, line, cells, _width_problem(cells, width))
            continue
        if fast_lane is not None:
            try:
                event = fast_lane(cells, source)
            except (_RowError, ValueError, OverflowError):
                event = None  # the full path says why
            if event is not None:
                yield event
                continue
        try:
            yield _log_event(_values(layout.names, cells), source, zone)
        except _RowError as error:
            yield _rejected(layout, line, cells, str(error))


_TYPE_CELLS = {str(type_): type_ for type_ in EventType}
# An instant such as 2026-08-03T09:00:00Z, which the store writes as the same text with +00:00 for the Z.
_PLAIN_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)


_KNOWN_PAYLOADS = 4096  # payload texts a plan remembers: the frequent ones come early and often


def _cells_at(columns: list[int]) -> Callable[[list[str]], Any]:
    """The cells of a row at these columns, in one call: a tuple, or the one cell."""
    return itemgetter(*columns) if columns else lambda cells: ()


_REQUIRED = object()  # a payload field without a default


@dataclass(frozen=True)
class _LogPlan:
    """The fast lane: an ordinary event log row straight from its cells, without the values mapping.

    Worked out once per file from the header. `event` takes only rows it is sure of: the type
    written as we write it, no payload JSON, and values the payload checks vouch for; for any
    other row it returns None (or raises _RowError), and `_log_event` reads the row in full.
    Both give the same event for a row the lane takes, and `row` that event's EventRow
    (tests/connectors/test_csv_source.py).
    """

    names: tuple[str, ...]
    zone: ZoneInfo | None
    event_id: int | None
    lead_id: int
    occurred_at: int
    type: int
    payload: int | None
    # per type with named payload columns: (field, column or None, check (None: any text), lowercase first,
    # default or _REQUIRED)
    named: dict[EventType, tuple[tuple[str, int | None, Check | None, bool, Any], ...]]
    # created/updated: (field, column, what makes the cell its value (None: the text as it stands))
    folded: tuple[tuple[str, int, Callable[[str, str], Any] | None], ...]
    folded_types: frozenset[EventType]
    named_cells: dict[EventType, Callable[[list[str]], Any]]  # per type in `named`: the cells its payload is read from
    known_payloads: dict[tuple[EventType, Any], str] = field(default_factory=dict)  # (type, those cells) -> JSON

    @classmethod
    def of(cls, names: tuple[str, ...], zone: ZoneInfo | None) -> _LogPlan:
        index = {name: i for i, name in enumerate(names) if name}
        named = {}
        for type_, spec in PAYLOAD_SPECS.items():
            if type_ in FOLDED_KEY or spec is None:
                continue
            columns = []
            for name, check, info in spec.fields:
                default = _REQUIRED if info.is_required() else info.default
                if default is not _REQUIRED and not isinstance(default, str | int | float | None):
                    break  # a default made or copied per event: leave the type to the full path
                columns.append((name, index.get(name), None if check is check_text else check, name in CHOICE_FIELDS,
                                default))
            else:
                named[type_] = tuple(columns)
        converters: dict[str, Callable[[str, str], Any]] = {
            "number": _number, "boolean": _boolean, "timestamp": lambda name, text: _field_value(name, text, zone),
        }
        folded = tuple((name, i, converters.get(STANDARD_FIELDS.get(name, "text")))
                       for name, i in index.items() if name not in _NOT_FIELDS)
        folded_types = frozenset(type_ for type_ in FOLDED_KEY if PAYLOAD_SPECS[type_] is not None)
        named_cells = {type_: _cells_at([column for _, column, *_ in columns if column is not None])
                       for type_, columns in named.items()}
        return cls(names, zone, index.get("event_id"), index["lead_id"], index["occurred_at"], index["type"],
                   index.get(PAYLOAD_JSON), named, folded, folded_types, named_cells)

    def event(self, cells: list[str], source: str) -> LeadEvent | None:
        """The row's event, or None when the full path must read it."""
        identity = self._identity(cells, source)
        if identity is None:
            return None
        type_, event_id, lead_id, _, occurred_at = identity
        payload = self._payload(type_, cells)
        if payload is None:
            return None
        return LeadEvent.trusted(event_id, lead_id, occurred_at, source, type_, payload)

    def row(self, cells: list[str], source: str) -> EventRow | None:
        """What the store keeps of the row's event, without building the event; None as for `event`.

        The JSON of a payload from named columns is remembered by their cells: a log says the same
        few things (a status change to Working, a call by the same rep) over and over.
        """
        identity = self._identity(cells, source)
        if identity is None:
            return None
        type_, event_id, lead_id, when, occurred_at = identity
        cells_of = self.named_cells.get(type_)
        if cells_of is None:  # created or updated: the payload is every other column, seldom the same twice
            text = None
        else:
            key = (type_, cells_of(cells))
            text = self.known_payloads.get(key)
        if text is None:
            payload = self._payload(type_, cells)
            if payload is None:
                return None
            text = plain_payload_text(payload)
            if cells_of is not None and len(self.known_payloads) < _KNOWN_PAYLOADS:
                self.known_payloads[key] = text
        instant = when[:19] + "+00:00" if _PLAIN_UTC.fullmatch(when) else stored_instant(occurred_at)
        return EventRow(event_id, lead_id, instant, source, cells[self.type], text)

    def _identity(self, cells: list[str], source: str) -> tuple[EventType, str, str, str, datetime] | None:
        """(type, event_id, lead_id, occurred_at as written, occurred_at) of a row the lane may take."""
        type_ = _TYPE_CELLS.get(cells[self.type])
        lead_id = cells[self.lead_id].strip()
        if (type_ is None or not lead_id or not lead_id.isprintable()  # an odd id: the full path normalises it
                or (self.payload is not None and cells[self.payload].strip())):
            return None
        when = cells[self.occurred_at].strip()
        occurred_at = _timestamp("occurred_at", when, self.zone)
        event_id = cells[self.event_id].strip() if self.event_id is not None else ""
        if not event_id:
            key = _content_key(_values(self.names, cells))
            event_id = make_event_id(source, lead_id, type_, occurred_at.astimezone(dt_timezone.utc), key)
        return type_, event_id, lead_id, when, occurred_at

    def _payload(self, type_: EventType, cells: list[str]) -> dict[str, Any] | None:
        """The payload as the models would give it, or None when the checks cannot vouch for a value."""
        payload: dict[str, Any] = {}
        columns = self.named.get(type_)
        if columns is not None:
            for name, column, check, lower, default in columns:
                text = cells[column].strip() if column is not None else ""
                if text and check is None:
                    payload[name] = text
                elif text:
                    value = check(text.lower() if lower else text)
                    if value is UNSURE:
                        return None
                    payload[name] = value
                elif default is _REQUIRED:
                    return None
                else:
                    payload[name] = default
        elif type_ in self.folded_types:
            fields: dict[str, Any] = {}
            for name, column, convert in self.folded:
                text = cells[column]
                if text and (text := text.strip()):
                    fields[name] = text if convert is None else convert(name, text)
            if type_ is EventType.UPDATED and not fields:
                return None
            payload[FOLDED_KEY[type_]] = fields
        else:
            return None
        return payload


# ---------------------------------------------------------------- the CRM export pair


def read_crm_export(leads_path: str | Path, activities_path: str | Path, *, source: str = "crm-export",
                    timezone: str | None = None,
                    columns: Mapping[str, str] | None = None) -> Iterator[LeadEvent | Rejected]:
    """A CRM's lead snapshot and activity log as events: leads.csv rows first, then activities.csv.

    Each lead row yields its derived events (see `_lead_row_events`) or one Rejected for the row.
    """
    leads = _layout(leads_path, LEADS_REQUIRED, columns)
    activities = _layout(activities_path, ACTIVITIES_REQUIRED, columns)
    zone = _zone(timezone)
    return _read_crm(leads, activities, source, zone)


def _read_crm(leads: _Layout, activities: _Layout, source: str,
              zone: ZoneInfo | None) -> Iterator[LeadEvent | Rejected]:
    for line, cells, values, problem in _rows(leads):
        try:
            if values is None:
                raise _RowError(problem or "unreadable row")
            yield from _lead_row_events(values, source, zone)
        except _RowError as error:
            yield _rejected(leads, line, cells, str(error))
    for line, cells, values, problem in _rows(activities):
        try:
            if values is None:
                raise _RowError(problem or "unreadable row")
            yield _activity_event(values, source, zone)
        except _RowError as error:
            yield _rejected(activities, line, cells, str(error))


def _lead_row_events(values: Mapping[str, str], source: str, zone: ZoneInfo | None) -> list[LeadEvent]:
    """What a snapshot row says happened, each at the time the row gives for it.

    created at created_at (every attribute column); updated stage=mql at mql_at; assigned at
    assigned_at (else created_at) when owner is given; disposition at disposition_at (else the
    latest time); converted at converted_at with amount; status_changed to status at the latest
    time the row knows. Ids come from (source, lead, type, time), so re-reading an export gives
    the same ids and a later export replaces an event whose time has not moved.
    """
    lead_id = _lead_id(values)
    times = {"created_at": _timestamp("created_at", values.get("created_at"), zone)}
    for name in ("mql_at", "assigned_at", "disposition_at", "converted_at"):
        if name in values:
            times[name] = _timestamp(name, values[name], zone)
    latest = max(times.values())
    created_at = times["created_at"]
    wanted: list[tuple[EventType, datetime, dict[str, Any]]] = [
        (EventType.CREATED, created_at, {"attributes": _fields(values, _LEAD_NOT_ATTRIBUTES, zone)}),
    ]
    if "mql_at" in times:
        wanted.append((EventType.UPDATED, times["mql_at"], {"changes": {"stage": "mql"}}))
    if "owner" in values:
        owner = {name: values[name] for name in ("owner", "owner_manager", "team") if name in values}
        wanted.append((EventType.ASSIGNED, times.get("assigned_at", created_at), owner))
    if "disposition" in values:
        disposition = {"disposition": values["disposition"].lower(), "reason": values.get("disposition_reason")}
        wanted.append((EventType.DISPOSITION, times.get("disposition_at", latest), disposition))
    if "converted_at" in times:
        wanted.append((EventType.CONVERTED, times["converted_at"], {"amount": values.get("amount")}))
    if "status" in values:
        wanted.append((EventType.STATUS_CHANGED, latest, {"field": "status", "new": values["status"]}))
    return [_event(source, lead_id, type_, at, _checked(type_, payload), "")
            for type_, at, payload in wanted]


def _activity_event(values: Mapping[str, str], source: str, zone: ZoneInfo | None) -> LeadEvent:
    lead_id = _lead_id(values)
    occurred_at = _timestamp("occurred_at", values.get("occurred_at"), zone)
    payload = _payload(EventType.ACTIVITY, values, zone)
    key = values.get("activity_id") or _content_key(values)
    return _event(source, lead_id, EventType.ACTIVITY, occurred_at, payload, key)
