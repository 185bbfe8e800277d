"""Syntax errors named for the mistake an author most likely made, and checking that goes on past them.

A parser knows only which token it did not expect; an author coming from a spreadsheet or a
programming language writes `&&`, `=`, `goal within 24h`, or forgets a `}`. Each of these gets
a message that says what to write, at the place to fix, and the rest of the file is still checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sla_engine.language.check import check_paths
from sla_engine.language.errors import Diagnostic, PolicyError
from sla_engine.language.parser import parse_text

VOCABULARY = """\
field industry: text
define warm = lead_score >= 65
stage mql when warm
"""


def syntax(text: str) -> list[Diagnostic]:
    with pytest.raises(PolicyError) as raised:
        parse_text(text, "test.sla")
    return list(raised.value.diagnostics)


def checked(tmp_path: Path, text: str) -> list[Diagnostic]:
    """Every diagnostic of a file checked beside a small shared vocabulary."""
    (tmp_path / "vocabulary.sla").write_text(VOCABULARY, encoding="utf-8")
    (tmp_path / "test.sla").write_text(text, encoding="utf-8")
    diagnostics, _ = check_paths([tmp_path])
    return diagnostics


def where(diagnostics: list[Diagnostic]) -> list[tuple[str, int, int]]:
    return [(d.code, d.pos.line, d.pos.column) for d in diagnostics]


# ---------------------------------------------------------------- signs from other languages


@pytest.mark.parametrize(("sign", "word"), [("&&", "and"), ("||", "or"), ("&", "and"), ("|", "or")])
def test_a_programming_language_sign_names_the_word_to_write(sign: str, word: str) -> None:
    [diagnostic] = syntax(f'define d = lead_score > 80 {sign} industry == "Software"\n')
    assert diagnostic.code == "E002"
    assert diagnostic.message == f"`{sign}` is not part of the policy language: write `{word}`"
    assert (diagnostic.pos.line, diagnostic.pos.column, diagnostic.pos.end_column) == (1, 28, 28 + len(sign))


def test_an_exclamation_mark_names_not() -> None:
    [diagnostic] = syntax("define d = !target_account\n")
    assert (diagnostic.code, diagnostic.pos.column) == ("E002", 12)
    assert diagnostic.message == "`!` is not part of the policy language: write `not`"


def test_a_single_equals_sign_in_a_condition_asks_for_two() -> None:
    [diagnostic] = syntax("define d = lead_score = 80\n")
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E001", 1, 23)
    assert diagnostic.message.startswith("unexpected '='; a condition compares with `==`")
    assert diagnostic.hint == "write `==`"


def test_not_equal_is_still_a_comparison() -> None:
    parse_text("define d = lead_score != 80\n", "test.sla")


def test_a_sign_rendered_with_its_line_and_a_caret_under_both_characters() -> None:
    text = 'define d = lead_score > 80 && industry == "Software"\n'
    [diagnostic] = syntax(text)
    assert diagnostic.render(text).splitlines()[:3] == [
        "test.sla:1:28: E002 `&&` is not part of the policy language: write `and`",
        '    define d = lead_score > 80 && industry == "Software"',
        "                               ^^",
    ]


# ---------------------------------------------------------------- goal within 24h


def test_goal_within_a_duration_says_how_a_goal_is_written(tmp_path: Path) -> None:
    text = ("policy p {\n  window w {\n    starts when becomes mql\n    stops on activity\n"
            "    goal within 24h\n  }\n}\n")
    [diagnostic] = checked(tmp_path, text)
    assert where([diagnostic]) == [("E201", 5, 10)]
    assert diagnostic.message == "`goal within 24h` reads 'within' as a tier: a goal is written without it"
    assert diagnostic.hint == "write `goal 24h`, or `goal TIER 24h` for one tier's goal"


def test_a_tier_really_named_within_is_a_tier(tmp_path: Path) -> None:
    text = ("policy p {\n  tier within when warm\n  window w {\n    starts when becomes mql\n"
            "    stops on activity\n    goal within 24h\n  }\n}\n")
    assert checked(tmp_path, text) == []


# ---------------------------------------------------------------- a missing }


def test_a_window_missing_its_brace_is_reported_where_it_opens_not_at_the_next_block() -> None:
    text = ("policy p {\n  window w {\n    starts when becomes mql\n    stops on activity\n    goal 2h\n\n"
            "  target t {\n    metric count of mql\n  }\n}\n")
    [diagnostic] = syntax(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column, diagnostic.pos.end_column) == (
        "E001", 2, 3, 13)
    assert diagnostic.message == "`window w {` is never closed: its `}` is missing before line 7 (`target`)"


def test_an_escalation_missing_its_brace_is_reported_where_it_opens() -> None:
    text = ("policy p {\n  window w {\n    starts when becomes mql\n    stops on activity\n    goal 2h\n"
            "    escalate on breach {\n      notify owner\n    escalate 1h after breach { notify owner }\n  }\n}\n")
    [diagnostic] = syntax(text)
    assert (diagnostic.pos.line, diagnostic.pos.column) == (6, 5)
    assert diagnostic.message == ("`escalate on breach {` is never closed: its `}` is missing before line 8 "
                                  "(`escalate`)")


def test_a_block_open_at_the_end_of_the_file() -> None:
    [diagnostic] = syntax('field x: number\npolicy p {\n  title "x"\n')
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E001", 2, 1)
    assert diagnostic.message == "`policy p {` is never closed: its `}` is missing at the end of the file"


def test_statements_after_an_unclosed_block_are_still_checked(tmp_path: Path) -> None:
    text = 'policy p {\n  title "x"\n\npolicy q {\n  tier a when lead_scor > 3\n}\n'
    diagnostics = checked(tmp_path, text)
    assert where(diagnostics) == [("E001", 1, 1), ("E201", 5, 15)]
    assert diagnostics[0].message == "`policy p {` is never closed: its `}` is missing before line 4 (`policy`)"
    assert diagnostics[1].message.startswith("unknown name 'lead_scor'")


def test_an_unindented_stage_after_an_unclosed_policy_is_read_as_the_policys_own() -> None:
    # A policy may declare its own stages, so only the end of the file shows the brace is missing.
    [diagnostic] = syntax('policy p {\n  title "x"\n\nstage sql when becomes mql\n')
    assert (diagnostic.pos.line, diagnostic.pos.column) == (1, 1)
    assert diagnostic.message == "`policy p {` is never closed: its `}` is missing at the end of the file"


# ---------------------------------------------------------------- a statement that stops short


def test_an_unfinished_statement_is_reported_where_it_stops_not_in_the_statement_after_it() -> None:
    # `calendar` may be a field name, so the whole file reads on into `calendar c` and stops at `c`;
    # the mistake is the missing value after `>`.
    diagnostics = syntax('define d = lead_score >\ncalendar c {\n  timezone "UTC"\n  hours mon 09:00-17:00\n}\n')
    assert where(diagnostics) == [("E001", 1, 23)]
    assert diagnostics[0].message.startswith("the statement is unfinished; expected one of ")
    assert "a number" in diagnostics[0].message


# ---------------------------------------------------------------- checking goes on past a syntax error


BROKEN_POLICY = """\
policy p {
  tier hot when lead_score > 90 && industry == "Software"
  tier warm_leads when lead_scor > 60
  window w {
    starts when becomes mqll
    stops on activity
    goal hot 2h
    goal 4h
  }
  window v {
    starts when becomes mql
    stops on activity
    goal 4h
    warn at 50% &&
  }
  target t {
    metric met rate of v
  }
}
"""


def test_the_rest_of_a_policy_is_checked_around_an_item_that_does_not_parse(tmp_path: Path) -> None:
    diagnostics = checked(tmp_path, BROKEN_POLICY)
    assert where(diagnostics) == [
        ("E002", 2, 33),  # && in tier hot
        ("E201", 3, 24),  # lead_scor, in a tier beside the broken one
        ("E201", 5, 25),  # mqll, in a window of the same policy
        ("E002", 14, 17),  # && after a warning
    ]


def test_names_declared_by_a_broken_item_are_not_reported_unknown(tmp_path: Path) -> None:
    messages = [d.message for d in checked(tmp_path, BROKEN_POLICY)]
    assert not any("'hot'" in message for message in messages)  # goal hot 2h names the broken tier
    assert not any("window 'v'" in message or "no window" in message for message in messages)


def test_every_diagnostic_of_a_broken_file_has_a_line_and_a_caret(tmp_path: Path) -> None:
    for diagnostic in checked(tmp_path, BROKEN_POLICY):
        rendered = diagnostic.render(BROKEN_POLICY).splitlines()
        assert rendered[0].startswith(f"{tmp_path / 'test.sla'}:{diagnostic.pos.line}:{diagnostic.pos.column}: ")
        assert rendered[1] == "    " + BROKEN_POLICY.splitlines()[diagnostic.pos.line - 1]
        assert rendered[2].strip().startswith("^")


# ---------------------------------------------------------------- recovery's keywords follow the grammar


def _first_keywords(symbol: str) -> set[str]:
    """The words that can open a `symbol` in the grammar (a regex terminal by its name)."""
    from lark.grammar import Terminal
    from lark.lexer import PatternStr

    from sla_engine.language.parser import get_parser

    parser = get_parser()
    expansions: dict[str, list[list[Any]]] = {}
    for rule in parser.rules:
        expansions.setdefault(rule.origin.name, []).append(list(rule.expansion))

    def first(name: str, seen: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for expansion in expansions.get(name, []):
            if not expansion:
                continue
            head = expansion[0]
            if isinstance(head, Terminal):
                pattern = parser.get_terminal(head.name).pattern
                found.add(pattern.value if isinstance(pattern, PatternStr) else head.name)
            elif head.name not in seen:
                found |= first(head.name, seen | {name})
        return found

    return first(symbol, frozenset())


def test_error_recovery_splits_blocks_at_exactly_the_words_that_open_their_items() -> None:
    """A keyword the grammar adds to a block must be added to recovery too, or a broken block
    swallows the items after it (and checking stops seeing them)."""
    from sla_engine.language.parser import BLOCK_ITEMS, TOP_KEYWORDS

    assert _first_keywords("start") == set(TOP_KEYWORDS)
    for kind, (symbol, keywords) in BLOCK_ITEMS.items():
        if keywords:  # an empty set splits at every line-opening word (score rules, plan lines)
            assert _first_keywords(symbol) == set(keywords), kind
