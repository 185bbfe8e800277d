"""The hooks a plugin may implement. Each is documented in docs/plugins.md and tested in tests/test_plugins.py.

A plugin is a module (or object) with functions decorated ``@hookimpl`` whose names match
these specs; a decorated function whose name matches none fails loading loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("sla_engine")
hookimpl = pluggy.HookimplMarker("sla_engine")


@hookspec
def register_connectors(register: Callable[[str, type], None]) -> None:
    """Register connector types: call ``register(type_name, ConnectorSubclass)`` once per type.

    The class subclasses ``sla_engine.connector.Connector``; ``type = "TYPE"`` in a
    ``[[sources]]`` table and ``--source TYPE:ARG`` name it.
    """


@hookspec
def register_notifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register escalation notifiers: call ``register(channel, factory)`` once per channel.

    The channel is what a policy writes after ``via`` (``notify owner via slack``).
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``sla-engine`` click group: ``@cli.command()`` inside the hook."""


@hookspec
def prepare_database(store: Any) -> None:
    """Create or upgrade the plugin's own tables in the store (``CREATE TABLE IF NOT EXISTS``).

    Called each time a command opens the store, before a run; prefix table names with the
    plugin's name so they never collide with the engine's.
    """
