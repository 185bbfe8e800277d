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
from typing import TYPE_CHECKING, Any

import pluggy

from sla_engine import hookspecs

if TYPE_CHECKING:
    from sla_engine.connector import Connector

ENTRY_POINT_GROUP = "sla_engine"
LOAD_PLUGINS_ENV = "SLA_ENGINE_LOAD_PLUGINS"


class PluginError(RuntimeError):
    """A plugin that cannot be loaded or registers something it should not."""


@dataclass(frozen=True)
class LoadedPlugin:
    """One loaded plugin, as ``sla-engine plugins`` lists it."""

    name: str
    """The entry point's name."""
    distribution: str | None
    """The installed distribution it comes from, or None."""
    version: str | None
    """That distribution's version."""
    module: str
    """The module the entry point names."""
    hooks: tuple[str, ...]
    """The hooks it implements."""
    registered: tuple[str, ...] = ()
    """The connector types and notifier channels it registered (``connector:csv``, ``notifier:teams``)."""


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
        name = (manager.get_name(error.plugin) if manager.is_registered(error.plugin) else None) or "?"
        raise PluginError(
            f"plugin {name!r} implements a hook that does not exist: {error} "
            "(see docs/plugins.md for the hook names)"
        ) from error
    return manager


def reset() -> None:
    """Forget loaded plugins (tests, and after installing a plugin in the same process)."""
    for cached in (get_plugin_manager, _entry_points, registrations, connectors, notifiers):
        clear = getattr(cached, "cache_clear", None)  # a test may have replaced one
        if clear is not None:
            clear()


def loaded_plugins(with_registrations: bool = False) -> list[LoadedPlugin]:
    """What is loaded, from which distribution, implementing which hooks (and registering what)."""
    manager = get_plugin_manager()
    points = _entry_points()
    names: dict[str, list[str]] = {}
    for hook_name, what in (("register_connectors", "connector"), ("register_notifiers", "notifier")):
        for registration in registrations(hook_name).values() if with_registrations else ():
            names.setdefault(registration.plugin, []).append(f"{what}:{registration.name}")
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
            registered=tuple(names.get(str(name), ())),
        ))
    return listed


@dataclass(frozen=True)
class Registration:
    """One name a plugin registered: a connector type or a notifier channel, and what makes it."""

    name: str
    plugin: str
    factory: Any


@functools.cache
def registrations(hook_name: str) -> dict[str, Registration]:
    """What the plugins register through ``register_connectors`` or ``register_notifiers``, by name.

    Each plugin's hook is called with its own ``register``, so every problem names its plugin: a
    hook that raises (a module it imports lazily is broken), and a name two plugins register.
    """
    what = {"register_connectors": "connector", "register_notifiers": "notifier"}[hook_name]
    manager = get_plugin_manager()
    found: dict[str, Registration] = {}
    for impl in getattr(manager.hook, hook_name).get_hookimpls():
        plugin = impl.plugin_name

        def register(name: str, factory: Any, plugin: str = plugin) -> None:
            if name in found:
                raise PluginError(f"two plugins register a {what} named {name!r}: "
                                  f"{_describe(found[name].plugin)} and {_describe(plugin)}; "
                                  "uninstall one, or limit what loads with SLA_ENGINE_LOAD_PLUGINS")
            found[name] = Registration(name, plugin, factory)

        try:
            impl.function(register=register)
        except PluginError:
            raise
        except Exception as error:  # the plugin's own code: say which plugin, not a traceback
            raise PluginError(
                f"plugin {_describe(plugin)}: {hook_name} failed: {type(error).__name__}: {error}"
            ) from error
    return found


def _describe(plugin: str) -> str:
    """A plugin's name and the distribution it comes from, for messages."""
    entry_point = _entry_points().get(plugin)
    dist = entry_point.dist if entry_point is not None else None
    return f"{plugin!r} ({dist.name} {dist.version})" if dist is not None else repr(plugin)


@functools.cache
def connectors() -> dict[str, type[Connector]]:
    """Connector classes by type name."""
    from sla_engine.connector import Connector

    found = {name: r.factory for name, r in registrations("register_connectors").items()}
    for name, factory in found.items():
        if not (isinstance(factory, type) and issubclass(factory, Connector)):
            plugin = registrations("register_connectors")[name].plugin
            raise PluginError(f"plugin {_describe(plugin)}: connector {name!r} is not a subclass of "
                              "sla_engine.connector.Connector")
    return found


@functools.cache
def notifiers() -> dict[str, Callable[..., Any]]:
    """Notifier factories by channel name."""
    return {name: r.factory for name, r in registrations("register_notifiers").items()}


def problems() -> list[str]:
    """What is wrong with the installed plugins, one line each, for ``sla-engine plugins``.

    Loading problems stop every command; a plugin that implements a registering hook but
    registered nothing is only reported here (it is probably misconfigured or empty).
    """
    try:
        manager = get_plugin_manager()
    except PluginError as error:
        return [str(error)]
    found = [f"plugin {_describe(p.name)} loaded but implements no hook: decorate its hook functions with "
             "@hookimpl (from sla_engine.hookspecs)" for p in loaded_plugins() if not p.hooks]
    registered: dict[str, set[str]] = {}
    for hook_name in ("register_connectors", "register_notifiers"):
        try:
            for registration in registrations(hook_name).values():
                registered.setdefault(registration.plugin, set()).add(hook_name)
        except PluginError as error:
            found.append(str(error))
            continue
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            if hook_name not in registered.get(impl.plugin_name, set()):
                what = "connector" if hook_name == "register_connectors" else "notifier"
                found.append(f"plugin {_describe(impl.plugin_name)} implements {hook_name} but registered no "
                             f"{what}: its hook must call register(name, ...)")
    return found


def register_commands(cli: Any) -> None:
    get_plugin_manager().hook.register_commands(cli=cli)


def prepare_database(store: Any) -> None:
    get_plugin_manager().hook.prepare_database(store=store)
