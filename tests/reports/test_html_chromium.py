"""The html report in a real browser: headless Chromium shows it and logs no error.

Chromium is Debian's package. If it is not on PATH and we run as root, the fixture installs it
(`apt-get install chromium`); if it still cannot be had the test fails under CI and skips
elsewhere. The browser is driven over the DevTools protocol on a pipe (no port, no network):
console messages, uncaught exceptions, log entries (CSP violations, failed loads) and every
request the page makes are collected, then the page is measured and screenshotted.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from sla_engine.reports.dashboard import build_report
from sla_engine.reports.render.html import to_html
from tests.reports.dataset import AS_OF, HOSTILE_OWNER, build_store, hostile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1600", "--remote-debugging-pipe"]
TIMEOUT = 30.0


def _find() -> str | None:
    return next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    found = _find()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=900, check=False)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env,
                       capture_output=True, timeout=1800, check=False)
        found = _find()
    if found is None:
        message = "headless Chromium is not installed (Debian package `chromium`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


# Puts the protocol pipes where Chromium looks for them (fds 3 and 4), then becomes Chromium.
LAUNCHER = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])")


def _high(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    """Just enough of the DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Above fd 9, so that moving them to 3 and 4 cannot overwrite one with the other.
        to_chrome_r, from_chrome_w = (_high(fd) for fd in (to_chrome_r, from_chrome_w))

        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(to_chrome_r), str(from_chrome_w), executable, *FLAGS,
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        reply = self._until(lambda m: m.get("id") == self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_for(self, method: str, session: str) -> dict:
        """The first such event of that page's session, whether it came already or comes now."""
        def wanted(message: dict) -> bool:
            return message.get("method") == method and message.get("sessionId") == session

        return next((event for event in self.events if wanted(event)), None) or self._until(wanted)

    def _until(self, wanted) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def visit(browser: Browser, url: str) -> dict[str, Any]:
    """Open a page; return what it logged, what it requested, how it measures and a screenshot."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    first = len(browser.events)
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_for("Page.loadEventFired", session)
    measure = browser.send("Runtime.evaluate", {"returnByValue": True, "expression": """JSON.stringify({
        title: document.title,
        rows: document.querySelectorAll('table.dashboard tbody tr').length,
        height: (document.querySelector('table.dashboard') || {getBoundingClientRect: () => ({height: 0})})
            .getBoundingClientRect().height,
        charts: document.querySelectorAll('svg rect').length,
        text: document.body.textContent})"""}, session=session)
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
    events = [e for e in browser.events[first:] if e.get("sessionId") == session]
    browser.send("Target.closeTarget", {"targetId": target})
    problems = [e for e in events if e["method"] in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled")
                or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"))]
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    return {"measure": json.loads(measure["result"]["value"]), "problems": problems, "requests": requests,
            "png": base64.b64decode(shot["data"])}


def distinct_pixels(png: bytes) -> int:
    """How many different byte values the image's pixel rows hold: 1-2 for a blank page."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data = 8, b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position:position + 4])
        kind = png[position + 4:position + 8]
        if kind == b"IDAT":
            data += png[position + 8:position + 8 + length]
        position += 12 + length
    return len(set(zlib.decompress(data)))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("html")
    policies, store = build_store(folder / "s.db", extra=hostile())
    path = folder / "report.html"
    path.write_text(to_html(build_report(policies, store, AS_OF, "2026-W47")), encoding="utf-8")
    store.close()
    return path


def test_chromium_displays_the_report_and_logs_no_error(chromium, page, tmp_path):
    control = tmp_path / "control.html"
    control.write_text('<!doctype html><title>control</title><p>x</p><script>console.error("boom");'
                       'missing();</script>', encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="sla-cr-"))  # short: Chromium's socket path must fit 108 bytes
    browser = Browser(chromium, profile)
    try:
        checked = visit(browser, control.as_uri())
        seen = visit(browser, page.as_uri())
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    # The control proves the listener hears errors: a console.error and an uncaught exception.
    assert {e["method"] for e in checked["problems"]} >= {"Runtime.consoleAPICalled", "Runtime.exceptionThrown"}
    assert seen["problems"] == [], seen["problems"]
    assert seen["requests"] == [page.as_uri()]  # nothing fetched but the file itself
    measure = seen["measure"]
    assert measure["title"].startswith("SLA dashboard · 2026-W47")
    assert measure["rows"] >= 5 and measure["height"] > 100 and measure["charts"] > 10
    assert HOSTILE_OWNER in measure["text"]  # shown as text, never run
    assert distinct_pixels(seen["png"]) > 20
