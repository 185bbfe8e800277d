"""Reusing a condition's value until a field it reads is written judges leads exactly as judging everything.

The engine keeps the value of each condition that reads only lead fields until an event writes
one of those fields, and hands an event only to the clocks it can change. These tests hold that
to the reference: every condition and every clock judged at every event.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.csv_source import read_event_log
from sla_engine.engine import dependencies
from sla_engine.engine.conditions import Context
from sla_engine.engine.dependencies import FieldMemo, fields_read, stages_to_enter
from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.engine.state import LeadState, sorted_events
from sla_engine.events import LeadEvent
from sla_engine.language import model as m
from sla_engine.language.policy_set import load_policy_set
from tests.engine.test_evaluate import (
    activity,
    assigned,
    at,
    created,
    deleted,
    disposition,
    policy_set,
    status,
    updated,
)

ROOT = Path(__file__).resolve().parents[2]

SHARED = """
define director_plus = seniority in ["director", "vp", "c_level"]
score fit {
  +20 when industry == "Software"
  +5 per pricing_page_visits
}
stage mql when lead_score >= 65 or fit >= 30
stage sql from status ["Qualified"]
"""


def condition(text: str, extra: str = SHARED) -> tuple[m.Node, Any]:
    """A `define probe = ...` condition, with the policy set it is read in."""
    source = f"{extra}\ndefine probe = {text}\n"
    ps = policy_set(source)
    return ps.definitions["probe"].expr, ps


def test_a_condition_of_fields_reads_those_fields_through_definitions_scores_and_stages():
    expr, ps = condition("director_plus and mql")
    assert fields_read(expr, ps) == {"seniority", "lead_score", "industry", "pricing_page_visits"}


def test_a_stage_read_from_a_field_reads_that_field():
    expr, ps = condition("sql")
    assert fields_read(expr, ps) == {"status"}


@pytest.mark.parametrize("text", ["count(activity) >= 2", "becomes mql", "mql and count(activity since mql) >= 1"])
def test_a_condition_of_history_or_stage_entries_reads_more_than_fields(text):
    expr, ps = condition(text)
    assert fields_read(expr, ps) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("becomes mql", {"mql"}), ("becomes mql and region == \"NA\"", {"mql"}),
    ("becomes mql or becomes sql", {"mql", "sql"}),
    ("becomes mql or sql", None), ("not becomes mql", None), ("mql", None),
])
def test_a_condition_true_only_when_one_of_some_stages_is_entered(text, expected):
    expr, _ = condition(text)
    assert stages_to_enter(expr) == (None if expected is None else frozenset(expected))


def test_a_remembered_value_is_judged_again_only_after_a_field_it_reads_is_written():
    expr, ps = condition("lead_score >= 65")
    calls = []
    memo = FieldMemo(ps)
    judged = memo.wrap(expr, lambda ctx: calls.append(1) or ctx.state.fields.get("lead_score", 0) >= 65)
    ctx = Context(state=LeadState("L1", fields={"lead_score": 70}))
    assert judged(ctx) and judged(ctx)
    assert len(calls) == 1
    memo.forget(ctx.memo, ("owner",))
    assert judged(ctx)
    assert len(calls) == 1
    ctx.state.fields["lead_score"] = 10
    memo.forget(ctx.memo, ("lead_score",))
    assert not judged(ctx)
    assert len(calls) == 2


def shipped_histories() -> dict[str, list[LeadEvent]]:
    leads: dict[str, list[LeadEvent]] = defaultdict(list)
    for item in read_event_log(ROOT / "examples" / "data" / "events.csv", source="example"):
        if isinstance(item, LeadEvent):
            leads[item.lead_id].append(item)
    return leads


def test_the_fold_reports_every_field_an_event_changes():
    for lead_id, events in shipped_histories().items():
        state = LeadState(lead_id)
        for event in sorted_events(events):
            before = dict(state.fields)
            written = set(state.apply(event))
            changed = {k for k in state.fields.keys() | before.keys() if state.fields.get(k) != before.get(k)}
            assert changed <= written, (event.type, changed - written)


@contextmanager
def judging_everything():
    """Evaluators built in here judge every condition at every event, and every clock sees every event."""
    with (
        mock.patch.object(dependencies.FieldMemo, "wrap", lambda self, expr, compiled: compiled),
        mock.patch.object(dependencies.FieldMemo, "remember", lambda self, names, compiled: compiled),
        mock.patch.object(Evaluator, "starters_of", lambda self, kind, entered=None: tuple(range(len(self.windows)))),
        mock.patch.object(Evaluator, "may_start", lambda self, starters, ctx: list(starters)),
    ):
        yield


def reference(ps: Any) -> Evaluator:
    with judging_everything():
        evaluator = Evaluator(ps)
    evaluator.stages_reading = lambda written: evaluator.stages  # every stage judged at every event
    return evaluator


def outcome(result: LeadResult) -> tuple[Any, ...]:
    return (
        [i.as_row() for i in result.instances],
        [(a.key, a.due_at, a.action) for a in result.actions],
        result.stage_entries, result.next_check, result.state, result.trace,
    )


def judged_by_both(ps: Any, lead_id: str, events: list[LeadEvent], as_of) -> tuple[Any, Any]:
    fast = Evaluator(ps).evaluate(lead_id, events, as_of, explain=True)
    slow_evaluator = reference(ps)
    with judging_everything():
        slow = slow_evaluator.evaluate(lead_id, events, as_of, explain=True)
    return outcome(fast), outcome(slow)


def test_the_shipped_policies_judge_the_shipped_example_as_judging_everything_does():
    ps = load_policy_set([ROOT / "policies"])
    fast, slow = Evaluator(ps), reference(ps)
    as_of = at(30, 14, month=10)
    for lead_id, events in shipped_histories().items():
        mine = outcome(fast.evaluate(lead_id, events, as_of, explain=True))
        with judging_everything():
            theirs = outcome(slow.evaluate(lead_id, events, as_of, explain=True))
        assert mine == theirs, lead_id


POLICY = """
define director_plus = seniority in ["director", "vp", "c_level"]
define reason_coded = disposition_reason in ["no_budget", "timing"]
stage mql when lead_score >= 65 or form == "demo_request"
stage sal when disposition == "accepted"
stage sql from status ["Qualified"]
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
}

policy inbound {
  calendar office
  applies when region == "NA"
  tier tier1 "Tier 1" when lead_score >= 80 and director_plus
  tier tier2 "Tier 2" when lead_score >= 65
  otherwise not covered

  window first_response {
    starts when becomes mql
    stops on activity by owner where direction == "outbound"
    pauses while status == "Nurture"
    goal tier1 2 business hours
    goal tier2 24h
    warn at 75%
    restarts on recycle
    escalate at warning { notify owner via email }
    escalate on breach { notify manager via email }
  }

  window qualification {
    starts on activity where channel == "meeting"
    stops when sql or sal and reason_coded
    goal 5 business days
    restarts on recycle
    escalate on breach { notify manager via email }
  }

  window follow_up {
    starts when sal
    stops when count(activity by owner since start) >= 2
    goal 8h
  }
}
"""


def _event(lead: str, kind: str, t, choice: int):
    owners = ["rep@example.com", "other@example.com"]
    if kind == "created":
        return created(lead, t, lead_score=[50, 70, 90][choice % 3], region=["NA", "NA", "EMEA"][choice // 3 % 3])
    if kind == "assigned":
        return assigned(lead, t, owner=owners[choice % 2])
    if kind == "activity":
        return activity(lead, t, by=owners[choice % 2], channel=["call", "meeting", "email"][choice % 3],
                        direction=["outbound", "inbound"][choice // 3 % 2])
    if kind == "updated":
        changes = [{"lead_score": 95}, {"lead_score": 40}, {"region": "EMEA"}, {"region": "NA"},
                   {"seniority": "vp"}, {"owner": owners[choice % 2]}][choice % 6]
        return updated(lead, t, **changes)
    if kind == "status":
        return status(lead, t, ["Nurture", "Working", "Qualified", "Recycled"][choice % 4])
    if kind == "disposition":
        return disposition(lead, t, ["accepted", "recycled", "disqualified"][choice % 3],
                           [None, "timing", "no_budget"][choice // 3 % 3])
    return deleted(lead, t)


KINDS = ["assigned", "activity", "activity", "updated", "status", "disposition", "created", "deleted"]


@settings(max_examples=150, deadline=None)
# A recycle reaches every window, also those no event had reached before.
@example(steps=[("assigned", 481, 0), ("disposition", 0, 0), ("disposition", 0, 1)], first=1)
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 5000), st.integers(0, 11)), max_size=14),
       st.integers(0, 11))
def test_remembering_and_skipping_judge_any_history_as_judging_everything_does(steps, first):
    ps = policy_set(POLICY)
    start = at(16, 9)
    events = [_event("L1", "created", start, first)]
    events += [_event("L1", kind, start + timedelta(minutes=minutes), choice) for kind, minutes, choice in steps]
    mine, theirs = judged_by_both(ps, "L1", events, at(24, 12))
    assert mine == theirs
