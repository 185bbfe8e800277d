"""Positioned diagnostics, rendered as ``file:line:col: CODE message`` with the line and a caret."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from sla_engine.language.model import Pos
from sla_engine.safe_text import escape_control

# Human names for the grammar's regex terminals; keyword and punctuation terminals are
# shown as themselves in quotes. A test fails when a regex terminal has no entry here.
TERMINAL_NAMES: dict[str, str] = {
    "NAME": "a name",
    "STRING": 'a text in double quotes',
    "NUMBER": "a number",
    "PERCENT": "a percentage such as 90%",
    "DURATION": "a duration such as 15m, 2h or 48h",
    "DATE": "a date such as 2026-01-31",
    "TIME": "a time of day such as 09:00",
    "POINTS": "points such as +20 or -10",
    "UNIT": "a unit (minutes, hours, days or weeks)",
    "BOOLEAN": "true or false",
    "COMPARATOR": "a comparison (==, !=, >=, <=, >, <)",
    "COMMENT": "a comment",
    "$END": "the end of the file",
}


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    pos: Pos
    hint: str | None = None
    severity: str = "error"

    def render(self, source: str | None = None) -> str:
        head = escape_control(f"{self.pos}: {self.code} {self.message}")
        lines = [head]
        if source is not None:
            line = source_line(source, self.pos.line)
            if line is not None:
                width = 1
                if self.pos.end_line == self.pos.line and self.pos.end_column > self.pos.column:
                    width = self.pos.end_column - self.pos.column
                shown, column = _window(shown_line(line), self.pos.column, width)
                lines.append(f"    {shown}")
                lines.append("    " + " " * (column - 1) + "^" * max(1, min(width, len(shown) - column + 1)))
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.pos.file,
            "line": self.pos.line,
            "column": self.pos.column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class PolicyError(Exception):
    """Raised when a policy set cannot be loaded; carries every diagnostic found at once."""

    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return render_all(self.diagnostics, self.sources)


def source_lines(text: str) -> list[str]:
    """A policy's lines as the parser counts them: only \\n ends a line (a form feed, U+2028 or a
    lone CR does not), and a CR before it is not part of the line."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def source_line(text: str, number: int) -> str | None:
    """Line ``number`` (1-based) as ``source_lines`` counts, without splitting the whole text."""
    if number < 1:
        return None
    start = 0
    for _ in range(number - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = text.find("\n", start)
    return text[start:end if end >= 0 else len(text)].removesuffix("\r")


def shown_line(line: str) -> str:
    """A source line safe to print under an error: every control or invisible character (a form
    feed, an escape sequence, U+2028) is one visible character, so the caret stays in place."""
    if line.isprintable():
        return line
    return "".join(char if char.isprintable() else " " if char == "\t" else "\N{REPLACEMENT CHARACTER}"
                   for char in line)


MAX_SHOWN = 160  # characters of a long line shown around the caret


def _window(line: str, column: int, width: int) -> tuple[str, int]:
    """A long line cut to the part around the column, and the column within it."""
    if len(line) <= MAX_SHOWN:
        return line, column
    start = max(0, min(column - 1 - MAX_SHOWN // 3, len(line) - MAX_SHOWN))
    cut = line[start:start + MAX_SHOWN]
    prefix = "…" if start else ""
    suffix = "…" if start + MAX_SHOWN < len(line) else ""
    return prefix + cut + suffix, column - start + len(prefix)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    return "\n".join(d.render(sources.get(d.pos.file)) for d in diagnostics)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """'did you mean ...?' for a misspelt name."""
    return _suggest(name, frozenset(candidates))


@functools.lru_cache(maxsize=1024)
def _suggest(name: str, candidates: frozenset[str]) -> str | None:
    """The same unknown name misspelt ten thousand times is looked up once."""
    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def terminal_name(name: str, pattern_value: str | None = None) -> str:
    if name in TERMINAL_NAMES:
        return TERMINAL_NAMES[name]
    if pattern_value is not None:
        return f"'{pattern_value}'"
    return name.lower()
