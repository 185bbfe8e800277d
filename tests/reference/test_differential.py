"""The engine judges every generated lead exactly as the reference evaluator does.

The reference (tests/reference/evaluator.py) reads docs/semantics.md literally; the engine is
fast. Every instance's cycle, tier, status, start, deadline, warning, stop, breach, elapsed time
and every due escalation must be identical. SLA_REFERENCE_EXAMPLES sets how many histories run
(2,000 by default; docs/testing.md).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference.histories import (
    EXAMPLES,
    SHIPPED,
    assert_agreement,
    edges,
    generated_policies,
    histories,
    policy_set_of,
    reference_for,
    with_an_event_on_an_edge,
)

SHIPPED_SHARE = 0.6
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
            "print_blob": True}


@settings(max_examples=round(EXAMPLES * SHIPPED_SHARE), **SETTINGS)
@given(data=st.data())
def test_the_engine_judges_like_the_reference_under_the_shipped_policies(data):
    events = data.draw(histories(), label="events")
    events = data.draw(with_an_event_on_an_edge(reference_for(SHIPPED), events), label="events, one on an edge")
    as_of = data.draw(st.sampled_from(edges(reference_for(SHIPPED), events)), label="as_of")
    assert_agreement(SHIPPED, events, as_of)


@settings(max_examples=EXAMPLES - round(EXAMPLES * SHIPPED_SHARE), **SETTINGS)
@given(data=st.data())
def test_the_engine_judges_like_the_reference_under_generated_policies(data):
    policy_set = policy_set_of(data.draw(generated_policies(), label="policies"))
    events = data.draw(histories(), label="events")
    events = data.draw(with_an_event_on_an_edge(reference_for(policy_set), events), label="events, one on an edge")
    as_of = data.draw(st.sampled_from(edges(reference_for(policy_set), events)), label="as_of")
    assert_agreement(policy_set, events, as_of)
