"""Where the store is: an SQLite file (the default) or a PostgreSQL database named by a URL.

``db = "sla-engine.db"`` in sla-engine.toml (or ``--db``) is a file; ``db = "postgresql://…"``
is a server. The password never belongs in that URL: libpq reads it from ``PGPASSWORD``, a
``~/.pgpass`` file or a ``service=`` entry of ``pg_service.conf``. One written there anyway is
kept out of everything printed (``display``, ``redact.remember``).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sla_engine import redact

SCHEMES = ("postgresql://", "postgres://")
_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]*")


def is_postgres(location: str | Path | None) -> bool:
    """Whether the configured store is a PostgreSQL URL rather than an SQLite file."""
    return isinstance(location, str) and location.strip().lower().startswith(SCHEMES)


def display(url: str) -> str:
    """The URL as it may be shown: a password in it (user:password@ or ?password=) as ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user_info, _, host = netloc.rpartition("@")
        if ":" in user_info:
            netloc = f"{user_info.split(':', 1)[0]}:***@{host}"
    return _PASSWORD_PARAM.sub(r"\1***", urlunsplit(parts._replace(netloc=netloc)))


def remember_secrets(url: str) -> None:
    """Have ``redact.scrub`` hide any password the URL carries, wherever an error quotes it."""
    parts = urlsplit(url)
    if parts.password:
        redact.remember(parts.password)
    for found in _PASSWORD_PARAM.finditer(url):
        redact.remember(found.group(0).split("=", 1)[1])

