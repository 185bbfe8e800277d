"""The policy language as an author writes it: every construct parsed into the model it means."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_engine.language import model as m
from sla_engine.language.errors import PolicyError
from sla_engine.language.parser import get_parser, parse_text

SHARED = Path(__file__).resolve().parents[2] / "policies" / "shared.sla"


def meaning(value: object) -> object:
    """A node as plain data without positions: what two spellings of one policy share."""
    if isinstance(value, m.Node):
        return meaning(value.model_dump())
    if isinstance(value, dict):
        return {k: meaning(v) for k, v in value.items() if k != "pos"}
    if isinstance(value, list | tuple):
        return [meaning(v) for v in value]
    return value


@dataclass(frozen=True)
class Meaning:
    """Equal to anything that means the same, positions aside (pydantic equality compares positions too)."""

    value: object

    def __eq__(self, other: object) -> bool:
        return meaning(self.value) == meaning(other)


def same(value: object) -> Meaning:
    return Meaning(value)


def parse(text: str) -> m.PolicyFile:
    return parse_text(text, "test.sla")


def only(text: str) -> m.Node:
    """The single declaration of a snippet."""
    declarations = parse(text).declarations
    assert len(declarations) == 1
    return declarations[0]


def condition(text: str) -> m.Node:
    definition = only(f"define d = {text}")
    assert isinstance(definition, m.Definition)
    return definition.expr


def window(body: str) -> m.Window:
    policy = only(f"policy p {{\n window w {{\n{body}\n }}\n}}")
    assert isinstance(policy, m.Policy)
    return policy.windows[0]


def target(body: str) -> m.Target:
    policy = only(f"policy p {{\n target t {{\n{body}\n }}\n}}")
    assert isinstance(policy, m.Policy)
    return policy.targets[0]


def ref(*path: str) -> m.Ref:
    return m.Ref(path=list(path))


def text(value: str) -> m.Literal_:
    return m.Literal_(type="text", value=value)


def number(value: float) -> m.Literal_:
    return m.Literal_(type="number", value=value)


def syntax_errors(source: str) -> list[tuple[str, int, int, str]]:
    with pytest.raises(PolicyError) as raised:
        parse(source)
    return [(d.code, d.pos.line, d.pos.column, d.message) for d in raised.value.diagnostics]


# ---------------------------------------------------------------- fields


@pytest.mark.parametrize(("written", "name"), [
    ("text", "text"), ("number", "number"), ("boolean", "boolean"), ("timestamp", "timestamp"),
    ("duration", "duration"), ("list of text", "text_list"),
])
def test_field_types(written: str, name: str) -> None:
    field = only(f"field x: {written}")
    assert meaning(field) == meaning(m.FieldDecl(name="x", type=m.FieldType(name=name)))


def test_enum_field_takes_names_and_quoted_values_with_a_trailing_comma() -> None:
    field = only('field persona: enum [economic_buyer, "end user",]')
    assert meaning(field.type) == meaning(m.FieldType(name="enum", values=["economic_buyer", "end user"]))


# ---------------------------------------------------------------- scores, definitions, stages


def test_score_rules_when_per_and_cap_with_negative_and_spaced_points() -> None:
    score = only("score fit {\n  +20 when target_account\n  - 30 when email matches \"gmail\"\n"
                 "  +2.5 per pricing_page_visits\n  cap 40\n}")
    assert same(score) == m.ScoreDecl(name="fit", cap=40, rules=[
        m.ScoreRule(points=20, when=m.Truth(operand=ref("target_account"))),
        m.ScoreRule(points=-30, when=m.Matches(operand=ref("email"), pattern="gmail")),
        m.ScoreRule(points=2.5, per="pricing_page_visits"),
    ])


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    assert same(condition("a or b and c")) == m.Or(items=[
        m.Truth(operand=ref("a")), m.And(items=[m.Truth(operand=ref("b")), m.Truth(operand=ref("c"))]),
    ])
    assert same(condition("(a or b) and not c")) == m.And(items=[
        m.Or(items=[m.Truth(operand=ref("a")), m.Truth(operand=ref("b"))]),
        m.Not(operand=m.Truth(operand=ref("c"))),
    ])


@pytest.mark.parametrize(("written", "expected"), [
    ('industry in ["Software", "Fintech"]',
     m.Member(operand=ref("industry"), values=m.ListValue(items=[text("Software"), text("Fintech")]))),
    ("size not in [1, 2]",
     m.Member(operand=ref("size"), values=m.ListValue(items=[number(1), number(2)]), negated=True)),
    ("company_size between 50 and 5000",
     m.Between(operand=ref("company_size"), low=number(50), high=number(5000))),
    ('title matches "vp|chief"', m.Matches(operand=ref("title"), pattern="vp|chief")),
    ("email is set", m.IsSet(operand=ref("email"))),
    ("email is missing", m.IsSet(operand=ref("email"), missing=True)),
    ("becomes mql", m.Becomes(stage="mql")),
    ("lead_score >= 65", m.Compare(op=">=", left=ref("lead_score"), right=number(65))),
    ("a != b", m.Compare(op="!=", left=ref("a"), right=ref("b"))),
    ("plan.mqls < 3", m.Compare(op="<", left=ref("plan", "mqls"), right=number(3))),
])
def test_predicates(written: str, expected: m.Node) -> None:
    assert same(condition(written)) == expected


def test_count_with_distinct_by_owner_where_and_since() -> None:
    expr = condition('count(distinct channel of activity by owner where direction == "outbound" since start) >= 2')
    assert same(expr) == m.Compare(op=">=", right=number(2), left=m.Count(
        event="activity", distinct="channel", by_owner=True, since="start",
        where=m.Compare(op="==", left=ref("direction"), right=text("outbound")),
    ))


def test_plain_count() -> None:
    assert same(condition("count(activity) > 0")) == m.Compare(op=">", left=m.Count(event="activity"), right=number(0))


def test_stage_when_and_from() -> None:
    assert same(only("stage mql when lead_score >= 65")) == m.Stage(
        name="mql", expr=m.Compare(op=">=", left=ref("lead_score"), right=number(65)))
    assert same(only('stage sql from status ["Qualified", "SQL"]')) == m.Stage(
        name="sql", from_field="status", from_values=m.ListValue(items=[text("Qualified"), text("SQL")]))


# ---------------------------------------------------------------- calendars


def test_calendar_with_everything() -> None:
    calendar = only(
        "calendar office {\n"
        '  timezone "America/New_York"\n'
        "  hours mon-fri 09:00-12:00, 13:00-17:00\n"
        "  hours fri-mon 22:00-06:00\n"
        "  hours saturday, sun 10:00-24:00\n"
        '  holidays "US" subdivision "NY"\n'
        "  closed 2026-12-24, 2026-12-31\n"
        "  open 2026-12-26\n"
        "  open 2026-12-27 10:00-12:00\n"
        "}"
    )
    assert same(calendar) == m.CalendarDecl(
        name="office", timezone="America/New_York", holidays="US", subdivision="NY",
        hours=[
            m.Hours(days=[0, 1, 2, 3, 4], intervals=[m.Interval(start=time(9), end=time(12)),
                                                     m.Interval(start=time(13), end=time(17))]),
            m.Hours(days=[4, 5, 6, 0], intervals=[m.Interval(start=time(22), end=time(6))]),
            m.Hours(days=[5, 6], intervals=[m.Interval(start=time(10), end=time(0))]),
        ],
        closed=[date(2026, 12, 24), date(2026, 12, 31)],
        open=[m.OpenDate(day=date(2026, 12, 26)),
              m.OpenDate(day=date(2026, 12, 27), intervals=[m.Interval(start=time(10), end=time(12))])],
    )


def test_holidays_without_subdivision() -> None:
    calendar = only('calendar c { hours mon 09:00-17:00 holidays "DE" }')
    assert (calendar.holidays, calendar.subdivision) == ("DE", None)


# ---------------------------------------------------------------- contacts, teams, plans


def test_contact_attributes_with_keyword_keys_env_and_lists() -> None:
    contact = only('contact cro {\n  name "Dana"\n  slack env("CRO_SLACK")\n  calendar office\n'
                   '  manager ceo\n  timezone "UTC"\n  title "CRO"\n  phone ["1", "2"]\n}')
    assert same(contact) == m.ContactDecl(name="cro", attributes=[
        m.Attribute(key="name", value=text("Dana")),
        m.Attribute(key="slack", value=m.Env(variable="CRO_SLACK")),
        m.Attribute(key="calendar", value=ref("office")),
        m.Attribute(key="manager", value=ref("ceo")),
        m.Attribute(key="timezone", value=text("UTC")),
        m.Attribute(key="title", value=text("CRO")),
        m.Attribute(key="phone", value=m.ListValue(items=[text("1"), text("2")])),
    ])
    assert same(contact.get("name")) == text("Dana") and contact.get("email") is None


def test_team() -> None:
    team = only('team pool { members ["a@x.com", "b@x.com"] manager "m@x.com" }')
    assert team.is_team and same(team.get("members")) == m.ListValue(items=[text("a@x.com"), text("b@x.com")])


def test_plan() -> None:
    plan = only("plan p {\n revenue 300000 per month\n deal size 25000\n win rate 30%\n"
                " sql to opportunity 50%\n mql to sql 25 %\n}")
    assert same(plan) == m.PlanDecl(
        name="p", revenue=300000, period="month", deal_size=25000, win_rate=0.3, conversions=[
            m.PlanConversion(source="sql", target="opportunity", rate=0.5),
            m.PlanConversion(source="mql", target="sql", rate=0.25),
        ],
    )


# ---------------------------------------------------------------- policies


def test_policy_header() -> None:
    policy = only('policy p {\n title "T"\n version "1"\n effective 2026-01-01\n owner "revops@x.com"\n'
                  ' description "D"\n timezone "UTC"\n calendar office\n applies when region == "NA"\n}')
    assert same(policy) == m.Policy(
        name="p", title="T", version="1", effective=date(2026, 1, 1), owner=text("revops@x.com"),
        description="D", timezone="UTC", calendar="office",
        applies=m.Compare(op="==", left=ref("region"), right=text("NA")),
    )


def test_policy_owner_may_name_a_contact() -> None:
    assert same(only("policy p { owner cro }").owner) == ref("cro")


def test_tiers_with_labels_otherwise_and_not_covered() -> None:
    policy = only('policy p {\n tier t1 "Tier 1" when target_account\n tier t2 otherwise\n'
                  " otherwise not covered\n}")
    assert same(policy.tiers) == [
        m.Tier(name="t1", label="Tier 1", when=m.Truth(operand=ref("target_account"))),
        m.Tier(name="t2"),
    ]
    assert (policy.not_covered.line, policy.not_covered.column) == (4, 2)


def test_window_items() -> None:
    w = window('starts on assigned by owner where team == "na"\n stops when converted\n'
               ' pauses while status == "Nurture"\n calendar office\n goal t1 2 business hours on office\n'
               " goal 24h\n warn at 75%\n warn 30m before due\n restarts on recycle\n quiet hours office")
    assert same(w) == m.Window(
        name="w",
        start=m.Trigger(event="assigned", by_owner=True, where=m.Compare(op="==", left=ref("team"), right=text("na"))),
        stop=m.Trigger(condition=m.Truth(operand=ref("converted"))),
        pause=m.Compare(op="==", left=ref("status"), right=text("Nurture")),
        calendar="office",
        goals=[m.Goal(tier="t1", duration=m.Duration(amount=2, unit="h", business=True), calendar="office"),
               m.Goal(duration=m.Duration(amount=24, unit="h"))],
        warnings=[m.Warning(percent=75), m.Warning(before=m.Duration(amount=30, unit="m"))],
        restarts_on_recycle=True,
        quiet_hours="office",
    )


def test_window_label_and_plain_event_trigger() -> None:
    policy = only('policy p { window w "First contact" { starts on created stops on activity } }')
    w = policy.windows[0]
    assert w.label == "First contact"
    assert same((w.start, w.stop)) == (m.Trigger(event="created"), m.Trigger(event="activity"))


def test_every_escalation_level_and_action() -> None:
    w = window(
        " escalate at warning { notify owner via email }\n"
        " escalate on breach quiet hours office { notify manager notify cro via slack }\n"
        " escalate 4h after breach {\n"
        "   reassign to pool round robin skip previous owners\n"
        "   reassign to pool\n"
        '   set sla_status = "breached"\n'
        '   task "Call now" for owner due 1h\n'
        '   task "Review"\n'
        " }\n"
        " escalate every 1 business day after breach { notify cro via webhook }"
    )
    assert same(w.escalations) == [
        m.Escalation(when="warning", actions=[m.Notify(recipient=m.Recipient(kind="owner"), channel="email")]),
        m.Escalation(when="breach", quiet_hours="office", actions=[
            m.Notify(recipient=m.Recipient(kind="manager")),
            m.Notify(recipient=m.Recipient(kind="named", name="cro"), channel="slack"),
        ]),
        m.Escalation(when="after_breach", after=m.Duration(amount=4, unit="h"), actions=[
            m.Reassign(team="pool", round_robin=True, skip_previous=True),
            m.Reassign(team="pool"),
            m.SetField(field="sla_status", value=text("breached")),
            m.CreateTask(subject="Call now", recipient=m.Recipient(kind="owner"), due=m.Duration(amount=1, unit="h")),
            m.CreateTask(subject="Review"),
        ]),
        m.Escalation(when="every_after_breach", after=m.Duration(amount=1, unit="d", business=True), actions=[
            m.Notify(recipient=m.Recipient(kind="named", name="cro"), channel="webhook"),
        ]),
    ]
    assert [e.label for e in w.escalations] == [
        "at warning", "on breach", "4h after breach", "every 1 business day after breach"]


def test_target_items() -> None:
    t = target(' owner marketing\n metric count of mql\n where tier == "tier1"\n period month\n'
               " group by owner, region\n goal >= inbound_2026.mqls\n tolerance 5%\n"
               " escalate when missed 2 periods { notify cro via email }")
    assert same(t) == m.Target(
        name="t", owner="marketing", metric=m.Metric(kind="count", subject="mql"),
        where=m.Compare(op="==", left=ref("tier"), right=text("tier1")), period="month",
        group_by=["owner", "region"], goal=m.TargetGoal(op=">=", value=ref("inbound_2026", "mqls")),
        tolerance=5, tolerance_is_percent=True,
        escalations=[m.Escalation(when="missed", missed_periods=2, actions=[
            m.Notify(recipient=m.Recipient(kind="named", name="cro"), channel="email")])],
    )


@pytest.mark.parametrize(("written", "expected"), [
    ("count of mql", m.Metric(kind="count", subject="mql")),
    ("met rate of first_response", m.Metric(kind="met_rate", subject="first_response")),
    ("rate of sql among mql", m.Metric(kind="rate", subject="sql", among="mql")),
    ("p90 elapsed of first_response", m.Metric(kind="elapsed", aggregate="p90", subject="first_response")),
    ("median elapsed of w", m.Metric(kind="elapsed", aggregate="median", subject="w")),
    ('completeness of [email, "title"]', m.Metric(kind="completeness", fields=["email", "title"])),
])
def test_metric_forms(written: str, expected: m.Metric) -> None:
    assert same(target(f" metric {written}").metric) == expected


@pytest.mark.parametrize(("written", "expected"), [
    ("== 120", number(120)),
    ("> 90%", m.Literal_(type="percent", value=90)),
    ("<= 4h", m.Duration(amount=4, unit="h")),
    ("!= 2 business days", m.Duration(amount=2, unit="d", business=True)),
])
def test_target_goal_values(written: str, expected: m.Node) -> None:
    assert same(target(f" goal {written}").goal.value) == expected


def test_tolerance_as_a_plain_number() -> None:
    t = target(" tolerance 3")
    assert (t.tolerance, t.tolerance_is_percent) == (3, False)


# ---------------------------------------------------------------- literals


@pytest.mark.parametrize(("written", "amount", "unit", "business"), [
    ("15m", 15, "m", False), ("2h", 2, "h", False), ("48h", 48, "h", False), ("1.5h", 1.5, "h", False),
    ("30s", 30, "s", False), ("500ms", 500, "ms", False), ("1w", 1, "w", False), ("3d", 3, "d", False),
    ("2 hours", 2, "h", False), ("1 minute", 1, "m", False), ("2 weeks", 2, "w", False),
    ("5 business days", 5, "d", True), ("1 business hour", 1, "h", True), ("90 business minutes", 90, "m", True),
])
def test_durations(written: str, amount: float, unit: str, business: bool) -> None:
    goal = window(f" goal {written}").goals[0]
    assert same(goal.duration) == m.Duration(amount=amount, unit=unit, business=business)


@pytest.mark.parametrize(("written", "value"), [("90%", 90), ("90 %", 90), ("12.5%", 12.5)])
def test_percentages(written: str, value: float) -> None:
    assert same(window(f" warn at {written}").warnings) == [m.Warning(percent=value)]


@pytest.mark.parametrize(("written", "expected"), [
    ("2026-03-08", m.Literal_(type="date", value=date(2026, 3, 8))),
    ("09:30", m.Literal_(type="time", value=time(9, 30))),
    ("true", m.Literal_(type="boolean", value=True)),
    ("false", m.Literal_(type="boolean", value=False)),
    ("12", number(12)),
    ("1.25", number(1.25)),
    ("80%", m.Literal_(type="percent", value=80)),
    ("2h", m.Duration(amount=2, unit="h")),
    (r'"say \"hi\" \\ bye"', text('say "hi" \\ bye')),
    ('"tab\\there"', text("tab\there")),
    ("[]", m.ListValue(items=[])),
])
def test_literals(written: str, expected: m.Node) -> None:
    assert same(condition(f"x == {written}")) == m.Compare(op="==", left=ref("x"), right=expected)


def test_comments_are_ignored() -> None:
    policy_file = parse("# a comment\nfield x: text # trailing\n# another\nfield y: number\n")
    assert [d.name for d in policy_file.declarations] == ["x", "y"]


def test_keywords_stay_usable_as_field_names_in_conditions() -> None:
    assert same(condition('title == "VP" and owner is set')) == m.And(items=[
        m.Compare(op="==", left=ref("title"), right=text("VP")), m.IsSet(operand=ref("owner")),
    ])


def test_the_shipped_examples_parse() -> None:
    kinds = {type(d).__name__ for path in sorted(SHARED.parent.glob("*.sla"))
             for d in parse(path.read_text(encoding="utf-8")).declarations}
    assert kinds >= {"FieldDecl", "Policy", "PlanDecl"}


# ---------------------------------------------------------------- positions


POSITIONED = """\
field persona: text
define warm = lead_score >= 65
policy p {
  tier t1 when warm
  window w {
    goal 2h
  }
}
"""


def test_positions_of_names_conditions_and_literals() -> None:
    field, definition, policy = parse(POSITIONED).declarations
    assert (field.pos.file, field.pos.line, field.pos.column, field.pos.end_column) == ("test.sla", 1, 7, 14)
    assert (definition.pos.line, definition.pos.column) == (2, 8)
    compare = definition.expr
    assert (compare.pos.line, compare.pos.column, compare.pos.end_column) == (2, 15, 31)
    assert (compare.left.pos.column, compare.left.pos.end_column) == (15, 25)
    assert (compare.right.pos.column, compare.right.pos.end_column) == (29, 31)
    tier = policy.tiers[0]
    assert (tier.pos.line, tier.pos.column) == (4, 8)
    goal = policy.windows[0].goals[0]
    assert (goal.pos.line, goal.pos.column, goal.duration.pos.column) == (6, 5, 10)


# ---------------------------------------------------------------- syntax errors


def test_missing_colon_in_a_field() -> None:
    assert syntax_errors("field x text") == [("E001", 1, 9, "unexpected 'text'; expected ':'")]


def test_points_need_a_sign() -> None:
    assert syntax_errors("score s { 10 when x }") == [
        ("E001", 1, 11, "unexpected number '10'; expected one of 'cap', '}', points such as +20 or -10")]


def test_enum_values_need_commas() -> None:
    assert syntax_errors("field x: enum [a b]") == [("E001", 1, 18, "unexpected name 'b'; expected one of ',', ']'")]


def test_unclosed_parenthesis() -> None:
    assert syntax_errors("define a = (b") == [("E001", 1, 13, "unexpected end of input; expected ')'")]


def test_hours_need_times_of_day() -> None:
    assert syntax_errors("calendar c { hours mon-fri 9-17 }") == [
        ("E001", 1, 28, "unexpected number '9'; expected one of ',', a time of day such as 09:00")]


def test_unknown_statement() -> None:
    assert syntax_errors("frobnicate x") == [
        ("E001", 1, 1, "unexpected name 'frobnicate'; expected one of 'calendar', 'contact', 'define', 'field', "
                       "'plan', 'policy', 'score', 'stage', 'team'")]


def test_unterminated_text_is_an_unexpected_character() -> None:
    [(code, line, column, message)] = syntax_errors('define x = "abc')
    assert (code, line, column) == ("E002", 1, 12)
    assert message.startswith("unexpected character '\"'; expected one of")


def test_every_syntax_error_of_a_file_is_reported_at_once() -> None:
    errors = syntax_errors("field a: text\nfield b text\nfield c: number\nstage x when y ==\n")
    assert [(code, line, column) for code, line, column, _ in errors] == [("E001", 2, 9), ("E001", 4, 16)]


@pytest.mark.parametrize(("source", "message", "column"), [
    ("calendar c { hours mon-fri 09:00-25:00 }", "'25:00' is not a time of day", 34),
    ("calendar c { hours mon-fry 09:00-17:00 }",
     "'fry' is not a day of the week (mon, tue, wed, thu, fri, sat, sun)", 24),
    ("policy p { effective 2026-02-30 }", "'2026-02-30' is not a date", 22),
])
def test_literals_the_grammar_accepts_but_that_mean_nothing(source: str, message: str, column: int) -> None:
    assert syntax_errors(source) == [("E101", 1, column, message)]


def test_an_unknown_escape_keeps_its_backslash_so_patterns_read_naturally() -> None:
    assert condition('title matches "\\d+\\.x"').pattern == "\\d+\\.x"
    assert condition('title matches "\\\\d"').pattern == "\\d"


# ---------------------------------------------------------------- never an internal name, never a crash

CORPUS = SHARED.read_text(encoding="utf-8") + (SHARED.parent / "inbound_tiered.sla").read_text(encoding="utf-8")
TOKENS = re.findall(r'"[^"\n]*"|\w+|[^\w\s]', CORPUS)
INTERNAL = {t.name for t in get_parser().terminals} | {"$END"}
UPPER_NAMES = "|".join(sorted(re.escape(name) for name in INTERNAL if name.isupper()))
INTERNAL_NAME = re.compile(rf"__ANON|\$END|\b({UPPER_NAMES})\b")
QUOTED = re.compile(r"'[^'\n]*'")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The example policy with a few characters or tokens deleted, inserted or duplicated."""
    source = CORPUS
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(source)))
        action = draw(st.sampled_from(["delete", "insert_char", "insert_token", "duplicate"]))
        if action == "delete":
            source = source[:at] + source[at + draw(st.integers(1, 12)):]
        elif action == "insert_char":
            source = source[:at] + draw(st.sampled_from(list('{}[]()",.:=<>!+-%#_\\ \n\t0123456789aZ'))) + source[at:]
        elif action == "insert_token":
            source = source[:at] + f" {draw(st.sampled_from(TOKENS))} " + source[at:]
        else:
            end = min(len(source), at + draw(st.integers(1, 60)))
            source = source[:end] + source[at:end] + source[end:]
    return source


random_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="'"), max_size=80)


def assert_parses_or_fails_cleanly(source: str) -> None:
    try:
        parse(source)
    except PolicyError as error:
        lines = source.split("\n")
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            pos = diagnostic.pos
            assert 1 <= pos.line <= len(lines), diagnostic
            assert 1 <= pos.column <= len(lines[pos.line - 1]) + 1, diagnostic
            assert not INTERNAL_NAME.search(QUOTED.sub("", diagnostic.message)), diagnostic.message
            assert "__ANON" not in diagnostic.message and "$END" not in diagnostic.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_policies_parse_or_fail_with_positioned_human_errors(source: str) -> None:
    assert_parses_or_fails_cleanly(source)


@settings(max_examples=100, deadline=None)
@given(random_text)
def test_random_text_parses_or_fails_with_positioned_human_errors(source: str) -> None:
    assert_parses_or_fails_cleanly(source)


def test_the_grammar_analysis_is_cached_in_the_users_own_directory_and_a_bad_cache_is_rebuilt(tmp_path, monkeypatch):
    from sla_engine.language import parser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = Path(parser._cache_file())
    assert cache.parent == tmp_path / "cache" / "sla-engine"
    assert cache.parent.stat().st_mode & 0o777 == 0o700
    built = parser.get_parser.__wrapped__()
    assert cache.is_file()
    cache.write_bytes(b"not what lark wrote\n")
    rebuilt = parser.get_parser.__wrapped__()
    text = "field lead_score: number\n"
    assert rebuilt.parse(text, start="start") == built.parse(text, start="start")


# ---------------------------------------------------------------- repeated one-value items


def test_a_setting_given_twice_is_recorded_and_the_last_one_counts() -> None:
    parsed = parse("policy p {\n  window w {\n    starts when mql\n    stops on activity\n"
                   "    starts on created\n  }\n}")
    policy = parsed.declarations[0]
    assert isinstance(policy, m.Policy)
    assert policy.windows[0].start == same(m.Trigger(event="created"))
    [repeated] = parsed.repeated
    assert (repeated.kind, repeated.name, repeated.keyword) == ("window", "w", "starts")
    assert (repeated.first.line, repeated.first.column) == (3, 5)
    assert (repeated.pos.line, repeated.pos.column, repeated.pos.end_column) == (5, 5, 22)


def test_a_setting_given_three_times_is_recorded_twice_each_against_the_first() -> None:
    parsed = parse('calendar c {\n  timezone "UTC"\n  timezone "Europe/Paris"\n  timezone "Asia/Tokyo"\n}')
    assert [(r.keyword, r.first.line, r.pos.line) for r in parsed.repeated] == [("timezone", 2, 3), ("timezone", 2, 4)]


@pytest.mark.parametrize(("block", "written", "keyword"), [
    ("policy", 'title "a"', "title"), ("policy", "applies when mql", "applies when"),
    ("policy", "calendar c", "calendar"),
    ("window", "pauses while mql", "pauses while"), ("window", "restarts on recycle", "restarts on recycle"),
    ("window", "quiet hours c", "quiet hours"), ("window", "role first_touch", "role"),
    ("target", "group by region", "group by"), ("target", "goal >= 90%", "goal"),
    ("target", "tolerance 5%", "tolerance"),
    ("calendar", 'holidays "US"', "holidays"),
    ("plan", "revenue 100 per month", "revenue"), ("plan", "deal size 10", "deal size"),
    ("plan", "win rate 20%", "win rate"),
])
def test_each_one_value_item_is_recorded_when_repeated(block: str, written: str, keyword: str) -> None:
    body = f"  {written}\n  {written}\n"
    inside = f"{block} n {{\n{body}}}"
    text = f"policy p {{\n{inside}\n}}" if block in ("window", "target") else inside
    [repeated] = parse(text).repeated
    assert (repeated.kind, repeated.name, repeated.keyword) == (block, "n", keyword)


def test_items_a_block_may_hold_many_of_are_not_repeats() -> None:
    parsed = parse("policy p {\n  tier a when mql\n  tier b otherwise\n  window w {\n    goal a 2h\n    goal 4h\n"
                   "    warn at 50%\n    warn at 75%\n    escalate on breach { notify owner }\n"
                   "    escalate 1h after breach { notify owner }\n  }\n  window v { }\n  target t { }\n"
                   "  target u { }\n}\n"
                   'calendar c {\n  hours mon 09:00-17:00\n  hours tue 09:00-17:00\n  closed 2026-01-01\n'
                   '  closed 2026-12-25\n}\ncontact x { email "a@x.com" email "b@x.com" }')
    assert parsed.repeated == []


def test_the_same_setting_in_two_blocks_is_not_a_repeat() -> None:
    parsed = parse("policy p {\n  window w { starts when mql }\n  window v { starts when mql }\n}")
    assert parsed.repeated == []
