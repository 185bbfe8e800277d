"""`matches` patterns, run by RE2: time linear in the text, whatever the pattern.

Python's `re` backtracks: `email matches "^(a+)+$"` took 43 s on a 31-character address, once
per lead and per run. RE2 (google-re2) has no backtracking, so no pattern can do that; in
exchange it has no lookaround and no backreferences, which `check` reports as invalid patterns
(E213). Matching ignores case, as every text comparison of the language does.
"""

from __future__ import annotations

from typing import Any

import re2

MAX_PATTERN_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern; a larger one is refused


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


def compile_pattern(pattern: str) -> Any:
    """The compiled pattern, case-insensitive; ``search(text)`` finds it anywhere in a text."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print to stderr; the caller reports the error
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else "cannot be compiled"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from None
