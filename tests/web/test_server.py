"""The live dashboard over a real store: pages, drill-down, escaping, auth, read-only, caching."""

from __future__ import annotations

import base64
import sqlite3

import pytest

from sla_engine.web.server import CSP, ServeError, create_app, is_loopback, serve
from tests.reports.dataset import HOSTILE_OWNER, HOSTILE_REASON, build_store, hostile


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db = tmp_path_factory.mktemp("web") / "s.db"
    policies, store = build_store(db, extra=hostile())
    store.close()
    return policies, db


@pytest.fixture()
def client(site):
    policies, db = site
    return create_app(policies, db).test_client()


def test_the_dashboard_shows_a_tile_per_commitment_linking_to_the_leads_behind_it(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "SLA dashboard · 2026-12 (in progress)" in html
    assert 'href="/target/inbound/contact?period=2026-W49"' in html
    assert "Dana Whitfield, Chief Revenue Officer" in html
    assert '<meta http-equiv="refresh" content="60">' in html
    weekly = client.get("/?period=2026-W47").get_data(as_text=True)
    assert 'href="/target/inbound/contact?period=2026-W47"' in weekly and "60%" in weekly
    assert client.get("/?period=2026-W99").status_code == 400


def test_tile_to_leads_to_timeline_to_rep(client):
    leads = client.get("/target/inbound/contact?period=2026-W47").get_data(as_text=True)
    assert "The 5 clocks behind the number" in leads  # 3 of 5 met, as the tile says
    assert "3 met" in leads and "2 breached" in leads
    assert 'href="/lead/A"' in leads and 'href="/lead/D"' in leads
    lead = client.get("/lead/A").get_data(as_text=True)
    assert "inbound/first_response" in lead and "clock starts" in lead and "met" in lead
    assert 'href="/rep/ana%40example.com"' in lead
    rep = client.get("/rep/ana%40example.com?period=2026-11").get_data(as_text=True)
    assert "ana@example.com" in rep and "Running clocks, due soonest first" in rep
    assert client.get("/lead/nobody").status_code == 404
    assert client.get("/target/inbound/nothing").status_code == 404


def test_lead_data_renders_inert_on_every_page(client):
    for url in ("/", "/?period=2026-W47", "/target/inbound/contact?period=2026-W47", "/lead/H", "/people",
                "/outbox", "/quarantine", "/rep/" + HOSTILE_OWNER.replace("/", "%2F")):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert "<script" not in html.lower(), url
        assert "onerror=" not in html.replace("onerror=alert", "") or "&lt;img" in html, url
    lead = client.get("/lead/H").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;owner&#34;)&lt;/script&gt;" in lead
    assert "&lt;img src=x onerror=alert(1)&gt;" in lead  # the rejection reason, as text
    assert HOSTILE_REASON not in lead


def test_headers_forbid_script_and_outside_requests_and_pages_revalidate(client):
    page = client.get("/")
    assert page.headers["Content-Security-Policy"] == CSP and "script-src" not in CSP
    assert "default-src 'none'" in CSP
    assert page.headers["Cache-Control"] == "no-cache" and page.headers["X-Content-Type-Options"] == "nosniff"
    etag = page.headers["ETag"]
    again = client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""


def test_read_only_no_writes_and_no_methods_but_get(site, client):
    policies, db = site
    assert client.post("/").status_code == 405
    app = create_app(policies, db)
    from sla_engine.web.server import Site

    store = Site(policies, db).store()
    try:
        with pytest.raises(sqlite3.OperationalError):
            store.conn.execute("DELETE FROM outbox")
    finally:
        store.close()
    assert app is not None


def test_a_token_is_required_when_set(site):
    policies, db = site
    client = create_app(policies, db, token="s3cret").test_client()
    denied = client.get("/")
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
    assert "s3cret" not in denied.get_data(as_text=True)
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    basic = base64.b64encode(b"vp:s3cret").decode()
    assert client.get("/outbox", headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_exposing_the_server_needs_a_token(site, monkeypatch):
    policies, db = site
    monkeypatch.delenv("SLA_ENGINE_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
    with pytest.raises(ServeError, match="SLA_ENGINE_TOKEN"):
        serve(policies, db, host="0.0.0.0", port=1)


def test_a_commitment_links_to_its_clause_in_the_written_agreement(client):
    leads = client.get("/target/inbound/contact?period=2026-W47").get_data(as_text=True)
    assert 'href="/agreement/inbound#inbound-target-contact"' in leads
    agreement = client.get("/agreement/inbound")
    assert agreement.status_code == 200
    assert 'id="inbound-target-contact"' in agreement.get_data(as_text=True)
    assert client.get("/agreement/nothing").status_code == 404
