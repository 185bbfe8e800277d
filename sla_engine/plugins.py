"""The plugin manager: built-in connectors and third-party ones load the same way.

Every plugin, ours included, is found through the ``sla_engine`` entry-point group. Set
SLA_ENGINE_LOAD_PLUGINS to a comma-separated list of plugin names to load only those.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from sla_engine import hookspecs

ENTRY_POINT_GROUP = "sla_engine"


class PluginError(RuntimeError):
    """A plugin that cannot be loaded or registers something it should not."""


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("sla_engine")
    manager.add_hookspecs(hookspecs)
    allowed = os.environ.get("SLA_ENGINE_LOAD_PLUGINS")
    names = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if names is not None and entry_point.name not in names:
            continue
        if manager.get_plugin(entry_point.name) is not None:
            continue
        try:
            plugin = entry_point.load()
        except Exception as error:  # a broken plugin must say which one it is
            raise PluginError(f"plugin {entry_point.name!r} failed to load: {error}") from error
        manager.register(plugin, name=entry_point.name)
    manager.check_pending()  # a hookimpl whose name matches no hookspec fails loudly
    return manager


@functools.cache
def connectors() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}

    def register(name: str, factory: Callable[..., Any]) -> None:
        if name in found:
            raise PluginError(f"two plugins register a connector named {name!r}")
        found[name] = factory

    get_plugin_manager().hook.register_connectors(register=register)
    return found
