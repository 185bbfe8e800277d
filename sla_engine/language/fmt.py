"""`sla-engine fmt`: print a policy file in the one canonical layout, keeping its comments.

The text is printed from the parsed model, so every spelling is canonical (``2h``, ``75%``,
``mon-fri``, minimal parentheses). The parse tree supplies only what the model does not keep:
the order of a block's items and the lines each item spans, so that every comment goes back
where the author put it. The result is parsed again and compared with the input before it is
returned: fmt never hands back text that means something else or lost a comment.

Layout rules:

- two-space indentation inside braces, one item per line, ``{}`` for an empty block;
- a blank line between top-level statements, except between one-line statements of the same
  kind (``field``, ``define``, ``stage``), where the author's grouping is kept;
- inside blocks the author's blank lines between items are kept, collapsed to one; none after
  ``{`` or before ``}``;
- a comment alone on its line stays before the item that follows it in the same block (or at
  the end of the block or file); a comment after code stays at the end of the printed line of
  the item that starts on that source line (or of the ``}`` it follows). A comment inside an
  item that spans several lines moves to its own line before that item;
- a setting given twice in one block (``title``, ``starts``, ``timezone``…) is printed once,
  where the last one was: the last one is the one that counts.

Size: one printer per declaration kind, kept together so that the layout rules above live in one
place.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from typing import Any

from lark import Tree
from lark.lexer import PatternStr
from pydantic import BaseModel

from sla_engine.language import model as m
from sla_engine.language.errors import Diagnostic, PolicyError
from sla_engine.language.parser import get_parser, parse_text, parse_tree, scan

__all__ = ["FormatError", "format_source", "same_meaning"]

INDENT = "  "
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GROUPED_KINDS = frozenset({"field", "define", "stage"})


class FormatError(PolicyError):
    """fmt produced text that parses to a different policy or lost a comment (a bug in fmt).

    A PolicyError, so callers that report policy errors report this too and leave the file as
    it was.
    """


# ---------------------------------------------------------------- public API


def format_source(text: str, path: str = "<policy>") -> str:
    """The canonical layout of ``text``; raises PolicyError if it does not parse."""
    tree, policy_file = parse_tree(text, path)
    source = _Source(text)
    root = _Layout().file(tree, policy_file, len(text))
    _attach(source, root)
    lines = _body(root, 0, source, top=True)
    result = "\n".join(lines) + "\n" if lines else ""
    _verify(text, result, path, policy_file)
    return result


def same_meaning(a: m.PolicyFile, b: m.PolicyFile) -> bool:
    """True when two parsed files mean the same: equal models, ignoring positions and the path."""
    return _meaning(a) == _meaning(b)


def _meaning(value: Any) -> Any:
    if isinstance(value, m.Pos):
        return "pos"  # a position counts only as being there (``otherwise not covered``)
    if isinstance(value, BaseModel):
        skip = {"pos", "path", "repeated"} if isinstance(value, m.PolicyFile) else {"pos"}
        return (type(value).__name__, tuple(
            (name, _meaning(getattr(value, name))) for name in type(value).model_fields if name not in skip
        ))
    if isinstance(value, list | tuple):
        return tuple(_meaning(item) for item in value)
    return value


def _verify(original: str, result: str, path: str, before: m.PolicyFile) -> None:
    """Refuse to return text that parses differently or lost a comment."""
    problem = None
    try:
        after = parse_text(result, path)
    except PolicyError as error:
        problem = f"the formatted text does not parse: {error.diagnostics[0].message}"
    else:
        if not same_meaning(before, after):
            problem = "the formatted text means something else"
        elif Counter(c.text for c in _comments(original)) != Counter(c.text for c in _comments(result)):
            problem = "the formatted text lost or repeated a comment"
    if problem is not None:
        message = f"fmt cannot format this file ({problem}); it is left unchanged. This is a bug in fmt."
        raise FormatError([Diagnostic("F001", message, m.Pos(file=path))], {path: original})


# ---------------------------------------------------------------- the source text


@dataclass
class Comment:
    offset: int
    line: int
    text: str
    trailing: bool  # code comes before it on its line


def _comments(text: str) -> list[Comment]:
    """Every ``#`` comment outside a text, in order."""
    return _Source(text).comments


class _Source:
    """Line numbers, comments, braces and blank lines of the text being formatted."""

    def __init__(self, text: str) -> None:
        self.line_starts = [0] + [index + 1 for index, char in enumerate(text) if char == "\n"]
        self.blank_lines = [number for number, line in enumerate(text.split("\n"), 1) if not line.strip()]
        self.comments: list[Comment] = []
        self.braces: list[int] = []
        for token in scan(text):
            if token.text == "{":
                self.braces.append(token.offset)
            elif token.is_comment:
                self.comments.append(Comment(token.offset, token.line, token.text.rstrip(), not token.line_start))

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def brace_after(self, offset: int) -> int:
        return self.braces[bisect.bisect_left(self.braces, offset)]

    def blank_between(self, first: int, last: int) -> bool:
        """Is any line strictly between these two lines blank?"""
        index = bisect.bisect_right(self.blank_lines, first)
        return index < len(self.blank_lines) and self.blank_lines[index] < last


# ---------------------------------------------------------------- layout: items with their source spans


@dataclass
class Item:
    """One printed line (or block) and where it came from, with the comments that belong to it."""

    kind: str
    head: str  # the printed line; for a block, its header without the brace
    start: int  # source offsets [start, end)
    end: int
    first_line: int = 0
    last_line: int = 0
    children: list[Item] | None = None  # a block's items
    open: int = -1  # a block's brace offsets
    close: int = -1
    keep: bool = True  # False for a setting given again later in its block
    leading: list[Comment] = field(default_factory=list)
    trailing: Comment | None = None
    closing: Comment | None = None  # after the block's `}`
    inner: list[Comment] = field(default_factory=list)  # after a block's last item

    @property
    def is_block(self) -> bool:
        return self.children is not None

    def walk(self) -> Iterator[Item]:
        yield self
        for child in self.children or ():
            yield from child.walk()


def _parts(tree: Tree, skip: int) -> list[Tree]:
    """A block's item trees in source order, unwrapped from lark's alternative wrappers."""
    parts = []
    for child in tree.children[skip:]:
        if isinstance(child, Tree):
            while child.data in ("policy_item", "window_item", "target_item"):
                child = child.children[0]
            parts.append(child)
    return parts


def _last(parts: list[Tree]) -> dict[str, int]:
    """The index of the last item of each kind: of a setting given twice, the last one counts."""
    return {part.data: index for index, part in enumerate(parts)}


class _Layout:
    """Pairs each item of the parse tree with its model node and prints its line."""

    def item(self, tree: Tree, kind: str, head: str, keep: bool = True) -> Item:
        return Item(kind, head, tree.meta.start_pos, tree.meta.end_pos, keep=keep)

    def block(self, tree: Tree, kind: str, head: str, children: list[Item]) -> Item:
        return Item(kind, head, tree.meta.start_pos, tree.meta.end_pos, children=children)

    def settings(self, parts: list[Tree], lines: dict[str, Callable[[], str]],
                 lists: Mapping[str, Callable[[Tree], Item]]) -> list[Item]:
        """A block's items: each list item from its own model node, each setting once."""
        last = _last(parts)
        items = []
        for index, part in enumerate(parts):
            if part.data in lists:
                items.append(lists[part.data](part))
            else:
                items.append(self.item(part, part.data, lines[part.data](), keep=last[part.data] == index))
        return items

    # ------------------------------------------------------------ file and statements
    def file(self, tree: Tree, policy_file: m.PolicyFile, length: int) -> Item:
        statements = [self.statement(t, d) for t, d in zip(tree.children, policy_file.declarations, strict=True)]
        return Item("file", "", 0, length, children=statements, open=-1, close=length)

    def statement(self, tree: Tree, decl: m.Declaration) -> Item:
        if isinstance(decl, m.FieldDecl):
            return self.item(tree, "field", f"field {decl.name}: {_field_type(decl.type)}")
        if isinstance(decl, m.Definition):
            return self.item(tree, "define", _definition(decl))
        if isinstance(decl, m.Stage):
            return self.item(tree, "stage", _stage(decl))
        if isinstance(decl, m.ScoreDecl):
            return self.block(tree, "score", f"score {decl.name}", self.score(tree, decl))
        if isinstance(decl, m.CalendarDecl):
            return self.block(tree, "calendar", f"calendar {decl.name}", self.calendar(tree, decl))
        if isinstance(decl, m.ContactDecl):
            attributes = iter(decl.attributes)
            children = [self.item(part, "attribute", _attribute(next(attributes))) for part in _parts(tree, 1)]
            return self.block(tree, "team" if decl.is_team else "contact",
                              f"{'team' if decl.is_team else 'contact'} {decl.name}", children)
        if isinstance(decl, m.PlanDecl):
            return self.block(tree, "plan", f"plan {decl.name}", self.plan(tree, decl))
        return self.block(tree, "policy", f"policy {decl.name}", self.policy(tree, decl))

    def score(self, tree: Tree, score: m.ScoreDecl) -> list[Item]:
        rules = iter(score.rules)

        def rule(part: Tree) -> Item:
            return self.item(part, "rule", _score_rule(next(rules)))

        return self.settings(_parts(tree, 1), {"score_cap": lambda: f"cap {_number(score.cap)}"},
                             {"score_when": rule, "score_per": rule})

    def calendar(self, tree: Tree, calendar: m.CalendarDecl) -> list[Item]:
        hours, opens, closed = iter(calendar.hours), iter(calendar.open), iter(calendar.closed)

        def closed_line(part: Tree) -> Item:
            days = [next(closed).isoformat() for _ in part.children]
            return self.item(part, "closed", "closed " + ", ".join(days))

        lines = {
            "cal_timezone": lambda: f"timezone {_quote(calendar.timezone or '')}",
            "cal_holidays": lambda: _holidays(calendar),
        }
        lists = {
            "cal_hours": lambda part: self.item(part, "hours", _hours(next(hours))),
            "cal_open": lambda part: self.item(part, "open", _open(next(opens))),
            "cal_closed": closed_line,
        }
        return self.settings(_parts(tree, 1), lines, lists)

    def plan(self, tree: Tree, plan: m.PlanDecl) -> list[Item]:
        conversions = iter(plan.conversions)
        lines = {
            "plan_revenue": lambda: f"revenue {_number(plan.revenue)} per {plan.period}",
            "plan_deal_size": lambda: f"deal size {_number(plan.deal_size)}",
            "plan_win_rate": lambda: f"win rate {_rate(plan.win_rate or 0)}",
        }

        def conversion(part: Tree) -> Item:
            c = next(conversions)
            return self.item(part, "conversion", f"{c.source} to {c.target} {_rate(c.rate)}")

        return self.settings(_parts(tree, 1), lines, {"plan_conversion": conversion})

    # ------------------------------------------------------------ policies
    def policy(self, tree: Tree, policy: m.Policy) -> list[Item]:
        tiers, windows, targets = iter(policy.tiers), iter(policy.windows), iter(policy.targets)
        definitions, stages = iter(policy.definitions), iter(policy.stages)
        lines = {
            "policy_title": lambda: f"title {_quote(policy.title or '')}",
            "policy_version": lambda: f"version {_quote(policy.version or '')}",
            "policy_effective": lambda: f"effective {policy.effective.isoformat() if policy.effective else ''}",
            "policy_owner": lambda: f"owner {_value(policy.owner)}",
            "policy_description": lambda: f"description {_quote(policy.description or '')}",
            "policy_timezone": lambda: f"timezone {_quote(policy.timezone or '')}",
            "policy_calendar": lambda: f"calendar {policy.calendar}",
            "policy_applies": lambda: f"applies when {_expr(policy.applies)}",
            "tier_not_covered": lambda: "otherwise not covered",
        }

        def tier(part: Tree) -> Item:
            return self.item(part, "tier", _tier(next(tiers)))

        lists = {
            "define_decl": lambda part: self.item(part, "define", _definition(next(definitions))),
            "stage_when": lambda part: self.item(part, "stage", _stage(next(stages))),
            "stage_from": lambda part: self.item(part, "stage", _stage(next(stages))),
            "tier_when": tier,
            "tier_otherwise": tier,
            "window_decl": lambda part: self.window(part, next(windows)),
            "target_decl": lambda part: self.target(part, next(targets)),
        }
        return self.settings(_parts(tree, 1), lines, lists)

    def window(self, tree: Tree, window: m.Window) -> Item:
        goals, warnings, escalations = iter(window.goals), iter(window.warnings), iter(window.escalations)
        lines = {
            "window_starts": lambda: f"starts {_trigger(window.start)}",
            "window_stops": lambda: f"stops {_trigger(window.stop)}",
            "window_pauses": lambda: f"pauses while {_expr(window.pause)}",
            "window_calendar": lambda: f"calendar {window.calendar}",
            "window_restarts": lambda: "restarts on recycle",
            "window_quiet_hours": lambda: f"quiet hours {window.quiet_hours}",
            "window_role": lambda: f"role {window.role}",
        }

        def warning(part: Tree) -> Item:
            return self.item(part, "warn", _warning(next(warnings)))

        lists = {
            "window_goal": lambda part: self.item(part, "goal", _goal(next(goals))),
            "window_warn_at": warning,
            "window_warn_before": warning,
            "escalate_decl": lambda part: self.escalation(part, next(escalations)),
        }
        children = self.settings(_parts(tree, 2), lines, lists)
        return self.block(tree, "window", f"window {window.name}{_label(window.label)}", children)

    def target(self, tree: Tree, target: m.Target) -> Item:
        escalations = iter(target.escalations)
        lines = {
            "target_owner": lambda: f"owner {target.owner}",
            "target_accountable": lambda: f"accountable {target.accountable}",
            "target_metric": lambda: f"metric {_metric(target.metric)}",
            "target_where": lambda: f"where {_expr(target.where)}",
            "target_period": lambda: f"period {target.period}",
            "target_group": lambda: "group by " + ", ".join(target.group_by),
            "target_goal": lambda: _target_goal(target.goal),
            "target_tolerance": lambda: _tolerance(target),
        }
        lists = {"escalate_decl": lambda part: self.escalation(part, next(escalations), in_target=True)}
        children = self.settings(_parts(tree, 2), lines, lists)
        return self.block(tree, "target", f"target {target.name}{_label(target.label)}", children)

    def escalation(self, tree: Tree, escalation: m.Escalation, in_target: bool = False) -> Item:
        actions = iter(escalation.actions)
        children = [self.item(part, "action", _action(next(actions))) for part in _parts(tree, 2)]
        return self.block(tree, "escalate", _escalation(escalation, in_target), children)


# ---------------------------------------------------------------- comments back in place


def _attach(source: _Source, root: Item) -> None:
    """Give every comment to exactly one item: as its trailing, closing, leading or inner comment."""
    items = list(root.walk())[1:]
    for item in items:
        item.first_line, item.last_line = source.line(item.start), source.line(max(item.end - 1, item.start))
        if item.is_block:
            item.open, item.close = source.brace_after(item.start), item.end - 1
    for comment in source.comments:
        if comment.trailing and _attach_trailing(comment, items, source):
            continue
        _attach_inside(comment, root)


def _attach_trailing(comment: Comment, items: list[Item], source: _Source) -> bool:
    """After code: at the end of the item that starts on its line, else of the `}` it follows."""
    starting = [i for i in items if i.first_line == comment.line and i.start < comment.offset]
    if starting:
        max(starting, key=lambda i: i.start).trailing = comment
        return True
    closing = [i for i in items if i.is_block and source.line(i.close) == comment.line and i.close < comment.offset]
    if closing:
        max(closing, key=lambda i: i.close).closing = comment
        return True
    return False


def _attach_inside(comment: Comment, block: Item) -> None:
    """Alone on its line (or inside a multi-line item): before the next item of its block."""
    for child in block.children or ():
        if child.first_line <= comment.line <= child.last_line:
            if child.is_block and child.open < comment.offset < child.close:
                _attach_inside(comment, child)
            else:
                child.leading.append(comment)
            return
    for child in block.children or ():
        if child.start > comment.offset:
            child.leading.append(comment)
            return
    block.inner.append(comment)


# ---------------------------------------------------------------- printing


@dataclass
class _Entry:
    """A printed line or block of a block's body, with the source lines it came from."""

    first: int
    last: int
    lines: list[str]
    statement: Item | None = None  # the item whose group (leading comments, item) this entry opens
    item: Item | None = None


def _body(block: Item, depth: int, source: _Source, top: bool = False) -> list[str]:
    entries = _entries(block, depth, source)
    lines: list[str] = []
    previous: _Entry | None = None
    previous_item: Item | None = None
    for entry in entries:
        if previous is not None:
            blank = source.blank_between(previous.last, entry.first)
            if top and entry.statement is not None and previous_item is not None:
                blank = blank or not _grouped(previous_item, entry.statement)
            if blank:
                lines.append("")
        lines.extend(entry.lines)
        previous = entry
        previous_item = entry.item or previous_item
    return lines


def _grouped(first: Item, second: Item) -> bool:
    """One-line statements of one kind may stand together without a blank line."""
    return first.kind == second.kind and first.kind in GROUPED_KINDS


def _entries(block: Item, depth: int, source: _Source) -> list[_Entry]:
    pad = INDENT * depth
    entries: list[_Entry] = []
    pending: list[Comment] = []  # comments of a setting that is not printed go to the next item
    for child in block.children or ():
        if not child.keep:
            pending.extend(child.leading + ([child.trailing] if child.trailing else []))
            continue
        comments = pending + child.leading
        pending = []
        for index, comment in enumerate(comments):
            entries.append(_Entry(comment.line, comment.line, [pad + comment.text],
                                  statement=child if index == 0 else None))
        entries.append(_Entry(child.first_line, child.last_line, _item_lines(child, depth, source),
                              statement=None if comments else child, item=child))
    for comment in pending + block.inner:
        entries.append(_Entry(comment.line, comment.line, [pad + comment.text]))
    return entries


def _item_lines(item: Item, depth: int, source: _Source) -> list[str]:
    pad = INDENT * depth
    trailing = f"  {item.trailing.text}" if item.trailing else ""
    if not item.is_block:
        return [pad + item.head + trailing]
    body = _body(item, depth + 1, source)
    closing = f"  {item.closing.text}" if item.closing else ""
    if not body and not closing:
        return [f"{pad}{item.head} {{}}{trailing}"]
    return [f"{pad}{item.head} {{{trailing}", *body, f"{pad}}}{closing}"]


# ---------------------------------------------------------------- canonical spellings: values


def _number(value: float | int | None) -> str:
    """Plain decimal notation (the grammar has no exponents): 300000, 0.5, 12.25."""
    if value is None:
        return "0"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def _rate(fraction: float) -> str:
    """A stored fraction (0.3) as the shortest percentage that reads back to it exactly (30%)."""
    for digits in range(17):
        text = f"{fraction * 100:.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if float(text) / 100 == fraction:
            return f"{text}%"
    return f"{_number(fraction * 100)}%"


def _duration(duration: m.Duration | None) -> str:
    """model.format_duration, with the amount in plain decimals (never 1e-05)."""
    if duration is None:
        return ""
    text = m.format_duration(duration)
    written = text.split(" ")[0] if duration.business else text[: -len(duration.unit)]
    plain = _number(duration.amount)
    return text if written == plain else plain + text[len(written):]


_SIMPLE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_KNOWN_ESCAPE = frozenset('"\\/bfnrtu')


def _quote(text: str) -> str:
    """A text in double quotes that reads back to ``text``.

    A backslash before a letter that is no escape stays single, so patterns read as written
    (``"\\d+"`` prints as ``"\\d+"``, not ``"\\\\d+"``).
    """
    out = []
    for index, char in enumerate(text):
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and following and following not in _KNOWN_ESCAPE and _is_plain(following):
            out.append("\\")
        elif char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif not _is_plain(char):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _is_plain(char: str) -> bool:
    return char not in _SIMPLE_ESCAPES and (char.isprintable() or ord(char) > 0xFFFF)


@functools.cache
def _keywords() -> frozenset[str]:
    words = {t.pattern.value for t in get_parser().terminals
             if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()}
    return frozenset(words | {"true", "false"} | set(m.WORD_UNITS))


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _name_or_text(name: str, dotted: bool = False) -> str:
    """A bare name where one reads back the same, else a quoted text."""
    pattern = _DOTTED if dotted else re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
    if pattern.fullmatch(name) and not set(name.split(".")) & _keywords():
        return name
    return _quote(name)


def _time(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _value(node: Any) -> str:
    if node is None:
        return ""
    if isinstance(node, m.Literal_):
        return _literal(node)
    if isinstance(node, m.Duration):
        return _duration(node)
    if isinstance(node, m.ListValue):
        return "[" + ", ".join(_value(item) for item in node.items) + "]"
    if isinstance(node, m.Ref):
        return node.dotted
    if isinstance(node, m.Env):
        return f"env({_quote(node.variable)})"
    if isinstance(node, m.Count):
        return _count(node)
    raise TypeError(f"not a value: {node!r}")


def _literal(node: m.Literal_) -> str:
    if node.type == "text":
        return _quote(node.value)
    if node.type == "number":
        return _number(node.value)
    if node.type == "percent":
        return f"{_number(node.value)}%"
    if node.type == "date":
        return node.value.isoformat()
    if node.type == "time":
        return _time(node.value)
    return "true" if node.value else "false"


# ---------------------------------------------------------------- canonical spellings: conditions

_OR, _AND, _NOT, _PREDICATE = 1, 2, 3, 4


def _precedence(expr: Any) -> int:
    if isinstance(expr, m.Or):
        return _OR
    if isinstance(expr, m.And):
        return _AND
    if isinstance(expr, m.Not):
        return _NOT
    return _PREDICATE


def _within(expr: Any, least: int) -> str:
    """Parentheses only where the grammar would otherwise read it differently."""
    text = _expr(expr)
    return f"({text})" if _precedence(expr) < least else text


def _expr(expr: Any) -> str:
    if isinstance(expr, m.Or):
        return " or ".join(_within(item, _AND) for item in expr.items)
    if isinstance(expr, m.And):
        return " and ".join(_within(item, _NOT) for item in expr.items)
    if isinstance(expr, m.Not):
        return "not " + _within(expr.operand, _NOT)
    if isinstance(expr, m.Compare):
        return f"{_value(expr.left)} {expr.op} {_value(expr.right)}"
    if isinstance(expr, m.Member):
        return f"{_value(expr.operand)} {'not in' if expr.negated else 'in'} {_value(expr.values)}"
    if isinstance(expr, m.Between):
        return f"{_value(expr.operand)} between {_value(expr.low)} and {_value(expr.high)}"
    if isinstance(expr, m.Matches):
        return f"{_value(expr.operand)} matches {_quote(expr.pattern)}"
    if isinstance(expr, m.IsSet):
        return f"{_value(expr.operand)} is {'missing' if expr.missing else 'set'}"
    if isinstance(expr, m.Becomes):
        return f"becomes {expr.stage}"
    if isinstance(expr, m.Truth):
        return _value(expr.operand)
    raise TypeError(f"not a condition: {expr!r}")


def _count(count: m.Count) -> str:
    words = [f"distinct {count.distinct} of"] if count.distinct else []
    words.append(count.event)
    if count.by_owner:
        words.append("by owner")
    if count.where is not None:
        words.append(f"where {_expr(count.where)}")
    if count.since:
        words.append(f"since {count.since}")
    if count.within is not None:
        words.append(f"within {_duration(count.within)}")
    return f"count({' '.join(words)})"


# ---------------------------------------------------------------- canonical spellings: declarations


def _field_type(type_: m.FieldType) -> str:
    if type_.name == "text_list":
        return "list of text"
    if type_.name == "enum":
        return "enum [" + ", ".join(_name_or_text(v) for v in type_.values) + "]"
    return type_.name


def _definition(definition: m.Definition) -> str:
    return f"define {definition.name} = {_expr(definition.expr)}"


def _stage(stage: m.Stage) -> str:
    if stage.expr is not None:
        return f"stage {stage.name} when {_expr(stage.expr)}"
    return f"stage {stage.name} from {stage.from_field} {_value(stage.from_values)}"


def _score_rule(rule: m.ScoreRule) -> str:
    points = f"{'-' if rule.points < 0 else '+'}{_number(abs(rule.points))}"
    if rule.per is not None:
        return f"{points} per {rule.per}"
    return f"{points} when {_expr(rule.when)}"


def _days(days: list[int]) -> str:
    """Runs of following days as ranges (mon-fri, sat-sun, fri-mon), in the order given."""
    runs: list[list[int]] = []
    for day in days:
        if runs and len(runs[-1]) < 7 and day == (runs[-1][-1] + 1) % 7:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(DAYS[run[0]] if len(run) == 1 else f"{DAYS[run[0]]}-{DAYS[run[-1]]}" for run in runs)


def _intervals(intervals: list[m.Interval]) -> str:
    """An interval that ends at midnight ends at 24:00 (it reads back the same: the end of the day)."""
    return ", ".join(f"{_time(i.start)}-{'24:00' if i.end == time(0) else _time(i.end)}" for i in intervals)


def _hours(hours: m.Hours) -> str:
    return f"hours {_days(hours.days)} {_intervals(hours.intervals)}"


def _open(opened: m.OpenDate) -> str:
    times = f" {_intervals(opened.intervals)}" if opened.intervals else ""
    return f"open {opened.day.isoformat()}{times}"


def _holidays(calendar: m.CalendarDecl) -> str:
    subdivision = f" subdivision {_quote(calendar.subdivision)}" if calendar.subdivision is not None else ""
    return f"holidays {_quote(calendar.holidays or '')}{subdivision}"


def _attribute(attribute: m.Attribute) -> str:
    return f"{attribute.key} {_value(attribute.value)}"


def _label(label: str | None) -> str:
    return f" {_quote(label)}" if label is not None else ""


def _tier(tier: m.Tier) -> str:
    condition = f"when {_expr(tier.when)}" if tier.when is not None else "otherwise"
    return f"tier {tier.name}{_label(tier.label)} {condition}"


def _trigger(trigger: m.Trigger | None) -> str:
    if trigger is None:
        return ""
    if trigger.event is None:
        return f"when {_expr(trigger.condition)}"
    words = [f"on {trigger.event}"]
    if trigger.by_owner:
        words.append("by owner")
    if trigger.where is not None:
        words.append(f"where {_expr(trigger.where)}")
    return " ".join(words)


def _goal(goal: m.Goal) -> str:
    tier = f" {goal.tier}" if goal.tier else ""
    calendar = f" on {goal.calendar}" if goal.calendar else ""
    return f"goal{tier} {_duration(goal.duration)}{calendar}"


def _warning(warning: m.Warning) -> str:
    if warning.percent is not None:
        return f"warn at {_number(warning.percent)}%"
    return f"warn {_duration(warning.before)} before due"


def _escalation(escalation: m.Escalation, in_target: bool = False) -> str:
    """A clock's warning level is `at warning`; a target's, the period graded at risk, `when at risk`."""
    when = {
        "warning": "when at risk" if in_target else "at warning",
        "breach": "on breach",
        "after_breach": f"{_duration(escalation.after)} after breach",
        "every_after_breach": f"every {_duration(escalation.after)} after breach",
        "missed": f"when missed {escalation.missed_periods} periods",
    }[escalation.when]
    quiet = f" quiet hours {escalation.quiet_hours}" if escalation.quiet_hours else ""
    return f"escalate {when}{quiet}"


def _action(action: Any) -> str:
    if isinstance(action, m.Notify):
        return f"notify {action.recipient}" + (f" via {action.channel}" if action.channel else "")
    if isinstance(action, m.Reassign):
        return (f"reassign to {action.team}" + (" round robin" if action.round_robin else "")
                + (" skip previous owners" if action.skip_previous else ""))
    if isinstance(action, m.SetField):
        return f"set {action.field} = {_value(action.value)}"
    recipient = f" for {action.recipient}" if action.recipient else ""
    due = f" due {_duration(action.due)}" if action.due else ""
    return f"task {_quote(action.subject)}{recipient}{due}"


def _metric(metric: m.Metric | None) -> str:
    if metric is None:
        return ""
    if metric.kind == "count":
        return f"count of {metric.subject}"
    if metric.kind == "met_rate":
        return f"met rate of {metric.subject}"
    if metric.kind == "rate":
        return f"rate of {metric.subject} among {metric.among}"
    if metric.kind == "elapsed":
        return f"{metric.aggregate} elapsed of {metric.subject}"
    return "completeness of [" + ", ".join(_name_or_text(f, dotted=True) for f in metric.fields) + "]"


def _target_goal(goal: m.TargetGoal | None) -> str:
    return f"goal {goal.op} {_value(goal.value)}" if goal is not None else ""


def _tolerance(target: m.Target) -> str:
    return f"tolerance {_number(target.tolerance)}{'%' if target.tolerance_is_percent else ''}"

