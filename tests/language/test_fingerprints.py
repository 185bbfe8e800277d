"""A rule's fingerprint changes with what can change its verdicts, and with nothing else."""

from __future__ import annotations

from sla_engine.language.fingerprints import TARGET, WINDOW, changes, rule_fingerprints
from tests.engine.test_evaluate import POLICY, policy_set

TARGET_TEXT = """
  target mql_count "MQLs a month" {
    metric count of mql
    period month
    goal >= 10
  }
}
"""
WITH_TARGET = POLICY.rstrip().removesuffix("}") + TARGET_TEXT


def prints(text: str = WITH_TARGET):
    return rule_fingerprints(policy_set(text))


def differing(before, after) -> set:
    return {key for key in set(before) | set(after) if before.get(key) != after.get(key)}


def test_every_window_and_target_has_a_fingerprint():
    assert set(prints()) == {(WINDOW, "inbound", "first_response"), (WINDOW, "inbound", "cadence"),
                             (TARGET, "inbound", "mql_count")}


def test_comments_blank_lines_and_moved_rules_change_nothing():
    moved = WITH_TARGET.replace("policy inbound {", "# the inbound SLA, agreed in May\n\n\npolicy inbound {")
    first, cadence = moved.index("  window first_response"), moved.index("  window cadence")
    end = moved.index("\n  }\n", cadence) + 5
    swapped = moved[:first] + moved[cadence:end] + "\n" + moved[first:cadence] + moved[end:]
    assert swapped != WITH_TARGET and "window cadence" in swapped
    assert prints(swapped) == prints()


def test_a_goal_changes_only_its_window_and_not_which_leads_it_reaches():
    before = prints()
    after = prints(WITH_TARGET.replace("goal tier1 2 business hours", "goal tier1 30m"))
    assert differing(before, after) == {(WINDOW, "inbound", "first_response")}
    key = (WINDOW, "inbound", "first_response")
    assert before[key].reach == after[key].reach and before[key].whole != after[key].whole
    touched = changes(before, after)
    assert touched.windows == [("inbound", "first_response")] and not touched.any_lead and touched.rules == 1


def test_a_start_changes_which_leads_its_window_reaches():
    before = prints()
    after = prints(WITH_TARGET.replace("starts on assigned", "starts on created"))
    assert differing(before, after) == {(WINDOW, "inbound", "cadence")}
    assert changes(before, after).any_lead


def test_a_shared_definition_or_the_segment_changes_every_rule_that_can_see_it():
    before = prints()
    everything = set(before)
    assert differing(before, prints(WITH_TARGET.replace('"vp", "c_level"', '"vp"'))) == everything
    applies = '  calendar office\n  applies when region == "NA"\n  tier'
    segment = prints(WITH_TARGET.replace("  calendar office\n  tier", applies))
    assert differing(before, segment) == everything and changes(before, segment).any_lead


def test_a_tier_or_calendar_change_reaches_only_the_leads_that_have_a_clock():
    before = prints()
    tiers = prints(WITH_TARGET.replace("when lead_score >= 65\n", "when lead_score >= 70\n"))
    assert differing(before, tiers) == set(before)
    assert not changes(before, tiers).any_lead
    calendar = prints(WITH_TARGET.replace("hours mon-fri 09:00-17:00", "hours mon-fri 08:00-18:00"))
    assert not changes(before, calendar).any_lead and len(changes(before, calendar).windows) == 2


def test_a_target_change_touches_no_window():
    before = prints()
    after = prints(WITH_TARGET.replace("goal >= 10", "goal >= 12"))
    assert differing(before, after) == {(TARGET, "inbound", "mql_count")}
    touched = changes(before, after)
    assert touched.windows == [] and not touched.any_lead and touched.rules == 1


def test_a_new_window_reaches_any_lead_and_a_removed_one_only_the_leads_that_had_it():
    before = prints()
    start = WITH_TARGET.index("  window cadence")
    end = WITH_TARGET.index("\n  }\n", start) + 5
    without = prints(WITH_TARGET[:start] + WITH_TARGET[end:])
    removed = changes(before, without)
    assert removed.windows == [("inbound", "cadence")] and not removed.any_lead
    assert changes(without, before).any_lead


def test_without_fingerprints_to_go_by_every_lead_is_reached():
    assert changes({}, prints()).any_lead
