"""The entry point's module: only the hook, so `sla-engine --help` imports nothing more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sla_engine.hookspecs import hookimpl


@hookimpl
def register_notifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from sla_engine_teams.notifier import TeamsNotifier

    register("teams", TeamsNotifier)
