"""Turn lark's parse tree into the typed model, keeping every node's source position.

A block keeps the last of a one-value item given twice (``starts``, ``timezone``); the
transformer records each repeat on the file (``PolicyFile.repeated``) for the checker to report.

Size: one short method per grammar rule, as lark's Transformer dispatches by rule name; splitting
them would scatter the grammar's reading over several files.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from typing import Any, cast

from lark import Token, Transformer, v_args
from lark.tree import Meta

from sla_engine.language import model as m

Tokens = list[Token]  # named outside ToModel, whose `list` rule would shadow the builtin in annotations

DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class TransformError(Exception):
    """A literal the grammar accepted but the model cannot hold (e.g. 2026-02-30)."""

    def __init__(self, message: str, pos: m.Pos, code: str = "E101") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.code = code


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


def _unquote(token: Token) -> str:
    """JSON escapes; any other backslash stays as written, so regexes like "\\d+" read naturally."""
    body = str(token)[1:-1]
    if "\\" not in body:
        return body

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u") and len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, "\\" + code)
    return _ESCAPE.sub(replace, body)


@dataclass(frozen=True)
class _Setting:
    """A one-value block item with where it is written, until its block merges it."""

    keyword: str
    value: Any
    meta: Meta


def _setting(keyword: str) -> Callable[[Callable[..., Any]], Callable[..., _Setting]]:
    """Mark a block item that holds one value: its block keeps the last and records any repeat."""
    def wrap(rule: Callable[..., Any]) -> Callable[..., _Setting]:
        @functools.wraps(rule)
        def wrapped(self: ToModel, meta: Meta, items: list[Any]) -> _Setting:
            return _Setting(keyword, rule(self, meta, items), meta)
        return wrapped
    return wrap


@v_args(meta=True)
class ToModel(Transformer):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.repeated: list[m.Repeated] = []

    # ------------------------------------------------------------ helpers
    def _pos(self, meta: Meta | Token) -> m.Pos:
        if isinstance(meta, Token):
            return m.Pos(
                file=self.path, line=meta.line or 1, column=meta.column or 1,
                end_line=meta.end_line or meta.line or 1, end_column=meta.end_column or meta.column or 1,
            )
        if getattr(meta, "empty", True):
            return m.Pos(file=self.path)
        return m.Pos(
            file=self.path, line=meta.line, column=meta.column,
            end_line=meta.end_line, end_column=meta.end_column,
        )

    def _token_pos(self, token: Token) -> m.Pos:
        return self._pos(token)

    def _settings(self, kind: str, name: Token, parts: list[Any]) -> list[Any]:
        """A block's items with each setting unwrapped; a setting given again is recorded, as only the last counts."""
        first: dict[str, m.Pos] = {}
        unwrapped = []
        for part in parts:
            if isinstance(part, _Setting):
                pos = self._pos(part.meta)
                if part.keyword in first:
                    self.repeated.append(m.Repeated(kind=kind, name=str(name), keyword=part.keyword,
                                                    first=first[part.keyword], pos=pos))
                else:
                    first[part.keyword] = pos
                part = part.value
            unwrapped.append(part)
        return unwrapped

    # ------------------------------------------------------------ file
    def start(self, meta: Meta, items: list[Any]) -> m.PolicyFile:
        return m.PolicyFile(path=self.path, declarations=items, repeated=self.repeated, pos=self._pos(meta))

    # ------------------------------------------------------------ fields
    def field_decl(self, meta: Meta, items: list[Any]) -> m.FieldDecl:
        name, type_ = items
        return m.FieldDecl(name=str(name), type=type_, pos=self._token_pos(name))

    @staticmethod
    def _type(name: m.TypeName) -> Callable[[ToModel, Meta, list[Any]], m.FieldType]:
        def rule(self: ToModel, meta: Meta, items: list[Any]) -> m.FieldType:
            return m.FieldType(name=name, pos=self._pos(meta))
        return rule

    type_text = _type("text")
    type_number = _type("number")
    type_boolean = _type("boolean")
    type_timestamp = _type("timestamp")
    type_duration = _type("duration")
    type_text_list = _type("text_list")

    def type_enum(self, meta: Meta, items: list[str]) -> m.FieldType:
        return m.FieldType(name="enum", values=list(items), pos=self._pos(meta))

    def enum_value(self, meta: Meta, items: list[Token]) -> str:
        token = items[0]
        return _unquote(token) if token.type == "STRING" else str(token)

    # ------------------------------------------------------------ scores
    def score_decl(self, meta: Meta, items: list[Any]) -> m.ScoreDecl:
        name, *rules = items
        cap = None
        kept: list[m.ScoreRule] = []
        for rule in rules:
            if isinstance(rule, tuple):
                cap = rule[1]
            else:
                kept.append(rule)
        return m.ScoreDecl(name=str(name), rules=kept, cap=cap, pos=self._token_pos(name))

    @staticmethod
    def _points(token: Token) -> float:
        return float(str(token).replace(" ", "").replace("\t", ""))

    def score_when(self, meta: Meta, items: list[Any]) -> m.ScoreRule:
        return m.ScoreRule(points=self._points(items[0]), when=items[1], pos=self._pos(meta))

    def score_per(self, meta: Meta, items: list[Any]) -> m.ScoreRule:
        return m.ScoreRule(points=self._points(items[0]), per=str(items[1]), pos=self._pos(meta))

    def score_cap(self, meta: Meta, items: list[Any]) -> tuple[str, float]:
        return ("cap", float(items[0]))

    # ------------------------------------------------------------ definitions and stages
    def define_decl(self, meta: Meta, items: list[Any]) -> m.Definition:
        return m.Definition(name=str(items[0]), expr=items[1], pos=self._token_pos(items[0]))

    def stage_when(self, meta: Meta, items: list[Any]) -> m.Stage:
        return m.Stage(name=str(items[0]), expr=items[1], pos=self._token_pos(items[0]))

    def stage_from(self, meta: Meta, items: list[Any]) -> m.Stage:
        name, field, values = items
        return m.Stage(name=str(name), from_field=str(field), from_values=values, pos=self._token_pos(name))

    # ------------------------------------------------------------ calendars
    def calendar_decl(self, meta: Meta, items: list[Any]) -> m.CalendarDecl:
        name, *parts = items
        data: dict[str, Any] = {"hours": [], "closed": [], "open": []}
        for key, value in self._settings("calendar", name, parts):
            if key in ("hours", "closed", "open"):
                data[key].extend(value)
            else:
                data.update(value)
        return m.CalendarDecl(name=str(name), pos=self._token_pos(name), **data)

    @_setting("timezone")
    def cal_timezone(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("timezone", {"timezone": _unquote(items[0])})

    def cal_hours(self, meta: Meta, items: list[Any]) -> tuple[str, list[m.Hours]]:
        days: list[int] = []
        intervals: list[m.Interval] = []
        for item in items:
            if isinstance(item, m.Interval):
                intervals.append(item)
            else:
                days.extend(item)
        return ("hours", [m.Hours(days=days, intervals=intervals, pos=self._pos(meta))])

    def day_span(self, meta: Meta, items: list[Any]) -> list[int]:
        first = self._day(items[0])
        if items[1] is None:
            return [first]
        last = self._day(items[1])
        if last >= first:
            return list(range(first, last + 1))
        return list(range(first, 7)) + list(range(0, last + 1))

    def _day(self, token: Token) -> int:
        key = str(token).lower()[:3]
        if key not in DAY_NAMES or str(token).lower() not in (key, _LONG_DAYS[key]):
            raise TransformError(
                f"'{token}' is not a day of the week (mon, tue, wed, thu, fri, sat, sun)",
                self._token_pos(token),
            )
        return DAY_NAMES[key]

    def interval(self, meta: Meta, items: list[Token]) -> m.Interval:
        if self._time(items[0]) == time(0) and str(items[0]).startswith("24"):
            # 24:00 is the end of a day: read as a start it would silently become that day's 00:00.
            raise TransformError(
                f"'{items[0]}' ends a day and cannot start an interval: start the shift at 00:00 "
                "on the next day (`hours tue 00:00-06:00`)",
                self._token_pos(items[0]),
            )
        return m.Interval(start=self._time(items[0]), end=self._time(items[1]), pos=self._pos(meta))

    def _time(self, token: Token) -> time:
        hours, minutes = (int(x) for x in str(token).split(":"))
        if hours == 24 and minutes == 0:
            return time(0, 0)
        if not (0 <= hours <= 23 and 0 <= minutes <= 59):
            raise TransformError(f"'{token}' is not a time of day", self._token_pos(token))
        return time(hours, minutes)

    def _date(self, token: Token) -> date:
        try:
            return date.fromisoformat(str(token))
        except ValueError:
            raise TransformError(f"'{token}' is not a date", self._token_pos(token)) from None

    @_setting("holidays")
    def cal_holidays(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        country, subdivision = items
        return ("holidays", {
            "holidays": _unquote(country),
            "subdivision": _unquote(subdivision) if subdivision is not None else None,
        })

    def cal_closed(self, meta: Meta, items: list[Token]) -> tuple[str, list[date]]:
        return ("closed", [self._date(t) for t in items])

    def cal_open(self, meta: Meta, items: list[Any]) -> tuple[str, list[m.OpenDate]]:
        day, *intervals = items
        kept = [i for i in intervals if i is not None]
        return ("open", [m.OpenDate(day=self._date(day), intervals=kept, pos=self._pos(meta))])

    # ------------------------------------------------------------ contacts, teams, plans
    def contact_decl(self, meta: Meta, items: list[Any]) -> m.ContactDecl:
        name, *attributes = items
        return m.ContactDecl(name=str(name), attributes=attributes, pos=self._token_pos(name))

    def team_decl(self, meta: Meta, items: list[Any]) -> m.ContactDecl:
        name, *attributes = items
        return m.ContactDecl(name=str(name), is_team=True, attributes=attributes, pos=self._token_pos(name))

    def attribute(self, meta: Meta, items: list[Any]) -> m.Attribute:
        return m.Attribute(key=items[0], value=items[1], pos=self._pos(meta))

    def attribute_key(self, meta: Meta, items: list[Token]) -> str:
        return str(items[0])

    def plan_decl(self, meta: Meta, items: list[Any]) -> m.PlanDecl:
        name, *parts = items
        data: dict[str, Any] = {"conversions": []}
        for key, value in self._settings("plan", name, parts):
            if key == "conversion":
                data["conversions"].append(value)
            else:
                data.update(value)
        return m.PlanDecl(name=str(name), pos=self._token_pos(name), **data)

    @_setting("revenue")
    def plan_revenue(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("revenue", {"revenue": float(items[0]), "period": str(items[1])})

    @_setting("deal size")
    def plan_deal_size(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("deal_size", {"deal_size": float(items[0])})

    @_setting("win rate")
    def plan_win_rate(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("win_rate", {"win_rate": _percent(items[0]) / 100})

    def plan_conversion(self, meta: Meta, items: list[Any]) -> tuple[str, m.PlanConversion]:
        source, target, rate = items
        return ("conversion", m.PlanConversion(
            source=str(source), target=str(target), rate=_percent(rate) / 100, pos=self._pos(meta),
        ))

    # ------------------------------------------------------------ policies
    def policy_decl(self, meta: Meta, items: list[Any]) -> m.Policy:
        name, *parts = items
        data: dict[str, Any] = {"tiers": [], "windows": [], "targets": [], "definitions": [], "stages": []}
        for part in self._settings("policy", name, parts):
            if isinstance(part, m.Definition):
                data["definitions"].append(part)
            elif isinstance(part, m.Stage):
                data["stages"].append(part)
            elif isinstance(part, m.Tier):
                data["tiers"].append(part)
            elif isinstance(part, m.Window):
                data["windows"].append(part)
            elif isinstance(part, m.Target):
                data["targets"].append(part)
            elif isinstance(part, m.Pos):
                data["not_covered"] = part
            else:
                data.update(part)
        return m.Policy(name=str(name), pos=self._token_pos(name), **data)

    def policy_item(self, meta: Meta, items: list[Any]) -> Any:
        return items[0]

    @_setting("title")
    def policy_title(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"title": _unquote(items[0])}

    @_setting("version")
    def policy_version(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"version": _unquote(items[0])}

    @_setting("effective")
    def policy_effective(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"effective": self._date(items[0])}

    @_setting("owner")
    def policy_owner(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"owner": items[0]}

    @_setting("description")
    def policy_description(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"description": _unquote(items[0])}

    @_setting("timezone")
    def policy_timezone(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"timezone": _unquote(items[0])}

    @_setting("calendar")
    def policy_calendar(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"calendar": str(items[0])}

    @_setting("applies when")
    def policy_applies(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"applies": items[0]}

    def tier_when(self, meta: Meta, items: list[Any]) -> m.Tier:
        name, label, expr = items
        return m.Tier(name=str(name), label=_opt_str(label), when=expr, pos=self._token_pos(name))

    def tier_otherwise(self, meta: Meta, items: list[Any]) -> m.Tier:
        name, label = items
        return m.Tier(name=str(name), label=_opt_str(label), when=None, pos=self._token_pos(name))

    def tier_not_covered(self, meta: Meta, items: list[Any]) -> m.Pos:
        return self._pos(meta)

    # ------------------------------------------------------------ windows
    def window_decl(self, meta: Meta, items: list[Any]) -> m.Window:
        name, label, *parts = items
        data: dict[str, Any] = {"goals": [], "warnings": [], "escalations": []}
        for key, value in self._settings("window", name, parts):
            if key in ("goals", "warnings", "escalations"):
                data[key].append(value)
            else:
                data[key] = value
        return m.Window(name=str(name), label=_opt_str(label), pos=self._token_pos(name), **data)

    @_setting("starts")
    def window_starts(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("start", items[0])

    @_setting("stops")
    def window_stops(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("stop", items[0])

    @_setting("pauses while")
    def window_pauses(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("pause", items[0])

    @_setting("calendar")
    def window_calendar(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("calendar", str(items[0]))

    def window_goal(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        tier, duration, calendar = items
        return ("goals", m.Goal(
            tier=_opt_name(tier), duration=duration, calendar=_opt_name(calendar), pos=self._pos(meta),
        ))

    def window_warn_at(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("warnings", m.Warning(percent=_percent(items[0]), pos=self._pos(meta)))

    def window_warn_before(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("warnings", m.Warning(before=items[0], pos=self._pos(meta)))

    @_setting("restarts on recycle")
    def window_restarts(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("restarts_on_recycle", True)

    @_setting("quiet hours")
    def window_quiet_hours(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("quiet_hours", str(items[0]))

    @_setting("role")
    def window_role(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("role", str(items[0]))

    def window_item(self, meta: Meta, items: list[Any]) -> tuple[str, Any]:
        return ("escalations", items[0])

    def trigger_event(self, meta: Meta, items: list[Any]) -> m.Trigger:
        event, by_owner, where = items
        return m.Trigger(event=str(event), by_owner=by_owner is not None, where=where, pos=self._pos(meta))

    def trigger_condition(self, meta: Meta, items: list[Any]) -> m.Trigger:
        return m.Trigger(condition=items[0], pos=self._pos(meta))

    def escalate_decl(self, meta: Meta, items: list[Any]) -> m.Escalation:
        (when, extra), quiet, *actions = items
        return m.Escalation(
            when=when, quiet_hours=_opt_name(quiet), actions=actions, pos=self._pos(meta), **extra,
        )

    def at_warning(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("warning", {})

    def on_breach(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("breach", {})

    def after_breach(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("after_breach", {"after": items[0]})

    def every_after_breach(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("every_after_breach", {"after": items[0]})

    def when_missed(self, meta: Meta, items: list[Any]) -> tuple[str, dict[str, Any]]:
        return ("missed", {"missed_periods": int(float(items[0]))})

    def notify(self, meta: Meta, items: list[Any]) -> m.Notify:
        recipient, channel = items
        return m.Notify(recipient=recipient, channel=_opt_name(channel), pos=self._pos(meta))

    def reassign(self, meta: Meta, items: list[Any]) -> m.Reassign:
        team, round_robin, skip = items
        return m.Reassign(
            team=str(team), round_robin=round_robin is not None, skip_previous=skip is not None,
            pos=self._pos(meta),
        )

    def round_robin(self, meta: Meta, items: list[Any]) -> bool:
        return True

    def skip_previous(self, meta: Meta, items: list[Any]) -> bool:
        return True

    def set_field(self, meta: Meta, items: list[Any]) -> m.SetField:
        return m.SetField(field=str(items[0]), value=items[1], pos=self._pos(meta))

    def create_task(self, meta: Meta, items: list[Any]) -> m.CreateTask:
        subject, recipient, due = items
        return m.CreateTask(subject=_unquote(subject), recipient=recipient, due=due, pos=self._pos(meta))

    def recipient_owner(self, meta: Meta, items: list[Any]) -> m.Recipient:
        return m.Recipient(kind="owner", pos=self._pos(meta))

    def recipient_manager(self, meta: Meta, items: list[Any]) -> m.Recipient:
        return m.Recipient(kind="manager", pos=self._pos(meta))

    def recipient_named(self, meta: Meta, items: list[Any]) -> m.Recipient:
        return m.Recipient(kind="named", name=str(items[0]), pos=self._pos(meta))

    # ------------------------------------------------------------ targets
    def target_decl(self, meta: Meta, items: list[Any]) -> m.Target:
        name, label, *parts = items
        data: dict[str, Any] = {"escalations": []}
        for part in self._settings("target", name, parts):
            if isinstance(part, m.Escalation):
                data["escalations"].append(part)
            else:
                data.update(part)
        return m.Target(name=str(name), label=_opt_str(label), pos=self._token_pos(name), **data)

    @_setting("owner")
    def target_owner(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"owner": str(items[0])}

    @_setting("accountable")
    def target_accountable(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"accountable": str(items[0])}

    @_setting("metric")
    def target_metric(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"metric": items[0]}

    @_setting("where")
    def target_where(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"where": items[0]}

    @_setting("period")
    def target_period(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"period": str(items[0])}

    @_setting("group by")
    def target_group(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"group_by": [str(t) for t in items]}

    @_setting("goal")
    def target_goal(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        return {"goal": m.TargetGoal(op=cast(m.CompareOp, str(items[0])), value=items[1], pos=self._pos(meta))}

    @_setting("tolerance")
    def target_tolerance(self, meta: Meta, items: list[Any]) -> dict[str, Any]:
        token = items[0]
        if token.type == "PERCENT":
            return {"tolerance": _percent(token), "tolerance_is_percent": True}
        return {"tolerance": float(token), "tolerance_is_percent": False}

    def target_item(self, meta: Meta, items: list[Any]) -> m.Escalation:
        return items[0]

    def goal_value(self, meta: Meta, items: list[Any]) -> Any:
        token = items[0]
        if isinstance(token, Token):
            if token.type == "PERCENT":
                return m.Literal_(type="percent", value=_percent(token), pos=self._token_pos(token))
            return m.Literal_(type="number", value=_number(token), pos=self._token_pos(token))
        return token

    def metric_count(self, meta: Meta, items: list[Any]) -> m.Metric:
        return m.Metric(kind="count", subject=str(items[0]), pos=self._pos(meta))

    def metric_met_rate(self, meta: Meta, items: list[Any]) -> m.Metric:
        return m.Metric(kind="met_rate", subject=str(items[0]), pos=self._pos(meta))

    def metric_rate(self, meta: Meta, items: list[Any]) -> m.Metric:
        return m.Metric(kind="rate", subject=str(items[0]), among=str(items[1]), pos=self._pos(meta))

    def metric_elapsed(self, meta: Meta, items: list[Any]) -> m.Metric:
        return m.Metric(kind="elapsed", aggregate=str(items[0]), subject=str(items[1]), pos=self._pos(meta))

    def metric_completeness(self, meta: Meta, items: list[Any]) -> m.Metric:
        names = [item.dotted if isinstance(item, m.Ref) else str(getattr(item, "value", item))
                 for item in items[0].items]
        return m.Metric(kind="completeness", fields=names, pos=self._pos(meta))

    # ------------------------------------------------------------ conditions
    def or_expr(self, meta: Meta, items: list[Any]) -> m.Or:
        return m.Or(items=items, pos=self._pos(meta))

    def and_expr(self, meta: Meta, items: list[Any]) -> m.And:
        return m.And(items=items, pos=self._pos(meta))

    def negation(self, meta: Meta, items: list[Any]) -> m.Not:
        return m.Not(operand=items[0], pos=self._pos(meta))

    def compare(self, meta: Meta, items: list[Any]) -> m.Compare:
        left, op, right = items
        return m.Compare(op=cast(m.CompareOp, str(op)), left=left, right=right, pos=self._pos(meta))

    def member(self, meta: Meta, items: list[Any]) -> m.Member:
        return m.Member(operand=items[0], values=items[1], pos=self._pos(meta))

    def not_member(self, meta: Meta, items: list[Any]) -> m.Member:
        return m.Member(operand=items[0], values=items[1], negated=True, pos=self._pos(meta))

    def between(self, meta: Meta, items: list[Any]) -> m.Between:
        return m.Between(operand=items[0], low=items[1], high=items[2], pos=self._pos(meta))

    def matches(self, meta: Meta, items: list[Any]) -> m.Matches:
        return m.Matches(operand=items[0], pattern=_unquote(items[1]), pos=self._pos(meta))

    def is_set(self, meta: Meta, items: list[Any]) -> m.IsSet:
        return m.IsSet(operand=items[0], pos=self._pos(meta))

    def is_missing(self, meta: Meta, items: list[Any]) -> m.IsSet:
        return m.IsSet(operand=items[0], missing=True, pos=self._pos(meta))

    def becomes(self, meta: Meta, items: list[Any]) -> m.Becomes:
        return m.Becomes(stage=str(items[0]), pos=self._pos(meta))

    def truth(self, meta: Meta, items: list[Any]) -> m.Truth:
        return m.Truth(operand=items[0], pos=self._pos(meta))

    def reference(self, meta: Meta, items: list[Token]) -> m.Ref:
        return m.Ref(path=[str(t) for t in items], pos=self._pos(meta))

    def count(self, meta: Meta, items: list[Any]) -> m.Count:
        distinct, event, by_owner, where, since, within = items
        return m.Count(
            event=str(event), distinct=distinct, by_owner=by_owner is not None, where=where,
            since=since, within=within, pos=self._pos(meta),
        )

    def distinct(self, meta: Meta, items: list[Token]) -> str:
        return str(items[0])

    def by_owner(self, meta: Meta, items: list[Any]) -> bool:
        return True

    def since(self, meta: Meta, items: list[Token]) -> str:
        return str(items[0])

    def within(self, meta: Meta, items: list[Any]) -> m.Duration:
        return items[0]

    # ------------------------------------------------------------ values
    def env(self, meta: Meta, items: list[Token]) -> m.Env:
        return m.Env(variable=_unquote(items[0]), pos=self._pos(meta))

    def string(self, meta: Meta, items: list[Token]) -> m.Literal_:
        return m.Literal_(type="text", value=_unquote(items[0]), pos=self._pos(meta))

    def number(self, meta: Meta, items: list[Token]) -> m.Literal_:
        return m.Literal_(type="number", value=_number(items[0]), pos=self._pos(meta))

    def percent(self, meta: Meta, items: list[Token]) -> m.Literal_:
        return m.Literal_(type="percent", value=_percent(items[0]), pos=self._pos(meta))

    def date(self, meta: Meta, items: list[Token]) -> m.Literal_:
        return m.Literal_(type="date", value=self._date(items[0]), pos=self._pos(meta))

    def time(self, meta: Meta, items: list[Token]) -> m.Literal_:
        return m.Literal_(type="time", value=self._time(items[0]), pos=self._pos(meta))

    def boolean(self, meta: Meta, items: list[Token]) -> m.Literal_:
        return m.Literal_(type="boolean", value=str(items[0]) == "true", pos=self._pos(meta))

    def list(self, meta: Meta, items: list[Any]) -> m.ListValue:
        return m.ListValue(items=[i for i in items if i is not None], pos=self._pos(meta))

    def compact_duration(self, meta: Meta, items: Tokens) -> m.Duration:
        text = str(items[0])
        unit = cast(m.Unit, "ms" if text.endswith("ms") else text[-1])
        amount = float(text[: -len(unit)])
        return m.Duration(amount=amount, unit=unit, pos=self._pos(meta))

    def worded_duration(self, meta: Meta, items: Tokens) -> m.Duration:
        return m.Duration(amount=float(items[0]), unit=m.WORD_UNITS[str(items[1])], pos=self._pos(meta))

    def business_duration(self, meta: Meta, items: Tokens) -> m.Duration:
        return m.Duration(
            amount=float(items[0]), unit=m.WORD_UNITS[str(items[1])], business=True, pos=self._pos(meta),
        )


_LONG_DAYS = {
    "mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
    "fri": "friday", "sat": "saturday", "sun": "sunday",
}


def _number(token: Token) -> float | int:
    value = float(token)
    return int(value) if value.is_integer() and "." not in str(token) else value


def _percent(token: Token) -> float:
    return float(str(token).rstrip("%").strip())


def _opt_str(token: Token | None) -> str | None:
    return None if token is None else _unquote(token)


def _opt_name(token: Token | None) -> str | None:
    return None if token is None else str(token)
