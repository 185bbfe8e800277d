"""Positioned diagnostics, rendered as ``file:line:col: CODE message`` with the line and a caret."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sla_engine.language.model import Pos

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
        head = f"{self.pos}: {self.code} {self.message}"
        lines = [head]
        if source is not None:
            text_lines = source.splitlines()
            if 1 <= self.pos.line <= len(text_lines):
                line = text_lines[self.pos.line - 1]
                lines.append(f"    {line}")
                width = 1
                if self.pos.end_line == self.pos.line and self.pos.end_column > self.pos.column:
                    width = self.pos.end_column - self.pos.column
                lines.append("    " + " " * (self.pos.column - 1) + "^" * width)
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


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    return "\n".join(d.render(sources.get(d.pos.file)) for d in diagnostics)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """'did you mean ...?' for a misspelt name."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def terminal_name(name: str, pattern_value: str | None = None) -> str:
    if name in TERMINAL_NAMES:
        return TERMINAL_NAMES[name]
    if pattern_value is not None:
        return f"'{pattern_value}'"
    return name.lower()
