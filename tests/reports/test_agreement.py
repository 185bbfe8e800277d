"""The agreement document: every construct of the language phrased, every shipped policy rendered whole."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_engine.cli import main
from sla_engine.language import model as m
from sla_engine.language.check import check_policy_set
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import PolicySet, build_policy_set, load_policy_set
from sla_engine.reports import agreement as a

POLICIES = Path(__file__).resolve().parents[2] / "policies"

SHARED = """
field sla_status: enum [on_track, at_risk, breached]
field pricing_page_visits: number
score fit {
  +20 when industry == "Software"
  -30 when email matches "@(gmail|yahoo)\\\\."
}
score engagement {
  +10 per pricing_page_visits
  +25 when form == "webinar"
  cap 40
}
define director_plus = seniority in ["director", "vp", "c_level"]
define busy = count(distinct channel of activity by owner where direction == "outbound" since mql) >= 2
stage lead when created_at is set
stage mql when fit >= 20 or engagement >= 40
stage sal when disposition == "accepted"
stage sql from status ["Qualified"]
stage opportunity when converted
stage disqualified when disposition in ["disqualified", "rejected"]
calendar ny_office {
  timezone "America/New_York"
  hours mon-fri 09:00-12:00, 13:00-17:00
  hours sat 10:00-12:00
  holidays "US" subdivision "NY"
  closed 2026-12-24
  open 2026-12-26 10:00-14:00
}
contact cro {
  name "Dana Whitfield"
  role "Chief Revenue Officer"
  email "cro@example.com"
}
contact vp_sales {
  name "Rachel Kim"
  role "VP Sales"
  email "vp.sales@example.com"
}
contact vp_marketing {
  name "Sam Okoro"
  role "VP Marketing"
  email "vp.marketing@example.com"
}
team na_sdr {
  members ["ana@example.com", "ben@example.com"]
  calendar ny_office
}
plan inbound_2026 {
  revenue 300000 per month
  deal size 25000
  win rate 30%
  sql to opportunity 50%
  mql to sql 25%
}
"""

POLICY = """
policy inbound {
  title "Tiered inbound SLA"
  version "2026.2"
  effective 2026-01-01
  owner cro
  description "Marketing and sales commitments for inbound MQLs."
  timezone "America/New_York"
  calendar ny_office
  applies when region == "NA" and not (source in ["partner"] or company_size between 1 and 10)

  tier tier1 "Tier 1" when lead_score >= 80 and director_plus and title matches "vp|chief"
  tier tier2 "Tier 2" when lead_score >= 65 and industry is missing
  otherwise not covered

  window routing "Lead routing" {
    starts when becomes mql
    stops on assigned
    goal 5m
    escalate on breach {
      notify vp_marketing via email
    }
  }

  window first_response "First contact" {
    starts when becomes mql
    stops on activity by owner where direction == "outbound"
    pauses while status == "Nurture"
    role speed_to_lead
    goal tier1 2 business hours
    goal tier2 24h on ny_office
    warn at 75%
    restarts on recycle
    quiet hours ny_office
    escalate at warning {
      notify owner via email
    }
    escalate on breach {
      notify manager via email
    }
    escalate 4h after breach {
      reassign to na_sdr round robin skip previous owners
      task "Call this lead now" for owner due 1h
      set sla_status = "breached"
    }
    escalate every 1 business day after breach quiet hours ny_office {
      notify cro via email
    }
  }

  window cadence "Three touches" {
    starts on assigned
    stops when count(activity by owner since start) >= 3 or sal
    role feedback
    goal 5 business days
    warn 8h before due
  }

  target mql_volume "Lead volume" {
    owner marketing
    accountable vp_marketing
    metric count of mql
    period month
    goal >= inbound_2026.mqls
    tolerance 5%
    escalate when missed 2 periods {
      notify cro via email
    }
  }

  target tier1_contact "Tier 1 in time" {
    owner sales
    accountable vp_sales
    metric met rate of first_response
    where tier == "tier1"
    period week
    group by owner
    goal >= 100%
  }

  target acceptance "Acceptance" {
    owner joint
    accountable cro
    metric rate of sal among mql
    period quarter
    goal >= 70%
    tolerance 3
  }

  target speed "Speed to lead" {
    owner sales
    metric p90 elapsed of first_response
    where region != "EU"
    goal <= 2h
  }

  target enrichment "Enrichment" {
    owner marketing
    metric completeness of [company_size, industry]
    goal >= 95%
  }
}
"""


def checked(text: str) -> PolicySet:
    files = {"shared.sla": SHARED, "inbound.sla": text}
    policy_set = build_policy_set([parse_text(t, p) for p, t in files.items()], files)
    assert check_policy_set(policy_set) == []
    return policy_set


@pytest.fixture(scope="module")
def document() -> str:
    return " ".join(" ".join(c.sentences) for s in a.build(checked(POLICY), "inbound").sections for c in s.clauses)


# ---------------------------------------------------------------- each construct, one sentence


@pytest.mark.parametrize("sentence", [
    # header: scope, term, description, owner
    "Marketing and sales commitments for inbound MQLs.",
    "It covers every lead where the region is “NA” and neither the source is “partner” nor the company size is "
    "between 1 and 10, judged when each clock starts.",
    "Effective from 1 January 2026.", "Version 2026.2.",
    "The targets are reviewed weekly",
    "Weeks and months are counted in America/New_York time.",
    "The document is kept by Dana Whitfield (Chief Revenue Officer).",
    # tiers, conditions: comparison, membership, pattern, presence, true-or-false name
    "A Tier 1 lead is one where the lead score is at least 80, the lead is director plus and the title contains "
    "“vp” or “chief”.",
    "A Tier 2 lead is one where the lead score is at least 65 and the industry is missing.",
    "Any other lead is not covered by this agreement.",
    # stages, definitions, counts, scores
    "The funnel, in order: lead → MQL → SAL → SQL → opportunity → disqualified.",
    "A lead is lead when the created at is recorded.",
    "A lead is SQL when its status is “Qualified”.",
    "A lead is opportunity when the lead is converted.",
    "“Director plus” means the seniority is “director”, “vp” or “c_level”.",
    "The fit score gives +20 points when the industry is “Software” and −30 points when the email matches the "
    "pattern “@(gmail|yahoo)\\.”.",
    "The engagement score gives +10 points per pricing page visits and +25 points when the form is “webinar”, "
    "up to 40 in all.",
    # plan worked backwards
    "The inbound 2026 plan aims at 300,000 of revenue per month; at 25,000 a deal that is 12 new clients; at a "
    "30 % win rate, 40 opportunities; at 50 % from SQL to opportunity, 80 SQLs; at 25 % from MQL to SQL, 320 MQLs.",
    # calendars: hours, zone, holidays named, closed and open days
    "Business hours on the ny office calendar are Monday to Friday 09:00–12:00 and 13:00–17:00 and Saturday "
    "10:00–12:00, America/New_York time.",
    "Public holidays of US-NY are not business time; in 2026: New Year's Day, 1 January;",
    "Thanksgiving Day, 26 November",
    "Also closed: 24 December 2026.", "Open on 26 December 2026, 10:00–14:00.",
    # windows: triggers, pause, goals per tier and calendar, warnings, recycle, quiet hours, roles
    "The clock starts when the lead becomes MQL and stops when an activity is logged by the lead's owner where "
    "the direction is “outbound”; the goal is 2 business hours on the ny office calendar for Tier 1 leads and "
    "24 hours for Tier 2 leads.",
    "The clock stands still while the status is “Nurture”.",
    "A warning is raised when 75 % of the time has passed.",
    "A warning is raised 8 hours before the deadline.",
    "A lead that is recycled and comes back starts a new clock.", "The clock runs once per lead.",
    "Escalations due while the ny office calendar is closed wait for its next opening.",
    "This clock is the speed-to-lead measure on the dashboard.",
    "This clock is the feedback-completion measure on the dashboard.",
    "The clock starts when the lead is assigned and stops when either the number of activities by the owner "
    "since the clock started is at least 3 or the lead is SAL; the goal is 5 business days on the ny office "
    "calendar.",
    # escalations and actions
    "When this clock nears its deadline, the lead's owner is notified by email.",
    "When this clock misses its deadline, the owner's manager is notified by email.",
    "4 hours after this clock missed its deadline, the lead is reassigned to the na sdr team in turn (round "
    "robin), never to a previous owner, a CRM task “Call this lead now” is created for the lead's owner, due "
    "within 1 hour and the sla status field is set to “breached” in the CRM.",
    "Every 1 business day after this clock missed its deadline, until it is done, Dana Whitfield (Chief Revenue "
    "Officer) is notified by email (outside the business hours of the ny office calendar, this waits for the "
    "next opening).",
    # targets: every metric, where, group by, tolerance both ways, accountable, plan goal, missed periods
    "Marketing commits that, each month, the number of leads that become MQL is at least 320 (the mqls of plan "
    "inbound 2026).",
    "A period within 5 % of the goal is at risk rather than missed.",
    "If it misses its goal (at least 320 (the mqls of plan inbound 2026)) for 2 consecutive periods, Dana "
    "Whitfield (Chief Revenue Officer) is notified by email.",
    "Sales commits that, each week, the share of “First contact” clocks met in time is at least 100 %, counting "
    "only Tier 1 leads.",
    "It is judged separately for each owner.",
    "Rachel Kim (VP Sales) answers for it.",
    "Marketing and Sales jointly commit that, each quarter, the share of leads that become MQL and go on to SAL "
    "is at least 70 %.",
    "A period within 3 of the goal is at risk rather than missed.",
    "Sales commits that, each month, the 90th percentile time to “First contact” is at most 2 hours, counting "
    "only where the region is not “EU”.",
    "Marketing commits that, each month, the share of new leads with company size and industry all recorded is "
    "at least 95 %.",
    "Measured from the clocks the engine keeps for every lead, counted in the period each clock was due.",
])
def test_each_construct_is_phrased(document: str, sentence: str) -> None:
    assert sentence in document


def test_a_definition_the_policy_does_not_use_is_left_out(document: str) -> None:
    assert "Busy" not in document


def test_sections_follow_the_written_template() -> None:
    sections = [s.title for s in a.build(checked(POLICY), "inbound").sections]
    assert sections == ["Parties", "Scope", "Term and review", "Revenue plan", "Definitions", "Business hours",
                        "Marketing commitments", "Sales commitments", "Shared commitments"]


def test_each_accountable_person_signs_for_their_side() -> None:
    agreement = a.build(checked(POLICY), "inbound")
    assert agreement.parties == [("Marketing", "Sam Okoro (VP Marketing)"), ("Sales", "Rachel Kim (VP Sales)"),
                                 ("Marketing and Sales", "Dana Whitfield (Chief Revenue Officer)")]


def test_a_window_belongs_to_the_side_whose_target_measures_it() -> None:
    sections = {s.title: [c.anchor for c in s.clauses] for s in a.build(checked(POLICY), "inbound").sections}
    assert "inbound-window-routing" in sections["Marketing commitments"]
    assert "inbound-window-first_response" in sections["Sales commitments"]


# ---------------------------------------------------------------- nothing the language says goes unphrased


def _union_members(annotated: typing.Any) -> list[type]:
    return list(typing.get_args(typing.get_args(annotated)[0]))


PHRASED_NODES = {
    # node types the renderer phrases, each exercised by POLICY above
    m.Pos, m.Node, m.Duration, m.Literal_, m.ListValue, m.Ref, m.Env, m.Count, m.Compare, m.Member, m.Between,
    m.Matches, m.IsSet, m.Becomes, m.Truth, m.Not, m.And, m.Or, m.ScoreRule, m.ScoreDecl, m.Definition, m.Stage,
    m.Interval, m.Hours, m.OpenDate, m.CalendarDecl, m.Attribute, m.ContactDecl, m.PlanConversion, m.PlanDecl,
    m.Tier, m.Trigger, m.Goal, m.Warning, m.Recipient, m.Notify, m.Reassign, m.SetField, m.CreateTask,
    m.Escalation, m.Window, m.Metric, m.TargetGoal, m.Target, m.Policy, m.PolicyFile,
    # declarations the engine reads but the agreement has nothing to say about: a field's type
    m.FieldDecl, m.FieldType,
}


def test_every_node_type_of_the_model_is_accounted_for() -> None:
    """A node type added to the language fails here until the renderer phrases it (or says why not)."""
    nodes = {value for value in vars(m).values() if isinstance(value, type) and issubclass(value, m.Node)}
    nodes.add(m.Pos)
    assert nodes - PHRASED_NODES == set()


@pytest.mark.parametrize("kind", _union_members(m.Expr))
def test_every_condition_form_is_phrased(kind: type) -> None:
    examples = {
        m.Compare: m.Compare(op=">=", left=m.Ref(path=["lead_score"]), right=m.Literal_(type="number", value=80)),
        m.Member: m.Member(operand=m.Ref(path=["source"]), negated=True,
                           values=m.ListValue(items=[m.Literal_(type="text", value="partner")])),
        m.Between: m.Between(operand=m.Ref(path=["size"]), low=m.Literal_(type="number", value=1),
                             high=m.Literal_(type="number", value=9)),
        m.Matches: m.Matches(operand=m.Ref(path=["title"]), pattern="vp"),
        m.IsSet: m.IsSet(operand=m.Ref(path=["industry"])),
        m.Becomes: m.Becomes(stage="mql"),
        m.Truth: m.Truth(operand=m.Ref(path=["won"])),
        m.Not: m.Not(operand=m.Truth(operand=m.Ref(path=["won"]))),
        m.And: m.And(items=[m.Becomes(stage="sal"), m.Truth(operand=m.Ref(path=["won"]))]),
        m.Or: m.Or(items=[m.Becomes(stage="sal"), m.Truth(operand=m.Ref(path=["won"]))]),
    }
    assert a.condition(examples[kind]).strip()


@pytest.mark.parametrize("kind", typing.get_args(m.Literal_.model_fields["type"].annotation))
def test_every_literal_type_is_phrased(kind: str) -> None:
    sample = {"text": "NA", "number": 3, "percent": 25, "date": "2026-01-01", "time": "09:00", "boolean": True}
    assert a.value(m.Literal_(type=kind, value=sample[kind])) in {"“NA”", "3", "25 %", "2026-01-01", "09:00", "true"}


@pytest.mark.parametrize("when", typing.get_args(m.Escalation.model_fields["when"].annotation))
def test_every_escalation_level_is_phrased(when: str) -> None:
    level = m.Escalation(when=when, after=m.Duration(amount=1, unit="h"), missed_periods=2,
                         actions=[m.Notify(recipient=m.Recipient(kind="manager"))])
    sentence = a.escalation(level, a.People(checked(POLICY)), "this clock")
    assert sentence.endswith("the owner's manager is notified.")


@pytest.mark.parametrize("kind", typing.get_args(m.Metric.model_fields["kind"].annotation))
def test_every_metric_is_phrased(kind: str) -> None:
    policy_set = checked(POLICY)
    metric = m.Metric(kind=kind, subject="first_response" if kind in ("met_rate", "elapsed") else "sal",
                      among="mql", aggregate="median", fields=["industry"])
    assert a.metric_text(metric, policy_set.policies["inbound"], policy_set.stages).startswith("the ")
    assert kind in a.MEASURED_FROM


def test_an_unknown_construct_is_an_error_not_an_omission() -> None:
    with pytest.raises(a.Unphrasable):
        a.condition(m.Duration(amount=1, unit="h"))
    with pytest.raises(a.Unphrasable):
        a.action(m.Recipient(kind="owner"), a.People(checked(POLICY)))


# ---------------------------------------------------------------- shipped policies


@pytest.fixture(scope="module")
def shipped() -> PolicySet:
    return load_policy_set([POLICIES])


def test_every_shipped_policy_renders_every_commitment(shipped: PolicySet) -> None:
    for name, policy in shipped.policies.items():
        agreement = a.build(shipped, name)
        anchors = [c.anchor for s in agreement.sections for c in s.clauses]
        expected = [f"{name}-window-{w.name}" for w in policy.windows] + [
            f"{name}-target-{t.name}" for t in policy.targets]
        assert sorted(anchor for anchor in anchors if anchor in expected) == sorted(expected), name
        assert len(anchors) == len(set(anchors)), name
        text = a.to_markdown([agreement])
        for tier in policy.tiers:
            assert f"A {tier.label or tier.name} lead is" in text or f"lead is {tier.label}" in text, (name, tier.name)
        assert "None" not in text, name


def test_the_one_page_sla_reads_as_its_authors_wrote_it(shipped: PolicySet) -> None:
    text = a.to_markdown(a.build_all(shipped, "one_page"))
    assert "# One-page marketing-sales SLA" in text
    assert ("the goal is 2 business hours on the sydney office calendar") in text
    assert ("If it misses its goal (at least 80 %) for 2 consecutive periods, Dana Whitfield (Chief Revenue "
            "Officer) is notified by email.") in text
    assert "| Sales | Rachel Kim (VP Sales) | | |" in text


# ---------------------------------------------------------------- rendering


HOSTILE = POLICY.replace('description "Marketing and sales commitments for inbound MQLs."',
                         'description "<script>alert(1)</script> | *bold* \\u001b[31m [x](http://evil.example)"')


def test_html_is_one_self_contained_page_with_text_escaped() -> None:
    page = a.to_html([a.build(checked(HOSTILE), "inbound")])
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert 'id="inbound-window-first_response"' in page and 'id="policy-inbound"' in page
    assert page.count('class="party"') == 3


def test_markdown_escapes_what_would_change_its_layout() -> None:
    text = a.to_markdown([a.build(checked(HOSTILE), "inbound")])
    assert "<script>" not in text and "\x1b" not in text
    assert r"\| \*bold\*" in text and r"\[x\](http://evil.example)" in text
    assert '<a id="inbound-target-mql_volume"></a>' in text


def test_command_writes_the_agreement(tmp_path: Path) -> None:
    out = tmp_path / "agreement.html"
    result = CliRunner().invoke(main, ["agreement", "--policies", str(POLICIES), "--policy", "inbound_tiered",
                                       "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "<h1>Tiered inbound SLA</h1>" in out.read_text()
    markdown = CliRunner().invoke(main, ["agreement", "--policies", str(POLICIES), "--policy", "one_page"])
    assert markdown.exit_code == 0 and "## Sales commitments" in markdown.output


def test_command_names_the_known_policies_for_an_unknown_one() -> None:
    result = CliRunner().invoke(main, ["agreement", "--policies", str(POLICIES), "--policy", "nope"])
    assert result.exit_code == 1
    assert "no policy named 'nope' (known: b2b_services, inbound_tiered, latam_mid_market, one_page" in result.output
