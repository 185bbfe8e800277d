"""The plugin manager: built-in connectors and third-party ones load the same way.

Every plugin, ours included, is found through the ``sla_engine`` entry-point group. Set
SLA_ENGINE_LOAD_PLUGINS to a comma-separated list of plugin or distribution names to load
only those (an empty value loads none).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from sla_engine import hookspecs

ENTRY_POINT_GROUP = "sla_engine"
LOAD_PLUGINS_ENV = "SLA_ENGINE_LOAD_PLUGINS"


class PluginError(RuntimeError):
    """A plugin that cannot be loaded or registers something it should not."""


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    distribution: str | None
    version: str | None
    module: str
    hooks: tuple[str, ...]


def _wanted(entry_point: EntryPoint) -> bool:
    allowed = os.environ.get(LOAD_PLUGINS_ENV)
    if allowed is None:
        return True
    names = {n.strip() for n in allowed.split(",") if n.strip()}
    dist = entry_point.dist.name if entry_point.dist is not None else None
    return entry_point.name in names or (dist is not None and dist in names)


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        # The same distribution seen twice on sys.path (an editable install and a build dir) is one plugin.
        found.setdefault(entry_point.name, entry_point)
    return found


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("sla_engine")
    manager.add_hookspecs(hookspecs)
    for name, entry_point in _entry_points().items():
        if not _wanted(entry_point):
            continue
        try:
            plugin = entry_point.load()
        except Exception as error:  # a broken plugin must say which one it is
            raise PluginError(f"plugin {name!r} ({entry_point.value}) failed to load: {error}") from error
        try:
            manager.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            raise PluginError(f"plugin {name!r}: {error}") from error
    try:
        manager.check_pending()  # a hookimpl whose name matches no hookspec fails loudly
    except pluggy.PluginValidationError as error:
        name = manager.get_name(error.plugin) if manager.is_registered(error.plugin) else "?"
        raise PluginError(
            f"plugin {name!r} implements a hook that does not exist: {error} "
            "(see docs/plugins.md for the hook names)"
        ) from error
    return manager


def reset() -> None:
    """Forget loaded plugins (tests, and after installing a plugin in the same process)."""
    for cached in (get_plugin_manager, _entry_points, connectors, notifiers):
        clear = getattr(cached, "cache_clear", None)  # a test may have replaced one
        if clear is not None:
            clear()


def loaded_plugins() -> list[LoadedPlugin]:
    """What is loaded, from which distribution, implementing which hooks."""
    manager = get_plugin_manager()
    points = _entry_points()
    listed = []
    for name, plugin in sorted(manager.list_name_plugin(), key=lambda item: str(item[0])):
        entry_point = points.get(name)
        dist = entry_point.dist if entry_point is not None else None
        listed.append(LoadedPlugin(
            name=str(name),
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=getattr(plugin, "__name__", repr(plugin)),
            hooks=tuple(sorted(h.name for h in manager.get_hookcallers(plugin) or [])),
        ))
    return listed


def _collect(hook_name: str, what: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def register(name: str, factory: Any) -> None:
        if name in found:
            raise PluginError(f"two plugins register a {what} named {name!r}")
        found[name] = factory

    getattr(get_plugin_manager().hook, hook_name)(register=register)
    return found


@functools.cache
def connectors() -> dict[str, type]:
    """Connector classes by type name."""
    from sla_engine.connector import Connector

    found = _collect("register_connectors", "connector")
    for name, factory in found.items():
        if not (isinstance(factory, type) and issubclass(factory, Connector)):
            raise PluginError(f"connector {name!r} is not a subclass of sla_engine.connector.Connector")
    return found


@functools.cache
def notifiers() -> dict[str, Callable[..., Any]]:
    """Notifier factories by channel name."""
    return _collect("register_notifiers", "notifier")


def register_commands(cli: Any) -> None:
    get_plugin_manager().hook.register_commands(cli=cli)


def prepare_database(store: Any) -> None:
    get_plugin_manager().hook.prepare_database(store=store)
