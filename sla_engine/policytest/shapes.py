"""The tables a test file may hold, as pydantic models, and their mistakes in the file's words.

Each shape (the file, a case, a row, an event, a window's or a target's expectations) names its
keys and their values, as the configuration's models do: an unknown key, a missing one and a
wrong value are all found in one validation, and each pydantic problem is said as a policy author
would read it, with the key that finds its line in the file (files.py finds the line).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from sla_engine.engine.status import ClockStatus, TargetStatus
from sla_engine.events import EventType

# `met_late` is a breach that was met later; `not_started` means the window has no clock at all.
WINDOW_STATUSES = (ClockStatus.MET, ClockStatus.BREACHED, "met_late", ClockStatus.RUNNING, ClockStatus.PAUSED,
                   ClockStatus.CANCELLED, ClockStatus.NOT_APPLICABLE, "not_started")
TARGET_STATUSES = tuple(TargetStatus)
DEFAULT_LEAD = "lead"


class Mistake(Exception):
    """A problem, and how to find its line: a key written there, a text on it, or the line itself."""

    def __init__(self, message: str, key: str | None = None, needle: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.needle = needle
        self.line: int | None = None


class Mistakes(Exception):
    """Every problem found in one table or case, so a test file's mistakes are all reported at once."""

    def __init__(self, problems: list[Mistake]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def suggest(name: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else f" (known: {', '.join(known)})"


# ---------------------------------------------------------------- values

REFUSED = "test_file"  # the pydantic error type of a value a model refuses, with our message


def refuse(message: str) -> NoReturn:
    """Refuse a value with this message, as written (pydantic would put "Value error, " before a ValueError's)."""
    raise PydanticCustomError(REFUSED, message)


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str):
        refuse("must be a time zone name such as \"America/New_York\"")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        refuse(f"unknown time zone {name!r}")


def parse_time(value: Any, zone: ZoneInfo | None) -> datetime:
    """A time as written: with an offset, or local wall-clock time in the file's zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        refuse(f"{value} is a date; give a time of day too, e.g. \"{value} 09:00\"")
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            refuse(f"{value} is a date; give a time of day too, e.g. \"{value} 09:00\"")
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            refuse(f"{value!r} is not a time; write \"2026-11-20 16:30\" (local) or \"2026-11-20T16:30-05:00\"")
    else:
        refuse(f"{value!r} is not a time")
    if moment.tzinfo is not None:
        return moment
    if zone is None:
        refuse(f"{value} has no offset; set timezone = \"...\" at the top of the file or in the case, "
                "or write the offset")
    local = moment.replace(tzinfo=zone)
    if local.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != moment:
        refuse(f"{value} does not exist in {zone.key} (the clocks skip it at a DST change)")
    return local


def instant(value: Any, info: ValidationInfo) -> datetime:
    """A time read in the zone the caller passes as the validation context."""
    return parse_time(value, (info.context or {}).get("zone"))


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        refuse("must be a non-empty text")
    return value


def _event_type(value: Any) -> EventType:
    try:
        return EventType(str(value))
    except ValueError:
        refuse(f"unknown event type {value!r}{suggest(str(value), [str(t) for t in EventType])}")


def _window_status(value: Any) -> str:
    status = str(value).replace(" ", "_").lower()
    if status not in WINDOW_STATUSES:
        refuse(f"unknown status {value!r}{suggest(status, WINDOW_STATUSES)}")
    return status


def _target_status(value: Any) -> str:
    status = str(value).replace("_", " ").lower()
    if status not in TARGET_STATUSES:
        refuse(f"unknown status {value!r}{suggest(status, TARGET_STATUSES)}")
    return status


def _escalations(value: Any) -> list[str]:
    """``["on breach: notify manager via slack", ...]``: each fired action, as LEVEL: ACTION."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        refuse("must list \"LEVEL: ACTION\" texts, e.g. \"on breach: notify manager via slack\"")
    for text in value:
        if ":" not in text:
            refuse(f"{text!r} needs a level and an action: \"on breach: notify manager\"")
    return list(value)


def _period(value: Any) -> str:
    if not isinstance(value, str):
        refuse("must be a text such as \"2026-W47\", \"2026-11\" or \"2026-Q4\"")
    return value


def _target_value(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        refuse("must be a number, or a duration such as \"1h 30m\"")
    return value


Text = Annotated[str, PlainValidator(_text)]
Zone = Annotated[ZoneInfo, PlainValidator(_zone)]
Instant = Annotated[datetime, PlainValidator(instant)]
AsText = Annotated[str, PlainValidator(str)]  # what an expectation compares as text (a tier, a goal)
Table = dict[str, Any]
Tables = list[dict[str, Any]]


# ---------------------------------------------------------------- the shapes of a file's tables


class _Shape(BaseModel):
    """A table of a test file: no key it does not name, and TOML's own types (no "1" for 1)."""

    model_config = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)


class FileShape(_Shape):
    policies: Text | None = None
    policy: Text | None = None
    timezone: Zone | None = None
    lead: Table = Field(default_factory=dict)
    case: Tables = Field(default_factory=list)


class CaseShape(_Shape):
    name: Text
    as_of: Any = None  # read once the case's zone is known (see build_case)
    timezone: Zone | None = None
    policy: Text | None = None
    lead_id: Text = DEFAULT_LEAD
    lead: Table = Field(default_factory=dict)
    events: Tables = Field(default_factory=list)
    expect: Table = Field(default_factory=dict)
    rows: Tables | None = None


class RowShape(_Shape):
    name: Any = None  # a row without a text name is named for what it varies
    as_of: Any = None
    lead_id: Any = None
    lead: Table = Field(default_factory=dict)
    events: Tables = Field(default_factory=list)
    expect: Table = Field(default_factory=dict)


class EventShape(_Shape):
    """``{ at = "...", type = "activity", channel = "call" }``: the other keys are the payload's."""

    model_config = ConfigDict(extra="allow")
    BARE_KEYS: ClassVar[tuple[str, ...]] = ("type",)  # "events[2]: unknown event type 'x'", not "events[2].type: ..."

    at: Instant
    type: Annotated[EventType, PlainValidator(_event_type)]
    lead_id: Text | None = None
    payload: Table = Field(default_factory=dict)


class WindowShape(_Shape):
    cycle: StrictInt | None = Field(None, ge=1)
    lead_id: Text | None = None
    tier: AsText | None = None
    status: Annotated[str, PlainValidator(_window_status)] | None = None
    due: Instant | None = None
    started: Instant | None = None
    stopped: Instant | None = None
    breached: Instant | None = None
    warning: Instant | None = None
    met_late: StrictBool | None = None
    goal: AsText | None = None
    calendar: AsText | None = None
    cancelled_reason: AsText | None = None
    escalations: Annotated[list[str], PlainValidator(_escalations)] | None = None


class TargetShape(_Shape):
    period: Annotated[str, PlainValidator(_period)] | None = None
    group: Table = Field(default_factory=dict)
    value: Annotated[int | float | str, PlainValidator(_target_value)] | None = None
    status: Annotated[str, PlainValidator(_target_status)] | None = None
    sample: StrictInt | None = None
    escalations: Annotated[list[str], PlainValidator(_escalations)] | None = None


MISSING = {
    "as_of": "needs as_of: the instant the case is judged at, e.g. as_of = \"2026-11-23 12:00\"",
    "name": "name must be a non-empty text",
}

S = TypeVar("S", bound=_Shape)


def checked(shape: type[S], raw: Any, what: str, where: str = "", zone: ZoneInfo | None = None) -> S:
    """``raw`` read as ``shape``; else Mistakes saying, in the file's words, every mistake in it.

    ``what`` names the table in an unknown key's message ("a case"); ``where`` comes before a
    key's name in the others ("first_response."); ``zone`` reads local times.
    """
    try:
        return shape.model_validate(raw, context={"zone": zone})
    except ValidationError as error:
        raise Mistakes([said(problem, shape, what, where) for problem in error.errors(include_url=False)]) from None


def said(problem: Any, shape: type[_Shape] | None, what: str, where: str) -> Mistake:
    """One of pydantic's problems as the file's reader would say it, with the key that finds its line."""
    loc = problem["loc"]
    key = str(loc[0]) if loc else None
    bare = key is None or (shape is not None and key in getattr(shape, "BARE_KEYS", ()))
    label = where.rstrip(".") or "the table" if bare else f"{where}{key}"
    kind = problem["type"]
    if kind == "extra_forbidden":
        message = f"unknown key '{key}' in {what}{suggest(str(key), shape.model_fields if shape else ())}"
    elif kind == "missing":
        message = MISSING.get(str(key), f"{where.rstrip('.')} needs {key}".strip())
    elif kind == REFUSED:  # "name must be a non-empty text", "due: ... does not exist in ..."
        message = f"{label} {problem['msg']}" if problem["msg"].startswith("must ") else f"{label}: {problem['msg']}"
    elif kind in ("list_type", "dict_type") and key in ("events", "rows", "case"):
        message = f"{label} must be an array of tables, e.g. {key} = [{{ ... }}, ...] or [[case.{key}]]"
    elif kind == "dict_type":
        message = f"{label} must be a table, e.g. {key} = {{ ... }}"
    elif kind == "bool_type":
        message = f"{label} must be true or false"
    elif kind == "int_type":
        message = f"{label} must be a whole number"
    elif kind == "greater_than_equal":
        message = f"{label} must be a whole number from {problem['ctx']['ge']}"
    else:
        message = f"{label}: {problem['msg']}"
    return Mistake(message, key)


def _stage_times(value: Any, info: ValidationInfo) -> list[datetime] | bool:
    """A stage's expected entry: entered or not (a boolean), or when (a time, or a list of times)."""
    if isinstance(value, bool):
        return value
    return [instant(v, info) for v in value] if isinstance(value, list) else [instant(value, info)]


STAGE_TIMES: TypeAdapter[dict[str, list[datetime] | bool]] = TypeAdapter(
    dict[str, Annotated[list[datetime] | bool, PlainValidator(_stage_times)]])
