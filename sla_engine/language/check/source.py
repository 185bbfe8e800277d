"""Exact source positions: the token a diagnostic points at, where the model keeps only a node's span."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sla_engine.language import model as m

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
