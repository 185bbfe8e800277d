"""The shipped example tells a believable story on the dashboard: mostly on target, some at risk, some missed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.csv_source import read_event_log
from sla_engine.events import LeadEvent
from sla_engine.language.policy_set import load_policy_set
from sla_engine.reports.dashboard import build_report
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 10, 30, 18, 0, tzinfo=timezone.utc)  # the README's first run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    policies = load_policy_set([ROOT / "policies"])
    store = Store(tmp_path_factory.mktemp("story") / "example.db")
    events = (item for item in read_event_log(ROOT / "examples" / "data" / "events.csv", source="example")
              if isinstance(item, LeadEvent))
    evaluate_run(policies, store, [("example", events)], AS_OF)
    try:
        yield build_report(policies, store, AS_OF)
    finally:
        store.close()


def test_latin_america_is_not_in_effect_before_it_opens(report):
    # latam_mid_market takes effect on 2026-11-01, after the example's as-of: nothing is owed yet.
    latam = [tile for tile in report.tiles if tile.policy == "latam_mid_market"]
    assert latam
    for tile in latam:
        assert tile.status == "not in effect" and tile.row.value is None
        assert tile.counts.startswith("not in effect: the policy takes effect on 2026-11-01")
        assert {str(row.status) for row in tile.history} == {"not in effect"}
    assert report.tally()["not in effect"] == len(latam)


def test_most_commitments_are_on_target_and_a_few_at_risk_or_missed(report):
    tiles = [tile for tile in report.tiles if tile.status != "not in effect"]
    on_target = sum(1 for tile in tiles if str(tile.status) == "on target")
    assert on_target * 2 >= len(tiles)
    tally = report.tally()
    assert tally["at risk"] >= 1 and tally["missed"] >= 1


def test_the_misses_have_a_visible_reason(report):
    tiles = {(t.policy, t.target): t for t in report.tiles}
    demos = tiles[("b2b_services", "speed_compliance")]  # EMEA demo requests, 15 business minutes
    assert demos.status == "missed"
    named = [row for row in demos.behind if row.group[0][1] is not None]  # besides the few never routed
    assert named[0].group == (("owner", "sophie.martin@example.com"),)  # the slow rep, worst first
    assert tiles[("inbound_tiered", "tier1_volume")].status == "missed"  # short on Tier 1 leads
    assert tiles[("inbound_tiered", "mql_volume")].status == "on target"
