"""The rows behind a number agree with the number, over the hand-computed data set of tests/reports/dataset.py."""

from __future__ import annotations

import statistics
from datetime import datetime

import pytest

from sla_engine.engine.measures import Scope
from sla_engine.engine.periods import Period, parse_period, zone_of
from sla_engine.reports import drilldown as lines
from sla_engine.store import drilldown
from sla_engine.store.metrics import Metrics
from tests.reports.dataset import ANA, BEN, build_store

NY = zone_of("America/New_York")
W47, W49, NOVEMBER = parse_period("2026-W47", NY), parse_period("2026-W49", NY), parse_period("2026-11", NY)


@pytest.fixture(scope="module")
def q(tmp_path_factory):
    policies, store = build_store(tmp_path_factory.mktemp("drilldown") / "s.db")
    yield Metrics(store, policies)
    store.close()


def number(q: Metrics, name: str, period: Period) -> float | None:
    target = next(t for t in q.policy_set.policies["inbound"].targets if t.name == name)
    assert target.metric is not None
    results = q.of(target.metric, [period], Scope(policy="inbound", where=target.where))
    return results[(period.label, ())].value


def behind(q: Metrics, name: str, period: Period) -> tuple[list[drilldown.ClockRow], list[drilldown.LeadRow]]:
    policy = q.policy_set.policies["inbound"]
    target = next(t for t in policy.targets if t.name == name)
    return drilldown.target_clocks(q, policy, target, period), drilldown.target_leads(q, policy, target, period)


def test_a_count_lists_the_leads_it_counts(q):
    clocks, leads = behind(q, "mqls", W47)
    assert clocks == [] and [row.lead_id for row in leads] == ["A", "B", "C", "D", "F"]  # F: Sunday 23:30 New York
    assert len(leads) == number(q, "mqls", W47) == 5


def test_a_met_rate_lists_the_clocks_due_in_the_period_and_their_share_met_is_the_rate(q):
    clocks, leads = behind(q, "contact", W47)
    assert leads == [] and [(row.lead_id, row.status) for row in clocks] == [
        ("A", "met"), ("B", "met"), ("C", "breached"), ("D", "breached")]
    met = sum(row.status == "met" for row in clocks)
    judged = sum(row.status in ("met", "breached") for row in clocks)
    assert 100 * met / judged == number(q, "contact", W47) == 50


def test_an_elapsed_lists_the_clocks_started_in_the_period_under_the_targets_where(q):
    clocks, _ = behind(q, "speed", W47)
    assert [(row.lead_id, row.tier) for row in clocks] == [("A", "tier1"), ("B", "tier1"), ("F", "tier1")]
    ids = {row.lead_id for row in clocks}
    elapsed = [q.business_seconds(row["started_at"], row["stopped_at"], row["calendar"], row["paused_seconds"])
               for row in q.store.instances.rows() if row["window"] == "first_response" and row["lead_id"] in ids]
    assert statistics.median(elapsed) == number(q, "speed", W47) == 30 * 60


def test_a_rate_marks_the_leads_that_reached_the_outcome(q):
    _, leads = behind(q, "acceptance", W47)
    assert [row.lead_id for row in leads if row.hit] == ["A"]
    assert 100 * sum(row.hit for row in leads) / len(leads) == number(q, "acceptance", W47) == 20


def test_completeness_marks_the_leads_created_in_the_period_with_every_field_set(q):
    _, leads = behind(q, "enrichment", NOVEMBER)
    assert {row.lead_id: row.hit for row in leads} == {
        "A": True, "B": False, "C": True, "D": False, "E": True, "F": False, "G": False}  # D's "" is not set
    assert 100 * sum(row.hit for row in leads) / len(leads) == pytest.approx(number(q, "enrichment", NOVEMBER))


def test_an_owners_clocks_are_the_open_ones_and_those_breached_in_the_period_latest_first(q):
    running, breached = drilldown.owner_clocks(q, [BEN], W47, limit=10)
    assert running == [] and [(row.lead_id, row.window) for row in breached] == [
        ("D", "inbound/first_response"), ("C", "inbound/first_response")]
    assert drilldown.owner_clocks(q, [ANA], W47, limit=10) == ([], [])  # Ana met every clock
    assert drilldown.owner_clocks(q, [BEN], W47, limit=1)[1][0].lead_id == "D"
    assert drilldown.owner_clocks(q, [], W47, limit=10) == ([], [])


def test_the_owners_seen_are_every_lead_owner_with_their_lead_count(q):
    assert drilldown.owners_seen(q) == [(ANA, 3), (BEN, 4)]


def test_the_page_lists_the_worst_first_in_the_pages_words(q):
    policy = q.policy_set.policies["inbound"]
    contact = next(t for t in policy.targets if t.name == "contact")
    page = lines.target_leads(q, policy, contact, W47, datetime.fromisoformat("2026-12-02T17:00:00+00:00"))
    assert [(line.lead_id, line.state, line.at) for line in page] == [
        ("C", "breached", "2026-11-18T14:00:00+00:00"), ("D", "breached", "2026-11-19T16:00:00+00:00"),
        ("A", "met", "2026-11-16T17:00:00+00:00"), ("B", "met", "2026-11-17T15:30:00+00:00")]
    assert lines.clock_state("running", "2026-12-02T16:00:00+00:00", datetime.fromisoformat(
        "2026-12-02T17:00:00+00:00")) == "at risk"
    assert lines.owner_clocks(q, [BEN], W49, datetime.fromisoformat("2026-12-02T17:00:00+00:00"))["breached"][0].at \
        == "2026-12-02T04:30:00+00:00"  # a breached clock shows when it breached
