"""Reports, targets and the dashboard's drill-down read a PostgreSQL store as they read SQLite."""

from __future__ import annotations

import json
from datetime import timedelta

from sla_engine.reports.dashboard import build_report
from sla_engine.reports.render import render
from sla_engine.runner import evaluate_run
from sla_engine.store.backend import open_location
from sla_engine.store.db import Store
from tests.reports.dataset import AS_OF, events, hostile, policy_set


def test_the_dashboard_and_its_targets_are_the_same_on_both_stores(tmp_path, pg_url):
    policies = policy_set()
    stores = [Store(tmp_path / "s.db"), open_location(pg_url)]
    for store in stores:
        evaluate_run(policies, store, [("test", iter(events() + hostile()))], AS_OF)
    built = [json.loads(render(build_report(policies, store, AS_OF, "2026-W47"), "json")) for store in stores]
    for report in built:
        report.pop("generated_at", None)
    assert built[0]["targets"] and built[1] == built[0]
    assert [row["key"] for row in stores[1].outbox.rows()] == [row["key"] for row in stores[0].outbox.rows()]
    for store in stores:
        store.close()


def test_every_page_of_the_live_dashboard_reads_the_same_from_both_stores(tmp_path, pg_url):
    import re

    from sla_engine.web.server import create_app

    policies = policy_set()
    for store in (Store(tmp_path / "s.db"), open_location(pg_url)):
        evaluate_run(policies, store, [("test", iter(events() + hostile()))], AS_OF)
        store.close()
    clients = [create_app(policies, location).test_client() for location in (tmp_path / "s.db", pg_url)]
    for url in ("/", "/?period=2026-W47", "/target/inbound/contact?period=2026-W47", "/lead/A", "/people",
                "/rep/ana%40example.com?period=2026-11", "/outbox", "/quarantine"):
        pages = [client.get(url) for client in clients]
        assert pages[0].status_code == pages[1].status_code == 200, url
        bodies = [re.sub(r"\d\d:\d\d:\d\d(\.\d+)?", "", page.get_data(as_text=True)) for page in pages]
        assert bodies[1] == bodies[0], url


# ---------------------------------------------------------------- every metric kind, on hostile data

KINDS = """
define director_plus = seniority in ["director", "vp"]
define big = budget >= 100
score fit {
  +10 when industry == "Software"
  +5 when region matches "^e"
}
stage mql when lead_score >= 65
stage sal when disposition == "accepted"
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
}

policy inbound {
  timezone "America/New_York"
  calendar office
  applies when source != "partner"
  tier tier1 "Tier 1" when lead_score >= 80 and director_plus
  tier tier2 "Tier 2" when lead_score >= 65
  otherwise not covered
  window first_response {
    starts when becomes mql
    stops on activity by owner where direction == "outbound"
    goal tier1 2 business hours
    goal tier2 24h
  }
  window accept {
    starts when becomes mql
    stops when becomes sal
    goal 3 business hours
  }
  target by_region { metric count of mql  period week  group by region  goal >= 1 }
  target directors { metric count of mql  where director_plus  period week  goal >= 1 }
  target budgets { metric count of mql  where budget >= 70  period month  group by tier  goal >= 1 }
  target patterns { metric count of mql  where region matches "^e" or fit >= 10  period week  goal >= 1 }
  target contact { metric met rate of first_response  period week  group by tier, window, policy  goal >= 90% }
  target contact_na { metric met rate of first_response  where region in ["na", "emea"]  period week  goal >= 90% }
  target accept_rate { metric rate of sal among mql  period week  group by source  goal >= 50% }
  target big_rate { metric rate of big among mql  period month  group by owner  goal >= 50% }
  target vip_rate { metric rate of vip among mql  period week  goal >= 50% }
  target speed_avg { metric average elapsed of first_response  period week  group by owner  goal <= 1h }
  target speed_median { metric median elapsed of first_response  where tier == "tier2"  period month  goal <= 1h }
  target speed_p90 { metric p90 elapsed of accept  where window == "accept"  period month  group by region  goal <= 1h }
  target complete { metric completeness of [budget, industry, tags]  period week  group by fit  goal >= 95% }
}

policy partners {
  timezone "America/New_York"
  applies when source == "partner"
  tier any "Any" when lead_score >= 65
  otherwise not covered
  window first_response {
    starts when becomes mql
    stops on activity by owner
    goal 24h
  }
  target partner_mqls { metric count of mql  period week  group by policy, vip  goal >= 1 }
  target partner_contact { metric met rate of first_response  where tier != "none"  period month  goal >= 90% }
}
"""
REGIONS = ["NA", "na", "EMEA", "emea", "Ä", "ß", "SS", "", None, ["NA", "x"], 5]
BUDGETS = [120, "150", " 99 ", "abc", 70, 70.0, "7e1", None, "", True, [100]]
VIPS = [True, False, "yes", "No", 1, 0, "", None, ["x"]]
INDUSTRIES = ["Software", "software", "Fintech", None, ""]
TAGS = [["a"], [], "x", None, ""]


def _hostile_leads(count: int = 110) -> list:
    """Leads across November 2026 with every field in the shapes a wrong translation misreads."""
    import random

    from tests.engine.test_evaluate import activity, assigned, at, created, deleted, disposition

    rng = random.Random(2026_11_22)
    found = []
    for n in range(count):
        name = f"K{n:03d}"
        t = at(rng.randint(2, 27), rng.randint(7, 19), rng.choice([0, 15, 30, 45]))
        fields = {"lead_score": rng.choice([50, 66, 70, 85, 90]),
                  "seniority": rng.choice(["director", "VP", "manager"]),
                  "source": rng.choice(["webinar", "paid", "partner", "Partner"])}
        for field_name, options in (("region", REGIONS), ("budget", BUDGETS), ("vip", VIPS),
                                    ("industry", INDUSTRIES), ("tags", TAGS)):
            if rng.random() < 0.85:
                fields[field_name] = rng.choice(options)
        owner = rng.choice(["ana@example.com", "ben@example.com", "Ünal@example.com"])
        found += [created(name, t, **fields), assigned(name, t, owner=owner)]
        if rng.random() < 0.7:
            found.append(activity(name, t + timedelta(minutes=rng.choice([20, 95, 300, 2000])), by=owner,
                                  direction=rng.choice(["outbound", "outbound", "inbound"])))
        if rng.random() < 0.5:
            found.append(disposition(name, t + timedelta(minutes=rng.choice([30, 150, 900])),
                                     rng.choice(["accepted", "rejected"])))
        if n % 9 == 0:  # merged away: counted nowhere
            found.append(deleted(name, t + timedelta(days=1)))
    return found


def test_every_metric_kind_reads_the_same_from_both_stores(tmp_path, pg_url):
    """Count, met rate, rate among (stage and not), average/median/p90 elapsed and completeness, with
    `where` and `group by` on fields, tier, policy, window, definitions, scores and patterns: the
    same values on both stores, over values that a text/number/list/case slip would count otherwise."""
    from sla_engine.engine.measures import Scope
    from sla_engine.engine.periods import completed_before, zone_of
    from sla_engine.store.metrics import Metrics

    policies = policy_set(KINDS)
    stores = [Store(tmp_path / "s.db"), open_location(pg_url)]
    as_of = AS_OF
    for store in stores:
        evaluate_run(policies, store, [("test", iter(_hostile_leads()))], as_of)
    answers: list[dict] = [{}, {}]
    for index, store in enumerate(stores):
        q = Metrics(store, policies)
        for policy in policies.policies.values():
            for target in policy.targets:
                assert target.metric is not None
                kind = target.period or "month"
                periods = completed_before(kind, as_of, zone_of(policy.timezone), 5)
                scope = Scope(policy=policy.name, where=target.where, group_by=tuple(target.group_by))
                answers[index][target.name] = q.of(target.metric, periods, scope)
    for name in answers[0]:
        sqlite, postgres = answers[0][name], answers[1][name]
        assert postgres == sqlite, (name, {key: (sqlite.get(key), postgres.get(key)) for key in {*sqlite, *postgres}
                                           if sqlite.get(key) != postgres.get(key)})
    # The data reaches every kind: groups told apart by case and type, shares neither 0 nor 100%.
    regions = {key[1] for key in answers[0]["by_region"]}
    assert {("NA",), ("na",), ('["NA","x"]',), (5,), (None,)} <= regions
    for name in ("contact", "accept_rate", "big_rate", "vip_rate", "complete", "contact_na"):
        shares = [v.value for v in answers[0][name].values() if v.value is not None]
        assert any(0 < share < 100 for share in shares), (name, shares)
    for name in ("speed_avg", "speed_median", "speed_p90", "directors", "budgets", "patterns", "partner_mqls",
                 "partner_contact"):
        assert any(v.value for v in answers[0][name].values()), name
    assert {key[1][0] for key in answers[0]["complete"]} >= {0, 5, 10, 15}  # fit: a score, judged in Python
    built = [json.loads(render(build_report(policies, store, as_of, "2026-11"), "json")) for store in stores]
    for report in built:
        report.pop("generated_at", None)
    assert built[1] == built[0]
    for store in stores:
        store.close()


def test_every_target_page_reads_the_same_from_both_stores(tmp_path, pg_url):
    """The drill-down behind each kind of number (its clocks or leads, filtered by the metric's own
    conditions, some judged in Python) and the people pages: the same HTML from both stores."""
    import re

    from sla_engine.web.server import create_app

    policies = policy_set(KINDS)
    for store in (Store(tmp_path / "s.db"), open_location(pg_url)):
        evaluate_run(policies, store, [("test", iter(_hostile_leads()))], AS_OF)
        store.close()
    clients = [create_app(policies, location).test_client() for location in (tmp_path / "s.db", pg_url)]
    urls = ["/", "/?period=2026-11", "/people", "/rep/ana%40example.com?period=2026-11",
            "/rep/%C3%9Cnal%40example.com?period=2026-11"]
    for policy in policies.policies.values():
        for target in policy.targets:
            period = "2026-W47" if target.period == "week" else "2026-11"
            urls.append(f"/target/{policy.name}/{target.name}?period={period}")
    for url in urls:
        pages = [client.get(url) for client in clients]
        assert pages[0].status_code == pages[1].status_code == 200, url
        bodies = [re.sub(r"\d\d:\d\d:\d\d(\.\d+)?", "", page.get_data(as_text=True)) for page in pages]
        assert bodies[1] == bodies[0], url
    assert "K0" in clients[0].get("/target/inbound/patterns?period=2026-W47").get_data(as_text=True)
