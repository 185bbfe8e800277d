"""The SLA dashboard's model: everything it shows, built once over the store.

The renderers (sla_engine/reports/render/) turn one Report into text, markdown, json, csv or
html; the web server renders the same model with the same templates. Building and rendering
are apart so that the static report, the weekly digest and the live page never disagree.

Above the fold a VP reads one tile per commitment: the period's value beside its goal (a count
in progress against its pro-rated expectation), green/amber/red, the last periods as a
sparkline, the person accountable, and a line saying what the number counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sla_engine.engine.measures import Value
from sla_engine.engine.periods import Period, effective_at, parse_period, period_of, zone_of
from sla_engine.engine.targets import (
    AT_RISK,
    DEFAULT_PERIOD,
    MISSED,
    NO_DATA,
    NOT_IN_EFFECT,
    ON_TARGET,
    TargetRow,
    current_period,
    evaluate_target,
    with_weekly_trend,
)
from sla_engine.engine.trace import source_text
from sla_engine.events import utc
from sla_engine.language import model as m
from sla_engine.language.actions import describe_action
from sla_engine.language.policy_set import PolicySet
from sla_engine.reports import metrics as mx
from sla_engine.store import owners
from sla_engine.store.db import Store
from sla_engine.store.metrics import Metrics

TREND_WEEKS = 12
SPARK_PERIODS = 8  # periods of the target's own kind a tile's sparkline shows
SIDES = {"marketing": "Marketing", "sales": "Sales", "joint": "Joint"}
OPEN_STATUSES = ("pending", "sending", "failed")


# ---------------------------------------------------------------- the model


@dataclass
class MetricLine:
    """A dashboard metric with no target: MQLs by source, speed to lead by tier, ..."""

    section: str
    name: str
    group: str
    value: float | None
    unit: str  # count, percent, seconds, amount, number
    sample: int
    owner: str


@dataclass
class OwnerLine:
    owner: str
    mqls: int
    contacted: Value | None
    median: Value | None
    p90: Value | None
    attempts: Value | None
    feedback: Value | None
    acceptance: Value | None


@dataclass
class Trend:
    policy: str
    target: str
    label: str
    unit: str
    rows: list[TargetRow]


@dataclass
class Tile:
    """One commitment for one period, as a VP reads it at a glance."""

    policy: str
    policy_title: str
    target: str
    label: str
    side: str  # Marketing, Sales or Joint (a contact's name when the policy's owner is a contact)
    accountable: str  # "Sam Okoro, VP Marketing"; "-" when the policy names no one
    row: TargetRow  # the period's value, every group together
    groups: list[TargetRow]  # one per group for a `group by` target, else empty
    history: list[TargetRow]  # the target's own periods up to this one, oldest first (the sparkline)
    counts: str  # what the number counts, in words
    accountable_contact: str | None = None  # the contact's name in the policies, for the weekly review

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def behind(self) -> list[TargetRow]:
        """The groups (reps, regions) that are not on target, worst first."""
        return [g for g in self.groups if g.status in (MISSED, AT_RISK)]


@dataclass
class OpenEscalation:
    """An outbox row not sent yet: what it is about, who gets it, where it stands."""

    key: str
    lead_id: str
    policy: str
    window: str
    level: str
    action: str
    recipient: str
    status: str
    due_at: str
    attempts: int
    last_error: str | None


@dataclass
class Report:
    period: Period
    as_of: datetime
    generated_at: datetime
    policy_hash: str
    explicit_period: bool
    targets: list[TargetRow] = field(default_factory=list)
    metrics: list[MetricLine] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    speed: dict[str, dict[str, int]] = field(default_factory=dict)
    owners: list[OwnerLine] = field(default_factory=list)
    rejections: list[tuple[str, int]] = field(default_factory=list)
    tiles: list[Tile] = field(default_factory=list)
    escalations: list[OpenEscalation] = field(default_factory=list)

    @property
    def title(self) -> str:
        state = " (in progress)" if self.period.in_progress(self.as_of) else ""
        return f"SLA dashboard · {self.period.label}{state} · as of {self.as_of:%Y-%m-%d %H:%M} UTC"

    def tally(self) -> dict[str, int]:
        """How many commitments are on target, at risk, missed or without data."""
        found: dict[str, int] = {str(status): 0 for status in (ON_TARGET, AT_RISK, MISSED, NO_DATA, NOT_IN_EFFECT)}
        for tile in self.tiles:
            found[str(tile.status)] += 1
        return found

    def sides(self) -> list[tuple[str, list[tuple[str, list[Tile]]]]]:
        """Tiles by side (Marketing, Sales, Joint), then by policy: the page's sections."""
        order = [*SIDES.values()]
        by_side: dict[str, dict[str, list[Tile]]] = {}
        for tile in self.tiles:
            by_side.setdefault(tile.side, {}).setdefault(tile.policy_title, []).append(tile)
        names = sorted(by_side, key=lambda side: (order.index(side) if side in order else len(order), side))
        return [(side, list(by_side[side].items())) for side in names]


def report_zone(policy_set: PolicySet) -> str:
    """The dashboard's own metrics use the first policy's time zone (UTC without one)."""
    return next((p.timezone for p in policy_set.policies.values() if p.timezone), "UTC")


def build_report(policy_set: PolicySet, store: Store, as_of: datetime, period: str | None = None,
                 progress: Callable[[int, int | None], None] | None = None) -> Report:
    """Everything the dashboard shows, computed over the store as the last run left it.

    ``progress`` is told how many of its steps are done: each target twice (its periods, its
    tile), then the escalations, metrics, speed, owners and rejections.
    """
    targets = sum(len(policy.targets) for policy in policy_set.policies.values())
    steps = _Steps(progress, 2 * targets + 5)
    as_of = utc(as_of)
    q = Metrics(store, policy_set)
    zone = zone_of(report_zone(policy_set))
    chosen = parse_period(period, zone) if period else period_of("month", as_of, zone)
    report = Report(period=chosen, as_of=as_of, generated_at=datetime.now(timezone.utc),
                    policy_hash=policy_set.content_hash, explicit_period=bool(period))
    last = min(chosen.end - timedelta(seconds=1), max(as_of, chosen.start))
    weeks = [period_of("week", last, zone)]
    while len(weeks) < TREND_WEEKS:
        weeks.insert(0, weeks[0].previous())
    for policy in policy_set.policies.values():
        policy_weeks = [parse_period(w.label, zone_of(policy.timezone)) for w in weeks]
        for target in policy.targets:
            rows, trend = with_weekly_trend(q, policy, target, current_period(policy, target, as_of, period),
                                            policy_weeks, as_of)
            report.targets.extend(rows)
            if trend:
                report.trends.append(Trend(policy.name, target.name, target.label or target.name,
                                           trend[0].unit, trend))
            steps.done()
    report.tiles = []
    for policy in policy_set.policies.values():
        for target in policy.targets:
            if (tile := build_tile(q, policy, target, as_of, period)) is not None:
                report.tiles.append(tile)
            steps.done()
    report.escalations = open_escalations(store)
    steps.done()
    report.metrics = dashboard_metrics(q, chosen)
    steps.done()
    report.speed = mx.speed_distribution(q, chosen)
    steps.done()
    people = store.owners.all()
    report.owners = [replace(line, owner=owners.short_label(people[line.owner])) if line.owner in people else line
                     for line in owner_lines(q, chosen)]
    steps.done()
    report.rejections = mx.rejection_reasons(q, chosen)
    steps.done()
    return report


@dataclass
class _Steps:
    """A report's steps counted for a progress bar."""

    progress: Callable[[int, int | None], None] | None
    total: int
    count: int = 0

    def done(self) -> None:
        self.count += 1
        if self.progress is not None:
            self.progress(self.count, self.total)


def accountable_text(policy_set: PolicySet, name: str | None) -> str:
    """The contact's name and role ("Sam Okoro, VP Marketing"), else the name as written."""
    if not name:
        return "-"
    contact = policy_set.contacts.get(name)
    if contact is None:
        return name
    person, role = (getattr(contact.get(key), "value", None) for key in ("name", "role"))
    return ", ".join(str(part) for part in (person or name, role) if part)


def counts_text(policy_set: PolicySet, policy: m.Policy, target: m.Target, row: TargetRow) -> str:
    """What a tile's number counts, so two numbers that differ say why."""
    metric = target.metric
    if metric is None:
        return "-"
    if row.status == NOT_IN_EFFECT and policy.effective is not None:
        return f"not in effect: the policy takes effect on {policy.effective.isoformat()}; nothing is owed before"
    n, hits = row.sample, None
    if row.value is not None and row.unit == "percent":
        hits = round(row.value * n / 100)
    span = f"in {row.period.label}"
    since = effective_at(policy.effective, policy.timezone)
    if since is not None and row.period.contains(since) and policy.effective is not None:
        span += f" from {policy.effective.isoformat()}, when the policy took effect"
    if metric.kind == "count":
        text = f"{n:,} leads entered {metric.subject} {span}"
    elif metric.kind == "met_rate":
        text = f"{hits or 0:,} of {n:,} {metric.subject} clocks due {span} were met"
    elif metric.kind == "rate":
        text = f"{hits or 0:,} of {n:,} leads entering {metric.among} {span} reached {metric.subject}"
    elif metric.kind == "elapsed":
        text = f"{metric.aggregate} business time of {n:,} {metric.subject} clocks started {span}"
    else:
        text = f"{hits or 0:,} of {n:,} leads created {span} had every field set"
    scope = []
    if policy.applies is not None:
        scope.append(source_text(policy_set, policy.applies))
    if target.where is not None:
        scope.append(source_text(policy_set, target.where))
    if scope:
        text += " · only " + " and ".join(scope)
    return text


def spark_periods(kind: str, period: Period, as_of: datetime) -> list[Period]:
    """The target's own periods, SPARK_PERIODS of them, ending with the one shown (or as_of's)."""
    last = min(period.end - timedelta(seconds=1), max(as_of, period.start))
    found = [period_of(kind, last, period.zone)]
    while len(found) < SPARK_PERIODS:
        found.insert(0, found[0].previous())
    return found


def build_tile(q: Metrics, policy: m.Policy, target: m.Target, as_of: datetime, period: str | None) -> Tile | None:
    """The target's tile: the period's value (all groups together), its groups and its history."""
    if target.metric is None:
        return None
    shown = current_period(policy, target, as_of, period)
    overall = target.model_copy(update={"group_by": []})
    history = evaluate_target(q, policy, overall, spark_periods(target.period or DEFAULT_PERIOD, shown, as_of),
                              as_of)
    rows = evaluate_target(q, policy, overall, [shown], as_of)
    if not rows:
        return None
    groups = evaluate_target(q, policy, target, [shown], as_of) if target.group_by else []
    order = {MISSED: 0, AT_RISK: 1, NO_DATA: 2, ON_TARGET: 3, NOT_IN_EFFECT: 4}
    groups.sort(key=lambda r: (order[r.status], r.value if r.value is not None else 0.0))
    owner = target.owner or ""
    return Tile(
        policy=policy.name, policy_title=policy.title or policy.name, target=target.name,
        label=target.label or target.name,
        side=SIDES.get(owner, accountable_text(q.policy_set, owner) if owner else "Unassigned"),
        accountable=accountable_text(q.policy_set, target.accountable),
        row=rows[0], groups=groups, history=history, counts=counts_text(q.policy_set, policy, target, rows[0]),
        accountable_contact=target.accountable,
    )


def open_escalations(store: Store) -> list[OpenEscalation]:
    """What the outbox still owes: pending, in flight or failing, soonest first."""
    found = []
    for row in store.outbox.rows():
        if row["status"] not in OPEN_STATUSES:
            continue
        try:
            action = json.loads(row["action"])
        except (TypeError, ValueError):
            action = {}
        recipient = row.get("recipient") or _recipient_text(action)
        found.append(OpenEscalation(
            key=row["key"], lead_id=row["lead_id"], policy=row["policy"], window=row["window"], level=row["level"],
            action=describe_action(action), recipient=recipient, status=row["status"], due_at=row["due_at"],
            attempts=row.get("attempts") or 0, last_error=row.get("last_error"),
        ))
    # Target escalations (a missed streak, to a named leader) first, then the latest due first.
    found.sort(key=lambda e: e.due_at, reverse=True)
    found.sort(key=lambda e: bool(e.lead_id))
    return found


def _recipient_text(action: dict[str, Any]) -> str:
    """Who an action goes to before delivery resolved it: a named contact, or the lead's owner/manager."""
    recipient = action.get("recipient") or {}
    if recipient.get("kind") == "named":
        return str(recipient.get("name"))
    if recipient.get("kind"):
        return f"the lead's {recipient['kind']}"
    if action.get("action") == "reassign":
        return f"team {action.get('team')}"
    return "-"


def _lines(section: str, name: str, values: dict[tuple[Any, ...], Value], unit: str, owner: str,
           by: str | None = None) -> list[MetricLine]:
    lines = []
    if by is None and () not in values:  # the total is always shown: zero MQLs, or no data
        values = {(): Value(0.0 if unit == "count" else None, 0)}
    for group, value in sorted(values.items(), key=lambda item: str(item[0])):
        label = f"{by}={'-' if group[0] is None else group[0]}" if by and group else ""
        lines.append(MetricLine(section, name, label, value.value, unit, value.sample, owner))
    return lines


def dashboard_metrics(q: Metrics, period: Period) -> list[MetricLine]:
    """The issue's list, in the order a business review reads it."""
    out: list[MetricLine] = []
    out += _lines("Volume", "MQLs delivered", mx.mqls_delivered(q, period), "count", "marketing")
    for by in ("tier", "source", "campaign"):
        out += _lines("Volume", "MQLs delivered", mx.mqls_delivered(q, period, by), "count", "marketing", by)
    out += _lines("Quality", "Acceptance rate", mx.acceptance_rate(q, period), "percent", "joint")
    out += _lines("Quality", "Acceptance rate", mx.acceptance_rate(q, period, "tier"), "percent", "joint", "tier")
    sql, opportunity, mql = q.stage("sql"), q.stage("opportunity"), q.stage("mql")
    if sql and mql:
        out += _lines("Quality", "MQL → SQL", mx.conversion(q, period, sql, mql), "percent", "joint")
    if sql and opportunity:
        out += _lines("Quality", "SQL → opportunity", mx.conversion(q, period, opportunity, sql), "percent", "joint")
    for aggregate in ("median", "p90"):
        name = f"Speed to lead ({aggregate})"
        out += _lines("Speed", name, mx.speed_to_lead(q, period, aggregate), "seconds", "sales")
        out += _lines("Speed", name, mx.speed_to_lead(q, period, aggregate, "tier"), "seconds", "sales", "tier")
    out += _lines("Speed", "Contacted within the window", mx.contacted_within_window(q, period), "percent", "sales")
    out += _lines("Speed", "Contacted within the window", mx.contacted_within_window(q, period, "tier"),
                  "percent", "sales", "tier")
    out += _lines("Follow-up", "Attempts per MQL", mx.attempts_per_lead(q, period), "number", "sales")
    out += _lines("Follow-up", "Channels per MQL", mx.channels_per_lead(q, period), "number", "sales")
    out += _lines("Feedback", "Feedback completion", mx.feedback_completion(q, period), "percent", "sales")
    rejections = mx.rejection_reasons(q, period)
    rejected = sum(n for _, n in rejections)
    if rejected:
        with_reason = sum(n for reason, n in rejections if reason != "(no reason)")
        out.append(MetricLine("Feedback", "Rejections with a reason", "", 100 * with_reason / rejected,
                              "percent", rejected, "sales"))
    money = mx.pipeline_and_revenue(q, period)
    out.append(MetricLine("Revenue", "Pipeline from SLA-covered leads", "", money["pipeline"].value, "amount",
                          money["pipeline"].sample, "joint"))
    out.append(MetricLine("Revenue", "Revenue from SLA-covered leads", "", money["revenue"].value, "amount",
                          money["revenue"].sample, "joint"))
    out += _lines("Data", "Enrichment completeness", mx.enrichment_completeness(q, period), "percent", "marketing")
    return out


def owner_lines(q: Metrics, period: Period) -> list[OwnerLine]:
    """Per rep: MQLs, the SLA adherence number, speed, attempts, feedback, acceptance."""
    def one(values: dict[tuple[Any, ...], Value]) -> dict[Any, Value]:
        return {group[0]: value for group, value in values.items() if group}

    cohort = q.cohort(period, "owner")
    contacted = one(mx.contacted_within_window(q, period, "owner"))
    median = one(mx.speed_to_lead(q, period, "median", "owner"))
    p90 = one(mx.speed_to_lead(q, period, "p90", "owner"))
    attempts = one(mx.attempts_per_lead(q, period, "owner"))
    feedback = one(mx.feedback_completion(q, period, "owner"))
    acceptance = one(mx.acceptance_rate(q, period, "owner"))
    owners = {group[0] for group in cohort} | set(contacted) | set(median)
    return [
        OwnerLine(str(owner), cohort[(owner,)].mqls if (owner,) in cohort else 0, contacted.get(owner),
                  median.get(owner), p90.get(owner), attempts.get(owner), feedback.get(owner), acceptance.get(owner))
        for owner in sorted(owners, key=str) if owner is not None
    ]


