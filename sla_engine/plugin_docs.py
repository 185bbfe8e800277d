"""The reference sections of docs/connectors.md and docs/plugins.md, generated from the code.

Every type a plugin author touches is described from its source: fields with their types,
defaults and the docstring under each, public methods with their signatures and first
docstring paragraph, an enumeration's values, the conformance kit's fixtures and checks. A
test fails when the documents hold anything else, so they cannot drift from the code; after
changing one of these types, run ``python -m sla_engine.plugin_docs`` to rewrite them.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m sla_engine.plugin_docs; edit the code, not this -->"
END = "<!-- END GENERATED REFERENCE -->"


@dataclass(frozen=True)
class Section:
    """One document's generated section: the types it describes, in order."""

    document: str
    types: tuple[str, ...]


SECTIONS = (
    Section("docs/connectors.md", (
        "sla_engine.connector.Connector", "sla_engine.connector.ConnectorConfig", "sla_engine.connector.Secret",
        "sla_engine.connector.Cursor", "sla_engine.connector.PullResult", "sla_engine.connector.Rejection",
        "sla_engine.connector.Owner",
        "sla_engine.events.LeadEvent", "sla_engine.events.EventType", "sla_engine.events.EventRow",
        "sla_engine.connector.StatusUpdate", "sla_engine.connector.TaskRequest", "sla_engine.connector.OwnerChange",
        "sla_engine.connector.FieldChange", "sla_engine.connector.PushResult",
        "sla_engine.connector.ConnectorError", "sla_engine.connector.ConnectorConfigError",
        "sla_engine.conformance.ConnectorConformance",
    )),
    Section("docs/plugins.md", (
        "sla_engine.delivery.message.Message", "sla_engine.delivery.message.Item",
        "sla_engine.plugins.LoadedPlugin", "sla_engine.plugins.PluginError",
    )),
)

# Fields whose values are a fixed set defined elsewhere in the code.
VALUES = {("StatusUpdate", "status"): "sla_engine.engine.status:ClockStatus"}


def _object(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _class_node(cls: type) -> ast.ClassDef:
    source = textwrap.dedent(inspect.getsource(cls))
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    return node


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fields(node: ast.ClassDef) -> list[tuple[str, str, str, str]]:
    """(name, type, default, doc) of each annotated attribute, with the string under it as its doc."""
    found = []
    body = node.body
    for index, item in enumerate(body):
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        name = item.target.id
        if name.startswith("_") or name == "model_config":
            continue
        annotation = ast.unparse(item.annotation)
        annotation = re.sub(r"^ClassVar\[(.*)\]$", r"\1 (class attribute)", annotation)
        default = _default(item.value)
        following = body[index + 1] if index + 1 < len(body) else None
        doc = ""
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) \
                and isinstance(following.value.value, str):
            doc = _first_paragraph(following.value.value)
        found.append((name, annotation, default, doc))
    return found


def _default(value: ast.expr | None) -> str:
    """A field's default as a reader wants it: ``field(default_factory=dict)`` is ``dict()``."""
    if isinstance(value, ast.Call) and ast.unparse(value.func) in ("field", "Field", "PrivateAttr"):
        keywords = {k.arg: k.value for k in value.keywords}
        if "default_factory" in keywords:
            return f"`{ast.unparse(keywords['default_factory'])}()`"
        if "default" in keywords:
            return f"`{ast.unparse(keywords['default'])}`"
        return f"`{ast.unparse(value.args[0])}`" if value.args else "required"
    return "required" if value is None else f"`{ast.unparse(value)}`"


def _methods(node: ast.ClassDef, fixtures: bool = False) -> list[tuple[str, str]]:
    """(signature, doc) of each public method (or, with ``fixtures``, each pytest fixture)."""
    found = []
    for item in node.body:
        if not isinstance(item, ast.FunctionDef):
            continue
        decorators = [ast.unparse(d) for d in item.decorator_list]
        is_fixture = any(d.startswith("pytest.fixture") for d in decorators)
        if is_fixture != fixtures or (item.name.startswith("_") and item.name != "__init__"):
            continue
        if not fixtures and item.name.startswith("test_"):
            continue
        args = item.args
        args.args = [a for a in args.args if a.arg not in ("self", "cls")]
        for a in args.args:
            a.annotation = None if fixtures else a.annotation
        returns = f" -> {ast.unparse(item.returns)}" if item.returns is not None else ""
        prefix = "classmethod " if "classmethod" in decorators else "property " if "property" in decorators else ""
        call = "" if prefix == "property " else f"({ast.unparse(args)})"
        found.append((f"{prefix}{item.name}{call}{returns}", _first_paragraph(ast.get_docstring(item))))
    return found


def _checks(node: ast.ClassDef) -> list[tuple[str, str]]:
    return [(item.name, _first_paragraph(ast.get_docstring(item))) for item in node.body
            if isinstance(item, ast.FunctionDef) and item.name.startswith("test_")]


def _values(owner: str, field: str) -> str:
    where = VALUES.get((owner, field))
    if where is None:
        return ""
    module, _, name = where.partition(":")
    return " One of: " + ", ".join(f"`{v}`" for v in getattr(importlib.import_module(module), name)) + "."


def describe(dotted: str) -> str:
    """The reference entry of one type, as markdown."""
    cls = _object(dotted)
    node = _class_node(cls)
    bases = ", ".join(ast.unparse(b) for b in node.bases)
    lines = [f"### `{cls.__name__}`", "", f"`{dotted}`" + (f" ({bases})" if bases else "") + ": "
             + _first_paragraph(cls.__doc__), ""]
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        lines += ["Values: " + ", ".join(f"`{member.value}`" for member in cls), ""]
        return "\n".join(lines)
    fields = _fields(node)
    if fields:
        lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
        lines += [f"| `{name}` | `{_cell(type_)}` | {_cell(default)} | {_cell(doc + _values(cls.__name__, name))} |"
                  for name, type_, default, doc in fields]
        lines.append("")
    fixtures = _methods(node, fixtures=True)
    if fixtures:
        lines += ["Fixtures a test class may override:", ""]
        lines += [f"- `{signature}`: {doc}" if doc else f"- `{signature}`" for signature, doc in fixtures]
        lines.append("")
    checks = _checks(node)
    if checks:
        lines += ["Checks:", ""]
        lines += [f"- `{name}`" + (f": {doc}" if doc else "") for name, doc in checks]
        lines.append("")
    methods = _methods(node)
    if methods:
        lines += ["Methods:", ""]
        lines += [f"- `{signature}`" + (f": {doc}" if doc else "") for signature, doc in methods]
        lines.append("")
    return "\n".join(lines)


def generated(section: Section) -> str:
    body = "\n".join(describe(dotted) for dotted in section.types)
    return f"{BEGIN}\n\n{body}\n{END}"


def current(text: str) -> str | None:
    """The generated section a document holds now (None: it has none)."""
    start, end = text.find(BEGIN), text.find(END)
    return None if start < 0 or end < 0 else text[start:end + len(END)]


def rewrite(root: Path) -> list[str]:
    """Rewrite each document's section from the code; returns the documents that changed."""
    changed = []
    for section in SECTIONS:
        path = root / section.document
        text = path.read_text(encoding="utf-8")
        old = current(text)
        new = generated(section)
        if old is None:
            raise SystemExit(f"{section.document} has no generated reference section: add a line {BEGIN} "
                             f"and a line {END} where it goes")
        if old != new:
            path.write_text(text.replace(old, new), encoding="utf-8")
            changed.append(section.document)
    return changed


if __name__ == "__main__":  # pragma: no cover
    for document in rewrite(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()):
        print(f"rewrote {document}")
