"""`escalate when at risk`: as the dashboard says it. A clock is at risk from its warning; a target's
period is at risk when it ends short of its goal but within its tolerance."""

from __future__ import annotations

from sla_engine.language.check import check_policy_set
from sla_engine.language.fmt import format_source, same_meaning
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set

WINDOW = """\
stage mql when lead_score >= 65

policy p {
  window w {
    starts when becomes mql
    stops on activity
    goal 24h
    warn at 75%
    escalate LEVEL {
      notify owner via email
    }
  }
}
"""


def test_at_risk_is_the_warning_level():
    at_risk = parse_text(WINDOW.replace("LEVEL", "when at risk"), "p.sla")
    at_warning = parse_text(WINDOW.replace("LEVEL", "at warning"), "p.sla")
    assert same_meaning(at_risk, at_warning)


def test_fmt_writes_it_one_way():
    assert format_source(WINDOW.replace("LEVEL", "when at risk")) == WINDOW.replace("LEVEL", "at warning")


def test_at_risk_without_a_warning_never_fires_and_says_so_in_the_authors_words():
    text = WINDOW.replace("LEVEL", "when at risk").replace("    warn at 75%\n", "")
    (found,) = check_policy_set(build_policy_set([parse_text(text, "p.sla")], {"p.sla": text}))
    assert (found.code, found.pos.line, found.pos.column) == ("E210", 8, 5)
    assert found.message.startswith("`escalate when at risk` never fires: window 'w' has no `warn`")


TARGET = """\
stage mql when lead_score >= 65

policy p {
  target t {
    metric count of mql
    goal >= 5
    tolerance 20%
    escalate LEVEL {
      notify owner via email
    }
  }
}
"""


def test_a_targets_at_risk_level_is_written_when_at_risk():
    assert format_source(TARGET.replace("LEVEL", "at warning")) == TARGET.replace("LEVEL", "when at risk")
    text = TARGET.replace("LEVEL", "when at risk")
    assert check_policy_set(build_policy_set([parse_text(text, "p.sla")], {"p.sla": text})) == []


def test_a_target_without_a_tolerance_is_never_at_risk_and_says_so():
    text = TARGET.replace("LEVEL", "when at risk").replace("    tolerance 20%\n", "")
    (found,) = check_policy_set(build_policy_set([parse_text(text, "p.sla")], {"p.sla": text}))
    assert (found.code, found.pos.line) == ("E210", 7)
    assert found.message.startswith("`escalate when at risk` never fires: target 't' has no `tolerance`")
    assert found.hint == "add e.g. `tolerance 5%`"


def test_a_target_is_told_how_it_escalates():
    text = TARGET.replace("LEVEL", "on breach")
    (found,) = check_policy_set(build_policy_set([parse_text(text, "p.sla")], {"p.sla": text}))
    assert found.code == "E210"
    assert found.message == "a target escalates `when at risk` or `when missed N periods`, not `on breach`"
