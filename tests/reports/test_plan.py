"""The revenue plan worked backwards, and what the store says about its assumptions."""

from __future__ import annotations

import pytest

from sla_engine.reports.plan import PlanError, parse_rate, plan_from_flags, render_plan, work_backwards
from tests.reports.dataset import build_store, policy_set


def needed(report) -> dict[str, int]:
    return {step.stage: step.needed for step in report.steps}


def test_the_documents_example_from_flags():
    plan = plan_from_flags(300_000, 25_000, parse_rate("30%"),
                           {("sql", "opportunity"): parse_rate("50%"), ("mql", "sql"): parse_rate("25%")})
    report = work_backwards(plan)
    assert needed(report) == {"clients": 12, "opportunities": 40, "sqls": 80, "mqls": 320}
    assert [s.rate_name for s in report.steps] == [None, "win rate", "sql → opportunity", "mql → sql"]
    text = render_plan(report)
    assert "320" in text and "observed" not in text


def test_the_policys_plan_gives_the_same_numbers():
    assert needed(work_backwards(policy_set().plans["inbound_2026"])) == {
        "clients": 12, "opportunities": 40, "sqls": 80, "mqls": 320}


def test_rounding_up_at_each_step():
    plan = plan_from_flags(310_000, 25_000, 0.3, {("sql", "opportunity"): 0.5, ("mql", "sql"): 0.25})
    assert needed(work_backwards(plan)) == {"clients": 13, "opportunities": 44, "sqls": 88, "mqls": 352}


@pytest.mark.parametrize(("text", "rate"), [("30%", 0.3), ("30", 0.3), ("0.3", 0.3), ("12.5 %", 0.125),
                                            ("100%", 1.0)])
def test_rates_read_as_people_write_them(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["0", "abc", "150%", "-5%"])
def test_impossible_rates_are_refused(text):
    with pytest.raises(PlanError):
        parse_rate(text)


def test_observed_rates_from_history(tmp_path):
    policies, store = build_store(tmp_path / "s.db")
    report = work_backwards(policies.plans["inbound_2026"], store, policies)
    steps = {step.stage: step for step in report.steps}
    # One closed opportunity (A, won at 60,000); A is the only SQL and became an opportunity;
    # 1 of the 6 MQLs (A-D, F, G) became an SQL.
    assert (steps["opportunities"].observed.rate, steps["opportunities"].observed.sample) == (1.0, 1)
    assert (steps["sqls"].observed.rate, steps["sqls"].observed.sample) == (1.0, 1)
    assert steps["mqls"].observed.rate == pytest.approx(1 / 6) and steps["mqls"].observed.sample == 6
    assert (report.observed_deal_size.rate, report.observed_deal_size.sample) == (60_000, 1)
    # At those rates: 300K / 60K = 5 clients, 5 opportunities, 5 SQLs, 30 MQLs.
    assert {s.stage: s.needed_at_observed for s in report.steps} == {
        "clients": 5, "opportunities": 5, "sqls": 5, "mqls": 30}
    text = render_plan(report)
    assert "16.7% of 6" in text and "needed at observed" in text
    assert report.as_dict()["steps"][3]["observed"] == {"rate": pytest.approx(1 / 6), "sample": 6}
    store.close()


def test_a_plan_needs_revenue_and_deal_size():
    with pytest.raises(PlanError):
        work_backwards(plan_from_flags(0, 0, 0.3, {}))
