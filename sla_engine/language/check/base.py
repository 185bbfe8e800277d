"""What every check shares: the policy set, the reports found, and finding the text to point at."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sla_engine.language import model as m
from sla_engine.language.check.source import _Source
from sla_engine.language.check.types import Type, _field_type
from sla_engine.language.errors import Diagnostic, source_lines
from sla_engine.language.policy_set import PolicySet
from sla_engine.language.scope import split_scoped
from sla_engine.language.vocabulary import LEAD_FIELDS, Channels, installed_channels


class CheckerBase:
    """The symbol table and the reporting every declaration's checks build on."""

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

    def level_text(self, escalation: m.Escalation) -> str:
        """An escalation level as written (`escalate when at risk`), for messages."""
        pos = self.head(escalation.pos)
        text = self.ps.sources.get(pos.file)
        lines = source_lines(text) if text is not None else []
        if pos.line != pos.end_line or pos.line > len(lines):
            return f"escalate {escalation.label}"
        return lines[pos.line - 1][pos.column - 1:pos.end_column - 1].strip()

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

    def check_positive(self, duration: m.Duration, what: str) -> None:
        """A zero duration would fire or breach the instant a clock starts."""
        if duration.amount <= 0:
            self.report("E207", f"{what} of {m.format_duration(duration)} is not a positive duration", duration.pos)


def _sorted(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One copy of each diagnostic, in file, line and column order."""
    unique: dict[tuple[Any, ...], Diagnostic] = {}
    for d in diagnostics:
        unique.setdefault((d.pos.file, d.pos.line, d.pos.column, d.code, d.message), d)
    return [unique[key] for key in sorted(unique)]


def _kind(node: m.Node) -> str:
    if isinstance(node, m.ContactDecl):
        return "team" if node.is_team else "contact"
    return {
        m.FieldDecl: "field", m.ScoreDecl: "score", m.Definition: "definition", m.Stage: "stage",
        m.CalendarDecl: "calendar", m.PlanDecl: "plan", m.Policy: "policy",
    }.get(type(node), type(node).__name__.lower())


def _called(node: m.Node) -> str:
    """A declaration as its author knows it: `stage 'mql'`, or `stage 'mql' of policy 'latam'` for a
    policy's own (named `latam.mql` past the language)."""
    owner, name = split_scoped(node.name)  # type: ignore[attr-defined]
    return f"{_kind(node)} '{name}'" + (f" of policy '{owner}'" if owner else "")


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _either(words: Sequence[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else words[0]


def _before(a: m.Pos, b: m.Pos) -> bool:
    return (a.line, a.column) < (b.line, b.column)
