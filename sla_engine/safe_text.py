"""Text from lead data made safe to show: control and invisible characters never reach a reader raw.

A terminal escape sequence in a rejection reason, a CR/LF in a lead's name or a BOM in an id is
data, not formatting: every rendering (terminal, text, Markdown, CSV, HTML, mail, Slack) passes
such text through here (docs/security.md).
"""

from __future__ import annotations

import re

# C0 and C1 controls except tab and newline, DEL, and the invisible format characters that reorder
# or hide text (bidi overrides, zero-width characters, BOM, line and paragraph separators).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
_UNSAFE_LINES = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def escape_control(text: str) -> str:
    """Text with its control and invisible characters written as \\xNN / \\uNNNN escapes: safe to show
    and still telling what was there (for error messages and quarantine reasons)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == " " else _escaped(char) for char in text)


def strip_control(text: str, *, keep_newlines: bool = True) -> str:
    """Text without control and invisible characters (for reports and messages).

    Tab and newline stay where a layout can hold them; with ``keep_newlines=False`` (a header, a
    table cell, a one-line field) every line break becomes a space.
    """
    if text.isprintable():
        return text
    if keep_newlines:
        return _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _UNSAFE_LINES.sub("", re.sub(r"[\r\n\t\u2028\u2029\x0b\x0c\x85]+", " ", text))


def one_line(value: object) -> str:
    """A value from data as one safe line: for headers, subjects, table cells and terminal columns."""
    return strip_control(str(value), keep_newlines=False)


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe_link(url: object) -> str:
    """A link from data, or "" unless it is a plain http(s) URL.

    A lead's ``url`` goes into Slack ``<url|name>`` links, HTML ``href`` and mails: ``javascript:``,
    ``data:`` or a URL with spaces, quotes or control characters in it is dropped, not escaped.
    """
    text = str(url or "").strip()
    if not _LINK.fullmatch(text):
        return ""
    return text


_LINK = re.compile(r"https?://[^\s<>\"'`|\\\x00-\x1f\x7f-\x9f]+", re.IGNORECASE)


def _escaped(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
