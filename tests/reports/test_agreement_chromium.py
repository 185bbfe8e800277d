"""The agreement page in headless Chromium: it displays and prints (A4 and Letter) without overflow,
logs no error and requests nothing but itself. The browser and its installation are those of
test_html_chromium.py."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from sla_engine.language.policy_set import load_policy_set
from sla_engine.reports.agreement import build_all, to_html
from tests.reports.test_html_chromium import Browser, chromium, distinct_pixels  # noqa: F401  (the fixture)

POLICIES = Path(__file__).resolve().parents[2] / "policies"
HOSTILE = "<img src=http://evil.example/x.png> Ünïcode\u202e and a very-long-unbroken-" + "x" * 150

MEASURE = """JSON.stringify({
  title: document.title,
  clauses: document.querySelectorAll('p.clause').length,
  parties: document.querySelectorAll('.party').length,
  pageWidth: document.documentElement.scrollWidth, viewWidth: window.innerWidth,
  overflowing: [...document.querySelectorAll('h1, h2, p, .party, .label')]
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > window.innerWidth)
    .map(e => e.tagName + ': ' + e.textContent.slice(0, 60)),
  text: document.body.innerText})"""
PAPERS = {"A4": (8.27, 11.69), "Letter": (8.5, 11.0)}


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    policy_set = load_policy_set([POLICIES])
    policy = policy_set.policies["inbound_tiered"]
    policy_set.policies["inbound_tiered"] = policy.model_copy(update={"description": HOSTILE})
    path = tmp_path_factory.mktemp("agreement") / "agreement.html"
    path.write_text(to_html(build_all(policy_set, "inbound_tiered")), encoding="utf-8")
    return path


def look(browser: Browser, url: str, width: int, media: str) -> dict:
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    first = len(browser.events)
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 1000, "deviceScaleFactor": 1,
                                                        "mobile": False}, session=session)
    browser.send("Emulation.setEmulatedMedia", {"media": media}, session=session)
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_for("Page.loadEventFired", session)
    measure = json.loads(browser.send("Runtime.evaluate", {"returnByValue": True, "expression": MEASURE},
                                      session=session)["result"]["value"])
    shot = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
    pdfs = {name: base64.b64decode(browser.send("Page.printToPDF", {
        "paperWidth": w, "paperHeight": h, "printBackground": False, "displayHeaderFooter": False},
        session=session)["data"]) for name, (w, h) in PAPERS.items()}
    events = [e for e in browser.events[first:] if e.get("sessionId") == session]
    browser.send("Target.closeTarget", {"targetId": target})
    problems = [e for e in events if e["method"] in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled")
                or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"))]
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    return {"measure": measure, "png": shot, "pdfs": pdfs, "problems": problems, "requests": requests}


def test_the_agreement_displays_and_prints_cleanly(chromium, page):  # noqa: F811
    profile = Path(tempfile.mkdtemp(prefix="sla-cr-"))  # short: Chromium's socket path must fit 108 bytes
    browser = Browser(chromium, profile)
    try:
        # 1280 px on screen; 640 px is an A4 or Letter page's printable width at 96 dpi, less margins.
        screen = look(browser, page.as_uri(), 1280, "screen")
        printed = look(browser, page.as_uri(), 640, "print")
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    for seen in (screen, printed):
        assert seen["problems"] == [], seen["problems"]
        assert seen["requests"] == [page.as_uri()]  # the hostile image is text, never fetched
        measure = seen["measure"]
        assert measure["title"] == "Tiered inbound SLA"
        assert measure["clauses"] >= 20 and measure["parties"] == 4
        assert measure["pageWidth"] <= measure["viewWidth"], measure
        assert measure["overflowing"] == []
        assert "<img src=http://evil.example/x.png>" in measure["text"]
        assert distinct_pixels(seen["png"]) > 20
    for name, pdf in printed["pdfs"].items():
        assert pdf.startswith(b"%PDF"), name
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
        assert 2 <= pages <= 6, (name, pages)
