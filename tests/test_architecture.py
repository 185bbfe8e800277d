"""The layers of docs/architecture.md, held by the imports themselves.

A plain walk over the source: every import (at the top of a module or inside a function, since
a lazy import is still a dependency) must point at the same layer or a lower one, and the
modules must not import each other in a circle. The built-in connectors are plugins: they reach
the core only through the plugin interfaces, and the core never imports them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module belongs to the layer with the longest prefix that names it or a package it is
# in; the root package names only itself.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("interfaces", ("sla_engine", "sla_engine.events", "sla_engine.connector", "sla_engine.hookspecs",
                    "sla_engine.plugins", "sla_engine.safe_text", "sla_engine.redact")),
    ("language", ("sla_engine.language",)),
    ("engine", ("sla_engine.engine",)),
    ("store", ("sla_engine.store",)),
    ("run", ("sla_engine.sync", "sla_engine.judging", "sla_engine.runner")),
    ("delivery", ("sla_engine.delivery",)),
    ("reports", ("sla_engine.reports",)),
    ("tools", ("sla_engine.policytest", "sla_engine.conformance", "sla_engine.plugin_docs")),
    ("app", ("sla_engine.app", "sla_engine.config", "sla_engine.doctor", "sla_engine.scaffold")),
    ("web", ("sla_engine.web",)),
    ("cli", ("sla_engine.cli",)),
]
# What a plugin may import: the interfaces, and the helpers a notifier needs to build and send a message.
PLUGIN_INTERFACES = ("sla_engine.events", "sla_engine.connector", "sla_engine.hookspecs",
                     "sla_engine.delivery.message", "sla_engine.delivery.secrets", "sla_engine.delivery.http",
                     "sla_engine.delivery.stdout", "sla_engine.safe_text", "sla_engine.redact")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    paths = [*ROOT.glob("sla_engine/**/*.py"), *ROOT.glob("connectors/**/*.py")]
    return {module_name(path): path for path in sorted(paths)}


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(imported module, line) for each of our modules ``path`` imports, wherever the import is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports the module; `from module import name` the module.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target in known:
                yield target, node.lineno


def layer_of(module: str) -> int:
    best = (-1, -1)  # (length of the longest matching prefix, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and prefix != "sla_engine"
            if (module == prefix or inside) and len(prefix) > best[0]:
                best = (len(prefix), index)
    return best[1]


MODULES = source_modules()
GRAPH = {name: sorted(set(imports_of(name, path, set(MODULES)))) for name, path in MODULES.items()}


def test_every_core_module_has_a_layer():
    assert [name for name in MODULES if name.startswith("sla_engine") and layer_of(name) < 0] == []


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{MODULES[name].relative_to(ROOT)}:{line}: {LAYERS[layer_of(name)][0]} imports {target} "
        f"({LAYERS[layer_of(target)][0]})"
        for name, targets in GRAPH.items() if name.startswith("sla_engine")
        for target, line in targets if target.startswith("sla_engine") and layer_of(target) > layer_of(name)
    ]
    assert upward == []


def test_the_core_reaches_the_built_in_connectors_only_through_the_plugin_registry():
    reaching = [f"{MODULES[name].relative_to(ROOT)}:{line}: imports {target}"
                for name, targets in GRAPH.items() if name.startswith("sla_engine")
                for target, line in targets if target.startswith("connectors")]
    assert reaching == []


def test_the_built_in_connectors_use_only_the_plugin_interfaces():
    beyond = [f"{MODULES[name].relative_to(ROOT)}:{line}: imports {target}"
              for name, targets in GRAPH.items() if name.startswith("connectors")
              for target, line in targets
              if target.startswith("sla_engine") and target not in PLUGIN_INTERFACES]
    assert beyond == []


def test_no_import_cycle():
    edges = {name: {target for target, _ in targets} for name, targets in GRAPH.items()}
    cycles = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(" → ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("source, expected", [
    ("from sla_engine.store.db import Store\n", ["sla_engine.store.db"]),
    ("from sla_engine.language import model as m\n", ["sla_engine.language.model"]),
    ("def f():\n    from . import deliver\n", ["sla_engine.delivery.deliver"]),
    ("import sla_engine.reports.dashboard\n", ["sla_engine.reports.dashboard"]),
])
def test_the_walk_sees_each_form_of_import(tmp_path, source, expected):
    path = tmp_path / "mod.py"
    path.write_text(source, encoding="utf-8")
    found = [target for target, _ in imports_of("sla_engine.delivery.mod", path, set(MODULES))]
    assert found == expected


LONG = 650  # lines: "about 600", with room for a docstring that says why


def test_a_long_module_says_why_in_its_docstring():
    unexplained = []
    for path in MODULES.values():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG and "\nSize: " not in (ast.get_docstring(ast.parse(text), clean=False) or ""):
            unexplained.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert unexplained == []


SQL_CALLS = ("execute", "executemany", "executescript", "query")


def test_only_the_store_runs_sql():
    """Every statement the store runs is in sla_engine/store/: other layers call its methods."""
    outside = []
    for name, path in MODULES.items():
        if not name.startswith("sla_engine") or layer_of(name) == layer_of("sla_engine.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SQL_CALLS and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr in ("conn", "db")):
                outside.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node.func)}(...)")
    assert outside == []


SQL_TEXT = re.compile(r"\b(SELECT|INSERT (OR \w+ )?INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TEMP )?TABLE"
                      r"|json_extract)\b")


def test_only_the_store_writes_sql():
    """No SQL text outside sla_engine/store/, not even handed to a store method to run."""
    outside = []
    for name, path in MODULES.items():
        if not name.startswith("sla_engine") or layer_of(name) == layer_of("sla_engine.store"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and SQL_TEXT.search(node.value)):
                outside.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert outside == []
