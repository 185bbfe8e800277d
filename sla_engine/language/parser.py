"""Parse .sla text into the model, reporting every syntax error of a file at once.

The LALR parser is built once per process, its analysis of the grammar cached on disk. After a
syntax error, each top-level statement (and each item of a block that fails) is parsed on its
own with its lines and columns in the whole file, so positions stay exact and one mistake does
not hide the next. A mistake the parser only sees later (a `}` left out, `&&` for `and`) is
named and shown where the author can fix it. ``salvage_statements`` gives the checker the
statements of a broken file as far as they parse, so semantic checking goes on around the
syntax errors. ``scan`` is the one list of the source's tokens (comments and keywords
included) that recovery, the checker's positions and fmt share.
"""

from __future__ import annotations

import functools
import os
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import lark
from lark import Lark, Token, Tree
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
        "define", "stage", "tier", "otherwise", "window", "target",
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
        cache=_cache_file(),
    )


def _cache_file() -> str | bool:
    """Where lark keeps its analysis of the grammar (about 8× faster to load than to build).

    Lark checks the file against the grammar and its options, but unpickles it to do so: it
    lives in the user's own cache directory, never a shared temporary one. Without a writable
    one, the parser is built every time.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sla-engine"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(base, os.W_OK) or base.stat().st_uid != os.getuid():
        return False
    return str(base / f"policy-grammar-lark-{lark.__version__}.cache")


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
    text = str(token) if len(token) <= 40 else f"{str(token)[:40]}…"  # a 4,000-digit number is not repeated
    return f"{kind} '{text}'"


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
    return parse_tree(text, path)[1]


def parse_tree(text: str, path: str = "<policy>") -> tuple[Tree, m.PolicyFile]:
    """Parse one file into its parse tree and its model (fmt lays out the one by the other)."""
    try:
        tree = get_parser().parse(text, start="start")
    except UnexpectedInput as first:
        diagnostics = _recover(text, path, first)
        raise PolicyError(diagnostics, {path: text}) from None
    try:
        return tree, ToModel(path).transform(tree)
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


# ---------------------------------------------------------------- the source's tokens


@dataclass(frozen=True)
class SourceToken:
    """A word, number, text, comment or sign of the source, where it is and how deep in braces."""

    text: str
    offset: int
    line: int
    column: int  # 1-based, as in diagnostics
    depth: int  # brace nesting; a brace itself has the depth of the block around it
    line_start: bool  # the first token on its line

    @property
    def is_comment(self) -> bool:
        return self.text.startswith("#")


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    """The grammar's own texts, comments, names, percentages and comparators; any other sign alone.

    A number, date, time or duration is one word (``2026-02-01``, ``09:00``, ``4h``). Nothing
    fails to scan, so a file with syntax errors still has every token where it is.
    """
    parser = get_parser()
    terminal = {name: parser.get_terminal(name).pattern.to_regexp()
                for name in ("STRING", "COMMENT", "PERCENT", "NAME", "COMPARATOR")}
    return re.compile("|".join([terminal["STRING"], terminal["COMMENT"], r"\n", terminal["PERCENT"],
                                terminal["NAME"], r"\d[\w.:]*", terminal["COMPARATOR"], r"\S"]))


def scan(text: str) -> list[SourceToken]:
    """Every token of a text, comments included, whether or not it parses.

    The parse tree keeps names and values but not keywords, braces or comments: error recovery
    splits a file at the words that open lines, the checker points at a keyword, and fmt puts
    comments back, all from this one list.
    """
    tokens: list[SourceToken] = []
    line, line_offset, depth, line_start = 1, 0, 0, True
    for match in _token_pattern().finditer(text):
        word = match.group()
        if word == "\n":
            line, line_offset, line_start = line + 1, match.end(), True
            continue
        if word == "}":
            depth = max(depth - 1, 0)
        tokens.append(SourceToken(word, match.start(), line, match.start() - line_offset + 1, depth, line_start))
        if word == "{":
            depth += 1
        line_start = False
    return tokens


# ---------------------------------------------------------------- error recovery


# A statement keyword at the start of an unindented line begins a new statement even inside
# braces: the block before it lacks its `}`. (Keywords that are also block items, such as
# `calendar`, are left out: an unindented block item is not a new statement.)
FRESH_STATEMENT = TOP_KEYWORDS - frozenset().union(*(keywords for _, keywords in BLOCK_ITEMS.values()))


def _starts_statement(token: SourceToken) -> bool:
    return token.line_start and token.column == 1 and token.text in FRESH_STATEMENT


def _scan(text: str) -> tuple[list[SourceToken], list[tuple[int, int]]]:
    """Line-opening words with their brace depth, and closing braces with theirs.

    Depths count from the last fresh statement, so a block left open does not swallow the
    statements after it: they are still split, parsed and checked on their own.
    """
    words: list[SourceToken] = []
    closers: list[tuple[int, int]] = []
    unclosed = 0
    for token in scan(text):
        if token.is_comment:
            continue
        if _starts_statement(token):
            unclosed = token.depth
        depth = max(token.depth - unclosed, 0)
        if token.line_start and (token.text[0].isalpha() or token.text[0] == "_"):
            words.append(replace(token, depth=depth))
        elif token.text == "}":
            closers.append((token.offset, depth))
    return words, closers


def _open_blocks(tokens: list[SourceToken], start: int, end: int) -> list[tuple[SourceToken, SourceToken]]:
    """The blocks opened in text[start:end] and still open at its end, innermost last: (head, brace)."""
    stack: list[tuple[SourceToken, SourceToken]] = []
    head: SourceToken | None = None
    for token in tokens[bisect_left(tokens, start, key=_offset):]:
        if token.is_comment:
            continue
        if token.offset >= end:
            break
        if _starts_statement(token):
            stack.clear()
        if token.line_start:
            head = token
        if token.text == "{":
            stack.append((head or token, token))
        elif token.text == "}" and stack:
            stack.pop()
    return stack


def _unclosed(text: str, path: str, block: tuple[SourceToken, SourceToken], before: SourceToken | None
              ) -> Diagnostic:
    """A block missing its `}`, reported where it opens: the mistake is there, not where parsing stopped."""
    head, brace = block
    if head.line == brace.line:
        opening = text[head.offset:brace.offset + 1]
        pos = m.Pos(file=path, line=head.line, column=head.column, end_line=head.line,
                    end_column=brace.column + 1)
    else:
        opening = head.text
        pos = m.Pos(file=path, line=head.line, column=head.column, end_line=head.line,
                    end_column=head.column + len(head.text))
    where = f"before line {before.line} (`{before.text}`)" if before is not None else "at the end of the file"
    return Diagnostic("E001", f"`{opening}` is never closed: its `}}` is missing {where}", pos)


# Signs other languages use, and this language's word for each.
FOREIGN_SIGNS = {"&&": "and", "||": "or", "&": "and", "|": "or", "!": "not"}


def _foreign_sign(text: str, lines: LineIndex, error: UnexpectedCharacters, path: str) -> Diagnostic | None:
    """`&&` where the language says `and`: name the word instead of listing every expected token."""
    offset = lines.starts[error.line - 1] + error.column - 1 if 0 < error.line <= len(lines.starts) else -1
    sign = next((s for s in FOREIGN_SIGNS if offset >= 0 and text.startswith(s, offset)), None)
    if sign is None:
        return None
    word = FOREIGN_SIGNS[sign]
    pos = m.Pos(file=path, line=error.line, column=error.column, end_line=error.line,
                end_column=error.column + len(sign))
    return Diagnostic("E002", f"`{sign}` is not part of the policy language: write `{word}`", pos,
                      f"conditions combine with `and`, `or` and `not`, e.g. `lead_score > 80 {word} ...`"
                      if word != "not" else "negate a condition with `not`, e.g. `not industry == \"Retail\"`")


def _diagnose(error: UnexpectedInput, text: str, path: str, lines: LineIndex, tokens: list[SourceToken],
              span: tuple[int, int]) -> Diagnostic:
    """The syntax error in words that name the likely mistake where one is recognised.

    ``span`` is the text that was parsed (the whole file, or one statement or item of it).
    """
    if isinstance(error, UnexpectedCharacters):
        return _foreign_sign(text, lines, error, path) or syntax_diagnostic(error, path)
    if not isinstance(error, UnexpectedToken):
        return syntax_diagnostic(error, path)
    token = error.token
    if token.type == "$END":
        blocks = _open_blocks(tokens, *span)
        if blocks:
            following = _token_at(tokens, _next_token_offset(text, span[1]))
            return _unclosed(text, path, blocks[-1], following)
        stopped = syntax_diagnostic(error, path)
        if _next_token_offset(text, span[1]) < len(text):  # more follows: this statement is what ended early
            message = f"the statement is unfinished; expected {_expected(set(error.expected))}"
            return Diagnostic(stopped.code, message, stopped.pos, stopped.hint)
        return stopped
    if token.line is None or token.column is None or not 0 < token.line <= len(lines.starts):
        return syntax_diagnostic(error, path)
    offset = lines.starts[token.line - 1] + token.column - 1
    at = _token_at(tokens, offset)
    if str(token) == "=" and "COMPARATOR" in error.expected:
        message = "unexpected '='; a condition compares with `==` (`=` gives a value in `define` and `set`)"
        return Diagnostic("E001", message, syntax_diagnostic(error, path).pos, "write `==`")
    blocks = _open_blocks(tokens, span[0], offset)
    if at is not None and at.line_start and blocks and _belongs_outside(at.text, [h.text for h, _ in blocks]):
        return _unclosed(text, path, blocks[-1], at)
    return syntax_diagnostic(error, path)


def _belongs_outside(word: str, kinds: list[str]) -> bool:
    """A keyword that opens an item of an enclosing block (or a statement), but not of the innermost one."""
    inner = BLOCK_ITEMS.get(kinds[-1], ("", frozenset()))[1]
    if word in inner or kinds[-1] not in BLOCK_ITEMS:
        return False
    return word in TOP_KEYWORDS or any(word in BLOCK_ITEMS.get(kind, ("", frozenset()))[1] for kind in kinds[:-1])


def _offset(token: SourceToken) -> int:
    return token.offset


def _token_at(tokens: list[SourceToken], offset: int) -> SourceToken | None:
    index = bisect_right(tokens, offset, key=_offset) - 1
    return tokens[index] if index >= 0 and tokens[index].offset == offset else None


@dataclass(frozen=True)
class Salvaged:
    """One top-level statement of a file with syntax errors, as far as it parses."""

    tree: Tree | None  # None: not even its head parses
    broken: frozenset[str]  # names declared by the parts left out (the statement's own, or its items')


def salvage_statements(text: str) -> list[Salvaged]:
    """Each top-level statement, read without the block items that do not parse.

    The items that fail are blanked out (newlines kept, so every position stays where it is)
    and the statement is parsed again: a policy with one broken window still has its tiers,
    other windows and targets checked.
    """
    words, closers = _scan(text)
    lines = LineIndex(text)
    salvaged: list[Salvaged] = []

    def failing(start: int, end: int, keyword: str, symbol: str, depth: int) -> list[tuple[int, int]]:
        """The smallest parts of text[start:end] that do not parse; none if it all does."""
        try:
            parse_span(text, start, end, symbol, lines)
            return []
        except (UnexpectedInput, RecursionError):
            pass
        if keyword not in BLOCK_ITEMS:
            return [(start, end)]
        item_symbol, item_keywords = BLOCK_ITEMS[keyword]
        body_end = max((offset for offset, d in closers if d == depth and start <= offset < end), default=end)
        parts = [part for item_start, item_end, word in _spans(words, depth + 1, item_keywords, start, body_end)
                 for part in failing(item_start, item_end, word, item_symbol, depth + 1)]
        return parts or [(start, end)]

    for start, end, keyword in _spans(words, 0, TOP_KEYWORDS, 0, len(text)):
        parts = failing(start, end, keyword, "start", 0)
        broken = frozenset(name for part_start, part_end in parts
                           if (name := _declared_name(text, part_start, part_end)) is not None)
        tree = None
        if parts != [(start, end)]:
            blanked = text
            for part_start, part_end in parts:
                blanked = _blank(blanked, part_start, part_end)
            try:
                tree = parse_span(blanked, start, end, "start", lines)
            except (UnexpectedInput, RecursionError):
                broken |= {name for name in [_declared_name(text, start, end)] if name is not None}
        salvaged.append(Salvaged(tree, broken))
    return salvaged


def _blank(text: str, start: int, end: int) -> str:
    """The text with text[start:end] made spaces, its newlines kept, so every other position stays."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _declared_name(text: str, start: int, end: int) -> str | None:
    """The name a statement or block item declares (`window NAME`), if it reads like one."""
    declared = re.compile(r"\w+\s+(\w+)").match(text, start, end)
    return declared.group(1) if declared else None


class LineIndex:
    """Where each line of a text starts, so the line of an offset is a binary search, not a count."""

    def __init__(self, text: str) -> None:
        self.starts = [0, *(match.end() for match in re.finditer("\n", text))]

    def line_and_column(self, offset: int) -> tuple[int, int]:
        """1-based line and 0-based column of an offset."""
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1]


def parse_span(text: str, start: int, end: int, symbol: str, lines: LineIndex) -> Tree:
    """Parse text[start:end] alone as ``symbol``, with the lines and columns it has in the whole text.

    Only the span is read (plus blanks for its first line's indent), and the tree's positions are
    moved down afterwards: recovering from thousands of broken statements stays linear. A syntax
    error is raised with its position moved the same way.
    """
    line, column = lines.line_and_column(start)
    try:
        tree = get_parser().parse(" " * column + text[start:end], start=symbol)
    except UnexpectedInput as error:
        _shift_error(error, line - 1)
        raise
    if line > 1:
        _shift_tree(tree, line - 1)
    return tree


def _shift_error(error: UnexpectedInput, lines: int) -> None:
    if getattr(error, "line", None) is not None and error.line > 0:
        error.line += lines
    token = getattr(error, "token", None)
    if isinstance(token, Token):
        _shift_token(token, lines)


def _shift_token(token: Token, lines: int) -> None:
    if token.line is not None:
        token.line += lines
    if token.end_line is not None:
        token.end_line += lines


def _shift_tree(tree: Tree, lines: int) -> None:
    for subtree in tree.iter_subtrees():
        meta = subtree.meta
        if not meta.empty:
            for name in ("line", "end_line", "container_line", "container_end_line"):
                if getattr(meta, name, None) is not None:
                    setattr(meta, name, getattr(meta, name) + lines)
        for child in subtree.children:
            if isinstance(child, Token):
                _shift_token(child, lines)


def _spans(words: list[SourceToken], depth: int, keywords: frozenset[str], start: int, end: int
           ) -> Iterator[tuple[int, int, str]]:
    openings = [w for w in words if w.depth == depth and start <= w.offset < end
                and (not keywords or w.text in keywords)]
    for index, word in enumerate(openings):
        stop = openings[index + 1].offset if index + 1 < len(openings) else end
        yield word.offset, stop, word.text


MAX_SYNTAX_ERRORS = 100  # per file: past this, recovery stops (as compilers do) and says so


def _recover(text: str, path: str, first: UnexpectedInput) -> list[Diagnostic]:
    tokens = [token for token in scan(text) if not token.is_comment]
    words, closers = _scan(text)
    lines = LineIndex(text)
    found: dict[tuple[int, int], Diagnostic] = {}  # by where parsing stopped, which may not be where it is shown

    def note(error: UnexpectedInput, span: tuple[int, int], chunk: bool = True) -> None:
        stopped = syntax_diagnostic(error, path)
        if chunk and isinstance(error, UnexpectedToken) and error.token.type == "$END":
            # A chunk that ends early is the same mistake the whole-file parse met at the next token.
            following = _at_offset(stopped, text, _next_token_offset(text, span[1]), path)
            if (following.pos.line, following.pos.column) in found:
                return
        key = (stopped.pos.line, stopped.pos.column)
        if key not in found:
            found[key] = _diagnose(error, text, path, lines, tokens, span)

    def try_parse(start: int, end: int, symbol: str) -> bool:
        try:
            parse_span(text, start, end, symbol, lines)
            return True
        except UnexpectedInput as error:
            note(error, (start, end))
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

    note(first, (0, len(text)), chunk=False)
    first_key = next(iter(found))
    first_offset = lines.starts[first_key[0] - 1] + first_key[1] - 1 if 0 < first_key[0] <= len(lines.starts) else -1
    for start, end, word in _spans(words, 0, TOP_KEYWORDS, 0, len(text)):
        if len(found) >= MAX_SYNTAX_ERRORS:
            line = lines.line_and_column(start)[0]
            found[(line, 0)] = Diagnostic(
                "E006", f"too many syntax errors: stopped after {len(found)}; the rest of the file (from here) "
                "was not checked", m.Pos(file=path, line=line, column=1, end_line=line, end_column=1))
            break
        if not try_parse(start, end, "start"):
            recurse(start, end, word, 0)
        elif start <= first_offset < end and len(found) > 1 and first_key in found:
            # The whole-file parse stopped in a statement that parses alone: it read on past the end
            # of a broken statement before it (`define d = x >` then `calendar c {`), whose own error is shown.
            shown = found[first_key].pos
            if (shown.line, shown.column) == first_key:
                del found[first_key]
    unique = {(d.pos.line, d.pos.column, d.message): d for d in found.values()}
    return sorted(unique.values(), key=lambda d: (d.pos.line, d.pos.column))


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
