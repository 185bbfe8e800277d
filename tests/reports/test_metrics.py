"""Every metric against the hand-computed data set of tests/reports/dataset.py."""

from __future__ import annotations

import pytest

from sla_engine.engine.measures import MetricError, Scope, aggregator, percentile, project
from sla_engine.engine.periods import parse_period, zone_of
from sla_engine.language.parser import parse_text
from sla_engine.reports import metrics as mx
from sla_engine.store.metrics import Metrics
from tests.reports.dataset import ANA, BEN, build_store

NY = zone_of("America/New_York")
W47, W48 = parse_period("2026-W47", NY), parse_period("2026-W48", NY)
NOVEMBER, DECEMBER = parse_period("2026-11", NY), parse_period("2026-12", NY)
FIRST_RESPONSE = [("inbound", "first_response")]


@pytest.fixture(scope="module")
def q(tmp_path_factory):
    policies, store = build_store(tmp_path_factory.mktemp("metrics") / "s.db")
    yield Metrics(store, policies)
    store.close()


def where(text: str):
    """A condition as a target's `where` holds it."""
    return parse_text(f"define w = {text}", "w.sla").declarations[0].expr


def values(results, period=W47):
    return {group: v.value for (label, group), v in results.items() if label == period.label}


def test_count_of_a_stage_counts_leads_entering_it_in_the_local_period(q):
    # F becomes an MQL at 23:30 New York on Sunday 22 (04:30 UTC Monday): week 47, not 48.
    assert values(q.count("mql", [W47, W48]), W47) == {(): 5}
    assert values(q.count("mql", [W47, W48]), W48) == {(): 0}


def test_a_lead_at_2330_on_the_last_day_of_the_month_counts_for_that_month(q):
    # G: Monday 30 November 23:30 New York = 1 December 04:30 UTC.
    counts = q.count("mql", [NOVEMBER, DECEMBER])
    assert values(counts, NOVEMBER) == {(): 6}
    assert values(counts, DECEMBER) == {(): 0}


def test_count_grouped_and_filtered(q):
    scope = Scope(policy="inbound", group_by=("tier",))
    assert values(q.count("mql", [W47], scope)) == {("tier1",): 3, ("tier2",): 2}
    assert values(q.count("mql", [W47], Scope(group_by=("source",)))) == {("webinar",): 3, ("paid",): 2}
    assert values(q.count("mql", [W47], Scope(group_by=("owner",)))) == {(ANA,): 3, (BEN,): 2}
    by_definition = where('director_plus and source == "WEBINAR"')
    assert values(q.count("mql", [W47], Scope(policy="inbound", where=by_definition))) == {(): 3}
    by_score = where("fit >= 10")  # a score, judged by the engine from SQL: A and C (Software)
    assert values(q.count("mql", [W47], Scope(where=by_score))) == {(): 2}


def test_met_rate_counts_clocks_due_in_the_period(q):
    # Due in W47: A met, B met, C breached (met late), D breached (still running). F is due in W48.
    assert values(q.met_rate(FIRST_RESPONSE, [W47])) == {(): 50.0}
    assert values(q.met_rate(FIRST_RESPONSE, [W48]), W48) == {(): 100.0}
    by_owner = q.met_rate(FIRST_RESPONSE, [W47], Scope(group_by=("owner",)))
    assert values(by_owner) == {(ANA,): 100.0, (BEN,): 0.0}
    tier2 = Scope(where=where('tier == "tier2"'))
    assert values(q.met_rate(FIRST_RESPONSE, [W47], tier2)) == {(): 0.0}


def test_rate_of_a_stage_among_another(q):
    assert values(q.rate("sal", "mql", [W47])) == {(): 20.0}  # A of A, B, C, D, F
    assert values(q.rate("sql", "mql", [W47])) == {(): 20.0}
    assert values(q.rate("opportunity", "sql", [W47])) == {(): 100.0}
    assert values(q.rate("won", "mql", [W47])) == {(): 20.0}  # a field judged on the lead's state
    with pytest.raises(MetricError):
        q.rate("sal", "director_plus", [W47])


def test_elapsed_is_business_time_of_stopped_clocks_started_in_the_period(q):
    # A 30 business minutes, B 90 (Mon 16:30-17:00 + Tue 09:00-10:00), C 48h (24h goal: calendar
    # time), F 30 (starts Sunday night, counts from Monday 09:00). D never stopped.
    seconds = q.elapsed_seconds(FIRST_RESPONSE, [W47])
    assert sorted(seconds[("2026-W47", ())]) == [1800, 1800, 5400, 172800]
    assert values(q.elapsed("median", FIRST_RESPONSE, [W47])) == {(): 3600}
    assert values(q.elapsed("p90", FIRST_RESPONSE, [W47])) == {(): 172800}
    assert values(q.elapsed("average", FIRST_RESPONSE, [W47])) == {(): 45450}
    by_tier = q.elapsed("median", FIRST_RESPONSE, [W47], Scope(group_by=("tier",)))
    assert values(by_tier) == {("tier1",): 1800, ("tier2",): 172800}


def test_completeness_over_leads_created_in_the_period(q):
    fields = ["company_size", "industry", "annual_revenue"]
    assert values(q.completeness(fields, [W47])) == {(): 50.0}  # A, C, E of A-F
    assert values(q.completeness(fields, [NOVEMBER]), NOVEMBER)[()] == pytest.approx(300 / 7)  # A, C, E of A-G


def test_target_metric_dispatch_uses_the_policy_scope(q):
    policy = q.policy_set.policies["inbound"]
    speed = next(t for t in policy.targets if t.name == "speed")
    results = q.of(speed.metric, [W47], Scope(policy="inbound", where=speed.where))
    assert values(results) == {(): 1800}


def test_dashboard_metrics(q):
    assert mx.mqls_delivered(q, W47) == {(): mx.Value(5.0, 5, 5.0)}
    assert {g: v.value for g, v in mx.mqls_delivered(q, W47, "tier").items()} == {("tier1",): 5 - 2, ("tier2",): 2}
    assert {g: v.value for g, v in mx.mqls_delivered(q, W47, "campaign").items()} == {
        ("c-webinar",): 3, ("c-paid",): 2}
    assert mx.acceptance_rate(q, W47)[()].value == pytest.approx(100 / 3)  # A of A, B, C judged
    assert {g: v.value for g, v in mx.acceptance_rate(q, W47, "tier").items()} == {("tier1",): 50.0,
                                                                                    ("tier2",): 0.0}
    assert mx.feedback_completion(q, W47)[()].value == 60.0  # A, B, C of five
    assert mx.attempts_per_lead(q, W47)[()].value == pytest.approx(6 / 5)  # A 2, B 1 (not the inbound), C 2, F 1
    assert mx.channels_per_lead(q, W47)[()].value == pytest.approx(5 / 5)
    assert mx.rejection_reasons(q, W47) == [("(no reason)", 1), ("bad fit", 1)]
    assert mx.speed_to_lead(q, W47)[()].value == 3600
    assert mx.speed_to_lead(q, W47, "p90", "tier")[("tier1",)].value == 5400
    assert mx.speed_to_lead(q, W47, "median", "owner") == {
        (ANA,): mx.Value(1800, 3, values=[1800, 1800, 5400]), (BEN,): mx.Value(172800, 1, values=[172800])}
    assert mx.contacted_within_window(q, W47)[()].value == 50.0
    assert {g: v.value for g, v in mx.contacted_within_window(q, W47, "tier").items()} == {
        ("tier1",): 100.0, ("tier2",): 0.0}
    assert mx.conversion(q, W47, "sql", "mql")[()].value == 20.0
    assert mx.conversion(q, W47, "opportunity", "sql")[()].value == 100.0
    money = mx.pipeline_and_revenue(q, W47)
    assert (money["pipeline"].value, money["pipeline"].sample) == (60000, 1)  # the current amount
    assert (money["revenue"].value, money["revenue"].sample) == (60000, 1)
    assert mx.enrichment_completeness(q, W47)[()].value == 50.0
    assert mx.speed_distribution(q, W47) == {
        "tier1": {"≤ 15m": 0, "≤ 1h": 2, "≤ 2h": 1, "≤ 4h": 0, "≤ 8h": 0, "≤ 24h": 0, "≤ 48h": 0, "> 48h": 0},
        "tier2": {"≤ 15m": 0, "≤ 1h": 0, "≤ 2h": 0, "≤ 4h": 0, "≤ 8h": 0, "≤ 24h": 0, "≤ 48h": 1, "> 48h": 0},
    }


def test_an_empty_period_has_no_rates_and_zero_counts(q):
    empty = parse_period("2026-W30", NY)
    assert values(q.count("mql", [empty]), empty) == {(): 0}
    assert values(q.met_rate(FIRST_RESPONSE, [empty]), empty) == {}
    assert mx.acceptance_rate(q, empty) == {}
    assert mx.rejection_reasons(q, empty) == []


def test_aggregates_and_rollups():
    assert percentile([4, 1, 3, 2], 0.5) == 2 and percentile([4, 1, 3, 2], 0.9) == 4
    assert percentile([], 0.9) is None
    assert aggregator("median")([1, 2, 3, 10]) == 2.5
    assert aggregator("p95")(list(range(1, 101))) == 95
    with pytest.raises(MetricError):
        aggregator("mode")
    results = {("w", ("a",)): mx.Value(50.0, 2, 1.0), ("w", ("b",)): mx.Value(100.0, 2, 2.0)}
    assert project(results, None, "percent") == {("w", ()): mx.Value(75.0, 4, 3.0)}
    durations = {("w", ("a",)): mx.Value(1, 1, values=[1]), ("w", ("b",)): mx.Value(3, 2, values=[3, 5])}
    assert project(durations, None, "seconds", "median")[("w", ())].value == 3


def test_built_in_lines_read_the_windows_the_policy_names_not_its_first_one(tmp_path):
    from tests.reports.dataset import POLICY

    # A routing clock declared first, and the first-response clock doubling as the feedback window:
    # speed to lead still reads first_response, and feedback completion becomes its met rate.
    routing = "  window routing {\n    starts when becomes mql\n    stops on assigned\n    goal 5m\n  }\n\n"
    text = POLICY.replace("  window first_response {", routing + "  window first_response {", 1)
    copy = ("  window feedback_copy {\n    starts when becomes mql\n"
            "    stops on activity by owner where direction == \"outbound\"\n    role feedback\n"
            "    goal tier1 2 business hours\n    goal tier2 24h\n  }\n\n")
    text = text.replace("  target mqls ", copy + "  target mqls ", 1)
    policies, store = build_store(tmp_path / "roles.db", text)
    try:
        q = Metrics(store, policies)
        assert q.speed_windows() == [("inbound", "first_response")]
        assert mx.speed_to_lead(q, W47)[()].value == 3600  # as with no routing window
        assert mx.feedback_completion(q, W47)[()].value == 50.0  # met rate, not the 60 % with a disposition
    finally:
        store.close()


def test_no_window_with_the_role_means_no_speed_to_lead_rather_than_a_guess(tmp_path):
    from tests.reports.dataset import POLICY

    policies, store = build_store(tmp_path / "none.db", POLICY.replace("    role speed_to_lead\n", "", 1))
    try:
        q = Metrics(store, policies)
        assert q.speed_windows() == []
        assert mx.speed_to_lead(q, W47) == {}
        assert mx.contacted_within_window(q, W47) == {}
    finally:
        store.close()


def test_a_counting_stage_gives_a_target_the_rate_a_window_would_see(tmp_path):
    # `check` refuses a counting definition in a target (it read 0 % there); as a stage it is judged at
    # each event. Two owner touches since MQL: A, B (one inbound) and C of A, B, C, D, F: 60 %.
    from tests.reports.dataset import POLICY

    text = POLICY.replace('stage sal when', 'stage attempted when count(activity by owner since mql) >= 2\n'
                                            'stage sal when', 1)
    policies, store = build_store(tmp_path / "attempted.db", text)
    try:
        assert values(Metrics(store, policies).rate("attempted", "mql", [W47])) == {(): 60.0}
    finally:
        store.close()
