"""`escalate when at risk`: the words a reader reaches for, meaning the level a clock reaches at its warning."""

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


def test_a_target_is_told_how_it_escalates():
    text = """\
stage mql when lead_score >= 65

policy p {
  target t {
    metric count of mql
    goal >= 5
    escalate when at risk {
      notify owner via email
    }
  }
}
"""
    (found,) = check_policy_set(build_policy_set([parse_text(text, "p.sla")], {"p.sla": text}))
    assert found.code == "E210"
    assert found.message == "a target escalates only `when missed N periods`, not `when at risk`"
    assert found.hint is not None and found.hint.startswith("a target is at risk while within its tolerance")
