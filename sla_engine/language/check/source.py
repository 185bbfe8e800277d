"""Exact source positions: the token a diagnostic points at, where the model keeps only a node's span."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from sla_engine.language import model as m
from sla_engine.language.parser import scan


class _Source:
    """Finds the exact token a diagnostic should point at, where the model keeps only a node's span."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.tokens = [token for token in scan(text) if not token.is_comment]
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
