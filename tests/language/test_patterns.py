"""`matches` patterns run on RE2: linear in the text whatever the pattern; what RE2 cannot run is E213."""

from __future__ import annotations

import pytest

from sla_engine.language.patterns import PatternError, compile_pattern
from tests.language.test_check import one


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a|aa)+$", "(x+x+)+y", "^(\\w+\\s?)*$"])
def test_a_catastrophic_pattern_answers_at_once(pattern):
    """Each took Python's backtracking engine seconds to hours on these 40 characters."""
    assert compile_pattern(pattern).search("a" * 40 + "!") is None


def test_matching_ignores_case_and_searches_anywhere():
    assert compile_pattern("@acme\\.com$").search("Jane@ACME.com") is not None
    assert compile_pattern("^vp").search("Chief VP") is None


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(?=a)b", "invalid perl operator: (?="), ("(a)\\1", "invalid escape sequence: \\1"), ("(x", "missing ): (x"),
])
def test_what_re2_cannot_run_is_refused_with_its_reason(pattern, reason):
    with pytest.raises(PatternError, match=pytest.importorskip("re").escape(reason)):
        compile_pattern(pattern)


def test_check_reports_a_lookahead_as_an_invalid_pattern_with_a_hint():
    diagnostic = one('define d = email matches "^(?=.*@)x"')
    assert diagnostic.code == "E213" and "invalid perl operator" in diagnostic.message
    assert "RE2" in (diagnostic.hint or "")


def test_env_is_never_a_value_written_to_a_lead():
    from tests.language.test_check import policy

    text = policy("", '    escalate on breach { set status = env("CRM_STATUS") }')
    diagnostic = one(text)
    assert diagnostic.code == "E202" and 'env("CRM_STATUS")' in diagnostic.message
