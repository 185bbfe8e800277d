"""Just enough SOQL for the fake: SELECT fields FROM object WHERE … ORDER BY … LIMIT n.

WHERE supports AND, OR, parentheses, = != < <= > >=, IN (…), datetime literals, 'strings',
true/false/null and numbers; relationship fields (Who.Type, Lead.Field) are resolved by the
caller's ``resolve``. A query outside this subset raises ValueError, so the fake answers 400
MALFORMED_QUERY instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<str>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|!=|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass
class Query:
    fields: list[str]
    object: str
    where: Callable[[Callable[[str], Any]], bool]
    order: list[str]
    limit: int | None


def tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read SOQL at {text[position:position + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def parse(text: str) -> Query:
    toks = tokens(text)
    pos = 0

    def peek(offset: int = 0) -> tuple[str, str]:
        return toks[pos + offset] if pos + offset < len(toks) else ("", "")

    def take(value: str | None = None) -> str:
        nonlocal pos
        tok = peek()[1]
        if value is not None and tok.upper() != value:
            raise ValueError(f"expected {value}, got {tok!r}")
        pos += 1
        return tok

    take("SELECT")
    fields = [take()]
    while peek()[1] == ",":
        take(",")
        fields.append(take())
    take("FROM")
    obj = take()

    def value() -> Any:
        kind, tok = peek()
        take()
        if kind == "dt":
            return datetime.fromisoformat(tok.replace("Z", "+00:00"))
        if kind == "num":
            return float(tok)
        if kind == "str":
            return tok[1:-1]
        if tok.lower() in ("true", "false"):
            return tok.lower() == "true"
        if tok.lower() == "null":
            return None
        raise ValueError(f"not a value: {tok!r}")

    def factor() -> Callable[[Callable[[str], Any]], bool]:
        if peek()[1] == "(":
            take("(")
            inner = expression()
            take(")")
            return inner
        name = take()
        if peek()[1].upper() == "IN":
            take("IN")
            take("(")
            options = [value()]
            while peek()[1] == ",":
                take(",")
                options.append(value())
            take(")")
            return lambda get: get(name) in options
        op = take()
        right = value()
        return lambda get: compare(get(name), op, right)

    def term() -> Callable[[Callable[[str], Any]], bool]:
        parts = [factor()]
        while peek()[1].upper() == "AND":
            take("AND")
            parts.append(factor())
        return lambda get: all(p(get) for p in parts)

    def expression() -> Callable[[Callable[[str], Any]], bool]:
        parts = [term()]
        while peek()[1].upper() == "OR":
            take("OR")
            parts.append(term())
        return lambda get: any(p(get) for p in parts)

    where: Callable[[Callable[[str], Any]], bool] = lambda get: True  # noqa: E731
    if peek()[1].upper() == "WHERE":
        take("WHERE")
        where = expression()
    order: list[str] = []
    if peek()[1].upper() == "ORDER":
        take("ORDER")
        take("BY")
        order.append(take())
        while peek()[1] == ",":
            take(",")
            order.append(take())
    limit = None
    if peek()[1].upper() == "LIMIT":
        take("LIMIT")
        limit = int(take())
    if pos != len(toks):
        raise ValueError(f"unexpected {peek()[1]!r}")
    return Query(fields, obj, where, order, limit)


def compare(left: Any, op: str, right: Any) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
