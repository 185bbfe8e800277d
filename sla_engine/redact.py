"""Secrets kept out of everything the tool prints or stores: errors, logs, the outbox, reports.

Every secret the tool reads (a connector's token, an SMTP password, a webhook URL, an address
read through ``env("VAR")``) is remembered here when it is read, and ``scrub`` replaces it by
``***`` wherever an error is shown or kept. A URL is remembered with its path too: an error
such as ``InvalidURL: '/services/T0/B0/…'`` quotes only part of it. Shapes that are secrets
whoever made them (a bearer token, a HubSpot private app token, a Slack webhook path) are
replaced even when they were never read through here, e.g. when a CRM echoes a token back.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MIN_SECRET = 4  # shorter values would scrub ordinary words
_seen: set[str] = set()

_SHAPES = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization header value
    r"|\bpat-[a-z]{2,4}\d?-[A-Za-z0-9-]{8,}"  # a HubSpot private app token
    r"|/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"  # a Slack incoming webhook's path
    r"|\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}"  # a Salesforce session id
)


def remember(value: str | None) -> None:
    """Treat a value as secret from now on (and, for a URL, its path and query too)."""
    if not value:
        return
    for part in {value, value.strip()}:
        if len(part) >= MIN_SECRET:
            _seen.add(part)
    text = value.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            return
        for part in (parts.path + (f"?{parts.query}" if parts.query else ""), parts.path):
            if len(part) >= 8 and part.count("/") >= 2:  # /services/T0/B0/x, not "/" or "/hook"
                _seen.add(part)


def scrub(text: str) -> str:
    """The text with every remembered secret, and every secret-shaped string, replaced by ***."""
    for secret in sorted(_seen, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return _SHAPES.sub("***", text)
