"""A policy's own stages and definitions: two SLAs in one set may disagree about what an MQL is."""

from __future__ import annotations

from datetime import UTC, datetime

from sla_engine.engine.evaluate import Evaluator
from sla_engine.events import LeadEvent
from sla_engine.language.check import check_policy_set
from sla_engine.language.fmt import format_source
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import PolicySet, build_policy_set
from sla_engine.language.scope import resolve, stages_seen_by

SHARED = """\
define director_plus = seniority in ["director", "vp", "c_level"]
stage lead when created_at is set
stage mql when lead_score >= 65
stage sal when disposition == "accepted"
"""

# Two regions, one repository: North America uses the shared MQL, LATAM its own.
POLICIES = """\
policy na {
  applies when region == "NA"
  window review {
    starts when becomes mql
    stops on disposition
    goal 24h
  }
}

policy latam {
  applies when region == "LATAM"
  define icp = company_size between 50 and 500 and director_plus
  stage mql when icp
  window review {
    starts when becomes mql
    stops on disposition
    goal 24h
  }
  target volume {
    metric count of mql
    goal >= 50
  }
  target acceptance {
    metric rate of sal among mql
    goal >= 60%
  }
}
"""


def policy_set(*texts: str) -> PolicySet:
    named = {"shared.sla": SHARED, **{f"p{i}.sla": text for i, text in enumerate(texts)}}
    return build_policy_set([parse_text(text, path) for path, text in named.items()], named)


def errors(*texts: str) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.pos.line, d.pos.column, d.message) for d in check_policy_set(policy_set(*texts))]


def judged(ps: PolicySet, **attributes: object) -> dict[str, str]:
    created = LeadEvent(event_id="e1", lead_id="L1", occurred_at=datetime(2026, 11, 16, 15, tzinfo=UTC),
                        source="test", type="created", payload={"attributes": attributes})
    result = Evaluator(ps).evaluate("L1", [created], datetime(2026, 11, 16, 16, tzinfo=UTC))
    return {instance.policy: instance.status for instance in result.instances}


def test_a_policy_may_declare_the_name_of_a_shared_stage_for_itself():
    assert errors(POLICIES) == []


def test_each_policy_judges_by_its_own_mql():
    ps = policy_set(POLICIES)
    # A VP at a 200-person company with a low score: LATAM's MQL, not the shared one.
    assert judged(ps, region="LATAM", company_size=200, seniority="vp", lead_score=10) == {"latam": "running"}
    assert judged(ps, region="NA", company_size=200, seniority="vp", lead_score=10) == {}
    # A high score at a 30-person company: the shared MQL, not LATAM's.
    assert judged(ps, region="LATAM", company_size=30, seniority="vp", lead_score=90) == {}
    assert judged(ps, region="NA", company_size=30, seniority="vp", lead_score=90) == {"na": "running"}


def test_the_policys_own_names_get_scoped_names_and_its_references_follow():
    ps = policy_set(POLICIES)
    assert "latam.mql" in ps.stages and "latam.icp" in ps.definitions
    assert "mql" in ps.stages and "icp" not in ps.definitions
    latam = ps.policies["latam"]
    assert latam.windows[0].start is not None and latam.windows[0].start.condition is not None
    assert latam.windows[0].start.condition.stage == "latam.mql"  # type: ignore[union-attr]
    assert [t.metric.subject for t in latam.targets if t.metric] == ["latam.mql", "sal"]
    assert latam.targets[1].metric is not None and latam.targets[1].metric.among == "latam.mql"
    assert ps.policies["na"].windows[0].start.condition.stage == "mql"  # type: ignore[union-attr]


def test_inside_its_own_body_a_name_means_the_shared_declaration():
    refine = """\
policy latam {
  stage mql when mql and company_size between 50 and 500
  window review {
    starts when becomes mql
    stops on disposition
    goal 24h
  }
}
"""
    assert errors(refine) == []  # not a cycle
    ps = policy_set(refine)
    assert judged(ps, lead_score=90, company_size=200) == {"latam": "running"}
    assert judged(ps, lead_score=90, company_size=30) == {}
    assert judged(ps, lead_score=10, company_size=200) == {}


def test_a_shared_definition_never_sees_a_policys_own_names():
    text = """\
define hot = icp and lead_score >= 80

policy latam {
  define icp = company_size >= 50
  applies when hot
}
"""
    assert [(code, line, message) for code, line, _, message in errors(text)] == [
        ("E201", 1, "unknown name 'icp': not a field, score, definition or stage")]


def test_an_event_field_in_a_where_is_not_a_policys_own_name():
    ps = policy_set("""\
policy p {
  define channel = lead_score >= 10
  window w {
    starts when channel
    stops on activity where channel == "call"
    goal 24h
  }
}
""")
    window = ps.policies["p"].windows[0]
    assert window.start is not None and window.stop is not None
    assert window.start.condition.operand.path == ["p.channel"]  # type: ignore[union-attr]
    assert window.stop.where.left.path == ["channel"]  # type: ignore[union-attr]


def test_own_names_of_another_kind_or_a_field_are_refused():
    text = """\
policy p {
  stage director_plus when lead_score >= 80
  define region = lead_score >= 10
  define icp = company_size >= 50
  stage icp when icp
}
"""
    found = errors(text)
    assert [(code, line, col) for code, line, col, _ in found] == [
        ("E203", 2, 9), ("E203", 3, 10), ("E203", 5, 9), ("E201", 5, 18)]
    assert "has the same name as definition 'director_plus' at shared.sla:1:8" in found[0][3]
    assert "standard lead field 'region'" in found[1][3]
    assert "stage 'icp' of policy 'p' has the same name as definition 'icp' of policy 'p' at p0.sla:4:10" in found[2][3]
    assert "unknown name 'icp'" in found[3][3]  # in its own body `icp` means a shared one: there is none


def test_an_unknown_name_suggests_the_policys_own_name_as_written():
    found = check_policy_set(policy_set("""\
policy p {
  define icp = company_size >= 50
  applies when icpp
}
"""))
    assert [(d.code, d.hint) for d in found] == [("E201", "did you mean 'icp'?")]


def test_a_cycle_among_own_names_is_reported():
    found = errors("""\
policy p {
  define a = b
  define b = a
}
""")
    assert [(code, line, col, message) for code, line, col, message in found] == [
        ("E204", 3, 14, "definition 'b' of policy 'p' refers back to 'a': a → b → a")]


def test_fmt_keeps_own_declarations_in_place_and_is_stable():
    text = """\
policy latam {
  title   "LATAM"
  define icp = (company_size between 50 and 500) and director_plus
  stage mql when icp
  stage sql from status ["Qualified"]
}
"""
    once = format_source(text)
    assert once == """\
policy latam {
  title "LATAM"
  define icp = company_size between 50 and 500 and director_plus
  stage mql when icp
  stage sql from status ["Qualified"]
}
"""
    assert format_source(once) == once


def test_a_policy_without_own_declarations_is_untouched():
    policy = parse_text(POLICIES, "p.sla").declarations[0]
    assert resolve(policy) == ([], policy)  # type: ignore[arg-type]


def test_stages_as_a_policy_names_them_keep_the_funnel_order():
    stages = ["lead", "mql", "sal", "latam.mql", "latam.nurtured", "emea.mql"]
    assert stages_seen_by("latam", stages) == {"lead": "lead", "latam.mql": "mql", "sal": "sal",
                                                "latam.nurtured": "nurtured"}
    assert stages_seen_by("na", stages) == {"lead": "lead", "mql": "mql", "sal": "sal"}
    assert stages_seen_by(None, stages) == {"lead": "lead", "mql": "mql", "sal": "sal"}
