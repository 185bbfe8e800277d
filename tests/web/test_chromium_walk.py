"""The live dashboard in headless Chromium: dashboard → tile → lead → rep, as a VP would click it.

The server runs in this process on a free loopback port; Chromium (Debian's package, installed
by the fixture when missing) is driven over the DevTools pipe. Every page must log no error,
request nothing from another origin, open no dialog (lead data holding <script> stays text),
and show what the step promises. Screenshots are kept in build/screenshots/ as CI artifacts.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from waitress import create_server

from sla_engine.web.server import create_app
from tests.reports.dataset import HOSTILE_OWNER, build_store, hostile
from tests.reports.test_html_chromium import Browser, chromium  # noqa: F401  (the fixture)

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("walk") / "s.db"
    policies, store = build_store(db, extra=hostile())
    store.close()
    httpd = create_server(create_app(policies, db), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.effective_port}"
    finally:
        httpd.close()


class Page:
    """One tab: navigate, read the DOM, screenshot; collects what each page logged and requested."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=self.session)
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1000, "deviceScaleFactor": 1,
                                                            "mobile": False}, session=self.session)

    def open(self, url: str) -> dict[str, Any]:
        first = len(self.browser.events)
        self.browser.send("Page.navigate", {"url": url}, session=self.session)
        loads = sum(1 for e in self.browser.events if self._is_load(e))
        if sum(1 for e in self.browser.events[first:] if self._is_load(e)) == 0:
            self.browser._until(lambda m: self._is_load(m) and
                                sum(1 for e in self.browser.events if self._is_load(e)) > loads)
        events = [e for e in self.browser.events[first:] if e.get("sessionId") == self.session]
        return {
            "problems": [e for e in events if e["method"] in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled",
                                                              "Page.javascriptDialogOpening")
                         or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error",
                                                                                                   "warning"))],
            "requests": [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"],
        }

    def _is_load(self, message: dict) -> bool:
        return message.get("method") == "Page.loadEventFired" and message.get("sessionId") == self.session

    def js(self, expression: str) -> Any:
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=self.session)
        return result["result"].get("value")

    def screenshot(self, name: str) -> bytes:
        data = base64.b64decode(self.browser.send("Page.captureScreenshot", {"format": "png"},
                                                  session=self.session)["data"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}.png").write_bytes(data)
        return data


def test_a_vp_walks_dashboard_tile_lead_and_rep_page(chromium, server):  # noqa: F811
    profile = Path(tempfile.mkdtemp(prefix="sla-walk-"))
    browser = Browser(chromium, profile)
    try:
        page = Page(browser)
        steps = []

        seen = page.open(f"{server}/?period=2026-W47")
        steps.append(("dashboard", seen))
        assert page.js("document.title").startswith("SLA dashboard · 2026-W47")
        tiles = json.loads(page.js("JSON.stringify([...document.querySelectorAll('.tile')].map(t => "
                                   "[t.dataset.target, t.querySelector('.status').textContent]))"))
        assert ["inbound/mqls", "on target"] in tiles and ["inbound/contact", "missed"] in tiles
        assert "Dana Whitfield, Chief Revenue Officer" in page.js("document.body.innerText")
        page.screenshot("1-dashboard")
        tile = page.js("document.querySelector('[data-target=\"inbound/contact\"] .label a').href")

        seen = page.open(tile)
        steps.append(("tile", seen))
        text = page.js("document.body.innerText")
        assert "The 5 clocks behind the number" in text and "2 breached" in text and "3 met" in text
        page.screenshot("2-tile-leads")
        lead = page.js("[...document.querySelectorAll('table.leads a')].find(a => a.textContent === 'D').href")

        seen = page.open(lead)
        steps.append(("lead", seen))
        text = page.js("document.body.innerText")
        assert "Lead D" in text and "inbound/first_response" in text and "clock starts" in text
        assert "breached" in text
        page.screenshot("3-lead-timeline")
        rep = page.js("document.querySelector('a[href^=\"/rep/\"]').href")

        seen = page.open(rep + "?period=2026-11")
        steps.append(("rep", seen))
        text = page.js("document.body.innerText")
        assert "ben@example.com" in text and "Running clocks, due soonest first" in text
        assert "Breaches in 2026-11" in text
        page.screenshot("4-rep")

        seen = page.open(f"{server}/lead/H")  # every free-text field of H is an attack
        steps.append(("hostile lead", seen))
        text = page.js("document.body.innerText")
        assert HOSTILE_OWNER in text  # shown as typed
        assert page.js("document.querySelectorAll('script, img, iframe').length") == 0
        page.screenshot("5-hostile-lead")
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    for name, step in steps:
        assert step["problems"] == [], (name, step["problems"])
        assert step["requests"] and all(url.startswith(server + "/") for url in step["requests"]), (name, step)
