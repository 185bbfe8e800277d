"""The plugin system: every hook documented and tested, loading from entry points, failures loud.

As in datasette: a hook missing from docs/plugins.md, or with no ``test_hook_<name>`` here,
fails this module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sla_engine import hookspecs, plugins
from sla_engine.cli import main
from sla_engine.hookspecs import hookimpl
from sla_engine.store.db import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "third_party_connector" / "sla-engine-jsonl"
HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "sla_engine_spec"))


@pytest.fixture(autouse=True)
def fresh_plugins():
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def with_plugin(monkeypatch):
    """Install a plugin module under an entry point (as pip would), for one test."""

    def install(name: str, **functions) -> types.ModuleType:
        module = types.ModuleType(f"sla_test_plugin_{name}")
        for attr, function in functions.items():
            setattr(module, attr, function)
        monkeypatch.setitem(sys.modules, module.__name__, module)
        points = dict(plugins._entry_points())
        points[name] = EntryPoint(name=name, value=module.__name__, group="sla_engine")
        plugins.reset()
        monkeypatch.setattr(plugins, "_entry_points", lambda: points)
        return module

    return install


def test_there_are_hooks():
    assert HOOKS == ["prepare_database", "register_commands", "register_connectors", "register_notifiers"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    headings = re.findall(r"^###\s+`?(\w+)", (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8"), re.M)
    assert hook in headings, f"docs/plugins.md has no '### {hook}(…)' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    assert any(name.startswith(f"test_hook_{hook}") for name in globals()), f"no test_hook_{hook}… in this module"


def test_hook_register_connectors_loads_the_built_ins_from_their_entry_points():
    registry = plugins.connectors()
    assert {"csv", "crm-export", "salesforce", "hubspot"} <= set(registry)
    listed = {p.name: p for p in plugins.loaded_plugins()}
    for name in ("csv", "salesforce", "hubspot"):
        assert listed[name].distribution == "sla-engine"  # exactly as a third party's would load
        assert listed[name].hooks == ("register_connectors",)


def test_hook_register_connectors_refuses_duplicates_and_non_connectors(with_plugin):
    with_plugin("dupe", register_connectors=hookimpl(lambda register: register("csv", object)))
    with pytest.raises(plugins.PluginError, match="two plugins register a connector named 'csv'"):
        plugins.connectors()
    with_plugin("odd", register_connectors=hookimpl(lambda register: register("odd", dict)))
    with pytest.raises(plugins.PluginError):
        plugins.connectors()


def test_hook_register_notifiers(with_plugin):
    def notify(**kwargs):
        return kwargs

    with_plugin("pager", register_notifiers=hookimpl(lambda register: register("pager", notify)))
    assert plugins.notifiers()["pager"] is notify


def test_hook_register_commands(with_plugin):
    def register_commands(cli):
        @cli.command()
        def hello():
            """Say hello from a plugin."""
            click.echo("hello from a plugin")

    with_plugin("hello", register_commands=hookimpl(register_commands))
    main._plugins_loaded = False
    try:
        assert "hello from a plugin" in CliRunner().invoke(main, ["hello"]).output
        assert "Say hello from a plugin" in CliRunner().invoke(main, ["--help"]).output
    finally:
        main.commands.pop("hello", None)
        main._plugins_loaded = False


def test_hook_prepare_database(with_plugin, tmp_path):
    def prepare_database(store):
        store.conn.execute("CREATE TABLE IF NOT EXISTS pager_pages (key TEXT PRIMARY KEY)")

    with_plugin("pager", prepare_database=hookimpl(prepare_database))
    store = Store(tmp_path / "s.db")
    plugins.prepare_database(store)
    plugins.prepare_database(store)  # idempotent: called each time a command opens the store
    assert store.count("pager_pages") == 0
    store.close()


def test_a_hook_implementation_whose_name_matches_no_hook_fails_loudly(with_plugin):
    with_plugin("typo", register_conectors=hookimpl(lambda register: None))
    with pytest.raises(plugins.PluginError, match="'typo' implements a hook that does not exist"):
        plugins.get_plugin_manager()
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1 and "register_conectors" in result.output


def test_a_plugin_that_fails_to_import_is_named(monkeypatch):
    points = {"broken": EntryPoint(name="broken", value="sla_no_such_module_anywhere", group="sla_engine")}
    monkeypatch.setattr(plugins, "_entry_points", lambda: points)
    with pytest.raises(plugins.PluginError, match="plugin 'broken'"):
        plugins.get_plugin_manager()


def test_the_environment_variable_limits_which_plugins_load(monkeypatch):
    monkeypatch.setenv("SLA_ENGINE_LOAD_PLUGINS", "salesforce, hubspot")
    assert set(plugins.connectors()) == {"salesforce", "hubspot"}
    plugins.reset()
    monkeypatch.setenv("SLA_ENGINE_LOAD_PLUGINS", "")
    assert plugins.connectors() == {} and plugins.loaded_plugins() == []
    plugins.reset()
    monkeypatch.setenv("SLA_ENGINE_LOAD_PLUGINS", "sla-engine")  # a distribution name loads all it ships
    assert {"csv", "salesforce", "hubspot"} <= {p.name for p in plugins.loaded_plugins()}


def test_the_plugins_command_lists_name_distribution_module_and_hooks():
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0
    assert "salesforce\tsla-engine 0.1.0\tconnectors.salesforce_plugin\tregister_connectors" in result.output


# What `--help` must not import, though it loads every plugin: the work of a command, not of listing it.
HEAVY_MODULES = (
    "pydantic", "pydantic_core", "simple_salesforce", "hubspot", "requests", "lark", "sqlite_utils", "sqlite3",
    "rich", "holidays", "smtplib", "ssl", "urllib.request", "sla_engine.connector", "sla_engine.events",
    "sla_engine.config", "connectors.csv_source", "connectors.csv_connector", "connectors.salesforce",
    "connectors.hubspot",
)


def _imported_by(argv: list[str]) -> set[str]:
    """The modules a fresh `sla-engine ARGV` has imported when it exits, every installed plugin allowed."""
    code = (f"import sys\nfrom sla_engine.cli import main\nsys.argv = ['sla-engine', *{argv!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint(*sys.modules, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k != "SLA_ENGINE_LOAD_PLUGINS"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert run.returncode == 0 and ("Usage:" in run.stdout or "version" in run.stdout), run.stdout + run.stderr
    return set(run.stderr.split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY_MODULES))


def test_help_loads_the_plugins_but_imports_nothing_heavy():
    modules = _imported_by(["--help"])
    assert {"connectors.salesforce_plugin", "connectors.notify_email"} <= modules  # the plugins did load
    assert _heavy(modules) == []


@pytest.mark.parametrize("argv", [["--version"], ["check", "--help"], ["report", "--help"]])
def test_version_and_command_help_load_no_plugin(argv):
    modules = _imported_by(argv)
    assert _heavy(modules) == []
    assert "sla_engine.plugins" not in modules and "importlib.metadata" not in modules


# ---------------------------------------------------------------- a third party's package, installed


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """Build and install tests/third_party_connector/sla-engine-jsonl into a throwaway directory.

    Offline (--no-index, --no-build-isolation: hatchling comes from the test extra) and into
    --target, so nothing leaks into the environment: only the tests that put the directory
    on their path see the plugin.
    """
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, text=True, timeout=180,
    )
    return target


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SLA_ENGINE_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_a_third_party_connector_installed_by_pip_loads_like_the_built_ins(installed_example, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_example))
    plugins.reset()
    listed = {p.name: p for p in plugins.loaded_plugins()}
    assert listed["jsonl"].distribution == "sla-engine-jsonl" and listed["jsonl"].version == "0.1.0"
    assert plugins.connectors()["jsonl"].__module__ == "sla_engine_jsonl"
    cli = subprocess.run([sys.executable, "-m", "sla_engine.cli", "plugins"], capture_output=True, text=True,
                         env=_env(installed_example), cwd=ROOT, timeout=60)
    assert "jsonl\tsla-engine-jsonl 0.1.0\tsla_engine_jsonl\tregister_connectors" in cli.stdout, cli.stderr


def test_the_third_party_connector_passes_the_conformance_kit(installed_example):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=_env(installed_example), cwd=EXAMPLE, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\b16 passed, 3 skipped\b", run.stdout), run.stdout  # no secret, messy ids or actions



# ---------------------------------------------------------------- problems named, once, by plugin


def test_a_registering_hook_whose_lazy_import_fails_is_named_by_plugins_not_a_traceback(with_plugin):
    def register_connectors(register):
        import sla_no_such_module_for_a_lazy_import  # noqa: F401  (the plugin's own connector module, broken)

    with_plugin("pipedrive", register_connectors=hookimpl(register_connectors))
    with pytest.raises(plugins.PluginError, match="plugin 'pipedrive': register_connectors failed: "
                                                  "ModuleNotFoundError: No module named"):
        plugins.connectors()
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("error: plugin 'pipedrive': register_connectors failed: ModuleNotFoundError: No module named "
            "'sla_no_such_module_for_a_lazy_import'") in result.output


def test_a_plugin_that_registered_nothing_or_implements_no_hook_is_named(with_plugin):
    with_plugin("quiet", register_notifiers=hookimpl(lambda register: None))
    with_plugin("undecorated", register_connectors=lambda register: register("x", object))  # no @hookimpl
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1
    assert ("error: plugin 'quiet' implements register_notifiers but registered no notifier: its hook must call "
            "register(name, ...)") in result.output
    assert "error: plugin 'undecorated' loaded but implements no hook: decorate its hook functions with @hookimpl" \
        in result.output


def test_two_plugins_registering_one_name_are_both_named_in_one_line(with_plugin):
    with_plugin("teams_a", register_notifiers=hookimpl(lambda register: register("teams", object)))
    with_plugin("teams_b", register_notifiers=hookimpl(lambda register: register("teams", object)))
    with pytest.raises(plugins.PluginError) as raised:
        plugins.notifiers()
    assert str(raised.value).startswith("two plugins register a notifier named 'teams': 'teams_a' and 'teams_b';")
    assert "\n" not in str(raised.value)


def test_plugins_lists_what_each_plugin_registered():
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line for line in result.output.splitlines()}
    assert lines["hubspot"].endswith("\tconnector:hubspot") and lines["notify-slack"].endswith("\tnotifier:slack")


def test_a_missing_environment_variable_names_the_source_and_the_option(monkeypatch):
    from sla_engine.connector import ConnectorConfigError

    monkeypatch.delenv("HUBSPOT_TOKEN_FOR_THIS_TEST", raising=False)
    connector = plugins.connectors()["hubspot"].configure("crm", {"token": {"env": "HUBSPOT_TOKEN_FOR_THIS_TEST"}})
    with pytest.raises(ConnectorConfigError, match=r"^environment variable HUBSPOT_TOKEN_FOR_THIS_TEST is not set "
                                                   r"\(needed by source 'crm', option token\)$"):
        connector.config.token.reveal()
