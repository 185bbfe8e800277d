"""Every semantic mistake `sla-engine check` catches, each at the word that causes it."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_engine.language.check import check_paths, check_policy_set
from sla_engine.language.errors import Diagnostic
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set

ROOT = Path(__file__).resolve().parents[2]

# A small valid vocabulary every snippet may use; it lives in its own file so snippet positions stay simple.
VOCABULARY = """\
field persona: enum [economic_buyer, champion, end_user]
field visits: number
field notes: text
field tags: list of text
field wait: duration
score fit { +20 when industry == "Software" }
define warm = lead_score >= 65
stage mql when warm
stage sal when disposition == "accepted"
stage sql from status ["Qualified"]
stage opportunity when converted
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
  holidays "US"
}
contact cro { email "cro@example.com" }
team pool { members ["a@example.com"] }
plan funnel {
  revenue 100000 per month
  deal size 10000
  win rate 25%
  sql to opportunity 50%
  mql to sql 20%
}
"""


def check(text: str, *others: str) -> list[Diagnostic]:
    """The diagnostics of a snippet (test.sla), checked beside the vocabulary and any other files."""
    named = {"vocabulary.sla": VOCABULARY, "test.sla": text}
    named.update({f"other{i}.sla": other for i, other in enumerate(others)})
    files = [parse_text(source, path) for path, source in named.items()]
    return check_policy_set(build_policy_set(files, named))


def found(text: str, *others: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.pos.line, d.pos.column) for d in check(text, *others)]


def one(text: str) -> Diagnostic:
    diagnostics = check(text)
    assert len(diagnostics) == 1, diagnostics
    return diagnostics[0]


def at(text: str, line: int, word: str, nth: int = 0) -> tuple[int, int]:
    """(line, column) of the nth whole ``word`` on a line of the snippet: the word an error must point at."""
    matches = list(re.finditer(rf"(?<![\w\"]){re.escape(word)}(?![\w\"])", text.splitlines()[line - 1]))
    return line, matches[nth].start() + 1


def policy(body: str, window: str = "") -> str:
    """A valid policy around the lines under test; window lines start on line 9, policy lines after the window."""
    return (
        "policy p {\n"                              # 1
        "  calendar office\n"                       # 2
        "  tier t1 when warm\n"                     # 3
        "  tier t2 otherwise\n"                     # 4
        "  window w {\n"                            # 5
        "    starts when becomes mql\n"             # 6
        "    stops on activity\n"                   # 7
        "    goal 2h\n"                             # 8
        f"{window}\n"                               # 9...
        "  }\n"
        f"{body}\n"
        "}\n"
    )


def body_line(window: str = "") -> int:
    """The line of the first policy body line in policy()."""
    return 9 + window.count("\n") + 2


# ---------------------------------------------------------------- the shipped policies and the vocabulary


def test_the_vocabulary_and_a_plain_policy_are_clean() -> None:
    assert check(policy("")) == []


def test_the_shipped_policies_are_clean() -> None:
    diagnostics, sources = check_paths([ROOT / "policies"])
    assert diagnostics == [], "\n".join(d.render(sources.get(d.pos.file)) for d in diagnostics)
    assert any(path.endswith("shared.sla") for path in sources)


# ---------------------------------------------------------------- E201 unknown names


def test_unknown_field_with_a_suggestion() -> None:
    text = 'define d = industy == "Software"'
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E201", *at(text, 1, "industy"))
    assert diagnostic.message == "unknown name 'industy': not a field, score, definition or stage"
    assert diagnostic.hint == "did you mean 'industry'?"
    assert (diagnostic.pos.end_column - diagnostic.pos.column) == len("industy")


def test_an_enum_value_without_quotes_gets_a_quoting_hint() -> None:
    diagnostic = one("define d = persona == champion")
    assert (diagnostic.code, diagnostic.pos.column) == ("E201", 23)
    assert diagnostic.hint == 'a text needs double quotes: "champion"'


def test_declared_fields_scores_definitions_stages_and_plan_values_resolve() -> None:
    text = ('define d = visits > 2 and fit >= 10 and warm and mql and notes is set and budget > 0\n'
            "define e = count(activity) >= funnel.mqls and tags in [\"a\"] and wait > 2h\n"
            "field budget: number")
    assert check(text) == []


def test_unknown_stage_after_becomes() -> None:
    text = "define d = becomes mqll"
    diagnostic = one(text)
    assert (diagnostic.code, *at(text, 1, "mqll")) == (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column)
    assert diagnostic.code == "E201" and diagnostic.hint == "did you mean 'mql'?"


def test_unknown_stage_after_since() -> None:
    text = "define d = count(activity since mqll) > 1"
    assert found(text) == [("E201", *at(text, 1, "mqll"))]


def test_unknown_event_kind_in_a_count() -> None:
    text = "define d = count(activty) > 1"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column) == ("E201", at(text, 1, "activty")[1])
    assert diagnostic.hint == "did you mean 'activity'?"


def test_distinct_must_be_a_field_of_the_counted_event() -> None:
    text = "define d = count(distinct chanel of activity) > 1"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column) == ("E201", at(text, 1, "chanel")[1])
    assert diagnostic.message == ("'chanel' is not a field of activity events "
                                  "(they have channel, direction, outcome, by)")
    assert diagnostic.hint == "did you mean 'channel'?"


def test_event_fields_shadow_lead_fields_only_inside_where() -> None:
    assert check('define d = count(activity where channel == "call" and direction == "outbound") > 0') == []
    text = 'define d = channel == "call"'
    assert found(text) == [("E201", *at(text, 1, "channel"))]


def test_event_fields_of_another_kind_are_unknown() -> None:
    text = 'define d = count(disposition where channel == "call") > 0'
    assert found(text) == [("E201", *at(text, 1, "channel"))]


def test_unknown_event_kind_in_a_trigger_and_its_where_still_checked() -> None:
    window = '    starts on actvity where direction == "inbound" and nope'
    text = policy("", window).replace("    starts when becomes mql\n", "")
    assert found(text) == [("E201", *at(text, 8, "actvity")), ("E201", *at(text, 8, "nope"))]


def test_unknown_event_kind_in_a_stop_trigger() -> None:
    text = policy("", "    stops on disposed").replace("    stops on activity\n", "")
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E201", *at(text, 8, "disposed"))
    assert diagnostic.hint == "did you mean 'disposition'?"


def test_event_fields_in_a_stop_trigger() -> None:
    window = '    stops on disposition where reason == "spam" and channel == "x"'
    text = policy("", window).replace("    stops on activity\n", "")
    assert found(text) == [("E201", *at(text, 8, "channel"))]


def test_score_per_must_name_a_number() -> None:
    text = "score s {\n  +1 per notes\n  +1 per visist\n  +1 per visits\n  +1 per fit\n}"
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E202", *at(text, 2, "notes")), ("E201", *at(text, 3, "visist"))]
    assert diagnostics[0].message == "`per notes` needs a number, but 'notes' is a text"


def test_stage_from_an_unknown_field() -> None:
    text = 'stage won_deal from stauts ["Won"]'
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column, diagnostic.hint) == (
        "E201", at(text, 1, "stauts")[1], "did you mean 'status'?")


def test_stage_from_an_enum_field_with_a_value_it_cannot_hold() -> None:
    text = 'stage buyer from persona ["champion", "cfo"]'
    assert found(text) == [("E202", 1, text.index('"cfo"') + 1)]


def test_unknown_calendars_everywhere_they_are_named() -> None:
    window = "    calendar ofice\n    goal t1 2 business hours on offce\n    quiet hours offic"
    text = policy("  escalate_none", window).replace("  escalate_none", "").replace("calendar office", "calendar ofise")
    assert found(text) == [
        ("E201", *at(text, 2, "ofise")), ("E201", *at(text, 9, "ofice")),
        ("E201", *at(text, 10, "offce")), ("E201", *at(text, 11, "offic")),
    ]
    assert all(d.hint == "did you mean 'office'?" for d in check(text))


def test_unknown_calendar_of_a_team_and_in_escalation_quiet_hours() -> None:
    window = "    warn at 50%\n    escalate at warning quiet hours ofice { notify owner }"
    text = policy("", window) + "team t2 { calendar nowhere }\n"
    assert found(text) == [("E201", *at(text, 10, "ofice")), ("E201", *at(text, 14, "nowhere"))]


def test_unknown_tier_in_a_goal() -> None:
    text = policy("", "    goal t3 4h")
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E201", *at(text, 9, "t3"))
    assert diagnostic.message == "unknown tier 't3' in policy 'p'"


def test_tier_names_in_a_target_where_are_checked() -> None:
    body = '  target t {\n    metric count of mql\n    where tier == "tier3" or tier in ["t1", "t9"]\n  }'
    text = policy(body)
    line = body_line() + 2
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E201", line, text.splitlines()[line - 1].index('"tier3"') + 1),
        ("E201", line, text.splitlines()[line - 1].index('"t9"') + 1),
    ]
    assert diagnostics[0].message == "unknown tier 'tier3'"
    assert diagnostics[0].hint == "known: t1, t2"


def test_window_and_policy_names_in_a_target_where() -> None:
    body = '  target t {\n    metric count of mql\n    where window == "w" and policy == "q"\n  }'
    text = policy(body)
    line = body_line() + 2
    assert found(text) == [("E201", line, text.splitlines()[line - 1].index('"q"') + 1)]


def test_unknown_plan_and_plan_value() -> None:
    body = ("  target a {\n    metric count of mql\n    goal >= funel.mqls\n  }\n"
            "  target b {\n    metric count of mql\n    goal >= funnel.leads\n  }")
    text = policy(body)
    first = body_line() + 2
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E201", *at(text, first, "funel")), ("E201", first + 4, text.splitlines()[first + 3].index("leads") + 1)]
    assert diagnostics[0].hint == "did you mean 'funnel'?"
    assert diagnostics[1].message == "plan 'funnel' has no value 'leads' (it has clients, mqls, opportunities, sqls)"


def test_a_goal_naming_a_bare_name_is_not_a_plan_value() -> None:
    body = "  target a {\n    metric count of mql\n    goal >= mqls\n  }"
    text = policy(body)
    assert found(text) == [("E201", *at(text, body_line() + 2, "mqls"))]


def test_unknown_metric_subjects() -> None:
    body = ("  target a {\n    metric count of mqll\n  }\n"
            "  target b {\n    metric met rate of ww\n  }\n"
            "  target c {\n    metric p90 elapsed of first\n  }\n"
            "  target d {\n    metric rate of sqll among mql\n  }\n"
            "  target e {\n    metric rate of sql among ml\n  }")
    text = policy(body)
    b = body_line()
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E201", *at(text, b + 1, "mqll")), ("E201", *at(text, b + 4, "ww")), ("E201", *at(text, b + 7, "first")),
        ("E201", *at(text, b + 10, "sqll")), ("E201", *at(text, b + 13, "ml")),
    ]
    assert [d.message for d in diagnostics] == [
        "unknown stage 'mqll'", "policy 'p' has no window 'ww'", "policy 'p' has no window 'first'",
        "unknown stage or definition 'sqll'", "unknown stage 'ml'"]


def test_completeness_and_group_by_fields_must_exist() -> None:
    body = ('  target a {\n    metric completeness of [email, "titel"]\n    group by owner, tier, regin\n  }')
    text = policy(body)
    b = body_line()
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E201", b + 1, text.splitlines()[b].index('"titel"') + 1), ("E201", *at(text, b + 2, "regin"))]
    assert [d.hint for d in diagnostics] == ["did you mean 'title'?", "did you mean 'region'?"]


def test_the_policy_owner_may_name_a_contact_but_not_a_stranger() -> None:
    assert check("policy p { owner cro }") == []
    text = "policy p { owner crow }"
    assert found(text) == [("E201", *at(text, 1, "crow"))]


# ---------------------------------------------------------------- E202 type mismatches


@pytest.mark.parametrize(("condition", "word"), [
    ('company_size == "50"', "company_size"),
    ("visits > 2h", "visits"),
    ('created_at == "2026-01-01"', "created_at"),
    ("target_account == 1", "target_account"),
    ("wait == 3", "wait"),
    ('tags == "vip"', "tags"),
    ("visits == 09:00", "visits"),
])
def test_operands_that_cannot_be_compared(condition: str, word: str) -> None:
    text = f"define d = {condition}"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column) == ("E202", at(text, 1, word)[1])
    assert diagnostic.message.startswith(f"cannot compare `{word}`")


def test_comparable_operands_pass() -> None:
    text = ('define d = created_at >= 2026-01-01 and wait <= 4h and visits >= 50% and '
            'persona == "Champion" and persona != notes and target_account == true and visits == funnel.sqls')
    assert check(text) == []


@pytest.mark.parametrize(("condition", "word"), [
    ("target_account > true", "target_account"),
    ('industry >= "a"', "industry"),
    ("visits < notes", "notes"),
])
def test_ordering_needs_numbers_durations_dates_or_times(condition: str, word: str) -> None:
    text = f"define d = {condition}"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column) == ("E202", at(text, 1, word)[1])


def test_matches_on_a_non_text() -> None:
    text = 'define d = visits matches "1+"'
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column) == ("E202", 12)
    assert diagnostic.message == "`matches` tests a text, but `visits` is a number"


def test_between_bounds_and_operand() -> None:
    text = 'define d = visits between 1 and "x"\ndefine e = industry between 1 and 2'
    assert found(text) == [("E202", 1, text.index('"x"') + 1), ("E202", *at(text, 2, "industry"))]


def test_list_elements_must_match_the_operand() -> None:
    text = 'define d = visits in [1, "two"]\ndefine e = tags in ["a", 3]\ndefine f = industry in [Software]'
    assert found(text) == [("E202", 1, text.index('"two"') + 1), ("E202", *at(text, 2, "3"))]


def test_enum_values_are_checked_in_comparisons_and_lists() -> None:
    text = 'define d = persona == "champoin"\ndefine e = persona not in ["cfo", end_user, ceo]'
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E202", 1, 23), ("E202", 2, text.splitlines()[1].index('"cfo"') + 1), ("E202", *at(text, 2, "ceo"))]
    assert diagnostics[0].message == "'champoin' is not one of persona's values (economic_buyer, champion, end_user)"
    assert diagnostics[0].hint == "did you mean 'champion'?"


@pytest.mark.parametrize(("condition", "word"), [
    ("industry", "industry"), ("visits and warm", "visits"), ("count(activity)", "count"), ('"yes"', '"yes"'),
])
def test_a_condition_must_be_true_or_false(condition: str, word: str) -> None:
    text = f"define d = {condition}"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column) == ("E202", text.index(word) + 1)
    assert diagnostic.message.endswith("not true or false")


def test_true_false_conditions_pass() -> None:
    assert check("define d = target_account and warm and mql and not converted and true") == []


def test_set_action_value_must_fit_the_field() -> None:
    window = '    escalate on breach {\n      set visits = "many"\n      set sla_status = "breached"\n    }'
    text = policy("", window)
    assert found(text) == [("E202", 10, text.splitlines()[9].index('"many"') + 1)]


@pytest.mark.parametrize(("metric", "goal"), [
    ("count of mql", "90%"), ("met rate of w", "90"), ("rate of sql among mql", "4h"),
    ("median elapsed of w", "90%"), ("completeness of [email]", "12"),
])
def test_goal_value_must_fit_the_metric(metric: str, goal: str) -> None:
    text = policy(f"  target t {{\n    metric {metric}\n    goal >= {goal}\n  }}")
    diagnostic = one(text)
    line = body_line() + 2
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E202", *at(text, line, goal))


@pytest.mark.parametrize(("metric", "goal"), [
    ("count of mql", "120"), ("count of mql", "funnel.mqls"), ("met rate of w", "90%"),
    ("p90 elapsed of w", "4h"), ("average elapsed of w", "2 business days"), ("completeness of [email]", "95%"),
])
def test_goal_values_that_fit(metric: str, goal: str) -> None:
    assert check(policy(f"  target t {{\n    metric {metric}\n    goal >= {goal}\n  }}")) == []


# ---------------------------------------------------------------- E203 duplicates and ambiguous names


def test_a_name_declared_twice_across_files() -> None:
    diagnostics = check("", "stage mql when lead_score > 1")
    assert [(d.code, d.pos.file, d.pos.line, d.pos.column) for d in diagnostics] == [("E203", "other0.sla", 1, 7)]
    assert diagnostics[0].message == "stage 'mql' is already declared at vocabulary.sla:8:7"


def test_a_team_with_a_contacts_name() -> None:
    diagnostic = one('team cro { members ["x@example.com"] }')
    assert (diagnostic.code, diagnostic.pos.column) == ("E203", 6)
    assert diagnostic.message == "team 'cro' is already declared as a contact at vocabulary.sla:17:9"


def test_a_policy_declared_twice_across_files() -> None:
    first = policy("")
    assert found(first, first) == [("E203", 1, 8)]
    assert check(first, first)[0].pos.file == "other0.sla"


@pytest.mark.parametrize("text", ["score warm { +1 when mql }", "stage visits when warm", "define fit = warm"])
def test_one_name_for_two_kinds_is_ambiguous(text: str) -> None:
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line) == ("E203", 1)
    assert "conditions could not tell them apart" in diagnostic.message


def test_a_stage_named_like_a_standard_lead_field() -> None:
    diagnostic = one("stage converted_lead when converted\nstage won when converted")
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E203", 2, 7)
    assert diagnostic.message == ("stage 'won' has the name of the standard lead field 'won'; "
                                  "conditions could not tell them apart")


def test_duplicate_tiers_windows_and_targets_in_a_policy() -> None:
    text = ("policy p {\n  tier t1 when warm\n  tier t1 when mql\n"
            "  window w { starts when becomes mql stops on activity goal 2h }\n"
            "  window w { starts when becomes mql stops on activity goal 2h }\n"
            "  target t { metric count of mql }\n  target t { metric count of sql }\n}")
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E203", 3, 8), ("E203", 5, 10), ("E203", 7, 10)]
    assert diagnostics[0].message == "tier 't1' is already declared at test.sla:2:8"


@pytest.mark.parametrize(("text", "line", "message"), [
    ("policy p {\n  window w {\n    starts when mql\n    stops on activity\n    goal 2h\n"
     "    starts on created\n  }\n}", 6,
     "`starts` is given twice in window 'w' (first at test.sla:3:5); only the last one counts"),
    ("policy p {\n  target t {\n    metric count of mql\n    metric count of sql\n  }\n}", 4,
     "`metric` is given twice in target 't' (first at test.sla:3:5); only the last one counts"),
    ('calendar c {\n  timezone "UTC"\n  hours mon 09:00-17:00\n  timezone "Europe/Paris"\n}', 4,
     "`timezone` is given twice in calendar 'c' (first at test.sla:2:3); only the last one counts"),
    ('policy p {\n  owner "a@x.com"\n  owner "b@x.com"\n}', 3,
     "`owner` is given twice in policy 'p' (first at test.sla:2:3); only the last one counts"),
])
def test_a_one_value_item_given_twice(text: str, line: int, message: str) -> None:
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.message) == ("E203", line, message)


def test_two_goals_for_one_tier() -> None:
    text = policy("", "    goal t1 4h\n    goal t1 8h\n    goal 4h")
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [("E203", 10, 5), ("E203", 11, 5)]
    assert diagnostics[0].message == "window 'w' already has a goal for tier 't1' at test.sla:9:5"
    assert diagnostics[1].message == "window 'w' already has a goal for every other tier at test.sla:8:5"


# ---------------------------------------------------------------- E204 cycles


def test_a_cycle_is_reported_once_where_it_closes() -> None:
    text = "define a = b or warm\ndefine b = a and mql"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E204", *at(text, 2, "a"))
    assert diagnostic.message == "definition 'b' refers back to 'a': a → b → a"


def test_a_definition_that_reads_itself() -> None:
    text = "define a = warm or a"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column, diagnostic.message) == (
        "E204", 20, "definition 'a' refers back to 'a': a → a")


def test_a_cycle_through_a_score_and_a_stage() -> None:
    text = "score s { +1 when hot }\nstage hot when x\ndefine x = s > 2"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E204", *at(text, 3, "s"))
    assert diagnostic.message == "definition 'x' refers back to 's': s → hot → x → s"


def test_a_cycle_through_becomes() -> None:
    text = "stage hot when warm and not becomes hot"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.column) == ("E204", at(text, 1, "hot", nth=1)[1])
    assert diagnostic.message == "stage 'hot' refers back to 'hot': hot → hot"


def test_a_cycle_through_score_per() -> None:
    text = "score s { +1 per t }\nscore t { +1 per s }"
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E204", *at(text, 2, "s"))


def test_shared_dependencies_are_no_cycle() -> None:
    assert check("define a = b and c\ndefine b = d\ndefine c = d\ndefine d = warm") == []


def test_event_fields_in_a_count_are_no_reference() -> None:
    assert check('define channel_mix = count(activity where channel == "call") > 0') == []


# ---------------------------------------------------------------- E205 unreachable tiers


def tiers(lines: str) -> str:
    return f"policy p {{\n{lines}\n}}"


@pytest.mark.parametrize(("lines", "tier_line"), [
    ("  tier a otherwise\n  tier b when warm", 3),
    ("  tier a when warm and mql\n  tier b when mql and warm", 3),
    ("  tier a when warm\n  tier b when warm and target_account", 3),
    ("  tier a when warm or mql\n  tier b when mql", 3),
    ("  tier a when warm\n  tier x when sql\n  tier b when (warm and sal) or (sal and warm and mql)", 4),
    ("  tier a when warm\n  otherwise not covered\n  tier b when mql", 4),
    ("  tier a when lead_score >= 65\n  tier b when lead_score >= 80 and target_account", 3),
    ("  tier a when lead_score > 65\n  tier b when lead_score == 70", 3),
    ("  tier a when company_size <= 200\n  tier b when company_size < 200", 3),
    ('  tier a when industry in ["Software", "Fintech"]\n  tier b when industry == "fintech"', 3),
])
def test_tiers_an_earlier_tier_always_beats(lines: str, tier_line: int) -> None:
    diagnostic = one(tiers(lines))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E205", tier_line, 8)
    assert diagnostic.message.startswith("tier 'b' can never match")


@pytest.mark.parametrize("lines", [
    "  tier a when warm and target_account\n  tier b when warm",
    "  tier a when warm\n  tier b when mql or warm",
    "  tier a when lead_score >= 80\n  tier b when lead_score >= 65",
    "  tier a when lead_score > 65\n  tier b when lead_score >= 65",
    '  tier a when industry == "Software"\n  tier b when industry in ["Software", "Fintech"]',
    "  tier a when lead_score >= 80\n  tier b when fit >= 90",
    "  tier a when warm\n  tier b otherwise",
    "  tier a when warm\n  tier b when mql\n  otherwise not covered",
])
def test_reachable_tiers(lines: str) -> None:
    assert check(tiers(lines)) == []


def test_otherwise_not_covered_twice() -> None:
    diagnostic = one(tiers("  tier a when warm\n  otherwise not covered\n  otherwise not covered"))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E205", 4, 3)
    assert diagnostic.message == "`otherwise not covered` is already given at test.sla:3:3"


def test_otherwise_not_covered_after_a_catch_all() -> None:
    diagnostic = one(tiers("  tier a when warm\n  tier b otherwise\n  otherwise not covered"))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E205", 4, 3)


# ---------------------------------------------------------------- E206 windows that never run


def window_only(lines: str) -> str:
    return f"policy p {{\n  window w {{\n{lines}\n  }}\n}}"


@pytest.mark.parametrize(("lines", "line", "column", "message"), [
    ("    stops on activity\n    goal 2h", 2, 10, "window 'w' never starts: it has no `starts`"),
    ("    starts when becomes mql\n    goal 2h", 2, 10, "window 'w' never stops: it has no `stops`"),
    ("    starts when false\n    stops on activity\n    goal 2h", 3, 12,
     "window 'w' never starts: its start condition is `false`"),
    ("    starts when mql\n    stops on activity where false\n    goal 2h", 4, 11,
     "window 'w' never stops: its stop condition is `false`"),
    ("    starts when mql\n    stops on activity", 2, 10,
     "window 'w' has no goal, so its clock can never be met or breached"),
])
def test_windows_that_never_run(lines: str, line: int, column: int, message: str) -> None:
    diagnostic = one(window_only(lines))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column, diagnostic.message) == (
        "E206", line, column, message)


# ---------------------------------------------------------------- E207 non-positive durations


@pytest.mark.parametrize(("lines", "word"), [
    ("    goal t1 0h", "0h"),
    ("    warn 0m before due", "0m"),
    ("    escalate on breach { notify owner }\n    escalate 0 hours after breach { notify owner }", "0"),
    ("    escalate every 0m after breach { notify owner }", "0m"),
    ('    escalate on breach { task "Call" due 0 business hours }', "0"),
])
def test_non_positive_durations(lines: str, word: str) -> None:
    text = policy("", lines)
    diagnostic = one(text)
    line = 9 + lines.count("\n")
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E207", *at(text, line, word))


def test_zero_missed_periods() -> None:
    text = policy("  target t {\n    metric count of mql\n    escalate when missed 0 periods { notify cro }\n  }")
    line = body_line() + 2
    assert found(text) == [("E207", *at(text, line, "0"))]


# ---------------------------------------------------------------- E208 percentages


def test_target_goal_and_tolerance_percentages() -> None:
    text = policy("  target t {\n    metric met rate of w\n    goal >= 120%\n    tolerance 150%\n  }")
    b = body_line()
    assert found(text) == [("E208", *at(text, b + 2, "120%")), ("E208", *at(text, b + 3, "150%"))]


# ---------------------------------------------------------------- E209 warnings at or after the deadline


@pytest.mark.parametrize(("lines", "word"), [
    ("    warn at 100%", "100%"),
    ("    warn at 120 %", "120 %"),
    ("    warn 2h before due", "2h"),
    ("    warn 3 hours before due", "3"),
])
def test_warnings_at_or_after_the_deadline(lines: str, word: str) -> None:
    text = policy("", lines)
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E209", *at(text, 9, word))


def test_warning_before_a_business_goal_compares_business_time_only() -> None:
    text = window_only("    starts when mql\n    stops on activity\n    calendar office\n"
                       "    goal 2 business hours\n    warn 3 business hours before due")
    assert found(text) == [("E209", 7, 10)]
    assert check(text.replace("warn 3 business hours", "warn 3h")) == []
    assert check(text.replace("warn 3 business hours", "warn 1 business day")) == []


def test_warnings_before_the_deadline_pass() -> None:
    assert check(policy("", "    warn at 75%\n    warn 30m before due")) == []


# ---------------------------------------------------------------- E210 escalation levels


@pytest.mark.parametrize(("levels", "bad_line", "message"), [
    ("on breach,at warning", 11, "`escalate at warning` comes after `escalate on breach` but happens before it"),
    ("8h after breach,4h after breach", 11,
     "`escalate 4h after breach` comes after `escalate 8h after breach` but happens before it"),
    ("every 1h after breach,4h after breach", 11,
     "`escalate 4h after breach` comes after `escalate every 1h after breach` but happens before it"),
    ("on breach,on breach", 11, "`escalate on breach` is already given at test.sla:10:5"),
    ("on breach,when missed 2 periods", 11,
     "`when missed N periods` belongs in a target; a window escalates at warning, on breach or after breach"),
])
def test_window_escalation_levels(levels: str, bad_line: int, message: str) -> None:
    lines = "    warn at 75%\n" + "\n".join(f"    escalate {level} {{ notify owner }}" for level in levels.split(","))
    text = policy("", lines)
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column, diagnostic.message) == (
        "E210", bad_line, 5, message)
    assert diagnostic.pos.end_column == text.splitlines()[bad_line - 1].index(" {") + 1


def test_escalation_levels_in_order_pass() -> None:
    levels = ["at warning", "on breach", "1h after breach", "4h after breach", "every 1 business day after breach"]
    lines = "    warn at 75%\n" + "\n".join(f"    escalate {level} {{ notify owner }}" for level in levels)
    assert check(policy("", lines)) == []


def test_at_warning_without_a_warning() -> None:
    diagnostic = one(policy("", "    escalate at warning { notify owner }"))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E210", 9, 5)
    assert diagnostic.message == "`escalate at warning` never fires: window 'w' has no `warn`"


def test_target_escalations() -> None:
    text = policy("  target t {\n    metric count of mql\n    escalate on breach { notify cro }\n"
                  "    escalate when missed 3 periods { notify cro }\n"
                  "    escalate when missed 2 periods { notify cro }\n  }")
    b = body_line()
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [("E210", b + 2, 5), ("E210", b + 4, 5)]
    assert diagnostics[0].message == "a target escalates `when at risk` or `when missed N periods`, not `on breach`"


# ---------------------------------------------------------------- E211 plans


def plan(lines: str) -> str:
    return f"plan q {{\n{lines}\n}}"


COMPLETE_PLAN = ("  revenue 100000 per month\n  deal size 10000\n  win rate 25%\n"
                 "  sql to opportunity 50%\n  mql to sql 20%")


def test_a_complete_plan_passes() -> None:
    assert check(plan(COMPLETE_PLAN)) == []
    longer = plan(COMPLETE_PLAN.replace("per month", "per quarter") + "\n  lead to mql 10%")
    assert check(longer + "\nstage lead when created_at is set") == []


@pytest.mark.parametrize(("old", "new", "word"), [
    ("win rate 25%", "win rate 0%", "0%"),
    ("win rate 25%", "win rate 130%", "130%"),
    ("sql to opportunity 50%", "sql to opportunity 0%", "0%"),
    ("mql to sql 20%", "mql to sql 101 %", "101 %"),
    ("per month", "per year", "year"),
    ("deal size 10000", "deal size 0", "0"),
])
def test_plan_values_out_of_range(old: str, new: str, word: str) -> None:
    text = plan(COMPLETE_PLAN.replace(old, new))
    line = next(n for n, content in enumerate(text.splitlines(), 1) if new in content)
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E211", *at(text, line, word))


def test_a_plan_missing_its_numbers() -> None:
    diagnostic = one(plan("  sql to opportunity 50%\n  mql to sql 20%"))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E211", 1, 6)
    assert diagnostic.message == "plan 'q' has no revenue, deal size or win rate, so it cannot work out volumes"


def test_a_chain_that_does_not_reach_mql() -> None:
    diagnostic = one(plan(COMPLETE_PLAN.replace("\n  mql to sql 20%", "")))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E211", 1, 6)
    assert diagnostic.message == "plan 'q' cannot work back from opportunity to mql: nothing converts into 'sql'"
    assert diagnostic.hint == "add a line such as `mql to sql 25%`"


def test_two_conversions_into_one_stage() -> None:
    diagnostic = one(plan(COMPLETE_PLAN + "\n  mql to sql 30%"))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E211", 7, 3)
    assert diagnostic.message == ("a second conversion into 'sql' (the first is at test.sla:6:3); "
                                  "the plan uses only the last")


def test_a_conversion_off_the_chain() -> None:
    diagnostic = one(plan(COMPLETE_PLAN + "\n  mql to sal 40%"))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E211", 7, 3)
    assert diagnostic.message == ("conversion mql to sal is not on the chain from opportunity back to mql; "
                                  "the plan ignores it")


def test_a_win_rate_given_twice() -> None:
    diagnostic = one(plan(COMPLETE_PLAN + "\n  win rate 30%"))
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E203", 7, 3)
    assert diagnostic.pos.end_column == 3 + len("win rate 30%")


def test_plan_stages_must_exist() -> None:
    text = plan(COMPLETE_PLAN.replace("mql to sql", "mq to sql"))
    assert found(text) == [("E211", 1, 6), ("E201", 6, 3)]


# ---------------------------------------------------------------- E212 calendars and time zones


def test_unknown_time_zone_with_a_suggestion() -> None:
    text = 'calendar c {\n  timezone "America/NewYork"\n  hours mon-fri 09:00-17:00\n}'
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E212", 2, 12)
    assert diagnostic.message == "unknown time zone 'America/NewYork'"
    assert diagnostic.hint == "did you mean 'America/New_York'?"


def test_policy_and_contact_time_zones() -> None:
    text = 'policy p { timezone "Mars/Base" }\ncontact c { email "c@x.com" timezone "Nowhere/City" }'
    assert found(text) == [("E212", 1, 21), ("E212", 2, text.splitlines()[1].index('"Nowhere') + 1)]


def test_unknown_holiday_country_and_subdivision() -> None:
    text = 'calendar c {\n  hours mon 09:00-17:00\n  holidays "XX"\n}\ncalendar d {\n  hours mon 09:00-17:00\n' \
           '  holidays "US" subdivision "ZZ"\n}'
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [("E212", 3, 12), ("E212", 7, 29)]
    assert diagnostics[0].message == "unknown holiday country 'XX': Country XX not available"
    assert diagnostics[1].message == "unknown holiday subdivision 'ZZ': Entity `US` does not have subdivision ZZ"


def test_zero_length_interval_no_hours_and_closed_open_dates() -> None:
    text = ("calendar c {\n  hours mon 09:00-09:00, 00:00-00:00\n}\ncalendar d {\n  closed 2026-12-24\n}\n"
            "calendar e {\n  hours mon 09:00-17:00\n  closed 2026-12-24\n  open 2026-12-24 10:00-10:00\n}")
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E212", 2, 13), ("E212", 4, 10), ("E212", 10, 3), ("E212", 10, 19)]
    assert [d.message for d in diagnostics] == [
        "interval 09:00-09:00 has zero length", "calendar 'd' has no `hours`: no business time would ever pass",
        "2026-12-24 is both closed and open in calendar 'e'", "interval 10:00-10:00 has zero length"]


def test_a_business_goal_needs_a_calendar() -> None:
    text = window_only("    starts when mql\n    stops on activity\n    goal 2 business hours")
    assert found(text) == [("E212", 5, 10)]
    assert check(text.replace("business hours", "business hours on office")) == []


# ---------------------------------------------------------------- E213 patterns


def test_an_invalid_pattern() -> None:
    text = 'define d = title matches "(vp|chief" and email matches "@x\\\\.com"'
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E213", 1, 26)
    assert diagnostic.pos.end_column == 26 + len('"(vp|chief"')
    assert diagnostic.message == "invalid pattern: missing ): (vp|chief"


# ---------------------------------------------------------------- E214 recipients, teams, channels


@pytest.mark.parametrize(("action", "word", "message"), [
    ("notify crow", "crow", "unknown recipient 'crow'"),
    ("notify cro via sms", "sms", "unknown channel 'sms'"),
    ("notify cro via slack", "slack", "contact 'cro' has no slack address"),
    ("reassign to cro", "cro", "'cro' is a contact, not a team; reassign picks from a team's members"),
    ("reassign to pol round robin", "pol", "unknown team 'pol'"),
    ('task "Call" for nobody', "nobody", "unknown recipient 'nobody'"),
])
def test_recipients_teams_and_channels(action: str, word: str, message: str) -> None:
    text = policy("", f"    escalate on breach {{ {action} }}")
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column, diagnostic.message) == (
        "E214", *at(text, 9, word), message)


def test_a_contact_with_no_address_at_all() -> None:
    text = policy("", "    escalate on breach { notify ghost }") + 'contact ghost { name "Ghost" }\n'
    assert found(text) == [("E214", *at(text, 9, "ghost"))]


def test_notifying_owner_manager_teams_and_contacts_with_addresses() -> None:
    lines = "    escalate on breach { notify owner via slack notify manager notify pool via slack notify cro }"
    assert check(policy("", lines)) == []


# ---------------------------------------------------------------- E215 contact and team attributes


def test_unknown_attribute_with_a_suggestion() -> None:
    diagnostic = one('contact c {\n  emial "c@x.com"\n}')
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E215", 2, 3)
    assert diagnostic.message == "'emial' is not an attribute of a contact"
    assert diagnostic.hint == "did you mean 'email'?"


def test_a_team_has_team_attributes() -> None:
    diagnostic = one('team t {\n  members ["a@x.com"]\n  role "SDR"\n}')
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E215", 3, 3)
    assert diagnostic.hint == "use one of: name, members, manager, email, slack, webhook, calendar, away"


def test_attribute_values() -> None:
    text = ('contact c {\n  email 12\n  email "c@x.com"\n  slack env("C_SLACK")\n  manager cro\n}\n'
            'team t {\n  members "a@x.com"\n}\nteam u {\n  members ["a@x.com", 3]\n  manager nobody\n}')
    assert found(text) == [("E215", 2, 9), ("E215", 3, 3), ("E215", 8, 11), ("E215", 11, 23), ("E201", 12, 11)]


# ---------------------------------------------------------------- E216 targets


def test_a_target_without_a_metric() -> None:
    text = policy("  target t {\n    period month\n  }")
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column) == ("E216", body_line(), 10)


@pytest.mark.parametrize(("line", "word", "hint"), [
    ("period year", "year", "use one of: day, week, month, quarter"),
    ("period mnth", "mnth", "did you mean 'month'?"),
    ("owner sals", "sals", "did you mean 'sales'?"),
    ("metric p100 elapsed of w", "p100", "use average, median or pNN such as p90"),
    ("metric mean elapsed of w", "mean", "use average, median or pNN such as p90"),
    ("metric count of warm", "warm", None),
    ("metric rate of fit among mql", "fit", None),
    ("metric rate of sql among warm", "warm", None),
])
def test_target_misuse(line: str, word: str, hint: str | None) -> None:
    metric = "" if "metric" in line else "    metric count of mql\n"
    text = policy(f"  target t {{\n{metric}    {line}\n  }}")
    diagnostic = one(text)
    number = body_line() + (1 if "metric" in line else 2)
    assert (diagnostic.code, diagnostic.pos.line, diagnostic.pos.column, diagnostic.hint) == (
        "E216", *at(text, number, word), hint)


def test_target_owner_may_be_a_contact() -> None:
    assert check(policy("  target t {\n    metric rate of warm among mql\n    owner cro\n  }")) == []


# ---------------------------------------------------------------- E217 since start outside a clock


def test_since_start_only_counts_inside_a_running_clock() -> None:
    condition = "count(activity since start) >= 1"
    text = (f"define d = {condition}\n"
            f"policy p {{\n  tier t1 when {condition}\n  window w {{\n    starts when {condition}\n"
            f"    stops when {condition}\n    pauses while {condition}\n    goal 2h\n  }}\n}}")
    diagnostics = check(text)
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("E217", *at(text, 1, "start")), ("E217", *at(text, 3, "start")), ("E217", *at(text, 5, "start"))]
    assert diagnostics[0].message == "`since start` counts from a clock's start, and there is no clock here"


# ---------------------------------------------------------------- order, robustness and check_paths


def test_diagnostics_are_sorted_by_file_line_and_column() -> None:
    diagnostics = check("define b = nope2\ndefine a = nope1 or nope0", "define c = nope3")
    assert [(d.pos.file, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("other0.sla", 1, 12), ("test.sla", 1, 12), ("test.sla", 2, 12), ("test.sla", 2, 21)]


def test_check_paths_reports_syntax_and_semantic_errors_together(tmp_path: Path) -> None:
    (tmp_path / "a.sla").write_text("define warm = lead_score >= 65\nstage mql when warmm\n", encoding="utf-8")
    (tmp_path / "b.sla").write_text("field x text\nstage sql when x == 1\ndefine broken = (\n"
                                    "stage sal when broken and nope\n", encoding="utf-8")
    diagnostics, sources = check_paths([tmp_path])
    assert [(Path(d.pos.file).name, d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("a.sla", "E201", 2, 16),
        ("b.sla", "E001", 1, 9),
        ("b.sla", "E001", 3, 17),
        ("b.sla", "E201", 4, 27),
    ]
    assert sorted(Path(p).name for p in sources) == ["a.sla", "b.sla"]


def test_check_paths_reports_a_bad_literal_and_still_checks_the_rest(tmp_path: Path) -> None:
    (tmp_path / "c.sla").write_text("calendar c {\n  hours mon-fry 09:00-17:00\n}\ndefine d = nope\n"
                                    "policy p { calendar c }\n", encoding="utf-8")
    diagnostics, _ = check_paths([tmp_path])
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [("E101", 2, 13), ("E201", 4, 12)]


def test_check_paths_reports_an_unreadable_file_and_checks_the_others(tmp_path: Path) -> None:
    (tmp_path / "latin1.sla").write_bytes("define d = title == \"caf\xe9\"\n".encode("latin-1"))
    pattern = 'define d = title matches "\\d+" and email matches "(x"\n'
    (tmp_path / "pattern.sla").write_text(pattern, encoding="utf-8")
    diagnostics, sources = check_paths([tmp_path])
    assert [(Path(d.pos.file).name, d.code, d.pos.line, d.pos.column) for d in diagnostics] == [
        ("latin1.sla", "E004", 1, 1), ("pattern.sla", "E213", 1, pattern.index('"(x"') + 1)]
    assert diagnostics[0].message == "the file is not UTF-8 text (byte 24 cannot be read)"
    assert sorted(Path(p).name for p in sources) == ["latin1.sla", "pattern.sla"]


def test_check_paths_survives_deep_nesting(tmp_path: Path) -> None:
    (tmp_path / "deep.sla").write_text("define d = " + "not " * 3000 + "warm\n", encoding="utf-8")
    diagnostics, _ = check_paths([tmp_path])
    assert [d.code for d in diagnostics] == ["E005"]


def test_check_paths_raises_only_for_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_paths([tmp_path / "missing"])


CORPUS = (ROOT / "policies" / "shared.sla").read_text(encoding="utf-8") + (
    ROOT / "policies" / "inbound_tiered.sla").read_text(encoding="utf-8")
TOKENS = re.findall(r'"[^"\n]*"|\w+|[^\w\s]', CORPUS)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    source = CORPUS
    for _ in range(draw(st.integers(1, 5))):
        at_ = draw(st.integers(0, len(source)))
        action = draw(st.sampled_from(["delete", "insert_char", "insert_token", "duplicate"]))
        if action == "delete":
            source = source[:at_] + source[at_ + draw(st.integers(1, 12)):]
        elif action == "insert_char":
            source = source[:at_] + draw(st.sampled_from(list('{}[]()",.:=<>!+-%#_\\ \n0123456789aZ'))) + source[at_:]
        elif action == "insert_token":
            source = source[:at_] + f" {draw(st.sampled_from(TOKENS))} " + source[at_:]
        else:
            end = min(len(source), at_ + draw(st.integers(1, 60)))
            source = source[:end] + source[at_:end] + source[end:]
    return source


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_check_paths_never_raises_and_positions_every_diagnostic(source: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mutant.sla"
        path.write_text(source, encoding="utf-8")
        diagnostics, _ = check_paths([path])
    lines = source.split("\n")
    for diagnostic in diagnostics:
        assert 1 <= diagnostic.pos.line <= len(lines), diagnostic
        assert 1 <= diagnostic.pos.column <= len(lines[diagnostic.pos.line - 1]) + 1, diagnostic


def test_window_roles_are_known_and_given_once_per_policy() -> None:
    window = "    role speed_to_lead\n  }\n  window w2 {\n    starts when becomes mql\n    stops on activity\n" \
             "    goal 2h\n    role speed_to_lead\n  }\n  window w3 {\n    starts when becomes mql\n" \
             "    stops on activity\n    goal 2h\n    role feedbak"
    text = policy("", window)
    diagnostics = check(text)
    assert [(d.code, d.pos.line) for d in diagnostics] == [("E203", 15), ("E201", 21)]
    assert diagnostics[0].message == "window 'w' already has role 'speed_to_lead'"
    assert diagnostics[1].hint == "did you mean 'feedback'?"
    assert (diagnostics[1].pos.line, diagnostics[1].pos.column) == at(text, 21, "feedbak")


def test_a_targets_accountable_person_is_a_contact() -> None:
    text = policy("  target t {\n    owner sales\n    accountable cr0\n    metric count of mql\n    goal >= 1\n  }")
    diagnostic = one(text)
    assert (diagnostic.code, diagnostic.message, diagnostic.hint) == (
        "E201", "unknown contact 'cr0'", "did you mean 'cro'?")
    assert (diagnostic.pos.line, diagnostic.pos.column) == at(text, body_line() + 2, "cr0")
    assert check(text.replace("cr0", "cro")) == []


def test_24_00_cannot_start_an_interval_it_is_the_end_of_a_day(tmp_path: Path) -> None:
    # Read as a start, `mon 24:00-06:00` would silently run Monday 00:00-06:00, a day early.
    (tmp_path / "c.sla").write_text('calendar night {\n  timezone "UTC"\n  hours mon 24:00-06:00\n}\n'
                                    'calendar late {\n  timezone "UTC"\n  hours mon 18:00-24:00\n}\n')
    diagnostics, _ = check_paths([tmp_path])
    assert [(d.code, d.pos.line, d.pos.column) for d in diagnostics] == [("E101", 3, 13)]
    assert "'24:00' ends a day and cannot start an interval" in diagnostics[0].message
    assert "`hours tue 00:00-06:00`" in diagnostics[0].message


def test_a_target_cannot_read_a_definition_that_counts_events() -> None:
    # Judged over a lead's current fields the count is 0: the report read 0 % where 11 of 59 had 3 attempts.
    counting = "define attempted = count(activity by owner since mql) >= 3\ndefine keen = attempted or visits > 9\n"
    body = ("  target a {\n    metric rate of attempted among mql\n  }\n"
            "  target b {\n    metric count of mql\n    where keen\n  }\n"
            "  target c {\n    metric count of mql\n    where becomes sal\n  }")
    text = policy(body)
    diagnostics = check(text, counting)
    first = body_line()
    assert [(d.code, d.pos.line) for d in diagnostics] == [("E216", first + 1), ("E216", first + 5),
                                                           ("E216", first + 9)]
    assert diagnostics[0].message == ("`rate of attempted` reads `count(activity by owner since mql)`, which a "
                                      "target cannot judge: a target reads each lead's current fields, not its events")
    assert "declare it as a stage" in diagnostics[0].hint
    assert "(through 'keen')" in diagnostics[1].message
    assert "`becomes sal`" in diagnostics[2].message
    # As a stage the count is judged at each event, and a target may read it.
    staged = counting.replace("define attempted =", "stage attempted when")
    assert check(policy("  target a {\n    metric rate of attempted among mql\n  }"), staged) == []


def test_a_literal_no_source_sends_for_a_standard_field_is_a_warning_with_a_suggestion() -> None:
    text = ('stage accepted_lead when disposition == "acepted"\n'
            'define called = count(activity where channel in ["call", "phone"] and direction == "outbund") > 0\n'
            'stage rejected_lead when disposition in ["rejected", "disqualified"]\n')
    named = {"vocabulary.sla": VOCABULARY, "test.sla": text}
    warnings: list[Diagnostic] = []
    errors = check_policy_set(build_policy_set([parse_text(s, p) for p, s in named.items()], named), warnings=warnings)
    assert errors == []  # a source may send other values: the policy still runs
    lines = text.splitlines()
    assert [(w.code, w.severity, w.pos.line, w.pos.column) for w in warnings] == [
        ("W301", "warning", 1, lines[0].index('"acepted"') + 1), ("W301", "warning", 2, lines[1].index('"phone"') + 1),
        ("W301", "warning", 2, lines[1].index('"outbund"') + 1)]
    assert warnings[0].message == "'acepted' is not a known disposition: accepted, rejected, nurture, recycled, " \
                                  "disqualified"
    assert warnings[0].hint == "did you mean 'accepted'?"
    assert warnings[1].hint.startswith("known: call, email")  # nothing close to "phone"
    assert warnings[2].hint == "did you mean 'outbound'?"


def test_check_prints_warnings_but_exits_0(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sla_engine.cli import main

    (tmp_path / "p.sla").write_text('stage sal when disposition == "acepted"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 0
    assert "p.sla:1:31: W301 'acepted' is not a known disposition" in result.output
    assert "ok: 1 file(s), no errors, 1 warning(s)" in result.output
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--format", "json"])
    assert json.loads(result.output)["warnings"][0]["severity"] == "warning"


def test_a_setting_given_twice_is_reported_even_when_another_statement_has_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.sla"
    path.write_text('field f text\ncalendar c {\n  timezone "UTC"\n  hours mon 09:00-17:00\n'
                    '  timezone "Europe/Paris"\n}\n', encoding="utf-8")
    diagnostics, _ = check_paths([path])
    assert [(d.code, d.pos.line) for d in diagnostics] == [("E001", 1), ("E203", 5)]
    assert diagnostics[1].message == ("`timezone` is given twice in calendar 'c' (first at "
                                      f"{path}:3:3); only the last one counts")
