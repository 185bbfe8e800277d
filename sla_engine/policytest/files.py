"""Test files: TOML beside the policies, read into cases, one per row of a table-driven case.

The format is described in docs/testing.md; the shape of each table is a pydantic model in
shapes.py. tomllib gives no line numbers for values, so a problem names the case and the key, and
points at the line where that key (else the case) is written, found by a light scan of the text:
``tests/x.test.toml:14: case 'vp lead': ...``. Every mistake of a file is reported at once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from sla_engine.events import PAYLOAD_MODELS, EventType
from sla_engine.language.policy_set import find_files
from sla_engine.policytest.shapes import (
    MISSING,
    STAGE_TIMES,
    CaseShape,
    EventShape,
    FileShape,
    Mistake,
    Mistakes,
    RowShape,
    TargetShape,
    WindowShape,
    checked,
    parse_time,
    said,
    suggest,
)

TEST_SUFFIX = ".test.toml"


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


def _line_of(mistake: Mistake, lines: _Lines, span: tuple[int, int]) -> int:
    """Where a mistake is: its line if known, else the line with its text, else the line writing its key."""
    if mistake.line is not None:
        return mistake.line
    if mistake.needle is not None:
        found = lines.find(span, re.escape(mistake.needle))
        if found is not None:
            return found
    return lines.key(span, mistake.key) if mistake.key else span[0]


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


def parse_event(raw: dict[str, Any], index: int, zone: ZoneInfo | None, lead_id: str) -> EventSpec:
    """One event; a problem points at the line that writes the event's time, else at its key."""
    needle = raw["at"] if isinstance(raw.get("at"), str) else None
    try:
        event = checked(EventShape, raw, "an event", f"events[{index + 1}].", zone)
        payload = _event_payload(event, index)
    except Mistakes as errors:
        for error in errors.problems:
            error.needle = needle
            if error.key is None or error.key in EventShape.model_fields:
                error.key = "events"
        raise
    return EventSpec(index=index, lead_id=event.lead_id or lead_id, at=event.at, type=str(event.type),
                     payload=payload)


def _event_payload(event: EventShape, index: int) -> dict[str, Any]:
    """For ``created`` the other keys are the lead's attributes, for ``updated`` its changes; for
    every other type they are the payload fields docs/events.md lists."""
    rest = dict(event.model_extra or {})
    if event.type == EventType.CREATED:
        return {"attributes": {**event.payload.get("attributes", {}), **rest}}
    if event.type == EventType.UPDATED:
        return {"changes": {**event.payload.get("changes", {}), **rest}}
    known = tuple(PAYLOAD_MODELS[event.type].model_fields)
    unknown = [Mistake(f"events[{index + 1}]: unknown key '{name}' for an event of type {event.type}"
                    f"{suggest(name, known)}; put other payload fields in payload = {{ ... }}", name)
               for name in rest if name not in known]
    if unknown:
        raise Mistakes(unknown)
    return {**event.payload, **rest}


# ---------------------------------------------------------------- expectations


def parse_stages(value: Any, zone: ZoneInfo | None) -> StagesExpect:
    """``["lead", "mql"]`` (exactly these entered) or ``{ mql = "2026-11-20 16:30", sal = false }``."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise Mistake("stages must list stage names", "stages")
        return StagesExpect(entered=list(value))
    if isinstance(value, dict):
        try:
            return StagesExpect(at=STAGE_TIMES.validate_python(value, context={"zone": zone}))
        except ValidationError as error:
            raise Mistakes([said(problem, None, "stages", "stages.")
                         for problem in error.errors(include_url=False)]) from None
    raise Mistake("stages must be a list of stage names or a table of stage = time", "stages")


def parse_window(key: str, raw: dict[str, Any], zone: ZoneInfo | None, lead_id: str, cycle: int,
                 line: int) -> WindowExpect:
    """One clock's expectations; ``cycle`` and ``lead_id`` say which clock, the rest what it should be."""
    shape = checked(WindowShape, raw, f"the expectations of {key}", f"{key}.", zone)
    fields = {name: getattr(shape, name) for name in raw if name not in ("cycle", "lead_id")}
    return WindowExpect(key=key, cycle=shape.cycle or cycle, lead_id=shape.lead_id or lead_id, fields=fields,
                        line=line)


def parse_target(key: str, raw: dict[str, Any], line: int) -> TargetExpect:
    """A target's expectations for one period and group (by default the last period, every lead)."""
    shape = checked(TargetShape, raw, f"the expectations of target {key}", f"targets.{key}.")
    fields = {name: getattr(shape, name) for name in raw if name not in ("period", "group")}
    return TargetExpect(key=key, period=shape.period, group=shape.group, fields=fields, line=line)


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
    """A case from its table; raises Mistakes with every problem found in it."""
    shape = checked(CaseShape, raw, "a case")
    zone = shape.timezone or ctx.zone
    found: list[Mistake] = []
    as_of = datetime.min.replace(tzinfo=timezone.utc)  # stands in while the rest is checked
    if "as_of" not in raw:
        found.append(Mistake(MISSING["as_of"]))
    else:
        try:
            as_of = parse_time(raw["as_of"], zone)
        except PydanticCustomError as error:
            found.append(Mistake(f"as_of: {error.message()}", "as_of"))
    events: list[EventSpec] = []
    for index, table in enumerate(shape.events):
        try:
            events.append(parse_event(table, index, zone, shape.lead_id))
        except Mistakes as errors:
            found.extend(errors.problems)
    # The file's [lead] is every lead's defaults; the case's `lead` is its own lead's attributes.
    firsts: dict[str, EventSpec] = {}
    for event in events:
        if event.type == EventType.CREATED:
            firsts.setdefault(event.lead_id, event)
    if shape.lead and shape.lead_id not in firsts and len(events) == len(shape.events):
        found.append(Mistake("lead attributes need a created event for the lead: add "
                          "{ at = \"...\", type = \"created\" } to events", "lead"))
    for lead, first in firsts.items():
        own = shape.lead if lead == shape.lead_id else {}
        first.payload["attributes"] = {**ctx.lead, **own, **first.payload["attributes"]}
    case = Case(file=ctx.path, line=line, name=name, row=row, policies=ctx.policies, policy=shape.policy or ctx.policy,
                zone=zone or ZoneInfo("UTC"), as_of=as_of, lead_id=shape.lead_id, events=events)
    for key, value in shape.expect.items():
        key_line = lines.key(span, key)
        try:
            _expectation(case, zone, key, value, key_line, lines, span)
        except (Mistake, Mistakes) as error:
            for problem in error.problems if isinstance(error, Mistakes) else [error]:
                if problem.line is None and problem.needle is None:
                    problem.line = lines.key((key_line, span[1]), problem.key) if problem.key else key_line
                found.append(problem)
    if found:
        raise Mistakes(found)
    return case


def _expectation(case: Case, zone: ZoneInfo | None, key: str, value: Any, key_line: int, lines: _Lines,
                 span: tuple[int, int]) -> None:
    if key == "stages":
        case.stages = parse_stages(value, zone)
    elif key == "targets":
        if not isinstance(value, dict):
            raise Mistake("targets must be a table, e.g. targets = { ... }", "targets")
        for target, wanted in value.items():
            target_line = lines.key((key_line, span[1]), target)
            several = wanted if isinstance(wanted, list) else [wanted]  # one per period or group
            try:
                for one in several:
                    if not isinstance(one, dict):
                        raise Mistake(f"targets.{target} must be a table, e.g. {target} = {{ ... }}", target)
                    case.targets.append(parse_target(target, one, target_line))
            except (Mistake, Mistakes) as error:
                for problem in error.problems if isinstance(error, Mistakes) else [error]:
                    problem.line = (lines.key((target_line, span[1]), problem.key)
                                    if problem.key not in (None, target) else target_line)
                raise
    elif isinstance(value, dict):
        case.windows.append(parse_window(key, value, zone, case.lead_id, 1, key_line))
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        case.windows.extend(parse_window(key, v, zone, case.lead_id, i + 1, key_line) for i, v in enumerate(value))
    else:
        raise Mistake(f"expect.{key} must be a table of expectations for window {key} "
                   "(or stages = [...], or [case.expect.targets.NAME])")


def _cases(ctx: _Context, index: int, raw: dict[str, Any], lines: _Lines, problems: list[Problem]) -> list[Case]:
    span = lines.case_span(index)
    name = raw.get("name")
    label = f"case {index + 1}" if not isinstance(name, str) else f"case '{name}'"

    def report(errors: Mistake | Mistakes, where: tuple[int, int], prefix: str) -> None:
        for error in errors.problems if isinstance(errors, Mistakes) else [errors]:
            problems.append(Problem(str(ctx.path), _line_of(error, lines, where), f"{prefix}: {error}"))

    try:
        shape = checked(CaseShape, raw, "a case")
    except Mistakes as errors:
        report(errors, span, label)
        return []
    if shape.rows is None:
        try:
            return [build_case(ctx, raw, shape.name, None, span[0], lines, span)]
        except (Mistake, Mistakes) as errors:
            report(errors, span, label)
            return []
    base = {k: v for k, v in raw.items() if k != "rows"}
    cases: list[Case] = []
    seen: set[str] = set()
    for number, row in enumerate(shape.rows):
        row_name = _row_name(number, row)
        where = lines.row_span(span, number, row.get("name") if isinstance(row.get("name"), str) else None)
        prefix = f"{label}, row '{row_name}'"
        try:
            checked(RowShape, row, "a row")
            if row_name in seen:
                raise Mistake(f"two rows are named '{row_name}'; give each a distinct name", "name")
            seen.add(row_name)
            merged = dict(base)
            for key, value in row.items():
                if key == "lead":
                    merged["lead"] = {**shape.lead, **value}
                elif key == "events":
                    merged["events"] = [*shape.events, *value]
                elif key == "expect":
                    merged["expect"] = deep_merge(shape.expect, value)
                elif key != "name":
                    merged[key] = value
            cases.append(build_case(ctx, merged, shape.name, row_name, where[0], lines, where))
        except (Mistake, Mistakes) as errors:
            report(errors, where, prefix)
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
        head = checked(FileShape, data, "the file")
        if head.policies is not None:
            directory = (path.parent / head.policies).resolve()
            if not directory.exists():
                raise Mistake(f"policies: {directory} does not exist", "policies")
        else:
            found = policies or policies_for(path)
            if found is None:
                raise Mistake("no .sla files in any directory above this file; set policies = \"../\"", "policies")
            directory = found
    except (Mistake, Mistakes) as errors:
        raise TestFileError([Problem(name, _line_of(error, lines, top), str(error))
                             for error in (errors.problems if isinstance(errors, Mistakes) else [errors])]) from None
    if not head.case:
        raise TestFileError([Problem(name, 1, "no cases: add a [[case]] table")])
    ctx = _Context(path=path, policies=Path(directory), policy=head.policy, zone=head.timezone, lead=head.lead)
    problems: list[Problem] = []
    cases = [case for index, raw in enumerate(head.case) for case in _cases(ctx, index, raw, lines, problems)]
    titles: dict[str, Case] = {}
    for case in cases:
        if case.title in titles:
            problems.append(Problem(name, case.line, f"two tests are named '{case.title}'"))
        titles[case.title] = case
    if problems:
        raise TestFileError(problems)
    return TestFile(path=path, policies=ctx.policies, cases=cases)
