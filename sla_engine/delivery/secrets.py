"""Secrets read from the environment for delivery, remembered so they can be scrubbed from errors.

SMTP passwords, webhook URLs and signing keys must never reach output, logs or the
outbox's ``last_error``: every value read through ``secret_env`` is remembered by
``sla_engine.redact`` and replaced by ``***`` wherever ``scrub`` is applied.
"""

from __future__ import annotations

import os

from sla_engine.redact import remember, scrub

__all__ = ["MissingSecret", "remember", "scrub", "secret_env"]


class MissingSecret(RuntimeError):
    """An environment variable a delivery needs is not set (the message names the variable only)."""


def secret_env(name: str, *, required: bool = True, default: str | None = None) -> str | None:
    """Read a secret from the environment and remember it for scrubbing."""
    value = os.environ.get(name)
    if not value:
        if required and default is None:
            raise MissingSecret(f"environment variable {name} is not set")
        return default
    remember(value)
    return value.strip()
