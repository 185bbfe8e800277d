"""`sla-engine fmt`: one canonical layout that keeps every comment and never changes a policy's meaning."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_engine.language.errors import PolicyError
from sla_engine.language.fmt import format_source, same_meaning
from sla_engine.language.parser import parse_text

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
SHIPPED = sorted(POLICIES.glob("*.sla"))
DOC_EXAMPLES = [textwrap.dedent(match.group(2)) for match in re.finditer(
    r"^( *)```sla\n(.*?)^\1```", (ROOT / "docs" / "language.md").read_text(encoding="utf-8"), re.M | re.S)]


def fmt(text: str) -> str:
    return format_source(text, "test.sla")


def comments(text: str) -> Counter[str]:
    """Comment texts, counted, found as fmt finds them (a `#` outside a text, to the end of the line)."""
    from sla_engine.language.fmt import _comments

    return Counter(c.text for c in _comments(text))


def assert_formats_well(text: str) -> str:
    """The three promises: same meaning, every comment once, and a second run changes nothing."""
    once = fmt(text)
    assert same_meaning(parse_text(text, "a.sla"), parse_text(once, "b.sla"))
    assert comments(once) == Counter(line.rstrip() for line in comments(text).elements())
    assert fmt(once) == once
    return once


# ---------------------------------------------------------------- the shipped policies


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_policy_round_trips_and_is_idempotent(path: Path) -> None:
    assert_formats_well(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_policy_is_already_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text


def test_the_set_has_the_files_the_docs_name() -> None:
    names = {p.name for p in SHIPPED}
    assert {"shared.sla", "inbound_tiered.sla", "b2b_services.sla", "one_page.sla", "regional.sla"} <= names


@pytest.mark.parametrize("example", DOC_EXAMPLES, ids=[f"example{i}" for i in range(len(DOC_EXAMPLES))])
def test_language_reference_examples_parse_and_are_canonical(example: str) -> None:
    assert fmt(example) == example


def test_the_language_reference_has_examples() -> None:
    assert len(DOC_EXAMPLES) >= 15


# ---------------------------------------------------------------- canonical spellings

MESSY = """\
field   tags :list   of text
field persona: enum [ "champion" , "end user", ]
define   hot=(a==1)   and((b or c))
define cold = not (  x  ) and not(y or z)
define mixed = (a and b) or (c and d) or not e
define nested = (a or b) or c
define grouped = a and (b and c)
define members = region not  in [ "NA","EMEA" , ]  and x is   missing
stage s when score between 10 and 20 and title matches "\\\\d+\\.x" and y is set
stage t from status [ "Qualified" ]
score fit {  + 20 when a
- 5 per visits
cap 40.0 }
calendar c { timezone "UTC" hours mon-tue,wed , thu-fri,sun 9:00-12:30 , 13:00-24:00 hours sat 22:00-06:00
closed 2026-12-24 , 2026-12-31 open 2026-12-27 10:00-14:00 holidays "US" }
plan p { revenue 300000.0 per month deal size 25000 win rate 30 % sql to opportunity 50%  mql to sql 12.5% }
policy pol { title "T \\"q\\"" owner env("OWNER") applies when becomes mql
tier t1 "One" when count( distinct channel of activity by owner where direction=="outbound" since mql)>=2
otherwise not covered
window w { starts on assigned stops when count(activity since start) >= 3 goal t1 2 business hours
goal 120 minutes on c goal 1 business day warn at 75 % warn 30 minutes before due restarts on recycle
escalate every 60 minutes after breach quiet hours c { reassign to team round robin task "Call" for manager due 1.5h } }
target tg { metric p90 elapsed of w goal <= 4 hours tolerance 2 group by owner , tier
metric completeness of ["a", b] } }
"""

CANONICAL = """\
field tags: list of text
field persona: enum [champion, "end user"]

define hot = a == 1 and (b or c)
define cold = not x and not (y or z)
define mixed = a and b or c and d or not e
define nested = (a or b) or c
define grouped = a and (b and c)
define members = region not in ["NA", "EMEA"] and x is missing

stage s when score between 10 and 20 and title matches "\\d+\\.x" and y is set
stage t from status ["Qualified"]

score fit {
  +20 when a
  -5 per visits
  cap 40
}

calendar c {
  timezone "UTC"
  hours mon-fri, sun 09:00-12:30, 13:00-24:00
  hours sat 22:00-06:00
  closed 2026-12-24, 2026-12-31
  open 2026-12-27 10:00-14:00
  holidays "US"
}

plan p {
  revenue 300000 per month
  deal size 25000
  win rate 30%
  sql to opportunity 50%
  mql to sql 12.5%
}

policy pol {
  title "T \\"q\\""
  owner env("OWNER")
  applies when becomes mql
  tier t1 "One" when count(distinct channel of activity by owner where direction == "outbound" since mql) >= 2
  otherwise not covered
  window w {
    starts on assigned
    stops when count(activity since start) >= 3
    goal t1 2 business hours
    goal 120m on c
    goal 1 business day
    warn at 75%
    warn 30m before due
    restarts on recycle
    escalate every 60m after breach quiet hours c {
      reassign to team round robin
      task "Call" for manager due 1.5h
    }
  }
  target tg {
    goal <= 4h
    tolerance 2
    group by owner, tier
    metric completeness of [a, b]
  }
}
"""


def test_messy_input_becomes_the_canonical_layout() -> None:
    assert fmt(MESSY) == CANONICAL


def test_canonical_layout_is_a_fixed_point() -> None:
    assert fmt(CANONICAL) == CANONICAL


@pytest.mark.parametrize(("written", "canonical"), [
    ("2 hours", "2h"),
    ("90 minutes", "90m"),
    ("1 week", "1w"),
    ("2 business hours", "2 business hours"),
    ("1 business hours", "1 business hour"),
    ("5 business days", "5 business days"),
    ("0.00001h", "0.00001h"),
])
def test_durations_are_spelt_one_way(written: str, canonical: str) -> None:
    assert fmt(f"define d = x > {written}") == f"define d = x > {canonical}\n"


@pytest.mark.parametrize(("written", "canonical"), [
    ('"plain"', '"plain"'),
    (r'"\d+\.\w"', r'"\d+\.\w"'),  # a backslash that is no escape stays single
    (r'"a\\d"', r'"a\d"'),  # reads as a\d either way
    (r'"\u00e9\/"', '"é/"'),
    (r'"tab\there"', r'"tab\there"'),
    (r'"say \"hi\""', r'"say \"hi\""'),
    (r'"end\\"', r'"end\\"'),
])
def test_texts_are_requoted_with_escapes(written: str, canonical: str) -> None:
    assert fmt(f"define d = x matches {written}") == f"define d = x matches {canonical}\n"


@pytest.mark.parametrize(("days", "canonical"), [
    ("mon,tue,wed,thu,fri", "mon-fri"),
    ("fri-mon", "fri-mon"),
    ("sat, sun", "sat-sun"),
    ("mon, wed, fri", "mon, wed, fri"),
    ("monday-sunday", "mon-sun"),
    ("thu-wed", "thu-wed"),
    ("mon-sun, mon", "mon-sun, mon"),
])
def test_calendar_days_are_ranges_where_contiguous(days: str, canonical: str) -> None:
    assert fmt(f"calendar c {{ hours {days} 09:00-17:00 }}") == f"calendar c {{\n  hours {canonical} 09:00-17:00\n}}\n"


def test_rates_read_back_exactly() -> None:
    text = "plan p {\n  win rate 33.3%\n  mql to sql 7%\n  sql to opportunity 0.1%\n}\n"
    assert fmt(text) == text


def test_a_setting_given_twice_is_printed_once_where_the_last_one_was() -> None:
    text = 'policy p {\n  title "A"  # old\n  tier t when x\n  title "B"\n}\n'
    assert fmt(text) == 'policy p {\n  # old\n  tier t when x\n  title "B"\n}\n'


def test_empty_blocks_and_files() -> None:
    assert fmt("") == ""
    assert fmt("  \n\n") == ""
    assert fmt("policy p { }") == "policy p {}\n"
    assert fmt("# only a comment") == "# only a comment\n"


# ---------------------------------------------------------------- blank lines


def test_blank_lines_between_statements() -> None:
    text = "define a = x\ndefine b = y\n\n\n\ndefine c = z\nstage s when a\nscore f { +1 when a }\ncontact k { }"
    assert fmt(text) == (
        "define a = x\ndefine b = y\n\ndefine c = z\n\nstage s when a\n\nscore f {\n  +1 when a\n}\n\ncontact k {}\n"
    )


def test_blank_lines_inside_blocks_are_kept_and_collapsed() -> None:
    text = "policy p {\n\n\n  tier a when x\n\n\n\n  tier b when y\n  tier c when z\n\n}\n"
    assert fmt(text) == "policy p {\n  tier a when x\n\n  tier b when y\n  tier c when z\n}\n"


# ---------------------------------------------------------------- comments stay where they were

TRICKY = """\
# file header

# before x
define x = a  # after x
policy p {  # on the policy line
  # before the tier
  tier t when x and  # inside the condition
    y
  window w {
    goal 2h  # after the goal
    escalate on breach { notify owner }  # after a one-line block
    escalate 1h after breach {
      notify manager
      # end of the escalation
    }  # after its brace
    # end of the window
  }
  # end of the policy
}
# end of the file
"""

TRICKY_FORMATTED = """\
# file header

# before x
define x = a  # after x

policy p {  # on the policy line
  # before the tier
  tier t when x and y  # inside the condition
  window w {
    goal 2h  # after the goal
    escalate on breach {
      notify owner  # after a one-line block
    }
    escalate 1h after breach {
      notify manager
      # end of the escalation
    }  # after its brace
    # end of the window
  }
  # end of the policy
}
# end of the file
"""


def test_comments_in_tricky_places_stay_put() -> None:
    assert fmt(TRICKY) == TRICKY_FORMATTED
    assert comments(TRICKY_FORMATTED) == comments(TRICKY)
    assert len(comments(TRICKY)) == 13


def test_a_comment_inside_a_multi_line_item_moves_before_it() -> None:
    text = "stage s when a or\n  # why b\n  b  # and this\ndefine d = x\n"
    assert fmt(text) == "# why b\n# and this\nstage s when a or b\n\ndefine d = x\n"


def test_a_hash_inside_a_text_is_no_comment() -> None:
    text = 'contact c {\n  slack "#sales"  # the channel\n}\n'
    assert fmt(text) == text
    assert comments(text) == Counter({"# the channel": 1})


def test_comments_in_block_headers() -> None:
    text = "policy p {\n  window w\n  # in the header\n  {  # after the brace\n    goal 2h\n  }\n}\n"
    assert fmt(text) == "policy p {\n  # in the header\n  window w {\n    # after the brace\n    goal 2h\n  }\n}\n"


def test_trailing_comments_on_both_lines_of_an_empty_block() -> None:
    text = "policy p {  # a\n}  # b\n"
    assert fmt(text) == text


# ---------------------------------------------------------------- errors and meaning


def test_text_that_does_not_parse_raises_policy_error() -> None:
    with pytest.raises(PolicyError) as error:
        format_source("define x = (a", "bad.sla")
    assert error.value.diagnostics[0].code == "E001"


def test_same_meaning_ignores_positions_and_path_but_not_content() -> None:
    a = parse_text("define x = a and b", "a.sla")
    b = parse_text("\n\n  define   x =\n (a) and (b)", "b.sla")
    c = parse_text("define x = a or b", "a.sla")
    assert same_meaning(a, b)
    assert not same_meaning(a, c)


def test_not_covered_counts_by_presence_only() -> None:
    a = parse_text("policy p { tier t when x otherwise not covered }", "a.sla")
    b = parse_text("policy p {\n  tier t when x\n\n  otherwise not covered\n}", "b.sla")
    c = parse_text("policy p { tier t when x }", "c.sla")
    assert same_meaning(a, b)
    assert not same_meaning(a, c)


# ---------------------------------------------------------------- generated policies

SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", "  # note\n", "\n# own line\n\n"])
NAMES = st.one_of(st.from_regex(r"n_[a-z0-9]{1,3}", fullmatch=True),
                  st.sampled_from(["lead_score", "region", "title", "owner", "fit"]))
TEXTS = st.lists(st.sampled_from(["a", "B", " ", "#", '\\"', "\\\\", "\\d", "\\n", "\\u00e9", "é", "\\/"]),
                 max_size=5).map(lambda parts: '"' + "".join(parts) + '"')
DURATIONS = st.sampled_from([["15m"], ["2h"], ["1.5h"], ["90", "minutes"], ["2", "hours"], ["1", "week"],
                             ["2", "business", "hours"], ["1", "business", "day"], ["5", "business", "days"]])
SCALARS = st.one_of(
    NAMES.map(lambda n: [n]),
    TEXTS.map(lambda t: [t]),
    st.integers(0, 10_000).map(lambda n: [str(n)]),
    st.sampled_from([["12.5"], ["75%"], ["2026-02-28"], ["9:05"], ["24:00"], ["true"], ["false"]]),
    DURATIONS,
)
LISTS = st.lists(SCALARS, max_size=3).flatmap(lambda items: st.booleans().map(
    lambda trailing: ["[", *_commas(items), *([","] if trailing and items else []), "]"]))


def _commas(items: list[list[str]]) -> list[str]:
    out: list[str] = []
    for index, item in enumerate(items):
        out.extend(([","] if index else []) + item)
    return out


@st.composite
def counts(draw: st.DrawFn, expressions: st.SearchStrategy[list[str]]) -> list[str]:
    tokens = ["count", "("]
    if draw(st.booleans()):
        tokens += ["distinct", "channel", "of"]
    tokens.append(draw(st.sampled_from(["activity", "assigned", "disposition"])))
    if draw(st.booleans()):
        tokens += ["by", "owner"]
    if draw(st.booleans()):
        tokens += ["where", *draw(expressions)]
    if draw(st.booleans()):
        tokens += ["since", draw(st.sampled_from(["start", "mql"]))]
    return [*tokens, ")"]


def operands(expressions: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(SCALARS, LISTS, counts(expressions))


def predicates(expressions: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    operand = operands(expressions)
    return st.one_of(
        st.tuples(operand, st.sampled_from(["==", "!=", ">=", "<=", ">", "<"]), operand).map(
            lambda t: [*t[0], t[1], *t[2]]),
        st.tuples(operand, st.sampled_from([["in"], ["not", "in"]]), LISTS).map(lambda t: [*t[0], *t[1], *t[2]]),
        st.tuples(operand, operand, operand).map(lambda t: [*t[0], "between", *t[1], "and", *t[2]]),
        st.tuples(operand, TEXTS).map(lambda t: [*t[0], "matches", t[1]]),
        st.tuples(operand, st.sampled_from(["set", "missing"])).map(lambda t: [*t[0], "is", t[1]]),
        NAMES.map(lambda n: ["becomes", n]),
        NAMES.map(lambda n: [n]),
    )


def _extend(expressions: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(
        st.tuples(expressions, st.sampled_from(["and", "or"]), expressions).map(lambda t: [*t[0], t[1], *t[2]]),
        expressions.map(lambda e: ["not", *e]),
        expressions.map(lambda e: ["(", *e, ")"]),
        predicates(expressions),
    )


EXPRESSIONS = st.recursive(predicates(NAMES.map(lambda n: [n])), _extend, max_leaves=6)


@st.composite
def windows(draw: st.DrawFn) -> list[str]:
    tokens = ["window", draw(NAMES), "{", "starts", "when", *draw(EXPRESSIONS)]
    if draw(st.booleans()):
        tokens += ["stops", "on", "activity", "by", "owner", "where", *draw(EXPRESSIONS)]
    for _ in range(draw(st.integers(0, 2))):
        tokens += ["goal", *draw(st.sampled_from([[], ["t1"]])), *draw(DURATIONS)]
    if draw(st.booleans()):
        tokens += ["warn", "at", "75%"]
    if draw(st.booleans()):
        tokens += ["escalate", "on", "breach", "{", "notify", "owner", "via", "email", "set", "n_f", "=",
                   *draw(SCALARS), "}"]
    return [*tokens, "}"]


@st.composite
def statements(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["define", "stage", "field", "score", "policy", "calendar"]))
    name = draw(NAMES)
    if kind == "define":
        return ["define", name, "=", *draw(EXPRESSIONS)]
    if kind == "stage":
        return ["stage", name, "when", *draw(EXPRESSIONS)]
    if kind == "field":
        return ["field", name, ":", *draw(st.sampled_from([["text"], ["number"], ["list", "of", "text"],
                                                           ["enum", "[", "a", ",", '"b c"', "]"]]))]
    if kind == "score":
        rules = draw(st.lists(st.tuples(st.sampled_from(["+5", "-10", "+ 2.5"]), EXPRESSIONS), max_size=3))
        return ["score", name, "{", *[t for points, expr in rules for t in [points, "when", *expr]], "}"]
    if kind == "calendar":
        return ["calendar", name, "{", "timezone", '"UTC"', "hours",
                *draw(st.sampled_from([["mon", "-", "fri"], ["sat", ",", "sun"], ["fri", "-", "mon"]])),
                *draw(st.sampled_from([["09:00", "-", "17:00"], ["22:00", "-", "6:00"], ["00:00", "-", "24:00"],
                                       ["9:00", "-", "12:00", ",", "13:00", "-", "17:30"]])), "}"]
    body: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        part = draw(st.sampled_from(["tier", "applies", "window", "title"]))
        if part == "tier":
            body += ["tier", "t1", "when", *draw(EXPRESSIONS)]
        elif part == "applies":
            body += ["applies", "when", *draw(EXPRESSIONS)]
        elif part == "title":
            body += ["title", draw(TEXTS)]
        else:
            body += draw(windows())
    return ["policy", name, "{", *body, "}"]


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    tokens = [t for statement in draw(st.lists(statements(), min_size=1, max_size=4)) for t in statement]
    parts = [tokens[0]]
    for token in tokens[1:]:
        parts += [draw(SEPARATORS), token]
    return "".join(parts) + draw(st.sampled_from(["", "\n", "  # last\n"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_texts())
def test_generated_policies_format_idempotently_with_the_same_meaning(text: str) -> None:
    assert_formats_well(text)
