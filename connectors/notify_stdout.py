"""The ``stdout`` notifier: print each message instead of sending it (dry runs, trying a policy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sla_engine.delivery.stdout import StdoutNotifier
from sla_engine.hookspecs import hookimpl

__all__ = ["StdoutNotifier", "register_notifiers"]


@hookimpl
def register_notifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("stdout", StdoutNotifier)
