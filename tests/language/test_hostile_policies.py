"""Policies written to hurt: thousands of broken lines, giant lines, odd line breaks, links out of
the policy directory. `check` stays near-linear, bounded in what it prints, and shows no
content that is not a policy."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_engine.language.check import MAX_ERRORS_PER_FILE, MAX_POLICY_BYTES, check_paths
from sla_engine.language.errors import render_all, source_line, source_lines
from sla_engine.language.parser import MAX_SYNTAX_ERRORS, LineIndex, parse_span, parse_text

GOOD = "define hot = lead_score >= 80\n"


def check_text(tmp_path: Path, text: str, name: str = "p.sla"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return check_paths([path])


def test_thousands_of_broken_statements_stop_at_the_cap_and_say_so(tmp_path):
    text = "".join(f"policy p{i} {{ applies when x == }}\n" for i in range(5000))
    diagnostics, _ = check_text(tmp_path, text)
    syntax = [d for d in diagnostics if d.code != "E006"]
    assert len(syntax) == MAX_SYNTAX_ERRORS
    assert [d.pos.line for d in syntax] == list(range(1, MAX_SYNTAX_ERRORS + 1))
    assert diagnostics[-1].code == "E006" and "stopped after 100" in diagnostics[-1].message


def test_errors_past_the_cap_are_counted_not_printed(tmp_path):
    text = "define d = " + " or ".join("a == 1" for _ in range(500)) + "\n"
    diagnostics, sources = check_text(tmp_path, text)
    assert len(diagnostics) == MAX_ERRORS_PER_FILE + 1
    assert diagnostics[-1].code == "E006" and diagnostics[-1].message.startswith("400 more error(s)")
    rendered = render_all(diagnostics, sources)
    assert max(len(line) for line in rendered.splitlines()) < 300  # a long line is shown around the caret


def test_a_recovered_statement_keeps_its_real_line_and_column(tmp_path):
    """Recovery parses each statement alone and moves its positions: they must be the file's."""
    text = "\n\n" + GOOD + "policy broken {\n  applies when ==\n}\n\n  define later = nope\n"
    diagnostics, _ = check_text(tmp_path, text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [("E001", 5, 16), ("E201", 8, 18)]


def test_parse_span_gives_the_positions_a_whole_file_parse_gives():
    text = "# head\n" + GOOD + "  define warm = lead_score >= 50 and hot\n"
    whole = parse_text(text, "p.sla").declarations
    lines = LineIndex(text)
    start = text.index("define warm")
    tree = parse_span(text, start, len(text), "start", lines)
    from sla_engine.language.transform import ToModel

    alone = ToModel("p.sla").transform(tree).declarations
    assert alone[0].pos == whole[1].pos and alone[0].pos.line == 3


@pytest.mark.parametrize("separator", ["\f", "\u2028", "\u2029", "\x1c", "\x85", "\r", "\x0b"])
def test_an_odd_line_break_shows_the_line_the_caret_is_on(tmp_path, separator):
    text = f"# note{separator}more\ndefine d = nope\n"
    diagnostics, sources = check_text(tmp_path, text)
    assert [(d.pos.line, d.pos.column) for d in diagnostics] == [(2, 12)]
    shown = render_all(diagnostics, sources).splitlines()
    assert shown[1:3] == ["    define d = nope", "               ^^^^"]


def test_source_lines_split_only_where_the_parser_counts_a_line():
    text = "a\fb\r\nc\u2028d\ne"
    assert source_lines(text) == ["a\fb", "c\u2028d", "e"]
    assert [source_line(text, n) for n in (1, 2, 3, 4)] == ["a\fb", "c\u2028d", "e", None]


def test_a_shown_line_has_no_raw_control_characters(tmp_path):
    text = "define d = \x1b[2J nope\n"
    diagnostics, sources = check_text(tmp_path, text)
    rendered = render_all(diagnostics, sources)
    assert "\x1b" not in rendered and "\\x1b" in rendered  # the message names it escaped
    assert all(line.isprintable() for line in rendered.splitlines())


def test_a_file_too_large_to_be_a_policy_is_refused_unread(tmp_path):
    secret = "SECRET-" * 10
    text = f"# {secret}\n" + "#" * MAX_POLICY_BYTES + "\n"
    diagnostics, sources = check_text(tmp_path, text)
    assert [d.code for d in diagnostics] == ["E007"]
    assert secret not in render_all(diagnostics, sources)


def test_a_file_with_nul_bytes_is_not_text_and_no_line_of_it_is_shown(tmp_path):
    (tmp_path / "env.sla").write_bytes(b"HOME=/root\x00AWS_SECRET_ACCESS_KEY=abc123\x00")
    diagnostics, sources = check_paths([tmp_path])
    assert [d.code for d in diagnostics] == ["E004"]
    assert "abc123" not in render_all(diagnostics, sources)


def test_a_policy_linked_to_a_file_outside_the_directory_is_refused_and_not_echoed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("TOKEN=pat-na1-very-secret\n", encoding="utf-8")
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "ok.sla").write_text(GOOD, encoding="utf-8")
    os.symlink(outside, policies / "x.sla")
    os.symlink("/proc/self/environ", policies / "env.sla")
    diagnostics, sources = check_paths([policies])
    assert sorted((Path(d.pos.file).name, d.code) for d in diagnostics) == [("env.sla", "E008"), ("x.sla", "E008")]
    rendered = render_all(diagnostics, sources)
    assert "pat-na1" not in rendered and "PATH=" not in rendered


def test_a_link_inside_the_policy_directory_is_read(tmp_path):
    policies = tmp_path / "policies"
    (policies / "shared").mkdir(parents=True)
    (policies / "shared" / "real.sla").write_text(GOOD, encoding="utf-8")
    os.symlink(policies / "shared" / "real.sla", policies / "alias.sla")
    diagnostics, _ = check_paths([policies])
    assert [d.code for d in diagnostics if d.code != "E203"] == []


# ---------------------------------------------------------------- fuzz: pathological shapes


SHAPES = st.one_of(
    st.integers(1, 400).map(lambda n: "".join(f"policy p{i} {{ applies when x == }}\n" for i in range(n))),
    st.integers(1, 3000).map(lambda n: "define d = " + " or ".join("lead_score > 1" for _ in range(n)) + "\n"),
    st.integers(1, 3000).map(lambda n: "define d = " + "not " * n + "true\n"),
    st.integers(1, 3000).map(lambda n: "define d = " + "(" * n + "true" + ")" * n + "\n"),
    st.integers(4300, 6000).map(lambda n: f"define d = lead_score >= {'9' * n}\n"),
    st.sampled_from(['define d = email matches "^(a+)+$"\n', 'define d = email matches "(x+x+)+y"\n',
                     'define d = email matches "(?=a)b"\n', 'define d = email matches "(a)\\\\1"\n']),
    st.sampled_from(["policy p { effective 0001-01-01 }\n", "policy p { effective 9999-12-31 }\n"]),
)
NOISE = st.sampled_from(["\f", "\u2028", "\x00", "\x1b[2J", "\ufeff", "\r", "\u202e", "\t", "{", "}", '"', "#"])


@st.composite
def hostile(draw: st.DrawFn) -> str:
    text = draw(SHAPES)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(NOISE) + text[at:]
    return text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile())
def test_check_never_raises_bounds_its_output_and_prints_no_control_character(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "hostile.sla"
        path.write_text(text, encoding="utf-8")
        diagnostics, sources = check_paths([path])
    assert len(diagnostics) <= MAX_ERRORS_PER_FILE + 1
    lines = source_lines(text)
    for diagnostic in diagnostics:
        assert 0 <= diagnostic.pos.line <= len(lines), diagnostic
    for line in render_all(diagnostics, sources).splitlines():
        assert line.isprintable() and len(line) < 600
