"""Parse .sla text into the model, reporting every syntax error of a file at once.

The LALR parser is built once per process and cached. After a syntax error, each top-level
statement (and each item of a block) is parsed on its own against a copy of the text with
everything else blanked out, so positions stay exact and one mistake does not hide the next.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr

from sla_engine.language import model as m
from sla_engine.language.errors import Diagnostic, PolicyError, terminal_name
from sla_engine.language.transform import ToModel, TransformError

START_SYMBOLS = ["start", "policy_item", "window_item", "target_item", "calendar_item",
                 "score_item", "plan_item", "attribute", "action"]

# Which item keywords may open a line inside each kind of block, for error recovery.
TOP_KEYWORDS = frozenset({"field", "score", "define", "stage", "calendar", "contact", "team", "plan", "policy"})
BLOCK_ITEMS: dict[str, tuple[str, frozenset[str]]] = {
    "policy": ("policy_item", frozenset({
        "title", "version", "effective", "owner", "description", "timezone", "calendar", "applies",
        "tier", "otherwise", "window", "target",
    })),
    "window": ("window_item", frozenset({
        "starts", "stops", "pauses", "calendar", "goal", "warn", "restarts", "quiet", "role", "escalate",
    })),
    "target": ("target_item", frozenset({
        "owner", "accountable", "metric", "where", "period", "group", "goal", "tolerance", "escalate",
    })),
    "calendar": ("calendar_item", frozenset({"timezone", "hours", "holidays", "closed", "open"})),
    "score": ("score_item", frozenset()),
    "plan": ("plan_item", frozenset()),
    "escalate": ("action", frozenset({"notify", "reassign", "set", "task"})),
}


def grammar_text() -> str:
    """The grammar ships inside the package; a source checkout reads grammar/ directly."""
    checkout = Path(__file__).resolve().parents[2] / "grammar" / "policy.lark"
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    return resources.files("sla_engine.language").joinpath("policy.lark").read_text(encoding="utf-8")


@functools.cache
def get_parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        start=START_SYMBOLS,
    )


@functools.cache
def _literal_terminals() -> dict[str, str]:
    return {
        t.name: t.pattern.value
        for t in get_parser().terminals
        if isinstance(t.pattern, PatternStr)
    }


def describe_terminal(name: str) -> str:
    return terminal_name(name, _literal_terminals().get(name))


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of input"
    literal = _literal_terminals().get(token.type)
    if literal is not None:
        return f"'{literal}'"
    kind = terminal_name(token.type).removeprefix("a ").removeprefix("an ")
    return f"{kind} '{token}'"


def _expected(names: set[str]) -> str:
    described = sorted({describe_terminal(n) for n in names})
    if len(described) > 12:
        return "one of " + ", ".join(described[:12]) + f" (or {len(described) - 12} more)"
    if len(described) == 1:
        return described[0]
    return "one of " + ", ".join(described)


def syntax_diagnostic(error: UnexpectedInput, path: str) -> Diagnostic:
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            line = getattr(error, "line", None) or 1
            column = getattr(error, "column", None) or 1
            pos = m.Pos(file=path, line=line, column=column, end_line=line, end_column=column)
        else:
            pos = m.Pos(file=path, line=token.line, column=token.column,
                        end_line=token.end_line or token.line, end_column=token.end_column or token.column)
        message = f"unexpected {_describe_token(token)}; expected {_expected(set(error.expected))}"
        return Diagnostic("E001", message, pos)
    if isinstance(error, UnexpectedCharacters):
        pos = m.Pos(file=path, line=error.line, column=error.column,
                    end_line=error.line, end_column=error.column + 1)
        char = error.char
        allowed = set(error.allowed or ())
        expected = f"; expected {_expected(allowed)}" if allowed else ""
        return Diagnostic("E002", f"unexpected character '{char}'{expected}", pos)
    assert isinstance(error, UnexpectedEOF)
    return Diagnostic("E003", "the file ends in the middle of a statement", m.Pos(file=path))


def parse_text(text: str, path: str = "<policy>") -> m.PolicyFile:
    """Parse one file; raise PolicyError with every syntax error found."""
    try:
        tree = get_parser().parse(text, start="start")
    except UnexpectedInput as first:
        diagnostics = _recover(text, path, first)
        raise PolicyError(diagnostics, {path: text}) from None
    try:
        return ToModel(path).transform(tree)
    except RecursionError:
        raise PolicyError([Diagnostic("E005", "the file nests conditions too deeply to read",
                                      m.Pos(file=path))], {path: text}) from None
    except VisitError as wrapped:
        error = wrapped.orig_exc
        if isinstance(error, TransformError):
            raise PolicyError([Diagnostic(error.code, error.message, error.pos)], {path: text}) from None
        raise


def parse_file(path: str | Path) -> m.PolicyFile:
    text = Path(path).read_text(encoding="utf-8")
    return parse_text(text, str(path))


# ---------------------------------------------------------------- error recovery

_SCAN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]|\n|[A-Za-z_]\w*|[^\s{}"#A-Za-z_]+')


@dataclass(frozen=True)
class _Word:
    offset: int
    word: str
    depth: int


def _scan(text: str) -> tuple[list[_Word], list[tuple[int, int]]]:
    """Line-opening words with their brace depth, and closing braces with theirs."""
    words: list[_Word] = []
    closers: list[tuple[int, int]] = []
    depth = 0
    line_start = True
    for match in _SCAN.finditer(text):
        token = match.group()
        if token == "\n":
            line_start = True
            continue
        if token.startswith("#"):
            continue
        if token == "{":
            depth += 1
        elif token == "}":
            depth = max(depth - 1, 0)
            closers.append((match.start(), depth))
        elif line_start and (token[0].isalpha() or token[0] == "_"):
            words.append(_Word(match.start(), token, depth))
        line_start = False
    return words, closers


def statement_spans(text: str) -> list[tuple[int, int]]:
    """Where each top-level statement starts and ends, as error recovery splits a file."""
    words, _ = _scan(text)
    return [(start, end) for start, end, _ in _spans(words, 0, TOP_KEYWORDS, 0, len(text))]


def mask(text: str, start: int, end: int) -> str:
    """Blank everything outside [start, end) but keep newlines, so positions stay exact."""
    def blank(part: str) -> str:
        return re.sub(r"[^\n]", " ", part)
    return blank(text[:start]) + text[start:end] + blank(text[end:])


def _spans(words: list[_Word], depth: int, keywords: frozenset[str], start: int, end: int
           ) -> Iterator[tuple[int, int, str]]:
    openings = [w for w in words if w.depth == depth and start <= w.offset < end
                and (not keywords or w.word in keywords)]
    for index, word in enumerate(openings):
        stop = openings[index + 1].offset if index + 1 < len(openings) else end
        yield word.offset, stop, word.word


def _recover(text: str, path: str, first: UnexpectedInput) -> list[Diagnostic]:
    words, closers = _scan(text)
    found: dict[tuple[int, int], Diagnostic] = {}

    def note(error: UnexpectedInput, chunk_end: int | None = None) -> None:
        diagnostic = syntax_diagnostic(error, path)
        if chunk_end is not None and isinstance(error, UnexpectedToken) and error.token.type == "$END":
            # A chunk that ends early is the same mistake the whole-file parse met at the next token.
            following = _at_offset(diagnostic, text, _next_token_offset(text, chunk_end), path)
            if (following.pos.line, following.pos.column) in found:
                return
        found.setdefault((diagnostic.pos.line, diagnostic.pos.column), diagnostic)

    def try_parse(start: int, end: int, symbol: str) -> bool:
        try:
            get_parser().parse(mask(text, start, end), start=symbol)
            return True
        except UnexpectedInput as error:
            note(error, end)
            return False

    def recurse(start: int, end: int, keyword: str, depth: int) -> None:
        """Parse each item of a failed block on its own."""
        if keyword not in BLOCK_ITEMS:
            return
        symbol, item_keywords = BLOCK_ITEMS[keyword]
        body_end = max((offset for offset, d in closers if d == depth and start <= offset < end), default=end)
        for item_start, item_end, word in _spans(words, depth + 1, item_keywords, start, body_end):
            if not try_parse(item_start, item_end, symbol):
                recurse(item_start, item_end, word, depth + 1)

    note(first)
    for start, end, word in _spans(words, 0, TOP_KEYWORDS, 0, len(text)):
        if not try_parse(start, end, "start"):
            recurse(start, end, word, 0)
    return sorted(found.values(), key=lambda d: (d.pos.line, d.pos.column))


def _next_token_offset(text: str, offset: int) -> int:
    """The offset of the first character after `offset` that is neither space nor comment."""
    match = re.compile(r"(?:\s+|#[^\n]*)*").match(text, offset)
    return match.end() if match else offset


def _at_offset(diagnostic: Diagnostic, text: str, offset: int, path: str) -> Diagnostic:
    if offset >= len(text):
        return diagnostic
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    word = re.compile(r"\w+|\S").match(text, offset)
    width = len(word.group()) if word else 1
    pos = m.Pos(file=path, line=line, column=column, end_line=line, end_column=column + width)
    return Diagnostic(diagnostic.code, diagnostic.message, pos, diagnostic.hint, diagnostic.severity)
