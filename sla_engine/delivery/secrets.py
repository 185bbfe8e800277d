"""Secrets read from the environment, remembered only so they can be scrubbed from errors.

SMTP passwords, webhook URLs and signing keys must never reach output, logs or the
outbox's ``last_error``: every value read through ``secret_env`` is replaced by ``***``
wherever ``scrub`` is applied.
"""

from __future__ import annotations

import os

_seen: set[str] = set()


class MissingSecret(RuntimeError):
    """An environment variable a delivery needs is not set (the message names the variable only)."""


def secret_env(name: str, *, required: bool = True, default: str | None = None) -> str | None:
    """Read a secret from the environment and remember it for scrubbing."""
    value = os.environ.get(name)
    if not value:
        if required and default is None:
            raise MissingSecret(f"environment variable {name} is not set")
        return default
    value = value.strip()
    if len(value) >= 4:
        _seen.add(value)
    return value


def remember(value: str) -> None:
    """Treat a value as secret from now on (an address read through env("VAR"))."""
    if value and len(value) >= 4:
        _seen.add(value)


def scrub(text: str) -> str:
    """The text with every remembered secret replaced, longest first."""
    for secret in sorted(_seen, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
