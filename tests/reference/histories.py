"""Generated lead histories and policies for the differential test, and the comparison itself.

Histories are built to reach every rule of docs/semantics.md: pauses before and after a breach,
recycles with and without a reason, tier changes while running and while paused, owner changes,
deletions and disqualifications, same-instant events in any id order, and as-of instants on the
edges (the exact deadline and warning, a second either side, a calendar's opening and closing).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume
from hypothesis import strategies as st

from sla_engine.engine.evaluate import Evaluator
from sla_engine.events import LeadEvent
from sla_engine.language import model as m
from sla_engine.language.check import check_policy_set
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import PolicySet, build_policy_set, load_policy_set
from sla_engine.runner import timing
from tests.reference.evaluator import (
    Clockface,
    ReferenceEvaluator,
    clockface_of,
    instant,
    seconds,
)

ROOT = Path(__file__).resolve().parents[2]

# How many generated histories run: 2,000 in CI by default; a nightly run sets a larger number.
EXAMPLES = int(os.environ.get("SLA_REFERENCE_EXAMPLES", "2000"))

# Known wrong-verdict classes (issue 13) the engine on main does not fix yet. A disagreement on a
# window whose reference instances went through one of these rules is counted, not failed; every
# other disagreement fails. Remove a class here when its fix lands.
KNOWN_UNFIXED: frozenset[str] = frozenset()

# ---------------------------------------------------------------- policies

SHIPPED: PolicySet = load_policy_set([ROOT / "policies"])

_faces: dict[str, Clockface] = {}  # calendars by declaration, shared so is_open is asked once a minute
_references: dict[str, ReferenceEvaluator] = {}
_engines: dict[str, Evaluator] = {}
_generated: dict[str, PolicySet | None] = {}


def reference_for(policy_set: PolicySet) -> ReferenceEvaluator:
    key = policy_set.content_hash
    if key not in _references:
        reference = ReferenceEvaluator(policy_set)
        for name, decl in policy_set.calendars.items():
            meaning = json.dumps(m.without_positions(decl.model_dump(mode="json")), sort_keys=True)
            reference.faces[name] = _faces.setdefault(meaning, clockface_of(decl))
        _references[key] = reference
    return _references[key]


def engine_for(policy_set: PolicySet) -> Evaluator:
    return _engines.setdefault(policy_set.content_hash, Evaluator(policy_set))


CALENDARS = {
    "ny": 'timezone "America/New_York"\n  hours mon-fri 09:00-12:00, 13:00-17:00\n  holidays "US" subdivision "NY"',
    "london": 'timezone "Europe/London"\n  hours mon-fri 08:00-18:00\n  hours sat 10:00-14:00',
    "sydney": 'timezone "Australia/Sydney"\n  hours mon-thu 08:30-17:00\n  hours fri 08:30-12:30',
    "nights": 'timezone "America/New_York"\n  hours mon-sun 00:00-04:00, 06:00-23:30\n  closed 2026-11-26',
}

STARTS = [
    "starts when becomes mql",
    "starts on assigned",
    "starts when lead_score >= 80",
    'starts on disposition where disposition == "accepted"',
    'starts on activity where direction == "inbound"',
    'starts when count(activity where direction == "inbound" within 2h) >= 2',
]
STOPS = [
    'stops on activity by owner where direction == "outbound"',
    "stops on activity",
    "stops when count(activity by owner since start) >= 2",
    "stops when sal or disqualified",
    'stops on disposition where disposition == "accepted" or reason is set',
    'stops on assigned',
    "stops when count(activity by owner within 90m) >= 2",
    "stops when count(activity by owner since start within 2h) >= 2",
]
PAUSES = [
    None,
    'pauses while status == "Nurture"',
    'pauses while status in ["Nurture", "On hold"] or disposition == "nurture"',
    "pauses while owner is missing",
    'pauses while count(activity where direction == "inbound" within 1h) >= 1',
]
GOALS = ["15 business minutes", "2 business hours", "5h", "24h", "1 business day", "2 business days", "90m"]
WARNINGS = [None, "warn at 75%", "warn at 50%", "warn 30m before due", "warn 1 business hour before due",
            "warn at 80%\n    warn 2h before due"]
LEVELS = [
    "escalate at warning { notify owner via email }",
    "escalate when at risk { notify manager via email }",  # the same level, as a reader says it
    "escalate on breach { notify manager via email }",
    "escalate 1 business hour after breach { notify manager via email }",
    "escalate 4h after breach { notify manager via email }",
    "escalate every 2h after breach { notify owner via email }",
    "escalate every 1 business hour after breach quiet hours qh { notify owner via email }",
]
# A policy's own definitions and stages (docs/language.md): none, a refinement of the shared MQL
# (its name inside its own body means the shared one), a replacement read through a local
# definition, and a local SAL that reads the shared one.
OWN = [
    None,
    "stage mql when mql and company_size between 50 and 500",
    'define icp = company_size between 50 and 500 and seniority in ["vp", "director"]\n  stage mql when icp',
    "define icp = company_size >= 100\n  stage sal when sal and icp\n  stage mql when icp or form == \"demo_request\"",
    # Recency: the lead stops being an MQL a day after its second inbound touch, unless it scores.
    'stage mql when lead_score >= 90 or count(activity where direction == "inbound" within 1d) >= 2',
]
SHARED = """
stage mql when lead_score >= 65 or form == "demo_request"
stage sal when disposition == "accepted"
stage disqualified when disposition in ["disqualified", "rejected"]
calendar qh {
  timezone "America/New_York"
  hours mon-fri 08:00-18:00
}
"""


EFFECTIVE_DATES = ["2026-03-07", "2026-10-02", "2026-10-24", "2026-10-31", "2026-11-17", "2026-11-21",
                   "2026-11-26", "2026-12-24"]  # a day or so after an anchor of the histories (below)


def policy_set_of(text: str) -> PolicySet:
    """A generated policy text, parsed once (the test draws texts, so a failure prints the policy)."""
    found = _generated[text]
    assert found is not None
    return found


@st.composite
def generated_policies(draw: st.DrawFn) -> str:
    """The text of a small policy set from parts that reach every clock rule; it passes `check`."""
    calendars = draw(st.lists(st.sampled_from(sorted(CALENDARS)), min_size=1, max_size=2, unique=True))
    tiered = draw(st.sampled_from(["none", "covered", "not covered"]))
    lines = [SHARED]
    for name in calendars:
        lines.append(f"calendar {name} {{\n  {CALENDARS[name]}\n}}")
    lines.append(f"policy gen {{\n  calendar {calendars[0]}")
    # An effective date inside the histories' span (their anchors run from March to December 2026),
    # at local midnight in the policy's zone: starts before it open no clock.
    effective = draw(st.sampled_from([None, None, None, *EFFECTIVE_DATES]))
    if effective:
        lines.append(f"  effective {effective}")
        zone = draw(st.sampled_from([None, "America/New_York", "Australia/Sydney"]))
        if zone:
            lines.append(f'  timezone "{zone}"')
    own = draw(st.sampled_from(OWN))
    if own:
        lines.append("  " + own)
    if draw(st.booleans()):
        lines.append('  applies when region == "NA"')
    if tiered != "none":
        lines.append(draw(st.sampled_from([
            "  tier hot when lead_score >= 80",
            '  tier hot when lead_score >= 80 or count(activity where direction == "inbound" within 3h) >= 1',
        ])))
        lines.append('  tier warm when lead_score >= 65')
        lines.append("  otherwise not covered" if tiered == "not covered" else "  tier cold otherwise")
    for number in range(draw(st.integers(1, 2))):
        lines.append(f"  window w{number} {{")
        lines.append("    " + draw(st.sampled_from(STARTS)))
        lines.append("    " + draw(st.sampled_from(STOPS)))
        pause = draw(st.sampled_from(PAUSES))
        if pause:
            lines.append("    " + pause)
        if draw(st.booleans()):
            lines.append(f"    calendar {calendars[-1]}")
        if tiered != "none":
            lines.append(f"    goal hot {draw(st.sampled_from(GOALS))}")
            if draw(st.booleans()):
                lines.append(f"    goal warm {draw(st.sampled_from(GOALS))}")
        lines.append(f"    goal {draw(st.sampled_from(GOALS))}")
        warning = draw(st.sampled_from(WARNINGS))
        if warning:
            lines.append("    " + warning)
        if draw(st.booleans()):
            lines.append("    restarts on recycle")
        for level in draw(st.lists(st.sampled_from(LEVELS), max_size=3, unique=True)):
            lines.append("    " + level)
        lines.append("  }")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if text not in _generated:
        policy_set = build_policy_set([parse_text(text, "gen.sla")], {"gen.sla": text})
        errors = [d for d in check_policy_set(policy_set) if d.severity == "error"]
        # A warning as long as the goal (E209), or an `at warning` level without a warning (E210), is refused.
        assert all(d.code in ("E209", "E210") for d in errors), "\n".join(map(str, errors)) + "\n" + text
        _generated[text] = None if errors else policy_set
    assume(_generated[text] is not None)
    return text


# ---------------------------------------------------------------- histories

LEAD = "L1"
OWNERS = ["ana@example.com", "ben@example.com"]
# First instants near the rules' edges: DST changes (NY 11-01 and 03-08, London 10-25,
# Sydney 10-04), a Friday afternoon, holidays (Thanksgiving 11-26, Christmas Eve closed).
ANCHORS = [
    datetime(2026, 11, 16, 13, 0, tzinfo=UTC),
    datetime(2026, 11, 20, 20, 30, tzinfo=UTC),
    datetime(2026, 10, 30, 19, 0, tzinfo=UTC),
    datetime(2026, 3, 6, 20, 0, tzinfo=UTC),
    datetime(2026, 10, 23, 15, 0, tzinfo=UTC),
    datetime(2026, 10, 1, 22, 0, tzinfo=UTC),
    datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
    datetime(2026, 12, 23, 21, 0, tzinfo=UTC),
]
GAPS = st.one_of(
    st.just(0),  # same instant: ties broken by event id
    st.integers(1, 20),
    st.sampled_from([30, 60, 90, 105, 120, 180, 240]),
    st.integers(21, 12 * 60),
    st.integers(12 * 60, 3 * 24 * 60),
)


def _event(lead_id: str, kind: str, t: datetime, payload: dict[str, Any], event_id: str) -> LeadEvent:
    return LeadEvent(event_id=event_id, lead_id=lead_id, occurred_at=t, source="gen", type=kind, payload=payload)


KINDS = ["assigned", "activity", "activity", "activity", "status", "status", "status", "updated", "updated",
         "disposition", "disposition", "deleted", "converted", "inbound", "inbound"]


def _step(draw: st.DrawFn, owner: str | None) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(KINDS if owner else ["assigned", *KINDS]))
    if kind == "assigned":
        return "assigned", {"owner": draw(st.sampled_from(OWNERS)), "owner_manager": "boss@example.com"}
    if kind == "inbound":  # the lead's own touches, which `within` counts and pauses read
        return "activity", {"channel": draw(st.sampled_from(["email", "call"])), "direction": "inbound", "by": None}
    if kind == "activity":
        return "activity", {
            "channel": draw(st.sampled_from(["call", "email", "meeting"])),
            "direction": draw(st.sampled_from(["outbound", "outbound", "inbound"])),
            "by": draw(st.sampled_from([owner, owner, owner, *OWNERS, None])),
        }
    if kind == "status":
        new = draw(st.sampled_from(["Nurture", "Nurture", "Working", "Working", "New", "Recycled", "Qualified",
                                    "On hold"]))
        return "status_changed", {"field": "status", "new": new}
    if kind == "updated":
        changes = draw(st.sampled_from([
            {"lead_score": 95}, {"lead_score": 70}, {"lead_score": 40}, {"form": "demo_request"},
            {"seniority": "manager"}, {"seniority": "vp"}, {"region": "EMEA"}, {"owner": None}, {"company_size": 200},
            {"target_account": True}, {"target_account": False},
        ]))
        return "updated", {"changes": changes}
    if kind == "disposition":
        disposition = draw(st.sampled_from(["accepted", "rejected", "nurture", "recycled", "recycled",
                                            "disqualified"]))
        reason = draw(st.sampled_from([None, "no_response", "not_icp", "timing"]))
        return "disposition", {"disposition": disposition, "reason": reason}
    if kind == "deleted":
        return "deleted", {}
    return "converted", {"amount": 1000}


@st.composite
def histories(draw: st.DrawFn, max_steps: int = 10, lead_id: str = LEAD) -> list[LeadEvent]:
    """One lead's history, in the order a source might deliver it (shuffled)."""
    t = draw(st.sampled_from(ANCHORS)) + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    attributes = {
        "region": draw(st.sampled_from(["NA", "NA", "NA", "EMEA", "APAC", "LATAM", None])),
        "country": draw(st.sampled_from(["US", "AU", "GB"])),
        "lead_score": draw(st.sampled_from([40, 66, 70, 85, 95, 95])),
        "seniority": draw(st.sampled_from(["director", "manager", "vp", "staff"])),
        "form": draw(st.sampled_from(["demo_request", "contact_sales", "webinar", "ebook", None])),
        "industry": draw(st.sampled_from(["Software", "Software", "Retail", "Logistics"])),
        "company_size": draw(st.sampled_from([30, 100, 600, 600, 6000])),
        "target_account": draw(st.sampled_from([True, True, False])),
        "status": "New",
    }
    steps = [("created", {"attributes": attributes})]
    owner = None
    for _ in range(draw(st.integers(0, max_steps))):
        kind, payload = _step(draw, owner)
        if kind == "assigned":
            owner = payload["owner"]
        steps.append((kind, payload))
    events = []
    for n, (kind, payload) in enumerate(steps):
        if n:
            t += timedelta(minutes=draw(GAPS))
        event_id = f"{lead_id}-{draw(st.integers(0, 99)):02d}-{n:02d}"  # random order among same-instant events
        events.append(_event(lead_id, kind, t, payload, event_id))
    return draw(st.permutations(events))


@st.composite
def with_an_event_on_an_edge(draw: st.DrawFn, reference: ReferenceEvaluator,
                             events: list[LeadEvent]) -> list[LeadEvent]:
    """The history, or the history with one event (not the first) moved to a deadline or warning
    or escalation instant: a stop, pause or recycle at exactly the deadline."""
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    if len(ordered) < 2 or not draw(st.booleans()):
        return events
    verdict = reference.evaluate(ordered, ordered[-1].occurred_at + timedelta(days=20), elapsed=False)
    found = [row[key] for row in verdict["instances"].values() for key in ("due_at", "warning_at")]
    found += verdict["actions"].values()  # escalation instants too: a pause that begins at one
    found += [instant(t) for t, event in reference.moments(ordered, seconds(ordered[-1].occurred_at) + 20 * 86400)
              if event is None]  # where an event leaves a `within` span
    found += [datetime.combine(p.effective, time(0), tzinfo=ZoneInfo(p.timezone or "UTC")).astimezone(UTC)
              for p in reference.ps.policies.values() if p.effective]  # a start exactly when a policy takes effect
    instants = sorted({t for t in found if t is not None and t.second == 0 and t.microsecond == 0})
    if not instants:
        return events
    # Pauses, stops and ends come from status changes and dispositions more than from anything else.
    weighted = [n for n in range(1, len(ordered)) for _ in range(
        3 if ordered[n].type in ("status_changed", "disposition") else 1)]
    moved = draw(st.sampled_from(weighted))
    at = draw(st.sampled_from(instants))
    ordered[moved] = ordered[moved].model_copy(update={"occurred_at": at})
    return draw(st.permutations(ordered))


def edges(reference: ReferenceEvaluator, events: list[LeadEvent]) -> list[datetime]:
    """As-of instants on the rules' edges: each deadline, warning and escalation instant exactly
    and a second either side, each event, and the calendars' next opening and closing after them."""
    last = max(e.occurred_at for e in events)
    far = last + timedelta(days=20)
    verdict = reference.evaluate(events, far, elapsed=False)
    found: set[datetime] = {far}
    for row in verdict["instances"].values():
        for key in ("due_at", "warning_at", "started_at", "stopped_at"):
            if row[key] is not None:
                found.update({row[key], row[key] - timedelta(seconds=1), row[key] + timedelta(seconds=1)})
    found.update(verdict["actions"].values())
    used = {row["calendar"] for row in verdict["instances"].values()}
    faces = [face for name, face in reference.faces.items() if name in used]
    for event in events:
        found.add(event.occurred_at.astimezone(UTC))
    for t, event in reference.moments(events, seconds(far)):
        if event is None:  # an event leaves a `within` span: exactly there and a second either side
            found.update({instant(t), instant(t - 1), instant(t + 1)})
    for event in events[:3]:
        for face in faces:
            opening = face.next_open(seconds(event.occurred_at))
            closing = opening
            while face.open_at(closing) and closing - opening < 86400:
                closing += 60
            found.update({instant(opening), instant(closing)})
    return sorted(found)


# ---------------------------------------------------------------- the comparison

COMPARED = ("cycle", "tier", "status", "started_at", "due_at", "warning_at", "stopped_at", "breached_at",
            "ended_at", "met_late", "cancelled_reason", "goal", "calendar", "paused_since", "elapsed")


def engine_verdict(evaluator: Evaluator, events: list[LeadEvent], as_of: datetime) -> dict[str, Any]:
    """The engine's judgement of one lead in the reference's shape."""
    result = evaluator.evaluate(events[0].lead_id, events, as_of)
    instances = {}
    for inst in result.instances:
        row = inst.as_row()
        shaped = {key: getattr(inst, key) for key in COMPARED if key != "elapsed"}
        for key in ("started_at", "due_at", "warning_at", "stopped_at", "breached_at", "ended_at", "paused_since"):
            if shaped[key] is not None:
                shaped[key] = shaped[key].astimezone(UTC)
        shaped["elapsed"] = timing(evaluator, row, as_of)["elapsed_business_seconds"] if inst.due_at else None
        if inst.status == "not_applicable":
            shaped.update(goal=None, calendar=None, elapsed=None)
        instances[f"{inst.policy}|{inst.window}|{inst.cycle}"] = shaped
    actions = {a.key.split("|", 1)[1]: a.due_at.astimezone(UTC) for a in result.actions}
    return {"instances": instances, "actions": actions}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 1e-3
    if isinstance(a, datetime) and isinstance(b, datetime):
        return abs((a - b).total_seconds()) < 1e-3
    return a == b


@dataclass
class Disagreement:
    window: str  # policy|window
    known: bool
    lines: list[str] = field(default_factory=list)


def disagreements(reference: dict[str, Any], engine: dict[str, Any]) -> list[Disagreement]:
    """Every window where the two differ, marked known when the reference applied a rule of an
    unfixed known class to that window."""
    found: dict[str, Disagreement] = {}
    tags_by_window: dict[str, set[str]] = {}
    for key, row in reference["instances"].items():
        tags_by_window.setdefault(key.rsplit("|", 1)[0], set()).update(row["tags"])

    def note(window: str, line: str) -> None:
        known = bool(tags_by_window.get(window, set()) & KNOWN_UNFIXED)
        found.setdefault(window, Disagreement(window, known)).lines.append(line)

    for key in sorted(set(reference["instances"]) | set(engine["instances"])):
        window = key.rsplit("|", 1)[0]
        ref, eng = reference["instances"].get(key), engine["instances"].get(key)
        if ref is None or eng is None:
            where = "only the reference" if ref else "only the engine"
            note(window, f"  {key}: an instance {where} has")
            continue
        for name in COMPARED:
            if not _same(ref[name], eng[name]):
                note(window, f"  {key} {name:<16} reference {_show(ref[name]):<34} engine {_show(eng[name])}")
    for key in sorted(set(reference["actions"]) | set(engine["actions"])):
        window = key.split("|")[0] + "|" + key.split("|")[1]
        ref, eng = reference["actions"].get(key), engine["actions"].get(key)
        if not _same(ref, eng):
            note(window, f"  action {key:<28} reference {_show(ref):<34} engine {_show(eng)}")
    return list(found.values())


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"
    if isinstance(value, float):
        return f"{value:.0f}s ({value / 3600:.2f}h)"
    return repr(value)


def timeline(events: Iterable[LeadEvent], as_of: datetime) -> str:
    lines = []
    for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        late = "   (after the as-of: not seen)" if event.occurred_at > as_of else ""
        payload = {k: v for k, v in event.payload.items() if v is not None}
        lines.append(f"  {_show(event.occurred_at)}  {event.event_id}  {event.type:<16} {payload}{late}")
    lines.append(f"  as-of {_show(as_of)}")
    return "\n".join(lines)


def side_by_side(reference: dict[str, Any], engine: dict[str, Any]) -> str:
    lines = []
    for key in sorted(set(reference["instances"]) | set(engine["instances"])):
        ref, eng = reference["instances"].get(key, {}), engine["instances"].get(key, {})
        lines.append(f"  {key}")
        for name in COMPARED:
            marker = " " if _same(ref.get(name), eng.get(name)) else "≠"
            lines.append(f"   {marker} {name:<16} {_show(ref.get(name)):<36} {_show(eng.get(name))}")
        if ref.get("tags"):
            lines.append(f"     rules applied: {'; '.join(ref['tags'])}")
    return "\n".join(lines)


@dataclass
class Tally:
    """What the differential runs found, for the report at the end of the session."""

    histories: int = 0
    agreed: int = 0
    known: dict[str, int] = field(default_factory=dict)


TALLY = Tally()


def assert_agreement(policy_set: PolicySet, events: list[LeadEvent], as_of: datetime) -> None:
    """The engine and the reference judge the lead alike, or the failure shows both."""
    reference = reference_for(policy_set).evaluate(events, as_of)
    engine = engine_verdict(engine_for(policy_set), events, as_of)
    found = disagreements(reference, engine)
    TALLY.histories += 1
    unknown = [d for d in found if not d.known]
    if not found:
        TALLY.agreed += 1
    for d in found:
        if d.known:
            for tag in {t for row in reference["instances"].values() for t in row["tags"]} & KNOWN_UNFIXED:
                TALLY.known[tag] = TALLY.known.get(tag, 0) + 1
    if unknown:
        raise AssertionError(
            "the engine and the reference evaluator disagree\n"
            f"timeline (UTC):\n{timeline(events, as_of)}\n"
            "differences:\n" + "\n".join(line for d in unknown for line in d.lines) + "\n"
            f"{'':4}{'field':<16} {'reference':<36} engine\n" + side_by_side(reference, engine)
        )
