"""Error messages an author can act on: human names for tokens, exact positions, a caret under the mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark.lexer import PatternRE

from sla_engine.language.check import check_paths
from sla_engine.language.errors import TERMINAL_NAMES, Diagnostic, PolicyError, render_all, suggest
from sla_engine.language.model import Pos
from sla_engine.language.parser import describe_terminal, get_parser, parse_text


def regex_terminals() -> list[str]:
    parser = get_parser()
    ignored = set(parser.lexer_conf.ignore) - {"COMMENT"}  # a parser loaded from its cache has no ignore_tokens
    return sorted(t.name for t in parser.terminals if isinstance(t.pattern, PatternRE) and t.name not in ignored)


def test_the_grammar_has_regex_terminals() -> None:
    assert {"NAME", "STRING", "NUMBER", "DURATION"} <= set(regex_terminals())


@pytest.mark.parametrize("name", regex_terminals())
def test_every_regex_terminal_has_a_human_name(name: str) -> None:
    assert name in TERMINAL_NAMES


@pytest.mark.parametrize("name", sorted(t.name for t in get_parser().terminals))
def test_no_terminal_is_described_by_its_internal_name(name: str) -> None:
    described = describe_terminal(name)
    assert name not in described
    assert "__ANON" not in described


def test_end_of_input_is_described_in_words() -> None:
    assert describe_terminal("$END") == "the end of the file"


SOURCE = "stage mql when lead_scor >= 65\n"


def test_render_shows_position_code_message_source_line_caret_and_hint() -> None:
    diagnostic = Diagnostic(
        "E201", "unknown name 'lead_scor'", Pos(file="p.sla", line=1, column=16, end_line=1, end_column=25),
        hint="did you mean 'lead_score'?",
    )
    assert diagnostic.render(SOURCE) == (
        "p.sla:1:16: E201 unknown name 'lead_scor'\n"
        "    stage mql when lead_scor >= 65\n"
        "                   ^^^^^^^^^\n"
        "    hint: did you mean 'lead_score'?"
    )


def test_render_without_source_is_one_line() -> None:
    diagnostic = Diagnostic("E001", "unexpected '}'", Pos(file="p.sla", line=3, column=2, end_line=3, end_column=3))
    assert diagnostic.render() == "p.sla:3:2: E001 unexpected '}'"


def test_a_caret_spanning_lines_is_one_character_wide() -> None:
    diagnostic = Diagnostic("E205", "x", Pos(file="p.sla", line=1, column=7, end_line=2, end_column=3))
    assert diagnostic.render("stage mql when\n  x\n").splitlines()[2] == "          ^"


def test_policy_error_renders_every_diagnostic() -> None:
    first = Diagnostic("E001", "one", Pos(file="a.sla", line=1, column=1, end_line=1, end_column=2))
    second = Diagnostic("E002", "two", Pos(file="b.sla", line=1, column=1, end_line=1, end_column=2))
    error = PolicyError([first, second], {"a.sla": "x\n"})
    assert str(error) == render_all([first, second], {"a.sla": "x\n"}) == (
        "a.sla:1:1: E001 one\n    x\n    ^\nb.sla:1:1: E002 two"
    )


def test_as_dict_for_json_output() -> None:
    diagnostic = Diagnostic("E201", "unknown", Pos(file="p.sla", line=2, column=3), hint="h")
    assert diagnostic.as_dict() == {"file": "p.sla", "line": 2, "column": 3, "code": "E201", "severity": "error",
                                    "message": "unknown", "hint": "h"}


def test_suggest_offers_the_closest_name_only_when_close() -> None:
    assert suggest("industy", ["industry", "company"]) == "did you mean 'industry'?"
    assert suggest("zzz", ["industry", "company"]) is None


FIVE_MISTAKES = """\
field persona: enum [champion, end_user]
define warm = lead_scor >= 65
field notes text
stage mql when warm and persona == "champoin"
policy p {
  tier t1 when warm
  window w {
    starts when becomes mql
    stops on activity
    goal 2h
    warn at 75%
    escalate on breach { notify cro }
  }
}
score s { 10 when warm }
"""


def test_five_mistakes_of_both_kinds_are_all_reported_at_their_positions(tmp_path: Path) -> None:
    path = tmp_path / "five.sla"
    path.write_text(FIVE_MISTAKES, encoding="utf-8")
    diagnostics, sources = check_paths([path])
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E201", 2, 15),  # lead_scor
        ("E001", 3, 13),  # field notes text: missing colon
        ("E202", 4, 36),  # "champoin" is no persona
        ("E214", 12, 33),  # cro is nobody
        ("E001", 15, 11),  # points need a sign
    ]
    assert all(d.pos.file == str(path) for d in diagnostics)
    assert sources == {str(path): FIVE_MISTAKES}
    rendered = diagnostics[0].render(sources[str(path)])
    assert rendered.splitlines()[:3] == [
        f"{path}:2:15: E201 unknown name 'lead_scor': not a field, score, definition or stage",
        "    define warm = lead_scor >= 65",
        "                  ^^^^^^^^^",
    ]


def test_one_mistake_inside_a_block_is_reported_once() -> None:
    text = "policy p {\n  window w {\n    goal 2\n  }\n}\n"
    with pytest.raises(PolicyError) as caught:
        parse_text(text, "one.sla")
    assert [(d.code, d.pos.line, d.pos.column) for d in caught.value.diagnostics] == [("E001", 4, 3)]


def test_conditions_nested_beyond_reading_are_a_positioned_error_not_a_crash() -> None:
    text = "define d = " + "not " * 5000 + "target_account\n"
    with pytest.raises(PolicyError) as caught:
        parse_text(text, "deep.sla")
    assert caught.value.diagnostics[0].code in ("E005", "E001")
