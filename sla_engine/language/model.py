"""The typed policy model: what the parser builds, the checker judges and the engine runs.

Every node carries ``pos`` so errors, ``explain`` and reports can point back at the policy
line. ``fmt.same_meaning`` compares models without their positions, so ``fmt`` can prove that
reformatting changed nothing but layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class Pos(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str = "<policy>"
    line: int = 1
    column: int = 1
    end_line: int = 1
    end_column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Node(BaseModel):
    model_config = ConfigDict(frozen=True)

    pos: Pos = Field(default_factory=Pos, repr=False)


# ---------------------------------------------------------------- values

Unit = Literal["ms", "s", "m", "h", "d", "w"]
CompareOp = Literal["==", "!=", ">=", "<=", ">", "<"]
TypeName = Literal["text", "number", "boolean", "timestamp", "duration", "text_list", "enum"]
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
WORD_UNITS: dict[str, Unit] = {
    "minute": "m", "minutes": "m", "hour": "h", "hours": "h",
    "day": "d", "days": "d", "week": "w", "weeks": "w",
}


class Duration(Node):
    """An amount of time; ``business`` durations count only a calendar's open hours."""

    kind: Literal["duration"] = "duration"
    amount: float
    unit: Unit
    business: bool = False

    @property
    def seconds(self) -> float:
        return self.amount * UNIT_SECONDS[self.unit]

    @property
    def business_days(self) -> bool:
        """Business days and weeks count open days, not open hours."""
        return self.business and self.unit in ("d", "w")

    @property
    def days(self) -> int:
        return math.ceil(self.amount * (7 if self.unit == "w" else 1))


class Literal_(Node):
    kind: Literal["literal"] = "literal"
    type: Literal["text", "number", "percent", "date", "time", "boolean"]
    value: Any


class ListValue(Node):
    kind: Literal["list"] = "list"
    items: list[Value]


class Ref(Node):
    """A name: a field, score, definition, stage, plan value (``plan.mqls``) or contact."""

    kind: Literal["ref"] = "ref"
    path: list[str]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


class Env(Node):
    """A secret read from the environment at delivery time, never stored in the policy."""

    kind: Literal["env"] = "env"
    variable: str


Value = Annotated[Union[Literal_, Duration, ListValue, Ref, Env], Field(discriminator="kind")]  # noqa: UP007


# ---------------------------------------------------------------- conditions


class Count(Node):
    """``count(activity by owner where channel == "call" since start)``.

    ``within``: only the events of that last stretch of time before the instant judged (recency).
    """

    kind: Literal["count"] = "count"
    event: str
    distinct: str | None = None
    by_owner: bool = False
    where: Expr | None = None
    since: str | None = None
    within: Duration | None = None


Operand = Annotated[Union[Literal_, Duration, ListValue, Ref, Count], Field(discriminator="kind")]  # noqa: UP007


class Compare(Node):
    kind: Literal["compare"] = "compare"
    op: CompareOp
    left: Operand
    right: Operand


class Member(Node):
    kind: Literal["member"] = "member"
    operand: Operand
    values: ListValue
    negated: bool = False


class Between(Node):
    kind: Literal["between"] = "between"
    operand: Operand
    low: Operand
    high: Operand


class Matches(Node):
    kind: Literal["matches"] = "matches"
    operand: Operand
    pattern: str


class IsSet(Node):
    kind: Literal["is_set"] = "is_set"
    operand: Operand
    missing: bool = False


class Becomes(Node):
    kind: Literal["becomes"] = "becomes"
    stage: str


class Truth(Node):
    kind: Literal["truth"] = "truth"
    operand: Operand


class Not(Node):
    kind: Literal["not"] = "not"
    operand: Expr


class And(Node):
    kind: Literal["and"] = "and"
    items: list[Expr]


class Or(Node):
    kind: Literal["or"] = "or"
    items: list[Expr]


Expr = Annotated[
    Union[Compare, Member, Between, Matches, IsSet, Becomes, Truth, Not, And, Or],  # noqa: UP007
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- shared declarations


class FieldType(Node):
    name: TypeName
    values: list[str] = Field(default_factory=list)


class FieldDecl(Node):
    name: str
    type: FieldType


class ScoreRule(Node):
    points: float
    when: Expr | None = None
    per: str | None = None


class ScoreDecl(Node):
    name: str
    rules: list[ScoreRule]
    cap: float | None = None


class Definition(Node):
    name: str
    expr: Expr


class Stage(Node):
    """A funnel stage; declaration order is funnel order."""

    name: str
    expr: Expr | None = None
    from_field: str | None = None
    from_values: ListValue | None = None


class Interval(Node):
    start: time
    end: time


class Hours(Node):
    days: list[int]
    intervals: list[Interval]


class OpenDate(Node):
    day: date
    intervals: list[Interval] = Field(default_factory=list)


class CalendarDecl(Node):
    name: str
    timezone: str | None = None
    hours: list[Hours] = Field(default_factory=list)
    holidays: str | None = None
    subdivision: str | None = None
    closed: list[date] = Field(default_factory=list)
    open: list[OpenDate] = Field(default_factory=list)


class Attribute(Node):
    key: str
    value: Value


class ContactDecl(Node):
    """A named recipient (``contact``) or group of people (``team``)."""

    name: str
    is_team: bool = False
    attributes: list[Attribute] = Field(default_factory=list)

    def get(self, key: str) -> Any:
        for attribute in self.attributes:
            if attribute.key == key:
                return attribute.value
        return None


class PlanConversion(Node):
    source: str
    target: str
    rate: float


class PlanDecl(Node):
    """A revenue goal worked backwards into the volumes each stage must deliver."""

    name: str
    revenue: float | None = None
    period: str | None = None
    deal_size: float | None = None
    win_rate: float | None = None
    conversions: list[PlanConversion] = Field(default_factory=list)


# ---------------------------------------------------------------- policies


class Tier(Node):
    name: str
    label: str | None = None
    when: Expr | None = None  # None: the catch-all ("otherwise")


class Trigger(Node):
    """When a clock starts or stops: on an event of a kind, or when a condition turns true."""

    event: str | None = None
    by_owner: bool = False
    where: Expr | None = None
    condition: Expr | None = None


class Goal(Node):
    tier: str | None = None  # None: every tier without a goal of its own
    duration: Duration
    calendar: str | None = None


class Warning(Node):
    percent: float | None = None
    before: Duration | None = None


class Recipient(Node):
    kind: Literal["owner", "manager", "named"]
    name: str | None = None

    def __str__(self) -> str:
        return self.name if self.kind == "named" and self.name else self.kind


class Notify(Node):
    action: Literal["notify"] = "notify"
    recipient: Recipient
    channel: str | None = None


class Reassign(Node):
    action: Literal["reassign"] = "reassign"
    team: str
    round_robin: bool = False
    skip_previous: bool = False


class SetField(Node):
    action: Literal["set"] = "set"
    field: str
    value: Value


class CreateTask(Node):
    action: Literal["task"] = "task"
    subject: str
    recipient: Recipient | None = None
    due: Duration | None = None


Action = Annotated[Union[Notify, Reassign, SetField, CreateTask], Field(discriminator="action")]  # noqa: UP007


class Escalation(Node):
    when: Literal["warning", "breach", "after_breach", "every_after_breach", "missed"]
    after: Duration | None = None
    missed_periods: int | None = None
    quiet_hours: str | None = None
    actions: list[Action] = Field(default_factory=list)

    @property
    def label(self) -> str:
        if self.when == "warning":
            return "at warning"
        if self.when == "breach":
            return "on breach"
        if self.when == "after_breach":
            return f"{format_duration(self.after)} after breach"
        if self.when == "every_after_breach":
            return f"every {format_duration(self.after)} after breach"
        return f"when missed {self.missed_periods} periods"


class Window(Node):
    name: str
    label: str | None = None
    start: Trigger | None = None
    stop: Trigger | None = None
    pause: Expr | None = None
    calendar: str | None = None
    goals: list[Goal] = Field(default_factory=list)
    warnings: list[Warning] = Field(default_factory=list)
    restarts_on_recycle: bool = False
    quiet_hours: str | None = None
    role: str | None = None  # what the dashboard's built-in metrics read it as: speed_to_lead, feedback
    escalations: list[Escalation] = Field(default_factory=list)

    def goal_for(self, tier: str | None) -> Goal | None:
        default = None
        for goal in self.goals:
            if goal.tier == tier and tier is not None:
                return goal
            if goal.tier is None:
                default = default or goal
        return default


class Metric(Node):
    kind: Literal["count", "met_rate", "rate", "elapsed", "completeness"]
    subject: str | None = None  # stage for count, window for met_rate/elapsed, outcome for rate
    among: str | None = None
    aggregate: str | None = None  # average, median, pNN
    fields: list[str] = Field(default_factory=list)


class TargetGoal(Node):
    op: CompareOp
    value: Value


class Target(Node):
    name: str
    label: str | None = None
    owner: str | None = None
    accountable: str | None = None  # the contact who answers for it
    metric: Metric | None = None
    where: Expr | None = None
    period: str | None = None
    group_by: list[str] = Field(default_factory=list)
    goal: TargetGoal | None = None
    tolerance: float | None = None
    tolerance_is_percent: bool = True
    escalations: list[Escalation] = Field(default_factory=list)


class Policy(Node):
    name: str
    title: str | None = None
    version: str | None = None
    effective: date | None = None
    owner: Value | None = None
    description: str | None = None
    timezone: str | None = None
    calendar: str | None = None
    applies: Expr | None = None
    # Its own definitions and stages: inside the policy they shadow the shared ones (language/scope.py).
    definitions: list[Definition] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=list)
    not_covered: Pos | None = None  # set when the tier list ends with "otherwise not covered"
    windows: list[Window] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)


Declaration = Union[  # noqa: UP007
    FieldDecl, ScoreDecl, Definition, Stage, CalendarDecl, ContactDecl, PlanDecl, Policy
]


class Repeated(BaseModel):
    """A one-value item given again in its block (``starts`` twice): only the last one counts.

    Not part of the language (no node of a policy): the parser records it, since the model keeps
    only the last, and the checker reports it. ``pos`` is the later item, ``first`` the first one.
    """

    model_config = ConfigDict(frozen=True)

    pos: Pos
    kind: str  # the block: policy, window, target, calendar, plan
    name: str  # the block's name
    keyword: str  # the item as written: "starts", "pauses while", "win rate"
    first: Pos


class PolicyFile(Node):
    """One parsed .sla file: its declarations in source order."""

    path: str
    declarations: list[Declaration] = Field(default_factory=list)
    repeated: list[Repeated] = Field(default_factory=list, exclude=True)  # a diagnosis of the text, not meaning


def nodes_within(value: Any) -> Iterator[Node]:
    """Every node in a node, list or tuple, depth first (positions are not nodes): for questions
    asked of a whole policy set, such as which channels or recency spans it uses."""
    if isinstance(value, Node):
        yield value
        for name in type(value).model_fields:
            if name != "pos":
                yield from nodes_within(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from nodes_within(item)


def without_positions(value: Any) -> Any:
    """A dumped node (dicts and lists) without its positions: its meaning, for keys and comparisons."""
    if isinstance(value, dict):
        return {k: without_positions(v) for k, v in value.items() if k != "pos"}
    if isinstance(value, list):
        return [without_positions(v) for v in value]
    return value


def format_duration(duration: Duration | None) -> str:
    """The canonical spelling of a duration, shared by fmt, explain and reports."""
    if duration is None:
        return ""
    amount = int(duration.amount) if float(duration.amount).is_integer() else duration.amount
    if duration.business:
        word = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks", "s": "seconds", "ms": "ms"}
        noun = word[duration.unit]
        if amount == 1 and noun.endswith("s"):
            noun = noun[:-1]
        return f"{amount} business {noun}"
    return f"{amount}{duration.unit}"


def format_span(delta: timedelta) -> str:
    """A time left or overdue as a rep reads it: 12m, 2h 05m, 3d 4h (the sign is the caller's words)."""
    seconds = int(abs(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours >= 48:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


for _model in (
    ListValue, Count, Compare, Member, Between, Matches, IsSet, Truth, Not, And, Or,
    ScoreRule, Definition, Stage, Attribute, Tier, Trigger, Goal, SetField, Escalation,
    Window, TargetGoal, Target, Policy, PolicyFile,
):
    _model.model_rebuild()
