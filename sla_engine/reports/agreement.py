"""The written agreement, rendered from the checked policy model that enforces it.

Every sentence is phrased from a model node, so the document cannot promise what the engine does
not enforce; only the policy's ``description`` adds free prose. A node the phraser does not know
raises ``Unphrasable`` instead of being left out, and a test walks every node type of the language.

Clauses carry stable anchors so other pages (the dashboard) can link to them:
``#policy-POLICY`` for the agreement, ``#POLICY-window-WINDOW`` for a window's commitment and
``#POLICY-target-TARGET`` for a target's.

Size: one phrase per node type of the language, and the sections of the written agreement built
from them; the phrases are read together (a window's sentence uses the trigger's, condition's and
escalation's), so they stay in one module, with the Markdown and HTML renderings beside them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sla_engine.language import model as m
from sla_engine.language.policy_set import PolicySet, plan_numbers
from sla_engine.language.scope import stages_seen_by, written_name
from sla_engine.safe_text import strip_control

DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
UNIT_WORDS = {"ms": "millisecond", "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
OP_WORDS = {"==": "is", "!=": "is not", ">=": "is at least", "<=": "is at most", ">": "is more than",
            "<": "is less than"}
GOAL_WORDS = {"==": "exactly", "!=": "anything but", ">=": "at least", "<=": "at most", ">": "more than",
              "<": "less than"}
EVENT_WORDS = {
    "created": "the lead is created", "updated": "the lead is updated", "status_changed": "the lead's status changes",
    "assigned": "the lead is assigned", "activity": "an activity is logged", "disposition": "a disposition is recorded",
    "converted": "the lead is converted", "opportunity_closed": "the opportunity closes",
    "deleted": "the lead is deleted",
}
COUNT_NOUNS = {
    "created": "creations", "updated": "updates", "status_changed": "status changes", "assigned": "assignments",
    "activity": "activities", "disposition": "dispositions", "converted": "conversions",
    "opportunity_closed": "closed opportunities", "deleted": "deletions",
}
SIDES = {"marketing": "Marketing", "sales": "Sales", "joint": "Marketing and Sales jointly"}
PERIOD_WORDS = {"day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly"}


class Unphrasable(Exception):
    """The model holds something this renderer cannot say: a gap to fix, never to skip."""


@dataclass
class Clause:
    anchor: str
    heading: str
    sentences: list[str]


@dataclass
class Section:
    anchor: str
    title: str
    clauses: list[Clause] = field(default_factory=list)


@dataclass
class Agreement:
    anchor: str
    title: str
    subtitle: str
    sections: list[Section]
    parties: list[tuple[str, str]]  # (side, "Name, Role") for the signature block


# ---------------------------------------------------------------- words


def words(name: str) -> str:
    """A model name as a reader says it: ``director_plus`` → "director plus" (a policy's own name as written)."""
    return written_name(name).replace("_", " ")


def stage_word(name: str) -> str:
    """Stage names people spell in capitals: MQL, SAL, SQL."""
    return written_name(name).upper() if written_name(name) in ("mql", "sal", "sql", "icp") else words(name)


def number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")


def duration(value: m.Duration) -> str:
    """``2 business hours``, ``24 hours``, ``30 minutes``."""
    noun = UNIT_WORDS[value.unit]
    plural = "" if value.amount == 1 else "s"
    business = "business " if value.business else ""
    return f"{number(value.amount)} {business}{noun}{plural}"


def value(node: Any) -> str:
    if isinstance(node, m.Literal_):
        if node.type == "text":
            return f"“{clean(str(node.value))}”"
        if node.type == "percent":
            return f"{number(node.value)} %"
        if node.type == "boolean":
            return "true" if node.value else "false"
        if node.type == "number":
            return number(node.value)
        if node.type in ("date", "time"):
            return str(node.value)
    if isinstance(node, m.Duration):
        return duration(node)
    if isinstance(node, m.ListValue):
        return join_or([value(item) for item in node.items])
    if isinstance(node, m.Ref):
        if len(node.path) == 2:
            return f"the {words(node.path[1])} of plan {words(node.path[0])}"
        return words(node.dotted)
    if isinstance(node, m.Env):
        return "a secret from the environment"
    if isinstance(node, m.Count):
        return count_phrase(node)
    raise Unphrasable(f"value {type(node).__name__}")


def join(items: list[str], word: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def join_or(items: list[str]) -> str:
    return join(items, "or")


def count_phrase(node: m.Count) -> str:
    noun = COUNT_NOUNS.get(node.event, words(node.event))
    text = f"the number of different {words(node.distinct)}s of {noun}" if node.distinct else f"the number of {noun}"
    if node.by_owner:
        text += " by the owner"
    if node.where is not None:
        text += f" where {condition(node.where)}"
    if node.since == "start":
        text += " since the clock started"
    elif node.since:
        text += f" since the lead became {stage_word(node.since)}"
    return text


def subject(node: Any) -> str:
    """The left side of a condition: a field or a count."""
    if isinstance(node, m.Ref):
        return f"the {words(node.dotted)}" if len(node.path) == 1 else value(node)
    return value(node)


def condition(expr: Any) -> str:
    """A condition as a clause: ``lead_score >= 80 and director_plus`` → "the lead score is at least 80 and …"."""
    if isinstance(expr, m.Compare):
        return f"{subject(expr.left)} {OP_WORDS[expr.op]} {value(expr.right)}"
    if isinstance(expr, m.Member):
        verb = "is not" if expr.negated else "is"
        return f"{subject(expr.operand)} {verb} {value(expr.values)}"
    if isinstance(expr, m.Between):
        return f"{subject(expr.operand)} is between {value(expr.low)} and {value(expr.high)}"
    if isinstance(expr, m.Matches):
        if re.fullmatch(r"[\w '|-]+", expr.pattern):
            options = [clean(part) for part in expr.pattern.split("|")]
            return f"{subject(expr.operand)} contains {join_or([f'“{o}”' for o in options])}"
        return f"{subject(expr.operand)} matches the pattern “{clean(expr.pattern)}”"
    if isinstance(expr, m.IsSet):
        return f"{subject(expr.operand)} is {'missing' if expr.missing else 'recorded'}"
    if isinstance(expr, m.Becomes):
        return f"the lead becomes {stage_word(expr.stage)}"
    if isinstance(expr, m.Truth):
        if isinstance(expr.operand, m.Ref) and len(expr.operand.path) == 1:
            return f"the lead is {stage_word(expr.operand.path[0])}"
        return f"{value(expr.operand)} is true"
    if isinstance(expr, m.Not):
        if isinstance(expr.operand, m.Or):
            items = [_grouped(item) for item in expr.operand.items]
            return f"neither {', '.join(items[:-1])} nor {items[-1]}"
        return f"it is not the case that {_grouped(expr.operand)}"
    if isinstance(expr, m.And):
        return join([_grouped(item) for item in expr.items])
    if isinstance(expr, m.Or):
        return "either " + join_or([_grouped(item) for item in expr.items])
    raise Unphrasable(f"condition {type(expr).__name__}")


def _grouped(expr: Any) -> str:
    text = condition(expr)
    return f"({text})" if isinstance(expr, (m.And, m.Or)) else text


def trigger(node: m.Trigger) -> str:
    if node.condition is not None:
        return condition(node.condition)
    if node.event is None:
        raise Unphrasable("trigger without event or condition")
    text = EVENT_WORDS.get(node.event, f"a {words(node.event)} event arrives")
    if node.by_owner:
        text += " by the lead's owner"
    if node.where is not None:
        text += f" where {condition(node.where)}"
    return text


def calendar_sentence(calendar: m.CalendarDecl, year: int | None = None) -> str:
    """``Business hours of ny office: Monday to Friday 09:00–12:00 and 13:00–17:00 (America/New_York) …``."""
    parts = []
    for hours in calendar.hours:
        parts.append(f"{day_span(hours.days)} {join([interval(i) for i in hours.intervals])}")
    text = f"Business hours on the {words(calendar.name)} calendar are {join(parts) or 'not set'}"
    if calendar.timezone:
        text += f", {calendar.timezone} time"
    text += "."
    if calendar.holidays:
        region = calendar.holidays + (f"-{calendar.subdivision}" if calendar.subdivision else "")
        named = holiday_names(calendar, year)
        text += f" Public holidays of {region} are not business time"
        text += f"; in {year or date.today().year}: {'; '.join(named)}." if named else "."
    if calendar.closed:
        text += f" Also closed: {join([day_text(d) for d in calendar.closed])}."
    for opened in calendar.open:
        opening = join([interval(i) for i in opened.intervals]) or "its usual hours"
        text += f" Open on {day_text(opened.day)}, {opening}."
    return text


def holiday_names(calendar: m.CalendarDecl, year: int | None = None) -> list[str]:
    """The holidays the engine skips in the policy's year, by name, so the document names them."""
    import holidays

    try:
        found = holidays.country_holidays(calendar.holidays or "", subdiv=calendar.subdivision,
                                          years=year or date.today().year)
    except (NotImplementedError, KeyError):
        return []
    return [f"{name}, {day.day} {day.strftime('%B')}" for day, name in sorted(found.items())]


def day_text(day: date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"


def day_span(days: list[int]) -> str:
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_NAMES[ordered[0]]} to {DAY_NAMES[ordered[-1]]}"
    return join([DAY_NAMES[d] for d in ordered])


def interval(node: m.Interval) -> str:
    return f"{node.start.strftime('%H:%M')}–{node.end.strftime('%H:%M')}"


# ---------------------------------------------------------------- people and actions


class People:
    """Contacts as people: "Rachel Kim (VP Sales)"."""

    def __init__(self, policy_set: PolicySet) -> None:
        self.contacts = policy_set.contacts

    def name(self, name: str) -> str:
        contact = self.contacts.get(name)
        if contact is None:
            return words(name)
        if contact.is_team:
            return f"the {words(name)} team"
        person = _text(contact.get("name")) or words(name)
        role = _text(contact.get("role"))
        return f"{person} ({role})" if role else person

    def value(self, node: Any) -> str:
        if isinstance(node, m.Ref) and len(node.path) == 1:
            return self.name(node.path[0])
        if isinstance(node, m.Literal_):
            return clean(str(node.value))
        return value(node)

    def recipient(self, node: m.Recipient) -> str:
        if node.kind == "owner":
            return "the lead's owner"
        if node.kind == "manager":
            return "the owner's manager"
        return self.name(node.name or "")


def _text(node: Any) -> str:
    return clean(str(node.value)) if isinstance(node, m.Literal_) else ""


def action(node: Any, people: People) -> str:
    if isinstance(node, m.Notify):
        via = f" by {node.channel}" if node.channel else ""
        return f"{people.recipient(node.recipient)} is notified{via}"
    if isinstance(node, m.Reassign):
        how = " in turn (round robin)" if node.round_robin else ""
        skip = ", never to a previous owner" if node.skip_previous else ""
        return f"the lead is reassigned to {people.name(node.team)}{how}{skip}"
    if isinstance(node, m.SetField):
        return f"the {words(node.field)} field is set to {value(node.value)} in the CRM"
    if isinstance(node, m.CreateTask):
        text = f"a CRM task “{clean(node.subject)}” is created"
        if node.recipient is not None:
            text += f" for {people.recipient(node.recipient)}"
        if node.due is not None:
            text += f", due within {duration(node.due)}"
        return text
    raise Unphrasable(f"action {type(node).__name__}")


def escalation(node: m.Escalation, people: People, subject_text: str, goal: str = "", of_target: bool = False) -> str:
    if node.when == "warning" and of_target:
        when = f"If {subject_text} ends a period at risk, short of its goal but within the tolerance"
    elif node.when == "warning":
        when = f"When {subject_text} nears its deadline"
    elif node.when == "breach":
        when = f"When {subject_text} misses its deadline"
    elif node.when == "after_breach":
        when = f"{duration(node.after).capitalize()} after {subject_text} missed its deadline" if node.after \
            else _missing("after")
    elif node.when == "every_after_breach":
        when = (f"Every {duration(node.after)} after {subject_text} missed its deadline, until it is done"
                if node.after else _missing("after"))
    elif node.when == "missed":
        periods = node.missed_periods or 1
        count = "one period" if periods == 1 else f"{periods} consecutive periods"
        when = f"If {subject_text} misses its goal ({goal})" if goal else f"If {subject_text} misses its goal"
        when += f" for {count}"
    else:
        raise Unphrasable(f"escalation level {node.when}")
    actions = join([action(a, people) for a in node.actions])
    if not actions:
        raise Unphrasable("escalation without actions")
    quiet = (f" (outside the business hours of the {words(node.quiet_hours)} calendar, this waits for "
             "the next opening)") if node.quiet_hours else ""
    return f"{when}, {actions}{quiet}."


def _missing(what: str) -> str:
    raise Unphrasable(f"escalation without {what}")


# ---------------------------------------------------------------- commitments


def goal_text(goal: m.Goal, calendar: str | None) -> str:
    text = duration(goal.duration)
    used = goal.calendar or calendar
    if goal.duration.business and used:
        text += f" on the {words(used)} calendar"
    return text


def window_clause(policy: m.Policy, window: m.Window, people: People) -> Clause:
    label = clean(window.label) if window.label else words(window.name).capitalize()
    tiers = {t.name: (clean(t.label) if t.label else words(t.name)) for t in policy.tiers}
    calendar = window.calendar or policy.calendar
    sentences = []
    start = trigger(window.start) if window.start else _unphrasable("window without a start")
    stop = trigger(window.stop) if window.stop else _unphrasable("window without a stop")
    goals = []
    for goal in window.goals:
        who = f"for {tiers.get(goal.tier, words(goal.tier))} leads" if goal.tier else (
            "for every other lead" if len(window.goals) > 1 else "")
        goals.append(f"{goal_text(goal, calendar)} {who}".strip())
    if not goals:
        raise Unphrasable(f"window {window.name} without a goal")
    sentences.append(f"The clock starts when {start} and stops when {stop}; the goal is {join(goals)}.")
    if window.pause is not None:
        sentences.append(f"The clock stands still while {condition(window.pause)}.")
    for warning in window.warnings:
        if warning.percent is not None:
            sentences.append(f"A warning is raised when {number(warning.percent)} % of the time has passed.")
        elif warning.before is not None:
            sentences.append(f"A warning is raised {duration(warning.before)} before the deadline.")
        else:
            raise Unphrasable("warning without a point")
    sentences.append("A lead that is recycled and comes back starts a new clock." if window.restarts_on_recycle
                     else "The clock runs once per lead.")
    if window.quiet_hours:
        sentences.append(f"Escalations due while the {words(window.quiet_hours)} calendar is closed wait for "
                         "its next opening.")
    if window.role == "speed_to_lead":
        sentences.append("This clock is the speed-to-lead measure on the dashboard.")
    elif window.role == "feedback":
        sentences.append("This clock is the feedback-completion measure on the dashboard.")
    elif window.role is not None:
        raise Unphrasable(f"window role {window.role}")
    for level in window.escalations:
        sentences.append(escalation(level, people, "this clock"))
    return Clause(f"{policy.name}-window-{window.name}", label, sentences)


def _unphrasable(what: str) -> str:
    raise Unphrasable(what)


def metric_text(metric: m.Metric, policy: m.Policy, stages: dict[str, m.Stage]) -> str:
    labels = {w.name: (clean(w.label) if w.label else words(w.name)) for w in policy.windows}
    if metric.kind == "count":
        return f"the number of leads that become {stage_word(metric.subject or '')}"
    if metric.kind == "met_rate":
        return f"the share of “{labels.get(metric.subject or '', words(metric.subject or ''))}” clocks met in time"
    if metric.kind == "rate":
        among = stage_word(metric.among or "")
        if metric.subject in stages:
            return f"the share of leads that become {among} and go on to {stage_word(metric.subject or '')}"
        return f"the share of leads that become {among} and are {words(metric.subject or '')}"
    if metric.kind == "elapsed":
        how = {"average": "average", "median": "median"}.get(metric.aggregate or "average")
        if how is None and metric.aggregate and re.fullmatch(r"p\d+", metric.aggregate):
            how = f"{metric.aggregate[1:]}th percentile"
        if how is None:
            raise Unphrasable(f"aggregate {metric.aggregate}")
        return f"the {how} time to “{labels.get(metric.subject or '', words(metric.subject or ''))}”"
    if metric.kind == "completeness":
        return f"the share of new leads with {join([words(f) for f in metric.fields])} all recorded"
    raise Unphrasable(f"metric {metric.kind}")


MEASURED_FROM = {
    "count": "Counted from the stage changes in the CRM's lead events, by the date each lead entered the stage.",
    "met_rate": "Measured from the clocks the engine keeps for every lead, counted in the period each clock was due.",
    "rate": "Measured from the stage changes in the CRM's lead events, for the leads that entered the first stage "
            "in the period.",
    "elapsed": "Measured in business time from each clock's start to its stop, for the clocks stopped in the period.",
    "completeness": "Measured on the lead fields of the leads created in the period.",
}


def scope_phrase(where: Any, policy: m.Policy) -> str:
    """A target's ``where``: ``tier == "tier1"`` reads "Tier 1 leads"; anything else "where …"."""
    labels = {t.name: (clean(t.label) if t.label else words(t.name)) for t in policy.tiers}
    if (isinstance(where, m.Compare) and where.op == "==" and isinstance(where.left, m.Ref)
            and where.left.path == ["tier"] and isinstance(where.right, m.Literal_)
            and where.right.value in labels):
        return f"{labels[where.right.value]} leads"
    return f"where {condition(where)}"


def target_goal(target: m.Target, policy_set: PolicySet) -> str:
    if target.goal is None:
        raise Unphrasable(f"target {target.name} without a goal")
    goal = target.goal.value
    text = value(goal)
    if isinstance(goal, m.Ref) and len(goal.path) == 2 and goal.path[0] in policy_set.plans:
        numbers = plan_numbers(policy_set.plans[goal.path[0]])
        if goal.path[1] in numbers:
            text = f"{number(numbers[goal.path[1]])} ({text})"
    return f"{GOAL_WORDS[target.goal.op]} {text}"


def target_clause(policy: m.Policy, target: m.Target, people: People, policy_set: PolicySet) -> Clause:
    label = clean(target.label) if target.label else words(target.name).capitalize()
    if target.metric is None:
        raise Unphrasable(f"target {target.name} without a metric")
    period = target.period or "month"
    goal = target_goal(target, policy_set)
    owes = SIDES.get(target.owner or "", people.name(target.owner) if target.owner else "Both sides")
    sentence = f"{owes} commit{'' if owes.endswith('jointly') or owes == 'Both sides' else 's'} that, each {period}, "
    sentence += f"{metric_text(target.metric, policy, policy_set.stages)} is {goal}"
    if target.where is not None:
        sentence += f", counting only {scope_phrase(target.where, policy)}"
    sentences = [sentence + "."]
    if target.group_by:
        sentences.append(f"It is judged separately for each {join([words(g) for g in target.group_by])}.")
    if target.tolerance is not None:
        amount = f"{number(target.tolerance)} %" if target.tolerance_is_percent else number(target.tolerance)
        sentences.append(f"A period within {amount} of the goal is at risk rather than missed.")
    if target.accountable:
        sentences.append(f"{people.name(target.accountable)} answers for it.")
    sentences.append(MEASURED_FROM[target.metric.kind])
    for level in target.escalations:
        sentences.append(escalation(level, people, "it", goal, of_target=True))
    return Clause(f"{policy.name}-target-{target.name}", label, sentences)


# ---------------------------------------------------------------- the document


def definitions(policy: m.Policy, policy_set: PolicySet) -> list[Clause]:
    clauses = []
    stages = []
    seen = stages_seen_by(policy.name, list(policy_set.stages))  # its own stages, else the shared ones
    for stage in (policy_set.stages[name] for name in seen):
        if stage.expr is not None:
            stages.append(f"A lead is {stage_word(stage.name)} when {condition(stage.expr)}.")
        elif stage.from_field and stage.from_values is not None:
            stages.append(f"A lead is {stage_word(stage.name)} when its {words(stage.from_field)} is "
                          f"{value(stage.from_values)}.")
        else:
            raise Unphrasable(f"stage {stage.name}")
    if stages:
        order = " → ".join(stage_word(s) for s in seen)
        clauses.append(Clause(f"{policy.name}-stages", "Funnel stages", [f"The funnel, in order: {order}.", *stages]))
    if policy.tiers:
        sentences = []
        for tier in policy.tiers:
            label = clean(tier.label) if tier.label else words(tier.name)
            sentences.append(f"A {label} lead is one where {condition(tier.when)}." if tier.when is not None
                             else f"Every other lead is {label}.")
        if policy.not_covered is not None:
            sentences.append("Any other lead is not covered by this agreement.")
        sentences.append("Tiers are tried in this order when a clock starts; the first that fits applies.")
        clauses.append(Clause(f"{policy.name}-tiers", "Tiers", sentences))
    used = referenced(policy, policy_set)
    terms = [d for name, d in policy_set.definitions.items() if name in used]
    if terms:
        clauses.append(Clause(f"{policy.name}-terms", "Terms", [
            f"“{words(d.name).capitalize()}” means {condition(d.expr)}." for d in terms]))
    scores = [s for name, s in policy_set.scores.items() if name in used]
    if scores:
        clauses.append(Clause(f"{policy.name}-scores", "Scores", [score_sentence(s) for s in scores]))
    return clauses


def referenced(policy: m.Policy, policy_set: PolicySet) -> set[str]:
    """The names the policy and the funnel stages use, followed through definitions and scores."""
    found: set[str] = set()
    seen = stages_seen_by(policy.name, list(policy_set.stages))
    pending = [policy.model_dump(), *(policy_set.stages[name].model_dump() for name in seen)]
    while pending:
        names = set(_names(pending.pop())) - found
        found |= names
        for name in names:
            node = policy_set.definitions.get(name) or policy_set.scores.get(name)
            if node is not None:
                pending.append(node.model_dump())
    return found


def _names(dumped: Any) -> list[str]:
    if isinstance(dumped, dict):
        if dumped.get("kind") == "ref":
            return [dumped["path"][0]]
        return [name for item in dumped.values() for name in _names(item)]
    if isinstance(dumped, list):
        return [name for item in dumped for name in _names(item)]
    return [dumped] if isinstance(dumped, str) else []


def score_sentence(score: m.ScoreDecl) -> str:
    rules = []
    for rule in score.rules:
        points = f"{'+' if rule.points >= 0 else '−'}{number(abs(rule.points))} points"
        if rule.per:
            rules.append(f"{points} per {words(rule.per)}")
        elif rule.when is not None:
            rules.append(f"{points} when {condition(rule.when)}")
        else:
            rules.append(f"{points} for every lead")
    cap = f", up to {number(score.cap)} in all" if score.cap is not None else ""
    return f"The {words(score.name)} score gives {join(rules)}{cap}."


def plan_clause(policy: m.Policy, policy_set: PolicySet) -> Clause | None:
    used = _plans_used(policy, policy_set)
    if not used:
        return None
    sentences = []
    for plan in used:
        numbers = plan_numbers(plan)
        if plan.revenue is None:
            raise Unphrasable(f"plan {plan.name} without revenue")
        text = f"The {words(plan.name)} plan aims at {number(plan.revenue)} of revenue per {plan.period or 'month'}"
        if plan.deal_size:
            text += f"; at {number(plan.deal_size)} a deal that is {number(numbers['clients'])} new clients"
        if plan.win_rate and "opportunities" in numbers:
            text += (f"; at a {number(plan.win_rate * 100)} % win rate, {number(numbers['opportunities'])} "
                     "opportunities")
        for conversion in sorted(plan.conversions, key=lambda c: list(policy_set.stages).index(c.target)
                                 if c.target in policy_set.stages else 0, reverse=True):
            key = {"opportunity": "opportunities"}.get(conversion.source, f"{conversion.source}s")
            if key in numbers:
                text += (f"; at {number(conversion.rate * 100)} % from {stage_word(conversion.source)} to "
                         f"{stage_word(conversion.target)}, {number(numbers[key])} {stage_word(conversion.source)}s")
        sentences.append(text + ".")
    return Clause(f"{policy.name}-plan", "Revenue plan, worked backwards", sentences)


def _plans_used(policy: m.Policy, policy_set: PolicySet) -> list[m.PlanDecl]:
    names = []
    for target in policy.targets:
        goal = target.goal.value if target.goal else None
        if isinstance(goal, m.Ref) and len(goal.path) == 2 and goal.path[0] in policy_set.plans:
            names.append(goal.path[0])
    return [policy_set.plans[n] for n in dict.fromkeys(names)]


def side_of(window: m.Window, policy: m.Policy) -> str:
    """A window belongs to the side whose targets measure it; unmeasured clocks are sales' by default."""
    for target in policy.targets:
        if target.metric and target.metric.subject == window.name and target.owner in ("marketing", "sales"):
            return target.owner
    return "marketing" if window.stop and window.stop.event == "assigned" else "sales"


def build(policy_set: PolicySet, policy_name: str) -> Agreement:
    """The agreement of one policy: sections in the order of the usual written SLA."""
    policy = policy_set.policies[policy_name]
    people = People(policy_set)
    title = clean(policy.title) if policy.title else f"{words(policy.name).capitalize()} agreement"
    anchor = f"policy-{policy.name}"
    sections: list[Section] = []

    signers: dict[str, str] = {}
    for target in policy.targets:
        if target.accountable and target.accountable not in signers:
            signers[target.accountable] = SIDES.get(target.owner or "", "Marketing and Sales").replace(" jointly", "")
    parties = [(side, people.name(name)) for name, side in signers.items()] or [
        ("Marketing", "Marketing"), ("Sales", "Sales")]
    keeper = policy.owner.path[0] if isinstance(policy.owner, m.Ref) and len(policy.owner.path) == 1 else None
    if keeper and keeper in policy_set.contacts and keeper not in signers:
        parties.append(("Document owner", people.name(keeper)))
    party_sentences = ["This agreement is between Marketing and Sales."]
    party_sentences += [f"{people.name(name)} answers for {_for_side(side)}." for name, side in signers.items()]
    if policy.owner is not None:
        party_sentences.append(f"The document is kept by {people.value(policy.owner)}.")
    sections.append(Section(f"{policy.name}-parties", "Parties", [Clause(f"{policy.name}-parties-who", "Who",
                                                                         party_sentences)]))

    scope = []
    if policy.description:
        scope.append(clean(policy.description))
    scope.append(f"It covers every lead where {condition(policy.applies)}, judged when each clock starts."
                 if policy.applies is not None else "It covers every lead.")
    sections.append(Section(f"{policy.name}-scope", "Scope", [Clause(f"{policy.name}-scope-leads", "Leads covered",
                                                                     scope)]))

    term = []
    if policy.effective:
        term.append(f"Effective from {day_text(policy.effective)}.")
    if policy.version:
        term.append(f"Version {clean(policy.version)}.")
    periods = [t.period or "month" for t in policy.targets]
    if periods:
        shortest = min(periods, key=["day", "week", "month", "quarter"].index)
        term.append(f"The targets are reviewed {PERIOD_WORDS[shortest]}; changes are made to the policy file and "
                    "take effect in the next run.")
    if policy.timezone:
        term.append(f"Weeks and months are counted in {policy.timezone} time.")
    sections.append(Section(f"{policy.name}-term", "Term and review", [Clause(f"{policy.name}-term-dates", "Term",
                                                                              term)]))

    plan = plan_clause(policy, policy_set)
    if plan:
        sections.append(Section(f"{policy.name}-plan-section", "Revenue plan", [plan]))
    sections.append(Section(f"{policy.name}-definitions", "Definitions", definitions(policy, policy_set)))

    calendars = [policy.calendar, *(w.calendar for w in policy.windows),
                 *(g.calendar for w in policy.windows for g in w.goals),
                 *(w.quiet_hours for w in policy.windows),
                 *(e.quiet_hours for w in policy.windows for e in w.escalations)]
    year = policy.effective.year if policy.effective else None
    used = [policy_set.calendars[c] for c in dict.fromkeys(c for c in calendars if c) if c in policy_set.calendars]
    if used:
        sections.append(Section(f"{policy.name}-hours", "Business hours", [
            Clause(f"{policy.name}-calendar-{c.name}", f"Calendar “{words(c.name)}”", [calendar_sentence(c, year)])
            for c in used]))

    for side, heading in (("marketing", "Marketing commitments"), ("sales", "Sales commitments")):
        clauses = [window_clause(policy, w, people) for w in policy.windows if side_of(w, policy) == side]
        clauses += [target_clause(policy, t, people, policy_set) for t in policy.targets if t.owner == side]
        if clauses:
            sections.append(Section(f"{policy.name}-{side}", heading, clauses))
    shared = [target_clause(policy, t, people, policy_set) for t in policy.targets
              if t.owner not in ("marketing", "sales")]
    if shared:
        sections.append(Section(f"{policy.name}-joint", "Shared commitments", shared))

    subtitle = " · ".join(x for x in [f"version {clean(policy.version)}" if policy.version else "",
                                       f"effective {day_text(policy.effective)}" if policy.effective else ""] if x)
    return Agreement(anchor, title, subtitle, sections, parties)


def _for_side(side: str) -> str:
    return "the shared targets" if side == "Marketing and Sales" else f"the {side} targets"


def build_all(policy_set: PolicySet, policy_name: str | None = None) -> list[Agreement]:
    if policy_name is not None and policy_name not in policy_set.policies:
        known = ", ".join(sorted(policy_set.policies)) or "none"
        raise KeyError(f"no policy named '{policy_name}' (known: {known})")
    names = [policy_name] if policy_name else list(policy_set.policies)
    return [build(policy_set, name) for name in names]


# ---------------------------------------------------------------- rendering


def to_markdown(agreements: list[Agreement]) -> str:
    lines: list[str] = []
    for agreement in agreements:
        lines += [f'<a id="{agreement.anchor}"></a>', "", f"# {_md(agreement.title)}", ""]
        if agreement.subtitle:
            lines += [f"*{_md(agreement.subtitle)}*", ""]
        for section in agreement.sections:
            lines += [f"## {_md(section.title)}", ""]
            for clause in section.clauses:
                lines += [f'<a id="{clause.anchor}"></a>', f"**{_md(clause.heading)}.** "
                          + " ".join(_md(s) for s in clause.sentences), ""]
        lines += ["## Signatures", "", "| party | name | signature | date |", "| --- | --- | --- | --- |"]
        lines += [f"| {_md(side)} | {_md(name)} | | |" for side, name in agreement.parties]
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    """Markdown-safe text: no HTML, no table or emphasis breakage from lead or policy data."""
    escaped = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", escaped)


CSS = """
@page { size: auto; margin: 18mm 16mm; }
* { box-sizing: border-box; }
body { font: 11pt/1.45 Georgia, 'Times New Roman', serif; color: #1a1a1a; max-width: 46em; margin: 2em auto;
  padding: 0 1em; }
h1 { font-size: 20pt; margin: 0 0 .1em; } h2 { font-size: 13pt; border-bottom: 1px solid #999;
  margin: 1.4em 0 .5em; padding-bottom: .15em; break-after: avoid; }
.subtitle { color: #555; margin: 0 0 1em; }
.clause { margin: .35em 0 .6em; break-inside: avoid; overflow-wrap: anywhere; }
.clause b { font-weight: bold; }
.signatures { display: grid; grid-template-columns: 1fr 1fr; gap: 1.8em 2.5em; margin-top: 1em;
  break-inside: avoid; }
.party { min-width: 0; break-inside: avoid; }
.line { border-bottom: 1px solid #333; height: 2.8em; }
.label { font-size: 9pt; color: #555; overflow-wrap: anywhere; }
.who { min-height: 2.6em; }
article + article { break-before: page; }
@media print { body { margin: 0; max-width: none; padding: 0; } a { color: inherit; text-decoration: none; } }
"""


def to_html(agreements: list[Agreement]) -> str:
    """One self-contained printable page: inline CSS, no scripts, nothing fetched from elsewhere."""
    e = html.escape
    title = agreements[0].title if len(agreements) == 1 else "Service level agreements"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(title)}</title><style>{CSS}</style></head><body>"]
    for agreement in agreements:
        out.append(f'<article id="{e(agreement.anchor)}"><h1>{e(agreement.title)}</h1>')
        if agreement.subtitle:
            out.append(f'<p class="subtitle">{e(agreement.subtitle)}</p>')
        for section in agreement.sections:
            out.append(f'<section id="{e(section.anchor)}"><h2>{e(section.title)}</h2>')
            for clause in section.clauses:
                out.append(f'<p class="clause" id="{e(clause.anchor)}"><b>{e(clause.heading)}.</b> '
                           + " ".join(e(s) for s in clause.sentences) + "</p>")
            out.append("</section>")
        out.append('<section class="signing"><h2>Signatures</h2><div class="signatures">')
        for side, name in agreement.parties:
            out.append(f'<div class="party"><div class="line"></div><div class="label who">{e(name)} — {e(side)}</div>'
                       '<div class="line"></div><div class="label">Date</div></div>')
        out.append("</div></section></article>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def clean(text: str) -> str:
    """Policy or lead text as one line without control characters (escaping is the renderer's job)."""
    return strip_control(text, keep_newlines=False)
