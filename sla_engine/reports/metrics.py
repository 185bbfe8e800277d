"""The SLA dashboard's metrics: one line of the dashboard each, for one period, per group.

They read the store through its metric queries (store/metrics.py); what each metric means is
in that module's docstring and docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from sla_engine.engine.measures import Group, MetricError, Results, Scope, Value, count_value, project, share_value
from sla_engine.engine.periods import Period
from sla_engine.store.metrics import DEFAULT_ENRICHMENT, SPEED_BUCKETS, Cohort, Metrics, speed_bucket

# ---------------------------------------------------------------- the dashboard's metrics
# Each answers one line of the SLA dashboard for one period, optionally per group
# (tier, owner, source, campaign, ...): {group: Value}. An empty group () is the total.


def _one(results: Results, period: Period) -> dict[Group, Value]:
    return {group: value for (label, group), value in results.items() if label == period.label}


def _by(by: str | None) -> tuple[str, ...]:
    return (by,) if by else ()


def mqls_delivered(q: Metrics, period: Period, by: str | None = None) -> dict[Group, Value]:
    """MQLs delivered: leads entering the mql stage in the period (as `count of mql`)."""
    return {g: count_value(c.mqls) for g, c in q.cohort(period, by).items()}


def acceptance_rate(q: Metrics, period: Period, by: str | None = None) -> dict[Group, Value]:
    """Of the period's MQLs that sales dispositioned, the share it accepted."""
    return {g: share_value(c.accepted, c.judged) for g, c in q.cohort(period, by).items()}


def feedback_completion(q: Metrics, period: Period, by: str | None = None) -> dict[Group, Value]:
    """Feedback in time: met rate of the `role feedback` windows due in the period, by tier or owner.

    Without such a window, the share of the period's MQLs with a disposition (at any time).
    """
    windows = q.role_windows("feedback")
    if not windows:
        return {g: share_value(c.judged, c.mqls) for g, c in q.cohort(period, by).items()}
    met = q.memo(("feedback", period.label), lambda: q.met_rate(windows, [period], Scope(group_by=SPEED_GROUPS)))
    return _one(project(met, _speed_index(by), "percent"), period)


def attempts_per_lead(q: Metrics, period: Period, by: str | None = None) -> dict[Group, Value]:
    """Outbound activities per MQL since it became one."""
    return {g: Value(c.attempts / c.mqls if c.mqls else None, c.mqls, c.attempts)
            for g, c in q.cohort(period, by).items()}


def channels_per_lead(q: Metrics, period: Period, by: str | None = None) -> dict[Group, Value]:
    """Distinct outbound channels (call, email, social, ...) per MQL since it became one."""
    return {g: Value(c.channels / c.mqls if c.mqls else None, c.mqls, c.channels)
            for g, c in q.cohort(period, by).items()}


def rejection_reasons(q: Metrics, period: Period) -> list[tuple[str, int]]:
    """Why sales rejected or disqualified the period's MQLs, most common first."""
    reasons = next(iter(q.cohort(period).values()), Cohort()).reasons
    return sorted(reasons.items(), key=lambda item: (-item[1], item[0]))


SPEED_GROUPS = ("tier", "owner")


def _speed_index(by: str | None) -> int | None:
    if by is not None and by not in SPEED_GROUPS:
        raise MetricError(f"speed to lead groups by {', '.join(SPEED_GROUPS)}, not {by!r}")
    return SPEED_GROUPS.index(by) if by else None


def speed_to_lead(q: Metrics, period: Period, aggregate: str = "median",
                  by: str | None = None) -> dict[Group, Value]:
    """Business time to first contact (the speed-to-lead window), median or pNN, by tier or owner."""
    seconds = q.memo(("speed", period.label), lambda: q.elapsed(
        "median", q.speed_windows(), [period], Scope(group_by=SPEED_GROUPS)))
    return _one(project(seconds, _speed_index(by), "seconds", aggregate), period)


def contacted_within_window(q: Metrics, period: Period, by: str | None = None) -> dict[Group, Value]:
    """The SLA adherence number: met rate of the speed-to-lead window, deadlines in the period."""
    met = q.memo(("met", period.label), lambda: q.met_rate(
        q.speed_windows(), [period], Scope(group_by=SPEED_GROUPS)))
    return _one(project(met, _speed_index(by), "percent"), period)


def conversion(q: Metrics, period: Period, outcome: str, among: str,
               by: str | None = None) -> dict[Group, Value]:
    """Stage-to-stage conversion of the period's entries into `among` (MQL→SQL, SQL→opportunity)."""
    if outcome not in q.policy_set.stages or among not in q.policy_set.stages:
        return {}
    return _one(q.rate(outcome, among, [period], Scope(group_by=_by(by))), period)


def enrichment_completeness(q: Metrics, period: Period,
                            fields: Sequence[str] = DEFAULT_ENRICHMENT) -> dict[Group, Value]:
    """Share of leads created in the period with every enrichment field set."""
    return _one(q.completeness(fields, [period]), period)


def pipeline_and_revenue(q: Metrics, period: Period) -> dict[str, Value]:
    """Pipeline (opportunities opened) and revenue (deals won) in the period from SLA-covered leads.

    A lead is SLA-covered when a policy gave it a clock with a goal (any status but
    not applicable); amounts are the lead's current opportunity amount.
    """
    return q.pipeline_and_revenue(period)


def speed_distribution(q: Metrics, period: Period) -> dict[str, dict[str, int]]:
    """How many first contacts fell in each speed bucket, per tier."""
    found: dict[str, dict[str, int]] = {}
    for (tier,), value in sorted(speed_to_lead(q, period, by="tier").items(), key=lambda item: str(item[0])):
        counts = found.setdefault("-" if tier is None else str(tier), {label: 0 for label, _ in SPEED_BUCKETS})
        for seconds in value.values or []:
            counts[speed_bucket(seconds)] += 1
    return found
