"""Test files: TOML beside the policies, read into cases, one per row of a table-driven case.

The format is described in docs/testing.md. tomllib gives no line numbers for values, so a
problem names the case and the key, and points at the line where that key (else the case) is
written, found by a light scan of the text: ``tests/x.test.toml:14: case 'vp lead': ...``.

Size: every key a test file may hold is checked here, with its line, so that a file's mistakes are
all reported at once; the expectations of windows, stages and targets are read next to each other.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sla_engine.engine.status import ClockStatus, TargetStatus
from sla_engine.events import PAYLOAD_MODELS, EventType
from sla_engine.language.policy_set import find_files

TEST_SUFFIX = ".test.toml"

FILE_KEYS = ("policies", "policy", "timezone", "lead", "case")
CASE_KEYS = ("name", "as_of", "timezone", "policy", "lead_id", "lead", "events", "expect", "rows")
ROW_KEYS = ("name", "as_of", "lead_id", "lead", "events", "expect")
WINDOW_KEYS = ("cycle", "lead_id", "tier", "status", "due", "started", "stopped", "breached", "warning",
               "met_late", "goal", "calendar", "cancelled_reason", "escalations")
TIME_KEYS = ("due", "started", "stopped", "breached", "warning")
TARGET_KEYS = ("period", "group", "value", "status", "sample", "escalations")
# `met_late` is a breach that was met later; `not_started` means the window has no clock at all.
WINDOW_STATUSES = (ClockStatus.MET, ClockStatus.BREACHED, "met_late", ClockStatus.RUNNING, ClockStatus.PAUSED,
                   ClockStatus.CANCELLED, ClockStatus.NOT_APPLICABLE, "not_started")
TARGET_STATUSES = tuple(TargetStatus)
EVENT_KEYS = ("at", "type", "lead_id", "payload")
DEFAULT_LEAD = "lead"


# ---------------------------------------------------------------- what a file holds


@dataclass(frozen=True)
class Problem:
    """A mistake in a test file, where a reader can find it."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class TestFileError(Exception):
    """A test file that cannot be run; carries every problem found in it."""

    __test__ = False  # not a pytest test class

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class EventSpec:
    """One event of a case's timeline; ``index`` keeps same-instant events in file order."""

    index: int
    lead_id: str
    at: datetime
    type: str
    payload: dict[str, Any]


@dataclass
class WindowExpect:
    """What one clock (policy, window, cycle) of one lead should look like."""

    key: str  # as written: "first_response" or "inbound_tiered/first_response"
    cycle: int
    lead_id: str
    fields: dict[str, Any]
    line: int


@dataclass
class TargetExpect:
    """A target's value or status for one period and group, over every lead of the case."""

    key: str
    period: str | None
    group: dict[str, Any]
    fields: dict[str, Any]
    line: int


@dataclass
class StagesExpect:
    entered: list[str] | None = None  # exactly these stages were entered (in any order)
    at: dict[str, list[datetime] | bool] = field(default_factory=dict)  # entry instants, or entered at all


@dataclass
class Case:
    file: Path
    line: int
    name: str
    row: str | None
    policies: Path
    policy: str | None
    zone: ZoneInfo
    as_of: datetime
    lead_id: str
    events: list[EventSpec]
    stages: StagesExpect | None = None
    windows: list[WindowExpect] = field(default_factory=list)
    targets: list[TargetExpect] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.name} [{self.row}]" if self.row else self.name

    @property
    def test_id(self) -> str:
        return f"{self.file}::{self.title}"


@dataclass
class TestFile:
    __test__ = False

    path: Path
    policies: Path
    cases: list[Case]


# ---------------------------------------------------------------- finding files


def find_test_files(paths: Iterable[str | Path]) -> list[Path]:
    """The test files named, or found recursively (sorted) under the directories named."""
    return find_files(paths, TEST_SUFFIX)


def policies_for(test_file: Path) -> Path | None:
    """The nearest directory above a test file that holds .sla files (policies/ for policies/tests/)."""
    for directory in test_file.resolve().parents:
        if any(directory.glob("*.sla")) or any(directory.glob("*/*.sla")):
            return directory
    return None


# ---------------------------------------------------------------- line numbers


class _Lines:
    """Where cases and keys are written, for messages: tomllib does not say."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.cases = [n for n, line in enumerate(self.lines, 1) if re.match(r"\s*\[\[\s*case\s*\]\]", line)]

    def case_span(self, index: int) -> tuple[int, int]:
        if index >= len(self.cases):
            return 1, len(self.lines)
        end = self.cases[index + 1] - 1 if index + 1 < len(self.cases) else len(self.lines)
        return self.cases[index], end

    def find(self, span: tuple[int, int], pattern: str) -> int | None:
        regex = re.compile(pattern)
        for number in range(span[0], span[1] + 1):
            if 0 < number <= len(self.lines) and regex.search(self.lines[number - 1]):
                return number
        return None

    def key(self, span: tuple[int, int], key: str) -> int:
        word = re.escape(key)
        found = self.find(span, rf"(^|[\s{{,.\[]){word}\s*=|\[[^\]]*\b{word}\b[^\]]*\]")
        return found or span[0]

    def row_span(self, span: tuple[int, int], index: int, name: str | None) -> tuple[int, int]:
        """A row's lines: its `[[case.rows]]` header, else the line naming it."""
        headers = [n for n in range(span[0], span[1] + 1)
                   if re.match(r"\s*\[\[\s*case\.rows\s*\]\]", self.lines[n - 1])]
        if index < len(headers):
            end = headers[index + 1] - 1 if index + 1 < len(headers) else span[1]
            return headers[index], end
        if name is not None:
            line = self.find(span, rf"name\s*=\s*[\"']{re.escape(name)}[\"']")
            if line is not None:
                return line, line
        return span


class _Bad(Exception):
    """A problem, and how to find its line: a key written there, a text on it, or the line itself."""

    def __init__(self, message: str, key: str | None = None, needle: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.needle = needle
        self.line: int | None = None

    def locate(self, lines: _Lines, span: tuple[int, int]) -> int:
        if self.line is not None:
            return self.line
        if self.needle is not None:
            found = lines.find(span, re.escape(self.needle))
            if found is not None:
                return found
        return lines.key(span, self.key) if self.key else span[0]


class _Bads(Exception):
    """Every problem found in one case, so a test file's mistakes are all reported at once."""

    def __init__(self, problems: list[_Bad]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _suggest(name: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else f" (known: {', '.join(known)})"


def _unknown_keys(table: dict[str, Any], known: tuple[str, ...], what: str) -> None:
    for key in table:
        if key not in known:
            raise _Bad(f"unknown key '{key}' in {what}{_suggest(key, known)}", key)


# ---------------------------------------------------------------- values


def zone_named(name: Any, key: str = "timezone") -> ZoneInfo:
    if not isinstance(name, str):
        raise _Bad(f"{key} must be a time zone name such as \"America/New_York\"", key)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad(f"unknown time zone {name!r}", key) from None


def parse_time(value: Any, zone: ZoneInfo | None, key: str) -> datetime:
    """A time as written: with an offset, or local wall-clock time in the file's zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise _Bad(f"{key}: {value} is a date; give a time of day too, e.g. \"{value} 09:00\"", key)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise _Bad(f"{key}: {value} is a date; give a time of day too, e.g. \"{value} 09:00\"", key)
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise _Bad(f"{key}: {value!r} is not a time; write \"2026-11-20 16:30\" "
                       "(local) or \"2026-11-20T16:30-05:00\"", key) from None
    else:
        raise _Bad(f"{key}: {value!r} is not a time", key)
    if moment.tzinfo is not None:
        return moment
    if zone is None:
        raise _Bad(f"{key}: {value} has no offset; set timezone = \"...\" at the top of the file "
                   "or in the case, or write the offset", key)
    local = moment.replace(tzinfo=zone)
    if local.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != moment:
        raise _Bad(f"{key}: {value} does not exist in {zone.key} (the clocks skip it at a DST change)", key)
    return local


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{key} must be a non-empty text", key)
    return value


def _table(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{key} must be a table, e.g. {key} = {{ ... }}", key)
    return value


def _array_of_tables(value: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _Bad(f"{key} must be an array of tables, e.g. {key} = [{{ ... }}, ...] or [[case.{key}]]", key)
    return value


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key (a row's expectations refine the case's); anything else replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------- events


def _payload_fields(kind: EventType) -> tuple[str, ...]:
    return tuple(PAYLOAD_MODELS[kind].model_fields)


def parse_event(raw: dict[str, Any], index: int, zone: ZoneInfo | None, lead_id: str) -> EventSpec:
    """One event; a problem points at the line that writes the event's time."""
    try:
        return _parse_event(raw, index, zone, lead_id)
    except _Bad as error:
        if error.key in (None, "events") or error.key.startswith("events["):
            error.needle = str(raw.get("at")) if isinstance(raw.get("at"), str) else None
            error.key = "events"
        raise


def _parse_event(raw: dict[str, Any], index: int, zone: ZoneInfo | None, lead_id: str) -> EventSpec:
    """``{ at = "...", type = "activity", channel = "call", by = "ana@example.com" }``.

    For ``created`` the other keys are the lead's attributes, for ``updated`` its changes; for
    every other type they are the payload fields docs/events.md lists.
    """
    key = f"events[{index + 1}]"
    if "type" not in raw or "at" not in raw:
        raise _Bad(f"{key} needs at and type", "events")
    try:
        kind = EventType(str(raw["type"]))
    except ValueError:
        raise _Bad(f"{key}: unknown event type {raw['type']!r}"
                   f"{_suggest(str(raw['type']), [str(t) for t in EventType])}", "events") from None
    at = parse_time(raw["at"], zone, f"{key}.at")
    lead = raw.get("lead_id", lead_id)
    if not isinstance(lead, str) or not lead:
        raise _Bad(f"{key}.lead_id must be a non-empty text", "events")
    rest = {k: v for k, v in raw.items() if k not in EVENT_KEYS}
    extra = raw.get("payload", {})
    if not isinstance(extra, dict):
        raise _Bad(f"{key}.payload must be a table", "events")
    if kind == EventType.CREATED:
        payload = {"attributes": {**extra.get("attributes", {}), **rest}}
    elif kind == EventType.UPDATED:
        payload = {"changes": {**extra.get("changes", {}), **rest}}
    else:
        known = _payload_fields(kind)
        for name in rest:
            if name not in known:
                raise _Bad(f"{key}: unknown key '{name}' for an event of type {kind}{_suggest(name, known)}; "
                           "put other payload fields in payload = { ... }", name)
        payload = {**extra, **rest}
    return EventSpec(index=index, lead_id=lead, at=at, type=str(kind), payload=payload)


# ---------------------------------------------------------------- expectations


def parse_stages(value: Any, zone: ZoneInfo | None) -> StagesExpect:
    """``["lead", "mql"]`` (exactly these entered) or ``{ mql = "2026-11-20 16:30", sal = false }``."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise _Bad("stages must list stage names", "stages")
        return StagesExpect(entered=list(value))
    if isinstance(value, dict):
        expect = StagesExpect()
        for stage, when in value.items():
            if isinstance(when, bool):
                expect.at[stage] = when
            elif isinstance(when, list):
                expect.at[stage] = [parse_time(v, zone, f"stages.{stage}") for v in when]
            else:
                expect.at[stage] = [parse_time(when, zone, f"stages.{stage}")]
        return expect
    raise _Bad("stages must be a list of stage names or a table of stage = time", "stages")


def parse_window(key: str, raw: dict[str, Any], zone: ZoneInfo | None, lead_id: str, cycle: int,
                 line: int) -> WindowExpect:
    _unknown_keys(raw, WINDOW_KEYS, f"the expectations of {key}")
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            fields[name] = _window_field(key, name, value, zone)
        except _Bad as error:
            error.key = name  # found from the window's own line
            raise
    fields.pop("cycle", None)
    fields.pop("lead_id", None)
    chosen = raw.get("cycle", cycle)
    if not isinstance(chosen, int) or isinstance(chosen, bool) or chosen < 1:
        raise _Bad(f"{key}.cycle must be a whole number from 1", "cycle")
    lead = raw.get("lead_id", lead_id)
    if not isinstance(lead, str) or not lead:
        raise _Bad(f"{key}.lead_id must be a non-empty text", "lead_id")
    return WindowExpect(key=key, cycle=chosen, lead_id=lead, fields=fields, line=line)


def _window_field(key: str, name: str, value: Any, zone: ZoneInfo | None) -> Any:
    where = f"{key}.{name}"
    if name in ("cycle", "lead_id"):
        return value
    if name in TIME_KEYS:
        return parse_time(value, zone, where)
    if name == "status":
        status = str(value).replace(" ", "_").lower()
        if status not in WINDOW_STATUSES:
            raise _Bad(f"{where}: unknown status {value!r}{_suggest(status, WINDOW_STATUSES)}")
        return status
    if name == "met_late":
        if not isinstance(value, bool):
            raise _Bad(f"{where} must be true or false")
        return value
    if name == "escalations":
        return parse_escalations(value, where)
    return str(value)


def parse_escalations(value: Any, where: str) -> list[str]:
    """``["on breach: notify manager via slack", ...]``: each fired action, as LEVEL: ACTION."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{where} must list \"LEVEL: ACTION\" texts, e.g. \"on breach: notify manager via slack\"")
    for text in value:
        if ":" not in text:
            raise _Bad(f"{where}: {text!r} needs a level and an action: \"on breach: notify manager\"")
    return list(value)


def parse_target(key: str, raw: dict[str, Any], line: int) -> TargetExpect:
    _unknown_keys(raw, TARGET_KEYS, f"the expectations of target {key}")
    period = raw.get("period")
    if period is not None and not isinstance(period, str):
        raise _Bad(f"targets.{key}.period must be a text such as \"2026-W47\", \"2026-11\" or \"2026-Q4\"", key)
    group = _table(raw.get("group", {}), f"targets.{key}.group")
    fields: dict[str, Any] = {}
    if "value" in raw:
        value = raw["value"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _Bad(f"targets.{key}.value must be a number, or a duration such as \"1h 30m\"", key)
        fields["value"] = value
    if "status" in raw:
        status = str(raw["status"]).replace("_", " ").lower()
        if status not in TARGET_STATUSES:
            raise _Bad(f"targets.{key}.status: unknown status {raw['status']!r}"
                       f"{_suggest(status, TARGET_STATUSES)}", key)
        fields["status"] = status
    if "sample" in raw:
        if isinstance(raw["sample"], bool) or not isinstance(raw["sample"], int):
            raise _Bad(f"targets.{key}.sample must be a whole number", key)
        fields["sample"] = raw["sample"]
    if "escalations" in raw:
        fields["escalations"] = parse_escalations(raw["escalations"], f"targets.{key}.escalations")
    return TargetExpect(key=key, period=period, group=group, fields=fields, line=line)


# ---------------------------------------------------------------- cases


@dataclass
class _Context:
    """What a case inherits from its file."""

    path: Path
    policies: Path
    policy: str | None
    zone: ZoneInfo | None
    lead: dict[str, Any]


def _row_name(index: int, row: dict[str, Any]) -> str:
    if isinstance(row.get("name"), str) and row["name"].strip():
        return row["name"]
    varied = row.get("lead") if isinstance(row.get("lead"), dict) else {}
    if varied:
        return ", ".join(f"{k}={v}" for k, v in varied.items())
    return f"row {index + 1}"


def build_case(ctx: _Context, raw: dict[str, Any], name: str, row: str | None, line: int,
               lines: _Lines, span: tuple[int, int]) -> Case:
    """A case from its table; raises _Bads with every problem found in it."""
    found: list[_Bad] = []
    zone = ctx.zone
    if "timezone" in raw:
        zone = zone_named(raw["timezone"])
    policy = raw.get("policy", ctx.policy)
    as_of = datetime.min.replace(tzinfo=timezone.utc)  # stands in while the rest is checked
    if "as_of" not in raw:
        found.append(_Bad("needs as_of: the instant the case is judged at, e.g. as_of = \"2026-11-23 12:00\""))
    else:
        try:
            as_of = parse_time(raw["as_of"], zone, "as_of")
        except _Bad as error:
            found.append(error)
    lead_id = raw.get("lead_id", DEFAULT_LEAD)
    if not isinstance(lead_id, str) or not lead_id:
        raise _Bad("lead_id must be a non-empty text", "lead_id")
    attributes = _table(raw.get("lead", {}), "lead")
    events: list[EventSpec] = []
    for index, table in enumerate(_array_of_tables(raw.get("events", []), "events")):
        try:
            events.append(parse_event(table, index, zone, lead_id))
        except _Bad as error:
            found.append(error)
    # The file's [lead] is every lead's defaults; the case's `lead` is its own lead's attributes.
    firsts: dict[str, EventSpec] = {}
    for event in events:
        if event.type == EventType.CREATED:
            firsts.setdefault(event.lead_id, event)
    if attributes and lead_id not in firsts and len(events) == len(raw.get("events", [])):
        raise _Bad("lead attributes need a created event for the lead: add "
                   "{ at = \"...\", type = \"created\" } to events", "lead")
    for lead, first in firsts.items():
        own = attributes if lead == lead_id else {}
        first.payload["attributes"] = {**ctx.lead, **own, **first.payload["attributes"]}
    case = Case(file=ctx.path, line=line, name=name, row=row, policies=ctx.policies, policy=policy,
                zone=zone or ZoneInfo("UTC"), as_of=as_of, lead_id=lead_id, events=events)
    expect = _table(raw.get("expect", {}), "expect")
    for key, value in expect.items():
        key_line = lines.key(span, key)
        try:
            _expectation(case, zone, key, value, key_line, lines, span)
        except _Bad as error:
            if error.line is None and error.needle is None:
                error.line = lines.key((key_line, span[1]), error.key) if error.key else key_line
            found.append(error)
    if found:
        raise _Bads(found)
    return case


def _expectation(case: Case, zone: ZoneInfo | None, key: str, value: Any, key_line: int, lines: _Lines,
                 span: tuple[int, int]) -> None:
    if key == "stages":
        case.stages = parse_stages(value, zone)
    elif key == "targets":
        for target, wanted in _table(value, "targets").items():
            target_line = lines.key((key_line, span[1]), target)
            several = wanted if isinstance(wanted, list) else [wanted]  # one per period or group
            try:
                for one in several:
                    case.targets.append(parse_target(target, _table(one, f"targets.{target}"), target_line))
            except _Bad as error:
                error.line = (lines.key((target_line, span[1]), error.key) if error.key not in (None, target)
                              else target_line)
                raise
    elif isinstance(value, dict):
        case.windows.append(parse_window(key, value, zone, case.lead_id, 1, key_line))
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        case.windows.extend(parse_window(key, v, zone, case.lead_id, i + 1, key_line) for i, v in enumerate(value))
    else:
        raise _Bad(f"expect.{key} must be a table of expectations for window {key} "
                   "(or stages = [...], or [case.expect.targets.NAME])")


def _cases(ctx: _Context, index: int, raw: dict[str, Any], lines: _Lines, problems: list[Problem]) -> list[Case]:
    span = lines.case_span(index)
    name = raw.get("name")
    label = f"case {index + 1}" if not isinstance(name, str) else f"case '{name}'"

    def report(error: _Bad, where: tuple[int, int], prefix: str) -> None:
        problems.append(Problem(str(ctx.path), error.locate(lines, where), f"{prefix}: {error}"))

    try:
        _unknown_keys(raw, CASE_KEYS, "a case")
        name = _text(name, "name")
    except _Bad as error:
        report(error, span, label)
        return []
    rows = raw.get("rows")
    if rows is None:
        try:
            return [build_case(ctx, raw, name, None, span[0], lines, span)]
        except _Bad as error:
            report(error, span, label)
            return []
        except _Bads as errors:
            for problem in errors.problems:
                report(problem, span, label)
            return []
    try:
        rows = _array_of_tables(rows, "rows")
    except _Bad as error:
        report(error, span, label)
        return []
    base = {k: v for k, v in raw.items() if k != "rows"}
    cases: list[Case] = []
    seen: set[str] = set()
    for number, row in enumerate(rows):
        row_name = _row_name(number, row)
        where = lines.row_span(span, number, row.get("name") if isinstance(row.get("name"), str) else None)
        prefix = f"{label}, row '{row_name}'"
        try:
            _unknown_keys(row, ROW_KEYS, "a row")
            if row_name in seen:
                raise _Bad(f"two rows are named '{row_name}'; give each a distinct name", "name")
            seen.add(row_name)
            merged = dict(base)
            for key, value in row.items():
                if key == "lead":
                    merged["lead"] = {**_table(base.get("lead", {}), "lead"), **_table(value, "lead")}
                elif key == "events":
                    merged["events"] = [*_array_of_tables(base.get("events", []), "events"),
                                        *_array_of_tables(value, "events")]
                elif key == "expect":
                    merged["expect"] = deep_merge(_table(base.get("expect", {}), "expect"), _table(value, "expect"))
                elif key != "name":
                    merged[key] = value
            cases.append(build_case(ctx, merged, name, row_name, where[0], lines, where))
        except _Bad as error:
            report(error, where, prefix)
        except _Bads as errors:
            for problem in errors.problems:
                report(problem, where, prefix)
    return cases


def load_test_file(path: Path, policies: Path | None = None) -> TestFile:
    """Read and check a test file; raise TestFileError with every problem found.

    ``policies``: the policy directory to test against when the file does not name one
    (default: the nearest directory above the file that holds .sla files).
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TestFileError([Problem(name, 1, f"cannot read: {error}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise TestFileError([Problem(name, int(match[1]) if match else 1, f"not valid TOML: {error}")]) from None
    lines = _Lines(text)
    top = (1, max(lines.cases[0] - 1, 1) if lines.cases else len(lines.lines))
    try:
        _unknown_keys(data, FILE_KEYS, "the file")
        zone = zone_named(data["timezone"]) if "timezone" in data else None
        if "policies" in data:
            directory = (path.parent / _text(data["policies"], "policies")).resolve()
            if not directory.exists():
                raise _Bad(f"policies: {directory} does not exist", "policies")
        else:
            directory = policies or policies_for(path)  # type: ignore[assignment]
            if directory is None:
                raise _Bad("no .sla files in any directory above this file; set policies = \"../\"", "policies")
        policy = _text(data["policy"], "policy") if "policy" in data else None
        ctx = _Context(path=path, policies=Path(directory), policy=policy, zone=zone,
                       lead=_table(data.get("lead", {}), "lead"))
        cases_raw = _array_of_tables(data.get("case", []), "case")
    except _Bad as error:
        raise TestFileError([Problem(name, error.locate(lines, top), str(error))]) from None
    if not cases_raw:
        raise TestFileError([Problem(name, 1, "no cases: add a [[case]] table")])
    problems: list[Problem] = []
    cases = [case for index, raw in enumerate(cases_raw) for case in _cases(ctx, index, raw, lines, problems)]
    titles: dict[str, Case] = {}
    for case in cases:
        if case.title in titles:
            problems.append(Problem(name, case.line, f"two tests are named '{case.title}'"))
        titles[case.title] = case
    if problems:
        raise TestFileError(problems)
    return TestFile(path=path, policies=ctx.policies, cases=cases)
