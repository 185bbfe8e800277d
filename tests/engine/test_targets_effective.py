"""Targets before and across a policy's effective date (docs/reports.md, The effective date).

The data set is tests/reports/dataset.py: MQLs A, B (Mon 16), C (Tue 17), D (Wed 18) and
F (Sun 22) in week 2026-W47, G on Monday 30 November; all times New York.
"""

from __future__ import annotations

import pytest

from sla_engine.engine.periods import parse_period, zone_of
from sla_engine.engine.targets import AT_RISK, MISSED, NOT_IN_EFFECT, ON_TARGET, due_target_escalations, evaluate_target
from sla_engine.language import model as m
from sla_engine.runner import record_target_escalations
from sla_engine.store.metrics import Metrics
from tests.engine.test_evaluate import at
from tests.reports.dataset import AS_OF, POLICY, build_store, policy_set

NY = zone_of("America/New_York")


def effective(day: str) -> str:
    return POLICY.replace('policy inbound {\n  timezone "America/New_York"\n',
                          f'policy inbound {{\n  timezone "America/New_York"\n  effective {day}\n')


def mqls(text: str) -> tuple[m.Policy, m.Target]:
    policy = policy_set(text).policies["inbound"]
    return policy, next(t for t in policy.targets if t.name == "mqls")


@pytest.fixture(scope="module")
def q(tmp_path_factory):
    policies, store = build_store(tmp_path_factory.mktemp("effective") / "s.db", effective("2026-11-18"))
    yield Metrics(store, policies)
    store.close()


def test_a_period_before_the_effective_date_is_not_in_effect_never_missed(q):
    policy, target = mqls(effective("2026-11-18"))
    (row,) = evaluate_target(q, policy, target, [parse_period("2026-W46", NY)], AS_OF)
    assert (row.status, row.value, row.goal_value, row.expected) == (NOT_IN_EFFECT, None, None, None)


def test_the_period_containing_the_date_counts_from_it_against_a_pro_rated_count(q):
    policy, target = mqls(effective("2026-11-18"))
    (row,) = evaluate_target(q, policy, target, [parse_period("2026-W47", NY)], AS_OF)
    assert row.value == 2  # D and F; A, B and C became MQLs before Wednesday
    assert row.goal_value == pytest.approx(4 * 5 / 7)  # five of the week's seven days are in effect
    assert row.status == MISSED  # 2 of 2.86: more than the 25% tolerance short


def test_the_share_in_effect_pro_rates_only_counts(q):
    policy = policy_set(effective("2026-11-18")).policies["inbound"]
    speed = next(t for t in policy.targets if t.name == "speed")
    (row,) = evaluate_target(q, policy, speed, [parse_period("2026-W47", NY)], AS_OF)
    assert row.goal_value == 3600 and row.expected == 3600  # a duration goal is the plain goal


def test_a_period_in_progress_before_the_date_is_not_in_effect(q):
    policy, target = mqls(effective("2026-11-18"))
    (row,) = evaluate_target(q, policy, target, [parse_period("2026-W47", NY)], at(17, 12))
    assert row.status == NOT_IN_EFFECT and row.in_progress


def test_a_period_in_progress_after_the_date_expects_the_share_in_effect_so_far(tmp_path):
    thursday_night = at(20, 0)
    policies, store = build_store(tmp_path / "s.db", effective("2026-11-18"), as_of=thursday_night)
    (row,) = evaluate_target(Metrics(store, policies), *mqls(effective("2026-11-18")),
                             [parse_period("2026-W47", NY)], thursday_night)
    assert row.in_progress and row.value == 1  # D
    assert row.goal_value == pytest.approx(4 * 5 / 7)
    assert row.expected == pytest.approx(4 * 2 / 7)  # Wednesday and Thursday of the week's seven days
    assert row.status == AT_RISK  # 1 of 1.14, within the 25% tolerance
    store.close()


def test_missed_periods_before_the_date_raise_no_escalation(tmp_path):
    # Without a date W48 (0 MQLs) and W49 (G only) are a missed streak by 8 December (tests/engine/test_targets.py).
    policies, store = build_store(tmp_path / "s.db", effective("2026-12-01"))
    december_8 = at(8, 12, month=12)
    rows = {r.period.label: r.status for r in evaluate_target(
        Metrics(store, policies), *mqls(effective("2026-12-01")),
        [parse_period("2026-W48", NY), parse_period("2026-W49", NY)], december_8)}
    assert rows == {"2026-W48": NOT_IN_EFFECT, "2026-W49": MISSED}
    assert due_target_escalations(Metrics(store, policies), december_8) == []
    assert record_target_escalations(policies, store, december_8, run_id=2) == 0
    store.close()


def test_an_at_risk_level_ignores_a_period_not_in_effect(tmp_path):
    text = effective("2026-12-28").replace("    escalate when missed 2 periods {",
                                           "    escalate when at risk { notify cro via email }\n"
                                           "    escalate when missed 1 periods {")
    policies, store = build_store(tmp_path / "s.db", text)
    assert due_target_escalations(Metrics(store, policies), at(23, 12, month=12)) == []
    store.close()
    policies, store = build_store(tmp_path / "without.db", text.replace("  effective 2026-12-28\n", ""))
    assert due_target_escalations(Metrics(store, policies), at(23, 12, month=12))  # W51 missed: it escalates
    store.close()


def test_without_a_date_every_period_is_judged(q):
    policy, target = mqls(POLICY)
    (row,) = evaluate_target(q, policy, target, [parse_period("2026-W47", NY)], AS_OF)
    assert (row.value, row.status) == (5, ON_TARGET)
