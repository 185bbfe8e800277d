"""Semantic checks: everything a policy set can get wrong after it parses.

``sla-engine check`` runs these so a RevOps author learns about a misspelt field, an
unreachable tier or an impossible plan before the engine silently judges leads by it.
Every problem of every file is reported at once, each at the policy text that causes it.

Diagnostic codes (stable; documentation and tooling rely on them):

======  ===================================================================================
Code    Meaning
======  ===================================================================================
E001    Syntax: unexpected token (parser)
E002    Syntax: unexpected character (parser)
E003    Syntax: the file ends in the middle of a statement (parser)
E004    The file is not UTF-8 text
E005    The file nests conditions too deeply to read
E006    Too many errors in one file: the first MAX_ERRORS_PER_FILE are shown, then how many more
E007    The file is larger than a policy file can be (MAX_POLICY_BYTES)
E008    The file is a link to something outside the policy directory (not read)
E101    A literal the grammar accepts but that means nothing (2026-02-30, 25:00, "fry")
E201    Unknown name: field, score, definition, stage, calendar, contact, window, tier,
        plan or plan value, event kind, event field, stage in ``since``
E202    Type mismatch: operands that cannot be compared, ``>``/``<`` on text or true/false,
        ``matches`` on a non-text, a non-true/false used as a condition, an enum value
        not among the field's values, ``per`` on a non-number, a goal of the wrong kind
E203    Duplicate or ambiguous name: a name declared twice, one name for a field and a
        score/definition/stage (or a standard lead field), a tier/window/target twice in
        a policy, two goals for one tier, a one-value item (``starts``, ``metric``,
        ``timezone``, ``win rate``…) given twice in one block
E204    Reference cycle among definitions, scores and stages (``a → b → a``)
E205    Unreachable tier: after a catch-all, a same or narrower condition than an earlier
        tier, after ``otherwise not covered``; ``otherwise not covered`` twice or after a
        catch-all
E206    A window that never starts, never stops or has no goal
E207    A duration (goal, warning, escalation, task due) or period count that is not positive
E208    A percentage outside 0-100 (target goal, tolerance)
E209    A warning at or after the deadline (``warn at 100%``, ``warn 3h before due`` on a 2h goal)
E210    Escalation levels out of order, given twice, or of the wrong kind for a window or
        target; ``escalate at warning`` in a window with no ``warn``
E211    A plan that cannot be worked back: a rate outside (0, 1], a missing revenue, deal
        size or win rate, a conversion chain that does not lead from mql to opportunity,
        a revenue period that is not week, month or quarter
E212    Invalid calendar or time zone: unknown IANA zone, holiday country or subdivision,
        zero-length interval, no hours, a date both closed and open, a business-time goal
        with no calendar
E213    A ``matches`` pattern that is not a valid regular expression
E214    Unknown recipient, team or channel; a contact with no address for the channel
E215    A contact or team attribute that does not exist, is given twice or has the wrong value
E216    Target misuse: no metric, unknown period or owner, an aggregate that is not
        average, median or pNN, a metric subject of the wrong kind
E217    ``since start`` outside a window's ``stops`` or ``pauses`` (there is no clock start)
======  ===================================================================================

Size: one checker per declaration kind over one shared symbol table; splitting it into a package
by declaration kind is the next step (docs/architecture.md).
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays
from lark import Tree
from lark.exceptions import UnexpectedInput, VisitError

from sla_engine.language import model as m
from sla_engine.language.errors import Diagnostic, PolicyError, source_lines, suggest
from sla_engine.language.parser import LineIndex, get_parser, parse_span, parse_text, statement_spans
from sla_engine.language.patterns import PatternError, compile_pattern
from sla_engine.language.policy_set import (
    POLICY_SUFFIX,
    PolicySet,
    build_policy_set,
    linked_outside,
    plan_numbers,
    policy_files,
)
from sla_engine.language.transform import ToModel, TransformError
from sla_engine.language.vocabulary import (
    EVENT_FIELDS,
    EVENT_KINDS,
    KNOWN_VALUES,
    LEAD_FIELDS,
    PERIODS,
    TARGET_FIELDS,
    TARGET_OWNERS,
    WINDOW_ROLES,
    Channels,
    installed_channels,
)

__all__ = ["check_paths", "check_policy_set"]


# ---------------------------------------------------------------- public API


def check_policy_set(policy_set: PolicySet, channels: Channels | None = None,
                     warnings: list[Diagnostic] | None = None) -> list[Diagnostic]:
    """Every semantic error of a parsed policy set, sorted by file, line and column.

    ``channels`` are the notifier channels a policy may name (default: those the installed plugins register).
    ``warnings``: if given, receives what is probably a mistake but may be meant (W codes).
    """
    checker = _Checker(policy_set, channels=channels)
    found = checker.run()
    if warnings is not None:
        warnings.extend(_sorted(checker.warned))
    return found


def check_paths(paths: Iterable[str | Path], channels: Channels | None = None,
                warnings: list[Diagnostic] | None = None) -> tuple[list[Diagnostic], dict[str, str]]:
    """Syntax and semantic errors of every .sla file under ``paths``, and the sources to render them.

    A file with syntax errors still has its well-formed statements checked, so one run shows
    everything. Raises FileNotFoundError for a path that does not exist, and PluginError when
    the installed notifier plugins cannot be loaded (``channels`` not given). ``warnings``: as
    for check_policy_set; errors alone decide whether a policy set may run.
    """
    files: list[m.PolicyFile] = []
    sources: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    broken: set[str] = set()
    paths = list(paths)
    for path in linked_outside(paths, POLICY_SUFFIX):
        sources[str(path)] = ""  # never read: no line of it can be shown
        diagnostics.append(Diagnostic(
            "E008", "the file is a link to something outside the policy directory; it is not read "
            "(copy the policy into the directory instead)", m.Pos(file=str(path))))
    for path in policy_files(paths):
        name = str(path)
        text, unreadable = _read(path)
        sources[name] = text
        if unreadable is not None:
            diagnostics.append(unreadable)
            continue
        parsed, problems = _parse(text, name)
        if parsed is not None:
            files.append(parsed)
        else:
            diagnostics.extend(problems)
            salvaged = _salvage(text, name)
            files.append(salvaged.file)
            broken |= salvaged.broken
            diagnostics.extend(salvaged.diagnostics)
    policy_set = build_policy_set(files, sources)
    checker = _Checker(policy_set, frozenset(broken), channels)
    diagnostics.extend(checker.run())
    if warnings is not None:
        warnings.extend(_capped(_sorted(checker.warned)))
    return _capped(_sorted(diagnostics)), sources


MAX_ERRORS_PER_FILE = 100  # as compilers do: a file with more has a deeper problem, and printing stays bounded
MAX_POLICY_BYTES = 256 * 1024  # 40 times the largest shipped policy file; parsing stays well under seconds


def _capped(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The first MAX_ERRORS_PER_FILE diagnostics of each file, then one saying how many more there are."""
    kept: list[Diagnostic] = []
    per_file: dict[str, int] = {}
    more: dict[str, tuple[int, Diagnostic]] = {}
    for diagnostic in diagnostics:
        if diagnostic.code == "E006":  # recovery already stopped and said so
            kept.append(diagnostic)
            continue
        name = diagnostic.pos.file
        per_file[name] = per_file.get(name, 0) + 1
        if per_file[name] <= MAX_ERRORS_PER_FILE:
            kept.append(diagnostic)
        else:
            count, first = more.get(name, (0, diagnostic))
            more[name] = (count + 1, first)
    for count, first in more.values():
        kept.append(Diagnostic("E006", f"{count} more error(s) in this file not shown; fix the ones above first",
                               first.pos))
    return sorted(kept, key=lambda d: (d.pos.file, d.pos.line, d.pos.column, d.code != "E006"))


def channels_used(policy_set: PolicySet) -> list[str]:
    """The channels a policy set's escalations name (``via CHANNEL``), for saying who delivers each."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, m.Notify):
            if node.channel is not None:
                found.add(node.channel)
        elif isinstance(node, m.Node):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)

    for declaration in policy_set.declarations():
        walk(declaration)
    return sorted(found)


# ---------------------------------------------------------------- loading


def _read(path: Path) -> tuple[str, Diagnostic | None]:
    """The file's text; a file that is not UTF-8, or too large to be a policy, is an error, not a crash.

    A refused file's text is not kept, so no line of it is shown under an error.
    """
    size = path.stat().st_size
    if size > MAX_POLICY_BYTES:
        message = f"the file is {size:,} bytes; a policy file is at most {MAX_POLICY_BYTES:,} (split it up)"
        return "", Diagnostic("E007", message, m.Pos(file=str(path)))
    data = path.read_bytes()
    if b"\x00" in data:
        return "", Diagnostic("E004", "the file is not text (it holds NUL bytes); no line of it is shown",
                              m.Pos(file=str(path)))
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        pos = m.Pos(file=str(path))
        message = f"the file is not UTF-8 text (byte {error.start} cannot be read)"
        return data.decode("utf-8", errors="replace"), Diagnostic("E004", message, pos)


def _parse(text: str, path: str) -> tuple[m.PolicyFile | None, list[Diagnostic]]:
    """parse_text, with a reader crash on odd input turned into a diagnostic instead of an exception."""
    try:
        return parse_text(text, path), []
    except PolicyError as error:
        return None, list(error.diagnostics)
    except VisitError as error:
        return None, [_visit_diagnostic(error, path)]
    except RecursionError:
        return None, [Diagnostic("E005", "the file nests conditions too deeply to read", m.Pos(file=path))]


def _visit_diagnostic(error: VisitError, path: str) -> Diagnostic:
    """A literal the model rejected (or a reader crash), at the part of the policy that holds it."""
    original = error.orig_exc
    if isinstance(original, TransformError):
        return Diagnostic(original.code, original.message, original.pos)
    meta = getattr(error.obj, "meta", None)
    pos = m.Pos(file=path)
    if meta is not None and not getattr(meta, "empty", True):
        pos = m.Pos(file=path, line=meta.line, column=meta.column, end_line=meta.end_line, end_column=meta.end_column)
    return Diagnostic("E101", f"cannot read this part of the policy: {original}", pos)


@dataclass
class _Salvaged:
    file: m.PolicyFile
    broken: set[str]
    diagnostics: list[Diagnostic]


def _salvage(text: str, path: str) -> _Salvaged:
    """The statements of a file with syntax errors that do parse, so they are checked too.

    Names declared by the broken statements are remembered: a reference to them is not
    reported as unknown, since the real mistake is the syntax error already shown.
    """
    declarations: list[Any] = []
    broken: set[str] = set()
    diagnostics: list[Diagnostic] = []
    lines = LineIndex(text)
    for start, end in statement_spans(text):
        declared = re.compile(r"\w+\s+(\w+)").match(text, start, end)
        try:
            tree = parse_span(text, start, end, "start", lines)
            declarations.extend(ToModel(path).transform(tree).declarations)
        except (UnexpectedInput, VisitError, RecursionError) as error:
            if declared:
                broken.add(declared.group(1))
            if isinstance(error, VisitError):
                diagnostics.append(_visit_diagnostic(error, path))
    return _Salvaged(m.PolicyFile(path=path, declarations=declarations), broken, diagnostics)


def _sorted(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One copy of each diagnostic, in file, line and column order."""
    unique: dict[tuple[Any, ...], Diagnostic] = {}
    for d in diagnostics:
        unique.setdefault((d.pos.file, d.pos.line, d.pos.column, d.code, d.message), d)
    return [unique[key] for key in sorted(unique)]


# ---------------------------------------------------------------- source tokens (for exact positions)

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\n|[A-Za-z_]\w*|\d+(?:\.\d+)?[ \t]*%|\d[\w.:]*|[=!<>]=|\S')


@dataclass(frozen=True)
class _Tok:
    text: str
    line: int
    column: int
    depth: int  # brace nesting; a brace itself has the depth of the block around it


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    line, line_start, depth = 1, 0, 0
    for match in _TOKEN.finditer(text):
        word = match.group()
        if word == "\n":
            line, line_start = line + 1, match.end()
            continue
        if word.startswith("#"):
            continue
        if word == "}":
            depth = max(depth - 1, 0)
        tokens.append(_Tok(word, line, match.start() - line_start + 1, depth))
        if word == "{":
            depth += 1
    return tokens


class _Source:
    """Finds the exact token a diagnostic should point at, where the model keeps only a node's span."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.tokens = _tokenize(text)
        self.starts = [(t.line, t.column) for t in self.tokens]

    def pos(self, index: int) -> m.Pos:
        token = self.tokens[index]
        return m.Pos(file=self.path, line=token.line, column=token.column,
                     end_line=token.line, end_column=token.column + len(token.text))

    def index(self, line: int, column: int) -> int:
        return bisect.bisect_left(self.starts, (line, column))

    def span(self, pos: m.Pos) -> range:
        return range(self.index(pos.line, pos.column), self.index(pos.end_line, pos.end_column))

    def block(self, pos: m.Pos) -> list[int]:
        """The direct items of the ``{ ... }`` block that follows a declaration's name."""
        start = self.index(pos.end_line, pos.end_column)
        opening = next((i for i in range(start, len(self.tokens)) if self.tokens[i].text == "{"), None)
        if opening is None:
            return []
        depth = self.tokens[opening].depth
        items: list[int] = []
        for i in range(opening + 1, len(self.tokens)):
            token = self.tokens[i]
            if token.text == "}" and token.depth == depth:
                break
            if token.depth == depth + 1:
                items.append(i)
        return items

    def find(self, indices: Sequence[int], words: Sequence[str | None], pick: int = -1) -> list[m.Pos]:
        """Every run of consecutive tokens spelling ``words`` (None: any token); the picked token of each."""
        found: list[m.Pos] = []
        for n in range(len(indices) - len(words) + 1):
            run = indices[n:n + len(words)]
            if all(w is None or self.tokens[i].text == w for i, w in zip(run, words, strict=True)):
                found.append(self.pos(run[pick]))
        return found


# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class Type:
    """What an operand holds. ``values`` lists an enum's values; ``names`` says they name tiers/windows/policies."""

    name: str
    values: tuple[str, ...] = ()
    label: str = ""
    names: str = ""


TEXT, NUMBER, BOOLEAN, DURATION = Type("text"), Type("number"), Type("boolean"), Type("duration")
PERCENT = Type("percent")

_GROUPS = {
    "text": "text", "enum": "text", "number": "number", "percent": "number",
    "timestamp": "instant", "date": "instant", "duration": "duration", "boolean": "boolean",
    "time": "time", "text_list": "text_list", "list": "list",
}
_ORDERED = frozenset({"number", "instant", "duration", "time"})
_DESCRIBED = {
    "text": "a text", "number": "a number", "percent": "a percentage", "boolean": "true or false",
    "timestamp": "a timestamp", "duration": "a duration", "text_list": "a list of texts",
    "date": "a date", "time": "a time of day", "list": "a list",
}
_ORDERING = frozenset({">", "<", ">=", "<="})


def _group(type_: Type) -> str:
    return _GROUPS.get(type_.name, type_.name)


def _describe(type_: Type) -> str:
    if type_.name == "enum":
        shown = ", ".join(type_.values[:8]) + (", ..." if len(type_.values) > 8 else "")
        return f"one of {shown}" if type_.values else "a name"
    return _DESCRIBED.get(type_.name, type_.name)


@dataclass(frozen=True)
class Scope:
    """Where a condition is read: which event's fields shadow lead fields, whether a clock runs."""

    event_kind: str | None = None  # "*" when the kind is unknown: accept any event field
    window: bool = False
    extra: dict[str, Type] = field(default_factory=dict)


LEAD = Scope()


def _event_fields(kind: str | None) -> dict[str, str]:
    if kind == "*":
        return {name: type_ for fields in EVENT_FIELDS.values() for name, type_ in fields.items()}
    return dict(EVENT_FIELDS.get(kind, {})) if kind else {}


# ---------------------------------------------------------------- small helpers


def _kind(node: m.Node) -> str:
    if isinstance(node, m.ContactDecl):
        return "team" if node.is_team else "contact"
    return {
        m.FieldDecl: "field", m.ScoreDecl: "score", m.Definition: "definition", m.Stage: "stage",
        m.CalendarDecl: "calendar", m.PlanDecl: "plan", m.Policy: "policy",
    }.get(type(node), type(node).__name__.lower())


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _either(words: Sequence[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else words[0]


def _before(a: m.Pos, b: m.Pos) -> bool:
    return (a.line, a.column) < (b.line, b.column)


def _shape(expr: m.Node) -> str:
    """An expression's meaning without its position, to compare two conditions."""
    return json.dumps(m.without_positions(expr.model_dump(mode="json")), sort_keys=True)


def _disjuncts(expr: m.Node) -> list[m.Node]:
    return [d for item in expr.items for d in _disjuncts(item)] if isinstance(expr, m.Or) else [expr]


def _conjuncts(expr: m.Node) -> list[m.Node]:
    return [c for item in expr.items for c in _conjuncts(item)] if isinstance(expr, m.And) else [expr]


def _implies(later: m.Node, earlier: m.Node) -> bool:
    """Whether every lead matching ``later`` surely matches ``earlier``, judged from the conditions' text.

    Each way ``later`` can be true must satisfy every part of one way ``earlier`` can be true:
    ``A and B`` implies ``A``; ``lead_score >= 80`` implies ``lead_score >= 65``;
    ``industry == "Software"`` implies ``industry in ["Software", "Fintech"]``.
    """
    options = [_conjuncts(d) for d in _disjuncts(earlier)]
    return all(
        any(all(any(_atom_implies(fact, need) for fact in _conjuncts(way)) for need in option) for option in options)
        for way in _disjuncts(later)
    )


def _atom_implies(fact: m.Node, need: m.Node) -> bool:
    if _shape(fact) == _shape(need):
        return True
    bounds = _bound(fact), _bound(need)
    if bounds[0] is not None and bounds[1] is not None:
        return _bound_implies(bounds[0], bounds[1])
    values = _values(fact), _values(need)
    if values[0] is not None and values[1] is not None:
        return values[0][0] == values[1][0] and values[0][1] <= values[1][1]
    return False


def _bound(node: m.Node) -> tuple[str, str, float] | None:
    """``lead_score >= 80`` as ("lead_score", ">=", 80.0)."""
    if (isinstance(node, m.Compare) and isinstance(node.left, m.Ref) and isinstance(node.right, m.Literal_)
            and node.right.type in ("number", "percent")):
        return node.left.dotted, node.op, float(node.right.value)
    return None


def _bound_implies(fact: tuple[str, str, float], need: tuple[str, str, float]) -> bool:
    (name, op, x), (needed_name, needed_op, y) = fact, need
    if name != needed_name:
        return False
    if needed_op in (">=", ">"):
        return op in (">=", ">", "==") and (x > y or (x == y and (needed_op == ">=" or op == ">")))
    if needed_op in ("<=", "<"):
        return op in ("<=", "<", "==") and (x < y or (x == y and (needed_op == "<=" or op == "<")))
    if needed_op == "!=":
        return op == "==" and x != y
    return op == "==" and x == y


def _values(node: m.Node) -> tuple[str, frozenset[str]] | None:
    """``industry in ["A", "B"]`` or ``industry == "A"`` as the field and the texts it may hold."""
    if isinstance(node, m.Compare) and node.op == "==" and isinstance(node.left, m.Ref):
        right = node.right
        if isinstance(right, m.Literal_) and right.type == "text":
            return node.left.dotted, frozenset({str(right.value).casefold()})
    if isinstance(node, m.Member) and not node.negated and isinstance(node.operand, m.Ref):
        items = node.values.items
        if all(isinstance(i, m.Literal_) and i.type == "text" for i in items):
            return node.operand.dotted, frozenset(str(i.value).casefold() for i in items)  # type: ignore[union-attr]
    return None


def _literally_false(expr: m.Node | None) -> bool:
    return (isinstance(expr, m.Truth) and isinstance(expr.operand, m.Literal_)
            and expr.operand.type == "boolean" and expr.operand.value is False)


def _plural(stage: str) -> str:
    return {"opportunity": "opportunities"}.get(stage, f"{stage}s")


def _plan_values(plan: m.PlanDecl) -> list[str]:
    """The names ``PLAN.VALUE`` may use: what the plan works out, or would once complete."""
    names = {"clients", "opportunities", *plan_numbers(plan), *(_plural(c.source) for c in plan.conversions)}
    return sorted(names)


def _chain(into: dict[str, m.PlanConversion]) -> list[m.PlanConversion]:
    """The conversions plan_numbers walks, from opportunity back as far as they go."""
    chain: list[m.PlanConversion] = []
    stage = "opportunity"
    while stage in into and into[stage] not in chain:
        chain.append(into[stage])
        stage = into[stage].source
    return chain


def _named_refs(node: Any, event_kind: str | None = None) -> Iterator[tuple[str, m.Node]]:
    """Single names a condition reads (event fields excepted), with the node that reads them."""
    if isinstance(node, m.Ref):
        if len(node.path) == 1 and node.path[0] not in _event_fields(event_kind):
            yield node.path[0], node
    elif isinstance(node, m.Becomes):
        yield node.stage, node
    elif isinstance(node, m.Count):
        if node.where is not None:
            yield from _named_refs(node.where, node.event)
    elif isinstance(node, m.ListValue):
        return  # list items are text constants
    elif isinstance(node, m.Node):
        for name in type(node).model_fields:
            yield from _named_refs(getattr(node, name), event_kind)
    elif isinstance(node, list):
        for item in node:
            yield from _named_refs(item, event_kind)


def _field_type(name: str, type_: str) -> Type:
    """A standard field's type; a text field with known values carries them, to warn on others."""
    if type_ == "text" and name in KNOWN_VALUES:
        return Type("text", KNOWN_VALUES[name], label=name)
    return Type(type_)


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone '{name}'"
    return None


# Block items that hold one value: the model keeps the last, so a second one silently wins.
_SINGLE_ITEMS: dict[str, tuple[str, dict[str, str]]] = {
    "policy_decl": ("policy", {
        "policy_title": "title", "policy_version": "version", "policy_effective": "effective",
        "policy_owner": "owner", "policy_description": "description", "policy_timezone": "timezone",
        "policy_calendar": "calendar", "policy_applies": "applies when"}),
    "window_decl": ("window", {
        "window_starts": "starts", "window_stops": "stops", "window_pauses": "pauses while",
        "window_calendar": "calendar", "window_restarts": "restarts on recycle", "window_quiet_hours": "quiet hours",
        "window_role": "role"}),
    "target_decl": ("target", {
        "target_owner": "owner", "target_accountable": "accountable", "target_metric": "metric",
        "target_where": "where", "target_period": "period",
        "target_group": "group by", "target_goal": "goal", "target_tolerance": "tolerance"}),
    "calendar_decl": ("calendar", {"cal_timezone": "timezone", "cal_holidays": "holidays"}),
    "plan_decl": ("plan", {"plan_revenue": "revenue", "plan_deal_size": "deal size", "plan_win_rate": "win rate"}),
}
_AGGREGATE = re.compile(r"(average|median|p[1-9][0-9]?)")
_LEVEL_RANK = {"warning": 0, "breach": 1, "after_breach": 2, "every_after_breach": 3}
_GOAL_TYPES = {"count": NUMBER, "met_rate": PERCENT, "rate": PERCENT, "completeness": PERCENT, "elapsed": DURATION}
_METRIC_WORDS = {"count": "count", "met_rate": "met rate", "rate": "rate", "completeness": "completeness",
                 "elapsed": "elapsed time"}
_GOAL_EXAMPLES = {"number": "a number such as 120 or a plan value such as inbound_2026.mqls",
                  "percent": "a percentage such as 90%", "duration": "a duration such as 4h"}


# ---------------------------------------------------------------- the checker


class _Checker:
    def __init__(self, policy_set: PolicySet, broken: frozenset[str] = frozenset(),
                 channels: Channels | None = None) -> None:
        self.ps = policy_set
        self.broken = broken
        self.channels = installed_channels() if channels is None else channels
        self.found: list[Diagnostic] = []
        self.warned: list[Diagnostic] = []
        self.sources = {path: _Source(path, text) for path, text in policy_set.sources.items()}
        self.fields: dict[str, Type] = {name: _field_type(name, type_) for name, type_ in LEAD_FIELDS.items()}
        for decl in policy_set.fields.values():
            self.fields[decl.name] = Type(decl.type.name, tuple(decl.type.values), label=decl.name)
        self.file_order = {f.path: i for i, f in enumerate(policy_set.files)}

    def run(self) -> list[Diagnostic]:
        self.check_duplicates()
        self.check_repeated_items()
        self.check_shared_names()
        self.check_cycles()
        for declaration in self.ps.declarations():
            self.check_declaration(declaration)
        return _sorted(self.found)

    # ------------------------------------------------------------ reporting and locating
    def report(self, code: str, message: str, pos: m.Pos, hint: str | None = None) -> None:
        self.found.append(Diagnostic(code, message, pos, hint))

    def warn(self, code: str, message: str, pos: m.Pos, hint: str | None = None) -> None:
        self.warned.append(Diagnostic(code, message, pos, hint, severity="warning"))

    def _source(self, pos: m.Pos) -> _Source | None:
        return self.sources.get(pos.file)

    def within(self, pos: m.Pos, *words: str | None, pick: int = -1) -> m.Pos:
        """The token spelling ``words`` inside a node's span; the node itself if not found."""
        source = self._source(pos)
        found = source.find(list(source.span(pos)), words, pick) if source else []
        return found[0] if found else pos

    def after(self, pos: m.Pos, *words: str | None, pick: int = -1) -> m.Pos:
        """The token right after a node that spells ``words`` (e.g. the field in ``stage x from FIELD``)."""
        source = self._source(pos)
        if source is None:
            return pos
        start = source.index(pos.end_line, pos.end_column)
        found = source.find(list(range(start, min(start + len(words), len(source.tokens)))), words, pick)
        return found[0] if found else pos

    def in_block(self, pos: m.Pos, *words: str | None, pick: int = -1) -> m.Pos:
        """An item of the block after a declaration's name, e.g. ``timezone "..."`` in a calendar."""
        found = self.all_in_block(pos, *words, pick=pick)
        return found[0] if found else pos

    def all_in_block(self, pos: m.Pos, *words: str | None, pick: int = -1) -> list[m.Pos]:
        source = self._source(pos)
        return source.find(source.block(pos), words, pick) if source else []

    def last_token(self, pos: m.Pos) -> m.Pos:
        source = self._source(pos)
        indices = list(source.span(pos)) if source else []
        return source.pos(indices[-1]) if source and indices else pos

    def head(self, pos: m.Pos) -> m.Pos:
        """A block statement's opening up to its ``{``, so a caret underlines ``escalate on breach``."""
        source = self._source(pos)
        indices = list(source.span(pos)) if source else []
        if source is None or not indices:
            return pos
        opening = next((n for n, i in enumerate(indices) if source.tokens[i].text == "{"), len(indices))
        taken = indices[:max(opening, 1)]
        first, last = source.pos(taken[0]), source.pos(taken[-1])
        if first.line != last.line:
            return first
        return first.model_copy(update={"end_column": last.end_column})

    def text(self, node: m.Node) -> str:
        """The policy text of a node, for messages."""
        source_text = self.ps.sources.get(node.pos.file)
        pos = node.pos
        if source_text is None or pos.line != pos.end_line:
            return node.dotted if isinstance(node, m.Ref) else type(node).__name__.lower()
        lines = source_lines(source_text)
        return lines[pos.line - 1][pos.column - 1:pos.end_column - 1] if pos.line <= len(lines) else ""

    def order(self, node: m.Node) -> tuple[int, int, int]:
        return self.file_order.get(node.pos.file, 0), node.pos.line, node.pos.column

    # ------------------------------------------------------------ names across the set
    def check_duplicates(self) -> None:
        """Only the first of two same-named declarations counts: edits to the second would silently do nothing."""
        for first, second in self.ps.duplicates:
            kind, first_kind = _kind(second), _kind(first)
            also = "" if kind == first_kind else f" as {_article(first_kind)}"
            self.report("E203", f"{kind} '{second.name}' is already declared{also} at {first.pos}", second.pos,
                        "rename one of them")

    def check_repeated_items(self) -> None:
        """`starts` written twice in a window: the model keeps only the last, so the first is silently ignored."""
        for path, text in self.ps.sources.items():
            try:
                tree = get_parser().parse(text, start="start")
            except (UnexpectedInput, RecursionError):
                continue  # syntax errors are reported by the parser; only well-formed files are read again
            for block in tree.iter_subtrees_topdown():
                if block.data in _SINGLE_ITEMS:
                    self.check_block_items(path, block)

    def check_block_items(self, path: str, block: Tree) -> None:
        kind, keywords = _SINGLE_ITEMS[str(block.data)]
        name = block.children[0]
        first: dict[str, m.Pos] = {}
        for item in block.children:
            if not isinstance(item, Tree) or str(item.data) not in keywords:
                continue
            meta = item.meta
            pos = m.Pos(file=path, line=meta.line, column=meta.column, end_line=meta.end_line,
                        end_column=meta.end_column)
            keyword = keywords[str(item.data)]
            if keyword in first:
                self.report("E203", f"`{keyword}` is given twice in {kind} '{name}' (first at {first[keyword]}); "
                            "only the last one counts", self.head(pos), "keep one of them")
            else:
                first[keyword] = pos

    def check_shared_names(self) -> None:
        """Fields, scores, definitions and stages are all read by bare name in conditions: one name, one meaning."""
        named: list[m.Node] = [*self.ps.fields.values(), *self.ps.scores.values(),
                               *self.ps.definitions.values(), *self.ps.stages.values()]
        owners: dict[str, m.Node] = {}
        for decl in sorted(named, key=self.order):
            name = decl.name  # type: ignore[attr-defined]
            earlier = owners.setdefault(name, decl)
            if earlier is not decl:
                self.report("E203", f"{_kind(decl)} '{name}' has the same name as {_kind(earlier)} '{name}' at "
                            f"{earlier.pos}; conditions could not tell them apart", decl.pos, "rename one of them")
            elif not isinstance(decl, m.FieldDecl) and name in LEAD_FIELDS:
                self.report("E203", f"{_kind(decl)} '{name}' has the name of the standard lead field '{name}'; "
                            "conditions could not tell them apart", decl.pos, "rename it")

    def check_cycles(self) -> None:
        """A definition that depends on itself has no value: the engine would read it as never true."""
        named: dict[str, m.Node] = {**self.ps.stages, **self.ps.scores, **self.ps.definitions}
        graph = {name: [(target, node) for target, node in self.dependencies(decl) if target in named]
                 for name, decl in named.items()}
        state: dict[str, str] = {}
        path: list[str] = []
        reported: set[frozenset[str]] = set()

        def visit(name: str) -> None:
            state[name] = "open"
            path.append(name)
            for target, node in graph[name]:
                if state.get(target) == "open":
                    cycle = [*path[path.index(target):], target]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.report_cycle(named[name], target, node, cycle)
                elif target not in state:
                    visit(target)
            path.pop()
            state[name] = "done"

        for name in sorted(named, key=lambda n: self.order(named[n])):
            if name not in state:
                visit(name)

    def report_cycle(self, decl: m.Node, target: str, node: m.Node, cycle: list[str]) -> None:
        """Report a cycle at the reference that closes it, with the whole loop spelt out."""
        pos = node.pos
        if isinstance(node, m.Becomes):
            pos = self.within(node.pos, "becomes", target)
        elif isinstance(node, m.ScoreRule):
            pos = self.within(node.pos, "per", target)
        name = decl.name  # type: ignore[attr-defined]
        self.report("E204", f"{_kind(decl)} '{name}' refers back to '{target}': {' → '.join(cycle)}", pos,
                    "a condition cannot depend on itself; break the loop")

    def dependencies(self, decl: m.Node) -> list[tuple[str, m.Node]]:
        """The names a definition, score or stage reads, with the node that reads each."""
        if isinstance(decl, m.ScoreDecl):
            found = [dep for rule in decl.rules for dep in _named_refs(rule.when)]
            found += [(rule.per, rule) for rule in decl.rules if rule.per is not None]
            return found
        return list(_named_refs(getattr(decl, "expr", None)))

    # ------------------------------------------------------------ declarations
    def check_declaration(self, declaration: m.Node) -> None:
        """Each kind of declaration has its own ways to go wrong."""
        if isinstance(declaration, m.ScoreDecl):
            self.check_score(declaration)
        elif isinstance(declaration, m.Definition):
            self.condition(declaration.expr, LEAD)
        elif isinstance(declaration, m.Stage):
            self.check_stage(declaration)
        elif isinstance(declaration, m.CalendarDecl):
            self.check_calendar(declaration)
        elif isinstance(declaration, m.ContactDecl):
            self.check_contact(declaration)
        elif isinstance(declaration, m.PlanDecl):
            self.check_plan(declaration)
        elif isinstance(declaration, m.Policy):
            self.check_policy(declaration)

    def check_score(self, score: m.ScoreDecl) -> None:
        """A score adds points per number: points per a text field would silently add nothing."""
        for rule in score.rules:
            if rule.when is not None:
                self.condition(rule.when, LEAD)
            if rule.per is not None:
                pos = self.within(rule.pos, "per", rule.per)
                type_ = self.name_type(rule.per, LEAD, pos)
                if type_ is not None and _group(type_) != "number":
                    self.report("E202", f"`per {rule.per}` needs a number, but '{rule.per}' is {_describe(type_)}",
                                pos, "points per … multiply by a number field or score")

    def check_stage(self, stage: m.Stage) -> None:
        """A stage read from a field that does not exist would never be entered."""
        if stage.expr is not None:
            self.condition(stage.expr, LEAD)
            return
        if stage.from_field is None:
            return
        pos = self.after(stage.pos, "from", stage.from_field)
        type_ = self.fields.get(stage.from_field)
        if type_ is None:
            if stage.from_field not in self.broken:
                self.report("E201", f"unknown field '{stage.from_field}'", pos, suggest(stage.from_field, self.fields))
            return
        if stage.from_values is not None:
            self.check_list(type_, stage.from_field, stage.from_values, LEAD)

    # ------------------------------------------------------------ calendars
    def check_calendar(self, calendar: m.CalendarDecl) -> None:
        """Business-hour deadlines are only as right as the calendar they count on."""
        self.check_timezone(calendar.timezone, self.in_block(calendar.pos, "timezone", None))
        self.check_holidays(calendar)
        if not calendar.hours:
            self.report("E212", f"calendar '{calendar.name}' has no `hours`: no business time would ever pass",
                        calendar.pos, "add e.g. `hours mon-fri 09:00-17:00`")
        for hours in calendar.hours:
            for interval in hours.intervals:
                self.check_interval(interval)
        for opened in calendar.open:
            for interval in opened.intervals:
                self.check_interval(interval)
            if opened.day in calendar.closed:
                self.report("E212", f"{opened.day} is both closed and open in calendar '{calendar.name}'",
                            opened.pos, "keep only one of them")

    def check_timezone(self, name: str | None, pos: m.Pos) -> None:
        """An unknown zone would shift every deadline by hours."""
        if name is None:
            return
        problem = _zone_problem(name)
        if problem is not None:
            self.report("E212", problem, pos, suggest(name, _time_zones()) or "use an IANA name such as "
                        "'America/New_York'")

    def check_holidays(self, calendar: m.CalendarDecl) -> None:
        """A holiday country the holidays package does not know would leave every holiday a workday."""
        if calendar.holidays is None:
            return
        try:
            holidays.country_holidays(calendar.holidays)
        except (NotImplementedError, ValueError, KeyError) as error:
            pos = self.in_block(calendar.pos, "holidays", None)
            self.report("E212", f"unknown holiday country '{calendar.holidays}': {error}", pos,
                        "use an ISO country code such as \"US\" or \"DE\"")
            return
        if calendar.subdivision is None:
            return
        try:
            holidays.country_holidays(calendar.holidays, subdiv=calendar.subdivision)
        except (NotImplementedError, ValueError, KeyError) as error:
            pos = self.in_block(calendar.pos, "subdivision", None)
            self.report("E212", f"unknown holiday subdivision '{calendar.subdivision}': {error}", pos)

    def check_interval(self, interval: m.Interval) -> None:
        """09:00-09:00 could mean no time or a whole day; only 00:00-00:00 (all day) is allowed."""
        if interval.start == interval.end and interval.start != time(0):
            self.report("E212", f"interval {interval.start:%H:%M}-{interval.end:%H:%M} has zero length",
                        interval.pos, "use 00:00-00:00 for a whole day")

    # ------------------------------------------------------------ contacts and teams
    def check_contact(self, contact: m.ContactDecl) -> None:
        """A misspelt attribute (`emial`) would leave a person unreachable when a lead breaches."""
        kind = "team" if contact.is_team else "contact"
        keys = self.channels.team_keys() if contact.is_team else self.channels.contact_keys()
        seen: dict[str, m.Attribute] = {}
        for attribute in contact.attributes:
            pos = self.within(attribute.pos, None, pick=0)
            if attribute.key not in keys:
                self.report("E215", f"'{attribute.key}' is not an attribute of a {kind}", pos,
                            suggest(attribute.key, keys) or f"use one of: {', '.join(keys)}")
                continue
            if attribute.key in seen:
                self.report("E215", f"{kind} '{contact.name}' gives '{attribute.key}' twice (first at "
                            f"{seen[attribute.key].pos})", pos, "keep one of them")
                continue
            seen[attribute.key] = attribute
            self.check_attribute(attribute)

    def check_attribute(self, attribute: m.Attribute) -> None:
        """An address that is not a text cannot be delivered to; a calendar must exist."""
        value = attribute.value
        if attribute.key == "calendar":
            name = value.path[0] if isinstance(value, m.Ref) else getattr(value, "value", None)
            if isinstance(name, str):
                self.check_calendar_ref(name, value.pos)
            else:
                self.report("E215", "`calendar` names a calendar", value.pos)
        elif attribute.key == "members":
            self.check_members(value)
        elif attribute.key == "timezone" and isinstance(value, m.Literal_) and value.type == "text":
            self.check_timezone(value.value, value.pos)
        elif attribute.key == "manager" and isinstance(value, m.Ref):
            self.check_contact_ref(value)
        elif attribute.key != "away" and not _is_text(value):
            self.report("E215", f"`{attribute.key}` should be a text in double quotes or env(\"VARIABLE\")", value.pos)

    def check_members(self, value: m.Node) -> None:
        """Round-robin reassignment picks from members: each must be an address, not a number or name."""
        if not isinstance(value, m.ListValue):
            self.report("E215", "`members` is a list of texts, e.g. [\"ana@example.com\"]", value.pos)
            return
        for item in value.items:
            if not _is_text(item):
                self.report("E215", "each member is a text in double quotes", item.pos)

    def check_contact_ref(self, ref: m.Ref) -> None:
        """A manager or owner who is not declared cannot be notified."""
        name = ref.dotted
        if name not in self.ps.contacts and name not in self.broken:
            self.report("E201", f"unknown contact '{name}'", ref.pos, suggest(name, self.ps.contacts))

    def check_calendar_ref(self, name: str, pos: m.Pos) -> None:
        """A misspelt calendar would silently count business time around the clock."""
        if name not in self.ps.calendars and name not in self.broken:
            self.report("E201", f"unknown calendar '{name}'", pos, suggest(name, self.ps.calendars))

    # ------------------------------------------------------------ plans
    def check_plan(self, plan: m.PlanDecl) -> None:
        """A plan works the revenue goal back into MQLs: a gap anywhere leaves marketing without a number."""
        missing = [label for label, value in (("revenue", plan.revenue), ("deal size", plan.deal_size),
                                              ("win rate", plan.win_rate)) if value is None]
        if missing:
            self.report("E211", f"plan '{plan.name}' has no {_either(missing)}, so it cannot work out volumes",
                        plan.pos)
        if plan.period is not None and plan.period not in PERIODS:
            self.report("E211", f"unknown revenue period '{plan.period}'",
                        self.in_block(plan.pos, "revenue", None, "per", None),
                        suggest(plan.period, PERIODS) or f"use one of: {', '.join(PERIODS)}")
        if plan.deal_size is not None and plan.deal_size <= 0:
            self.report("E211", "the deal size must be more than 0", self.in_block(plan.pos, "deal", "size", None))
        if plan.win_rate is not None and not 0 < plan.win_rate <= 1:
            self.report("E211", f"win rate {plan.win_rate * 100:g}% is not between 0% (excluded) and 100%",
                        self.in_block(plan.pos, "win", "rate", None))
        for conversion in plan.conversions:
            self.check_conversion(conversion)
        self.check_conversion_chain(plan)

    def check_conversion(self, conversion: m.PlanConversion) -> None:
        """A 0% or 150% conversion rate makes the worked-back volumes meaningless."""
        if not 0 < conversion.rate <= 1:
            self.report("E211", f"conversion rate {conversion.rate * 100:g}% is not between 0% (excluded) and 100%",
                        self.last_token(conversion.pos))
        for pick, stage in ((0, conversion.source), (2, conversion.target)):
            if stage not in self.ps.stages and stage not in self.broken:
                self.report("E201", f"unknown stage '{stage}'", self.within(conversion.pos, None, "to", None,
                                                                             pick=pick),
                            suggest(stage, self.ps.stages))

    def check_conversion_chain(self, plan: m.PlanDecl) -> None:
        """Each stage must convert from the one before, from opportunity back to mql, or the MQL goal is unknown."""
        into: dict[str, m.PlanConversion] = {}
        for conversion in plan.conversions:
            if conversion.target in into:
                self.report("E211", f"a second conversion into '{conversion.target}' (the first is at "
                            f"{into[conversion.target].pos}); the plan uses only the last", conversion.pos,
                            "keep one of them")
            into[conversion.target] = conversion
        chain = _chain(into)
        reached = [conversion.source for conversion in chain]
        if "mql" not in reached:
            stage = reached[-1] if reached else "opportunity"
            self.report("E211", f"plan '{plan.name}' cannot work back from opportunity to mql: nothing converts "
                        f"into '{stage}'", plan.pos, f"add a line such as `sql to {stage} 50%`"
                        if stage == "opportunity" else f"add a line such as `mql to {stage} 25%`")
            return
        for conversion in into.values():
            if conversion not in chain:
                self.report("E211", f"conversion {conversion.source} to {conversion.target} is not on the chain "
                            "from opportunity back to mql; the plan ignores it", conversion.pos)

    # ------------------------------------------------------------ policies
    def check_policy(self, policy: m.Policy) -> None:
        """A policy is checked header, tiers, windows and targets, so every mistake shows at once."""
        self.check_timezone(policy.timezone, self.in_block(policy.pos, "timezone", f'"{policy.timezone}"'))
        if policy.calendar is not None:
            self.check_calendar_ref(policy.calendar, self.in_block(policy.pos, "calendar", policy.calendar))
        if isinstance(policy.owner, m.Ref):
            self.check_contact_ref(policy.owner)
        if policy.applies is not None:
            self.condition(policy.applies, LEAD)
        self.check_policy_names(policy)
        self.check_tiers(policy)
        for window in policy.windows:
            self.check_window(policy, window)
        self.check_window_roles(policy)
        for target in policy.targets:
            self.check_target(policy, target)

    def check_policy_names(self, policy: m.Policy) -> None:
        """Tiers, windows and targets are named in reports and goals: a name used twice is ambiguous."""
        groups: tuple[tuple[str, Sequence[m.Tier | m.Window | m.Target]], ...] = (
            ("tier", policy.tiers), ("window", policy.windows), ("target", policy.targets))
        for kind, nodes in groups:
            first: dict[str, m.Node] = {}
            for node in nodes:
                if node.name in first:
                    self.report("E203", f"{kind} '{node.name}' is already declared at {first[node.name].pos}",
                                node.pos, "rename one of them")
                else:
                    first[node.name] = node

    def check_tiers(self, policy: m.Policy) -> None:
        """Tier conditions decide which goal a lead gets: they must be valid conditions."""
        for tier in policy.tiers:
            if tier.when is not None:
                self.condition(tier.when, LEAD)
        self.check_unreachable_tiers(policy)

    def not_covered(self, policy: m.Policy) -> list[m.Pos]:
        """Every `otherwise not covered` of a policy (the model keeps only one)."""
        found = self.all_in_block(policy.pos, "otherwise", "not", "covered", pick=0)
        return found or ([policy.not_covered] if policy.not_covered else [])

    def check_unreachable_tiers(self, policy: m.Policy) -> None:
        """The first matching tier wins: a tier an earlier one always beats gets no leads and its goal never runs."""
        uncovered = self.not_covered(policy)
        for second in uncovered[1:]:
            self.report("E205", f"`otherwise not covered` is already given at {uncovered[0]}", second)
        earlier: list[m.Tier] = []
        for tier in policy.tiers:
            if uncovered and _before(uncovered[0], tier.pos):
                self.report("E205", f"tier '{tier.name}' can never match: it comes after `otherwise not covered` "
                            f"at {uncovered[0]}", tier.pos, "move it above `otherwise not covered`")
            else:
                self.check_tier_reachable(tier, earlier)
            earlier.append(tier)
        catch_all = next((t for t in policy.tiers if t.when is None), None)
        if catch_all is not None and uncovered and _before(catch_all.pos, uncovered[0]):
            self.report("E205", f"`otherwise not covered` never applies: tier '{catch_all.name}' at {catch_all.pos} "
                        "already takes every lead", uncovered[0])

    def check_tier_reachable(self, tier: m.Tier, earlier: list[m.Tier]) -> None:
        """An earlier catch-all or broader condition takes every lead this tier would get."""
        for first in earlier:
            if first.when is None:
                self.report("E205", f"tier '{tier.name}' can never match: tier '{first.name}' at {first.pos} "
                            "(otherwise) already takes every lead", tier.pos, "put the catch-all tier last")
                return
            if tier.when is not None and _implies(tier.when, first.when):
                self.report("E205", f"tier '{tier.name}' can never match: every lead it matches is taken by tier "
                            f"'{first.name}' at {first.pos}, which comes first", tier.pos,
                            "put the narrower tier first")
                return

    # ------------------------------------------------------------ windows
    def check_window(self, policy: m.Policy, window: m.Window) -> None:
        """A window is an SLA clock: it must start, stop, have goals and escalate in order."""
        self.check_window_runs(window)
        if window.start is not None:
            self.check_trigger(window.start, in_window=False)
        if window.stop is not None:
            self.check_trigger(window.stop, in_window=True)
        if window.pause is not None:
            self.condition(window.pause, Scope(window=True))
        if window.calendar is not None:
            self.check_calendar_ref(window.calendar, self.in_block(window.pos, "calendar", window.calendar))
        if window.quiet_hours is not None:
            self.check_calendar_ref(window.quiet_hours,
                                    self.in_block(window.pos, "quiet", "hours", window.quiet_hours))
        self.check_goals(policy, window)
        self.check_warnings(window)
        self.check_window_escalations(window)

    def check_window_runs(self, window: m.Window) -> None:
        """A clock that never starts, never stops or has no goal measures nothing, silently."""
        if window.start is None:
            self.report("E206", f"window '{window.name}' never starts: it has no `starts`", window.pos,
                        "add e.g. `starts when becomes mql`")
        elif _literally_false(window.start.condition) or _literally_false(window.start.where):
            self.report("E206", f"window '{window.name}' never starts: its start condition is `false`",
                        window.start.pos)
        if window.stop is None:
            self.report("E206", f"window '{window.name}' never stops: it has no `stops`", window.pos,
                        "add e.g. `stops on activity by owner`")
        elif _literally_false(window.stop.condition) or _literally_false(window.stop.where):
            self.report("E206", f"window '{window.name}' never stops: its stop condition is `false`",
                        window.stop.pos)
        if not window.goals:
            self.report("E206", f"window '{window.name}' has no goal, so its clock can never be met or breached",
                        window.pos, "add e.g. `goal 24h`")

    def check_trigger(self, trigger: m.Trigger, in_window: bool) -> None:
        """An event kind the sources never send would leave the clock waiting forever."""
        if trigger.condition is not None:
            self.condition(trigger.condition, Scope(window=in_window))
        if trigger.event is None:
            return
        kind = trigger.event
        if kind not in EVENT_KINDS:
            self.report("E201", f"unknown event kind '{kind}'", self.within(trigger.pos, "on", kind),
                        suggest(kind, EVENT_KINDS) or f"use one of: {', '.join(EVENT_KINDS)}")
            kind = "*"
        if trigger.where is not None:
            self.condition(trigger.where, Scope(event_kind=kind, window=in_window))

    def check_goals(self, policy: m.Policy, window: m.Window) -> None:
        """Each tier gets one goal, for a tier that exists, counted on a real calendar."""
        tiers = [t.name for t in policy.tiers]
        seen: dict[str | None, m.Goal] = {}
        for goal in window.goals:
            if goal.tier is not None and goal.tier not in tiers:
                self.report("E201", f"unknown tier '{goal.tier}' in policy '{policy.name}'",
                            self.within(goal.pos, "goal", goal.tier),
                            suggest(goal.tier, tiers) or (None if tiers else "this policy declares no tiers"))
            if goal.tier in seen:
                which = f"tier '{goal.tier}'" if goal.tier else "every other tier"
                self.report("E203", f"window '{window.name}' already has a goal for {which} at "
                            f"{seen[goal.tier].pos}", goal.pos, "keep one of them")
            else:
                seen[goal.tier] = goal
            self.check_positive(goal.duration, "a goal")
            if goal.calendar is not None:
                self.check_calendar_ref(goal.calendar, self.within(goal.pos, "on", goal.calendar))
            if goal.duration.business and not (goal.calendar or window.calendar or policy.calendar):
                self.report("E212", f"goal `{m.format_duration(goal.duration)}` counts business time but no "
                            "calendar says when business is open", goal.duration.pos,
                            "add `calendar NAME` to the policy, the window or the goal (`on NAME`)")

    def check_positive(self, duration: m.Duration, what: str) -> None:
        """A zero duration would fire or breach the instant a clock starts."""
        if duration.amount <= 0:
            self.report("E207", f"{what} of {m.format_duration(duration)} is not a positive duration", duration.pos)

    def check_warnings(self, window: m.Window) -> None:
        """A warning at or after the deadline gives the owner no time to act."""
        for warning in window.warnings:
            if warning.percent is not None and warning.percent >= 100:
                self.report("E209", f"`warn at {warning.percent:g}%` is at or after the deadline",
                            self.within(warning.pos, "at", None), "warn before 100%, e.g. `warn at 75%`")
            if warning.before is not None:
                self.check_positive(warning.before, "a warning")
                self.check_warning_before(window, warning.before)

    def check_warning_before(self, window: m.Window, before: m.Duration) -> None:
        """`warn 3h before due` on a 2h goal would warn before the clock even starts."""
        for goal in window.goals:
            goal_clock = (goal.duration.business, goal.duration.business_days)
            same_clock = (before.business, before.business_days) == goal_clock
            if same_clock and before.seconds >= goal.duration.seconds > 0:
                which = f"goal {goal.tier} " if goal.tier else "goal "
                self.report("E209", f"`warn {m.format_duration(before)} before due` is at or before the start of the "
                            f"clock: {which}is {m.format_duration(goal.duration)}", before.pos,
                            "warn less time before the deadline than the goal itself")
                return

    def check_window_escalations(self, window: m.Window) -> None:
        """Levels run in time order; listing them out of order hides which one fires when."""
        highest: tuple[tuple[int, float], m.Escalation] | None = None
        for escalation in window.escalations:
            self.check_escalation(escalation)
            if escalation.when == "missed":
                self.report("E210", "`when missed N periods` belongs in a target; a window escalates at warning, "
                            "on breach or after breach", self.head(escalation.pos))
                continue
            if escalation.when == "warning" and not window.warnings:
                self.report("E210", f"`escalate at warning` never fires: window '{window.name}' has no `warn`",
                            self.head(escalation.pos), "add e.g. `warn at 75%`")
            after = escalation.after.seconds if escalation.when == "after_breach" and escalation.after else 0.0
            key = (_LEVEL_RANK[escalation.when], after)
            if highest is not None and key <= highest[0]:
                self.report_level_order(escalation, highest[1])
            else:
                highest = (key, escalation)

    def report_level_order(self, escalation: m.Escalation, earlier: m.Escalation) -> None:
        """Say which level is out of place, and what the right order is."""
        if escalation.label == earlier.label:
            message = f"`escalate {escalation.label}` is already given at {earlier.pos}"
        else:
            message = f"`escalate {escalation.label}` comes after `escalate {earlier.label}` but happens before it"
        self.report("E210", message, self.head(escalation.pos),
                    "order levels: at warning, on breach, N after breach (increasing N), every N after breach")

    def check_escalation(self, escalation: m.Escalation) -> None:
        """Delays, quiet-hours calendars and actions of one escalation level."""
        if escalation.after is not None:
            self.check_positive(escalation.after, "an escalation delay")
        if escalation.quiet_hours is not None:
            self.check_calendar_ref(escalation.quiet_hours,
                                    self.within(escalation.pos, "quiet", "hours", escalation.quiet_hours))
        for action in escalation.actions:
            self.check_action(action)

    # ------------------------------------------------------------ actions
    def check_action(self, action: m.Node) -> None:
        """An action that cannot be carried out is found now, not when a lead breaches."""
        if isinstance(action, m.Notify):
            self.check_recipient(action.recipient)
            self.check_channel(action)
        elif isinstance(action, m.Reassign):
            self.check_reassign(action)
        elif isinstance(action, m.CreateTask):
            if action.recipient is not None:
                self.check_recipient(action.recipient)
            if action.due is not None:
                self.check_positive(action.due, "a task due time")
        elif isinstance(action, m.SetField):
            self.check_set(action)

    def check_recipient(self, recipient: m.Recipient) -> None:
        """An escalation to someone the policy does not know is never delivered."""
        if recipient.kind != "named" or recipient.name is None:
            return
        if recipient.name not in self.ps.contacts and recipient.name not in self.broken:
            self.report("E214", f"unknown recipient '{recipient.name}'", recipient.pos,
                        suggest(recipient.name, [*self.ps.contacts, "owner", "manager"])
                        or "declare it with `contact NAME { ... }` or `team NAME { ... }`")

    def check_channel(self, notify: m.Notify) -> None:
        """A channel no installed plugin delivers, or a contact with no address on it, reaches nobody."""
        if notify.channel is not None and notify.channel not in self.channels.plugins:
            installed = ", ".join(f"{c} (plugin {p})" for c, p in self.channels.plugins.items()) or "none"
            hint = suggest(notify.channel, list(self.channels.plugins))
            self.report("E214", f"unknown channel '{notify.channel}'", self.within(notify.pos, "via", notify.channel),
                        (f"{hint}; " if hint else "") + f"installed channels: {installed}; a notifier plugin that "
                        f"registers '{notify.channel}' adds it (see `sla-engine plugins` and docs/plugins.md)")
            return
        contact = self.ps.contacts.get(notify.recipient.name or "") if notify.recipient.kind == "named" else None
        if contact is None or contact.is_team:
            return
        if notify.channel in self.channels.addressed and contact.get(notify.channel) is None:
            self.report("E214", f"contact '{contact.name}' has no {notify.channel} address",
                        self.within(notify.pos, "via", notify.channel),
                        f"add `{notify.channel} \"...\"` to contact '{contact.name}'")
        elif notify.channel is None and all(contact.get(c) is None for c in self.channels.addressed):
            self.report("E214", f"contact '{contact.name}' has no {', '.join(self.channels.addressed)} address "
                        "to notify", notify.recipient.pos)

    def check_reassign(self, action: m.Reassign) -> None:
        """Round-robin reassignment needs a team's members to choose from."""
        pos = self.within(action.pos, "to", action.team)
        target = self.ps.contacts.get(action.team)
        if target is not None and not target.is_team:
            self.report("E214", f"'{action.team}' is a contact, not a team; reassign picks from a team's members", pos)
        elif target is None and action.team not in self.broken:
            teams = [c.name for c in self.ps.contacts.values() if c.is_team]
            self.report("E214", f"unknown team '{action.team}'", pos, suggest(action.team, teams))

    def check_set(self, action: m.SetField) -> None:
        """Writing a text into a number field would be rejected by the CRM at delivery time."""
        field_type = self.fields.get(action.field)
        value = action.value
        if isinstance(value, m.Env):
            self.report("E202", f"`set {action.field}` writes a value into the CRM, but env(\"{value.variable}\") "
                        "reads a secret, for a contact's address; it is never written to a lead", value.pos,
                        "write the value itself, e.g. set status = \"Escalated\"")
            return
        if field_type is None or not isinstance(value, m.Literal_ | m.Duration):
            return
        value_type = DURATION if isinstance(value, m.Duration) else Type(value.type)
        if _group(field_type) != _group(value_type):
            self.report("E202", f"'{action.field}' is {_describe(field_type)}, but the value is "
                        f"{_describe(value_type)}", value.pos)
        else:
            self.check_enum_value(field_type, value)

    # ------------------------------------------------------------ targets
    def check_target(self, policy: m.Policy, target: m.Target) -> None:
        """A target needs something to measure, a period, an owner and a goal in the right unit."""
        if target.metric is None:
            self.report("E216", f"target '{target.name}' has no `metric`: there is nothing to measure", target.pos,
                        "add e.g. `metric count of mql`")
        else:
            self.check_metric(policy, target.metric)
        if target.where is not None:
            self.condition(target.where, Scope(extra=self.target_names(policy)))
            self.check_reads_no_events(target.where, "`where`", target.where.pos)
        self.check_target_period(target)
        self.check_target_owner(target)
        self.check_accountable(target)
        self.check_group_by(target)
        self.check_target_goal(target)
        if target.tolerance is not None and target.tolerance_is_percent and target.tolerance > 100:
            self.report("E208", f"tolerance {target.tolerance:g}% is outside 0-100%",
                        self.in_block(target.pos, "tolerance", None))
        self.check_target_escalations(target)

    def target_names(self, policy: m.Policy) -> dict[str, Type]:
        """`tier`, `policy` and `window` in a target's `where` hold the names this policy declares."""
        names = {"tier": [t.name for t in policy.tiers], "policy": list(self.ps.policies),
                 "window": [w.name for w in policy.windows]}
        return {key: Type("enum", tuple(names[key]), label=key, names=key) for key in TARGET_FIELDS}

    def check_metric(self, policy: m.Policy, metric: m.Metric) -> None:
        """A metric over a misspelt stage or window would report zero forever."""
        subject = metric.subject or ""
        if metric.kind == "count":
            self.check_metric_subject(subject, self.within(metric.pos, "of", subject), ("stage",), "count of")
        elif metric.kind == "rate":
            self.check_metric_subject(subject, self.within(metric.pos, "of", subject), ("stage", "definition"),
                                      "rate of")
            if subject in self.ps.definitions:
                self.check_reads_no_events(self.ps.definitions[subject], f"`rate of {subject}`",
                                           self.within(metric.pos, "of", subject))
            among = metric.among or ""
            self.check_metric_subject(among, self.within(metric.pos, "among", among), ("stage",), "among")
        elif metric.kind in ("met_rate", "elapsed"):
            self.check_window_ref(policy, subject, self.within(metric.pos, "of", subject))
        if metric.kind == "elapsed" and not _AGGREGATE.fullmatch(metric.aggregate or ""):
            self.report("E216", f"unknown aggregate '{metric.aggregate}'", self.within(metric.pos, None, pick=0),
                        "use average, median or pNN such as p90")
        for name in metric.fields:
            if name not in self.fields and name not in self.broken:
                pos = self.within(metric.pos, name)
                if pos == metric.pos:
                    pos = self.within(metric.pos, f'"{name}"')
                self.report("E201", f"unknown field '{name}'", pos, suggest(name, self.fields))

    def check_reads_no_events(self, expr: m.Node, what: str, pos: m.Pos) -> None:
        """A target judges each lead's current fields: a count of events or a `becomes` (true only at
        an event) would read 0 or false there, whatever the history. A stage can hold them instead."""
        found = _reads_events(self.ps, expr, set())
        if found is None:
            return
        node, name = found
        via = f" (through '{name}')" if name else ""
        if isinstance(node, m.Count):
            self.report("E216", f"{what} reads {_count_text(node)}{via}, which a target cannot judge: a target "
                        "reads each lead's current fields, not its events", pos,
                        "declare it as a stage (`stage NAME when count(...) >= 3`, entered at the event that "
                        "reaches the count) and use `rate of NAME among mql`")
        else:
            self.report("E216", f"{what} reads `becomes {node.stage}`{via}, which is true only at an event "
                        "and never in a target", pos, f"use the stage itself (`{node.stage}`)")

    def check_metric_subject(self, name: str, pos: m.Pos, kinds: tuple[str, ...], where: str) -> None:
        """Counting a definition as a stage would measure nothing: say what the name really is."""
        known: dict[str, Mapping[str, object]] = {
            "stage": self.ps.stages, "definition": self.ps.definitions, "score": self.ps.scores, "field": self.fields}
        if any(name in known[kind] for kind in kinds) or name in self.broken:
            return
        wanted = " or ".join(kinds)
        other = next((kind for kind in known if name in known[kind]), None)
        if other is not None:
            self.report("E216", f"`{where}` needs {_article(wanted)}, but '{name}' is {_article(other)}", pos)
        else:
            candidates = [n for kind in kinds for n in known[kind]]
            self.report("E201", f"unknown {wanted} '{name}'", pos, suggest(name, candidates))

    def check_window_ref(self, policy: m.Policy, name: str, pos: m.Pos) -> None:
        """Met rates and elapsed times read the clocks of this policy's own windows."""
        windows = [w.name for w in policy.windows]
        if name not in windows:
            self.report("E201", f"policy '{policy.name}' has no window '{name}'", pos, suggest(name, windows))

    def check_target_period(self, target: m.Target) -> None:
        """Targets are judged per week, month or quarter; any other period cannot be reported."""
        if target.period is not None and target.period not in PERIODS:
            self.report("E216", f"unknown period '{target.period}'", self.in_block(target.pos, "period", target.period),
                        suggest(target.period, PERIODS) or f"use one of: {', '.join(PERIODS)}")

    def check_target_owner(self, target: m.Target) -> None:
        """The dashboard groups targets by the side that owns them."""
        if target.owner is None or target.owner in TARGET_OWNERS or target.owner in self.ps.contacts:
            return
        self.report("E216", f"target owner '{target.owner}' is not {', '.join(TARGET_OWNERS)} or a contact",
                    self.in_block(target.pos, "owner", target.owner),
                    suggest(target.owner, [*TARGET_OWNERS, *self.ps.contacts]))

    def check_accountable(self, target: m.Target) -> None:
        """The dashboard names the person who answers for a target: a declared contact."""
        if target.accountable is None or target.accountable in self.ps.contacts:
            return
        self.report("E201", f"unknown contact '{target.accountable}'",
                    self.in_block(target.pos, "accountable", target.accountable),
                    suggest(target.accountable, list(self.ps.contacts)))

    def check_window_roles(self, policy: m.Policy) -> None:
        """A role names what the built-in metrics read a window as: one of each per policy."""
        taken: dict[str, str] = {}
        for window in policy.windows:
            if window.role is None:
                continue
            pos = self.in_block(window.pos, "role", window.role)
            if window.role not in WINDOW_ROLES:
                self.report("E201", f"unknown window role '{window.role}'", pos,
                            suggest(window.role, WINDOW_ROLES) or f"use one of: {', '.join(WINDOW_ROLES)}")
            elif window.role in taken:
                self.report("E203", f"window '{taken[window.role]}' already has role '{window.role}'", pos,
                            "give the role to one window of the policy")
            else:
                taken[window.role] = window.name

    def check_group_by(self, target: m.Target) -> None:
        """Grouping by a field no lead has puts every lead in one empty group."""
        allowed = [*self.fields, *TARGET_FIELDS]
        for name in target.group_by:
            if name not in allowed and name not in self.broken:
                self.report("E201", f"unknown field '{name}'", self.group_by_pos(target, name), suggest(name, allowed))

    def group_by_pos(self, target: m.Target, name: str) -> m.Pos:
        """The name in `group by a, b, c` (the model keeps names without positions)."""
        source = self._source(target.pos)
        if source is None:
            return target.pos
        items = source.block(target.pos)
        found = source.find(items, ["group", "by"], pick=0)
        if not found:
            return target.pos
        start = items.index(source.index(found[0].line, found[0].column)) + 2
        for i in items[start:]:
            word = source.tokens[i].text
            if word == name:
                return source.pos(i)
            if word != "," and not word.isidentifier():
                break
        return target.pos

    def check_target_goal(self, target: m.Target) -> None:
        """A goal in the wrong unit (hours for a rate) can never be judged."""
        if target.goal is None:
            return
        value = target.goal.value
        value_type = self.goal_value_type(value)
        if isinstance(value, m.Duration):
            self.check_positive(value, "a goal")
        if isinstance(value, m.Literal_) and value.type == "percent" and not 0 <= value.value <= 100:
            self.report("E208", f"goal {value.value:g}% is outside 0-100%", value.pos)
        if target.metric is None or value_type is None:
            return
        expected = _GOAL_TYPES[target.metric.kind]
        if value_type.name != expected.name:
            self.report("E202", f"{_article(_METRIC_WORDS[target.metric.kind])} goal is {_describe(expected)}, not "
                        f"{_describe(value_type)}", value.pos, f"write {_GOAL_EXAMPLES[expected.name]}")

    def goal_value_type(self, value: m.Node) -> Type | None:
        """What kind of value a target goal is, checking plan references on the way."""
        if isinstance(value, m.Duration):
            return DURATION
        if isinstance(value, m.Literal_):
            return Type(value.type)
        if isinstance(value, m.Ref) and len(value.path) == 2:
            return self.plan_value(value)
        if isinstance(value, m.Ref):
            self.report("E201", f"unknown plan value '{value.dotted}'", value.pos,
                        "a goal names a plan value as PLAN.VALUE, e.g. inbound_2026.mqls")
            return None
        self.report("E202", "a goal is a number, percentage, duration or plan value", value.pos)
        return None

    def check_target_escalations(self, target: m.Target) -> None:
        """Targets are judged per period, so they escalate only after missed periods, in increasing order."""
        highest: m.Escalation | None = None
        for escalation in target.escalations:
            self.check_escalation(escalation)
            if escalation.when != "missed":
                self.report("E210", f"a target escalates only `when missed N periods`, not `{escalation.label}`",
                            self.head(escalation.pos))
                continue
            periods = escalation.missed_periods or 0
            if periods < 1:
                self.report("E207", "`when missed 0 periods` is not a positive number of periods",
                            self.within(escalation.pos, "missed", None))
            if highest is not None and periods <= (highest.missed_periods or 0):
                self.report_level_order(escalation, highest)
            else:
                highest = escalation

    # ------------------------------------------------------------ conditions
    def condition(self, expr: m.Node, scope: Scope) -> None:
        """A condition must be true or false, with every name known and every comparison meaningful."""
        if isinstance(expr, m.And | m.Or):
            for item in expr.items:
                self.condition(item, scope)
        elif isinstance(expr, m.Not):
            self.condition(expr.operand, scope)
        elif isinstance(expr, m.Truth):
            self.check_truth(expr, scope)
        elif isinstance(expr, m.Becomes):
            self.check_stage_ref(expr.stage, self.within(expr.pos, "becomes", expr.stage))
        elif isinstance(expr, m.Compare):
            self.check_compare(expr, scope)
        elif isinstance(expr, m.Member):
            self.check_member(expr, scope)
        elif isinstance(expr, m.Between):
            self.check_between(expr, scope)
        elif isinstance(expr, m.Matches):
            self.check_matches(expr, scope)
        elif isinstance(expr, m.IsSet):
            self.operand(expr.operand, scope)

    def check_truth(self, expr: m.Truth, scope: Scope) -> None:
        """`when industry` is always true for any industry: a condition must be true or false."""
        type_ = self.operand(expr.operand, scope)
        if type_ is None or type_.name == "boolean":
            return
        text = self.text(expr.operand)
        self.report("E202", f"`{text}` is {_describe(type_)}, not true or false", expr.operand.pos,
                    f"compare it (e.g. `{text} == ...`) or ask `{text} is set`")

    def check_stage_ref(self, name: str, pos: m.Pos) -> None:
        """`becomes X` for a stage that does not exist is never true."""
        if name not in self.ps.stages and name not in self.broken:
            self.report("E201", f"unknown stage '{name}'", pos, suggest(name, self.ps.stages))

    def check_compare(self, expr: m.Compare, scope: Scope) -> None:
        """Comparing a number with a text is never true: the engine would silently skip the lead."""
        left = self.operand(expr.left, scope)
        right = self.operand(expr.right, scope, quote_hint=True)
        if left is None or right is None:
            return
        if expr.op in _ORDERING:
            for side, type_ in ((expr.left, left), (expr.right, right)):
                if _group(type_) not in _ORDERED:
                    self.report("E202", f"`{expr.op}` compares numbers, durations, dates and times, but "
                                f"`{self.text(side)}` is {_describe(type_)}", side.pos)
                    return
        if _group(left) != _group(right):
            self.report("E202", f"cannot compare `{self.text(expr.left)}` ({_describe(left)}) with "
                        f"`{self.text(expr.right)}` ({_describe(right)})", expr.pos)
            return
        self.check_enum_value(left, expr.right)
        self.check_enum_value(right, expr.left)

    def check_member(self, expr: m.Member, scope: Scope) -> None:
        """`x in [...]` is never true for values x cannot hold."""
        type_ = self.operand(expr.operand, scope)
        if type_ is not None:
            self.check_list(type_, self.text(expr.operand), expr.values, scope)

    def check_list(self, type_: Type, label: str, values: m.ListValue, scope: Scope) -> None:
        """Each listed value must be something the operand can equal."""
        element = TEXT if type_.name == "text_list" else type_
        for item in values.items:
            item_type = self.list_item_type(item, scope)
            if item_type is None:
                continue
            if _group(item_type) != _group(element):
                self.report("E202", f"`{self.text(item)}` is {_describe(item_type)}, but `{label}` is "
                            f"{_describe(type_)}", item.pos)
            else:
                self.check_enum_value(element, item, listed=True)

    def list_item_type(self, item: m.Node, scope: Scope) -> Type | None:
        """The type of a listed value; a bare name in a list is the text of that name."""
        if isinstance(item, m.Ref) and len(item.path) == 1:
            return TEXT
        if isinstance(item, m.Env):
            self.report("E202", "env(...) reads a secret for delivery; it has no value in a condition", item.pos)
            return None
        return self.operand(item, scope)

    def check_enum_value(self, type_: Type, node: m.Node, listed: bool = False) -> None:
        """`persona == "champoin"` is never true: the value must be one the field can hold.

        A bare name is a value only inside a list (``persona in [champion]``); elsewhere it is a field.
        """
        if type_.name != "enum" and not (type_.name == "text" and type_.values):
            return
        if isinstance(node, m.Literal_) and node.type == "text":
            value = str(node.value)
        elif listed and isinstance(node, m.Ref) and len(node.path) == 1:
            value = node.path[0]
        else:
            return
        if value.casefold() in {v.casefold() for v in type_.values}:
            return
        hint = suggest(value, type_.values) or (f"known: {', '.join(type_.values)}" if type_.values else None)
        if type_.name == "text":
            # A source may send other values, so this is a warning: the condition holds only if one does.
            self.warn("W301", f"'{value}' is not a known {type_.label}: {', '.join(type_.values)}", node.pos, hint)
        elif type_.names:
            self.report("E201", f"unknown {type_.names} '{value}'", node.pos, hint)
        else:
            self.report("E202", f"'{value}' is not one of {type_.label}'s values ({', '.join(type_.values)})",
                        node.pos, hint)

    def check_between(self, expr: m.Between, scope: Scope) -> None:
        """`between` needs ordered values of one kind on all three sides."""
        type_ = self.operand(expr.operand, scope)
        if type_ is not None and _group(type_) not in _ORDERED:
            self.report("E202", f"`between` needs a number, duration, date or time, but `{self.text(expr.operand)}` "
                        f"is {_describe(type_)}", expr.operand.pos)
            type_ = None
        for bound in (expr.low, expr.high):
            bound_type = self.operand(bound, scope)
            if type_ is not None and bound_type is not None and _group(bound_type) != _group(type_):
                self.report("E202", f"`{self.text(bound)}` is {_describe(bound_type)}, but "
                            f"`{self.text(expr.operand)}` is {_describe(type_)}", bound.pos)

    def check_matches(self, expr: m.Matches, scope: Scope) -> None:
        """A pattern that does not compile would fail the whole run; matching a number never matches."""
        type_ = self.operand(expr.operand, scope)
        if type_ is not None and _group(type_) != "text":
            self.report("E202", f"`matches` tests a text, but `{self.text(expr.operand)}` is {_describe(type_)}",
                        expr.operand.pos)
        try:
            compile_pattern(expr.pattern)
        except PatternError as error:
            self.report("E213", f"invalid pattern: {error}", self.last_token(expr.pos),
                        "patterns are RE2 syntax: no lookaround (?=…) and no backreferences \\1")

    # ------------------------------------------------------------ operands
    def operand(self, node: m.Node, scope: Scope, quote_hint: bool = False) -> Type | None:
        """The operand's type, reporting unknown names; None when it cannot be known."""
        if isinstance(node, m.Literal_):
            return Type(node.type)
        if isinstance(node, m.Duration):
            return DURATION
        if isinstance(node, m.ListValue):
            return Type("list")
        if isinstance(node, m.Ref):
            return self.ref_type(node, scope, quote_hint)
        if isinstance(node, m.Count):
            return self.count_type(node, scope)
        return None

    def ref_type(self, ref: m.Ref, scope: Scope, quote_hint: bool = False) -> Type | None:
        """A bare name is a field, score, definition or stage; a dotted one a plan value."""
        if len(ref.path) == 1:
            return self.name_type(ref.path[0], scope, ref.pos, quote_hint)
        if len(ref.path) == 2:
            return self.plan_value(ref)
        self.report("E201", f"unknown name '{ref.dotted}'", ref.pos)
        return None

    def name_type(self, name: str, scope: Scope, pos: m.Pos, quote_hint: bool = False) -> Type | None:
        """Resolve a bare name as the engine does: event field, definition, score, stage, target name, field."""
        event = _event_fields(scope.event_kind)
        if name in event:
            return _field_type(name, event[name])
        if name in self.ps.definitions or name in self.ps.stages:
            return BOOLEAN
        if name in self.ps.scores:
            return NUMBER
        if name in scope.extra:
            return scope.extra[name]
        if name in self.fields:
            return self.fields[name]
        if name in self.broken:
            return None
        candidates = [*event, *self.ps.definitions, *self.ps.scores, *self.ps.stages, *scope.extra, *self.fields]
        quoted = f'a text needs double quotes: "{name}"' if quote_hint else None
        if quote_hint and any(name in type_.values for type_ in self.fields.values()):
            hint = quoted
        else:
            hint = suggest(name, candidates) or quoted
        self.report("E201", f"unknown name '{name}': not a field, score, definition or stage", pos, hint)
        return None

    def plan_value(self, ref: m.Ref) -> Type | None:
        """`inbound_2026.mqls`: a number the plan works out from its revenue goal."""
        plan_name, value = ref.path
        plan = self.ps.plans.get(plan_name)
        if plan is None:
            if plan_name not in self.broken:
                self.report("E201", f"unknown plan '{plan_name}'", self.within(ref.pos, plan_name, pick=0),
                            suggest(plan_name, self.ps.plans))
            return None
        values = _plan_values(plan)
        if value not in values:
            self.report("E201", f"plan '{plan_name}' has no value '{value}' (it has {', '.join(values)})",
                        self.within(ref.pos, ".", value), suggest(value, values))
            return None
        return NUMBER

    def count_type(self, count: m.Count, scope: Scope) -> Type:
        """count(...) is a number of events of a kind the sources send."""
        kind = count.event
        kind_pos = self.within(count.pos, "of", kind) if count.distinct else self.within(count.pos, "(", kind)
        if kind not in EVENT_KINDS:
            self.report("E201", f"unknown event kind '{kind}'", kind_pos,
                        suggest(kind, EVENT_KINDS) or f"use one of: {', '.join(EVENT_KINDS)}")
            kind = "*"
        if count.distinct is not None:
            self.check_distinct(count, kind)
        if count.where is not None:
            self.condition(count.where, replace(scope, event_kind=kind))
        if count.since is not None:
            self.check_since(count, scope)
        return NUMBER

    def check_distinct(self, count: m.Count, kind: str) -> None:
        """`distinct F` counts different values of an event field; a lead field would count nothing."""
        fields = _event_fields(kind)
        if count.distinct in fields:
            return
        known = ", ".join(fields) or "no fields"
        self.report("E201", f"'{count.distinct}' is not a field of {count.event} events (they have {known})",
                    self.within(count.pos, "distinct", count.distinct), suggest(count.distinct or "", fields))

    def check_since(self, count: m.Count, scope: Scope) -> None:
        """`since start` needs a running clock; `since STAGE` needs a stage."""
        pos = self.within(count.pos, "since", count.since)
        if count.since == "start":
            if not scope.window:
                self.report("E217", "`since start` counts from a clock's start, and there is no clock here", pos,
                            "use it in a window's `stops` or `pauses`, or count `since STAGE`")
            return
        if count.since not in self.ps.stages and count.since not in self.broken:
            self.report("E201", f"unknown stage '{count.since}'", pos, suggest(count.since or "", [*self.ps.stages,
                                                                                                  "start"]))


def _is_text(value: m.Node) -> bool:
    return isinstance(value, m.Env) or (isinstance(value, m.Literal_) and value.type == "text")


def _reads_events(ps: PolicySet, node: object, seen: set[str], via: str | None = None
                  ) -> tuple[m.Count | m.Becomes, str | None] | None:
    """The first `count(...)` or `becomes` a condition reads, directly or through the definitions,
    scores and stages it names, with the outermost name it came through."""
    if isinstance(node, (m.Count, m.Becomes)):
        return node, via
    if isinstance(node, m.Ref) and len(node.path) == 1:
        name = node.path[0]
        named = ps.definitions.get(name) or ps.scores.get(name) or ps.stages.get(name)
        if named is None or name in seen:
            return None
        seen.add(name)
        return _reads_events(ps, named, seen, via or name)
    if isinstance(node, m.Node):
        for key in type(node).model_fields:
            found = _reads_events(ps, getattr(node, key), seen, via)
            if found is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _reads_events(ps, item, seen, via)
            if found is not None:
                return found
    return None


def _count_text(node: m.Count) -> str:
    return f"`count({node.event}{' by owner' if node.by_owner else ''}{' since ' + node.since if node.since else ''})`"
