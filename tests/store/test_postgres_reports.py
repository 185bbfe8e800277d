"""Reports, targets and the dashboard's drill-down read a PostgreSQL store as they read SQLite."""

from __future__ import annotations

import json

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
