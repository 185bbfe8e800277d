"""Reading policy files: unreadable, oversized and broken files become diagnostics, not crashes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lark import Tree
from lark.exceptions import VisitError

from sla_engine.language import model as m
from sla_engine.language.check.base import _sorted
from sla_engine.language.check.checker import Checker
from sla_engine.language.errors import Diagnostic, PolicyError
from sla_engine.language.parser import parse_text, salvage_statements
from sla_engine.language.policy_set import POLICY_SUFFIX, build_policy_set, linked_outside, policy_files
from sla_engine.language.transform import ToModel, TransformError
from sla_engine.language.vocabulary import Channels


def check_paths(paths: Iterable[str | Path], channels: Channels | None = None,
                warnings: list[Diagnostic] | None = None) -> tuple[list[Diagnostic], dict[str, str]]:
    """Syntax and semantic errors of every .sla file under ``paths``, and the sources to render them.

    A file with syntax errors still has its well-formed statements checked, so one run shows
    everything. Raises FileNotFoundError for a path that does not exist, and PluginError when
    the installed notifier plugins cannot be loaded (``channels`` not given). ``warnings``: as
    for check_policy_set; errors alone decide whether a policy set may run.
    """
    files: list[m.PolicyFile] = []
    sources: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    broken: set[str] = set()
    paths = list(paths)
    for path in linked_outside(paths, POLICY_SUFFIX):
        sources[str(path)] = ""  # never read: no line of it can be shown
        diagnostics.append(Diagnostic(
            "E008", "the file is a link to something outside the policy directory; it is not read "
            "(copy the policy into the directory instead)", m.Pos(file=str(path))))
    for path in policy_files(paths):
        name = str(path)
        text, unreadable = _read(path)
        sources[name] = text
        if unreadable is not None:
            diagnostics.append(unreadable)
            continue
        parsed, problems = _parse(text, name)
        if parsed is not None:
            files.append(parsed)
        else:
            diagnostics.extend(problems)
            salvaged = _salvage(text, name)
            files.append(salvaged.file)
            broken |= salvaged.broken
            diagnostics.extend(salvaged.diagnostics)
    policy_set = build_policy_set(files, sources)
    checker = Checker(policy_set, frozenset(broken), channels)
    diagnostics.extend(checker.run())
    if warnings is not None:
        warnings.extend(_capped(_sorted(checker.warned)))
    return _capped(_sorted(diagnostics)), sources


def check_files_of_set(paths: Iterable[str | Path], policy_dir: str | Path, channels: Channels | None = None,
                       warnings: list[Diagnostic] | None = None) -> tuple[list[Diagnostic], dict[str, str]]:
    """check_paths for files that may belong to the policy set under ``policy_dir``.

    As pre-commit runs ``check`` on the files a commit changes: a file of the set is checked as
    part of the whole set (a name declared in its other files is known), and only its own errors
    and warnings are reported, at the path as given. A file outside the set is checked alone.
    """
    paths = list(paths)
    given = {path.resolve(): path for path in policy_files(paths)}
    members = {path.resolve() for path in policy_files([policy_dir])} if Path(policy_dir).is_dir() else set()
    if not set(given) & members:
        return check_paths(paths, channels, warnings)
    found_warnings: list[Diagnostic] = []
    diagnostics, sources = check_paths([policy_dir], channels, found_warnings)

    def own(found: list[Diagnostic]) -> list[Diagnostic]:
        kept = []
        for diagnostic in found:
            resolved = Path(diagnostic.pos.file).resolve()
            if resolved in given and resolved in members:
                kept.append(replace(diagnostic, pos=diagnostic.pos.model_copy(update={"file": str(given[resolved])})))
        return kept

    diagnostics, found_warnings = own(diagnostics), own(found_warnings)
    sources = {str(given[Path(name).resolve()]): text for name, text in sources.items()
               if Path(name).resolve() in given}
    others = [path for resolved, path in given.items() if resolved not in members]
    if others:
        alone, alone_sources = check_paths(others, channels, found_warnings)
        diagnostics, sources = _sorted([*diagnostics, *alone]), {**sources, **alone_sources}
    if warnings is not None:
        warnings.extend(_sorted(found_warnings))
    return diagnostics, sources


MAX_ERRORS_PER_FILE = 100  # as compilers do: a file with more has a deeper problem, and printing stays bounded
MAX_POLICY_BYTES = 256 * 1024  # 40 times the largest shipped policy file; parsing stays well under seconds


def _capped(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The first MAX_ERRORS_PER_FILE diagnostics of each file, then one saying how many more there are."""
    kept: list[Diagnostic] = []
    per_file: dict[str, int] = {}
    more: dict[str, tuple[int, Diagnostic]] = {}
    for diagnostic in diagnostics:
        if diagnostic.code == "E006":  # recovery already stopped and said so
            kept.append(diagnostic)
            continue
        name = diagnostic.pos.file
        per_file[name] = per_file.get(name, 0) + 1
        if per_file[name] <= MAX_ERRORS_PER_FILE:
            kept.append(diagnostic)
        else:
            count, first = more.get(name, (0, diagnostic))
            more[name] = (count + 1, first)
    for count, first in more.values():
        kept.append(Diagnostic("E006", f"{count} more error(s) in this file not shown; fix the ones above first",
                               first.pos))
    return sorted(kept, key=lambda d: (d.pos.file, d.pos.line, d.pos.column, d.code != "E006"))


def _read(path: Path) -> tuple[str, Diagnostic | None]:
    """The file's text; a file that is not UTF-8, or too large to be a policy, is an error, not a crash.

    A refused file's text is not kept, so no line of it is shown under an error.
    """
    size = path.stat().st_size
    if size > MAX_POLICY_BYTES:
        message = f"the file is {size:,} bytes; a policy file is at most {MAX_POLICY_BYTES:,} (split it up)"
        return "", Diagnostic("E007", message, m.Pos(file=str(path)))
    data = path.read_bytes()
    if b"\x00" in data:
        return "", Diagnostic("E004", "the file is not text (it holds NUL bytes); no line of it is shown",
                              m.Pos(file=str(path)))
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        pos = m.Pos(file=str(path))
        message = f"the file is not UTF-8 text (byte {error.start} cannot be read)"
        return data.decode("utf-8", errors="replace"), Diagnostic("E004", message, pos)


def _parse(text: str, path: str) -> tuple[m.PolicyFile | None, list[Diagnostic]]:
    """parse_text, with a reader crash on odd input turned into a diagnostic instead of an exception."""
    try:
        return parse_text(text, path), []
    except PolicyError as error:
        return None, list(error.diagnostics)
    except VisitError as error:
        return None, [_visit_diagnostic(error, path)]
    except RecursionError:
        return None, [Diagnostic("E005", "the file nests conditions too deeply to read", m.Pos(file=path))]


def _visit_diagnostic(error: VisitError, path: str) -> Diagnostic:
    """A literal the model rejected (or a reader crash), at the part of the policy that holds it."""
    original = error.orig_exc
    if isinstance(original, TransformError):
        return Diagnostic(original.code, original.message, original.pos)
    meta = getattr(error.obj, "meta", None)
    pos = m.Pos(file=path)
    if meta is not None and not getattr(meta, "empty", True):
        pos = m.Pos(file=path, line=meta.line, column=meta.column, end_line=meta.end_line, end_column=meta.end_column)
    return Diagnostic("E101", f"cannot read this part of the policy: {original}", pos)


@dataclass
class _Salvaged:
    file: m.PolicyFile
    broken: set[str]
    diagnostics: list[Diagnostic]


def _salvage(text: str, path: str) -> _Salvaged:
    """The statements of a file with syntax errors that do parse, so they are checked too.

    Names declared by the broken statements are remembered: a reference to them is not
    reported as unknown, since the real mistake is the syntax error already shown.
    """
    declarations: list[Any] = []
    repeated: list[m.Repeated] = []
    broken: set[str] = set()
    diagnostics: list[Diagnostic] = []
    for statement in salvage_statements(text):
        broken |= statement.broken
        if statement.tree is None:
            continue
        try:
            parsed = ToModel(path).transform(statement.tree)
            declarations.extend(parsed.declarations)
            repeated.extend(parsed.repeated)
        except (VisitError, RecursionError) as error:
            broken |= {_declaration_name(statement.tree)}
            if isinstance(error, VisitError):
                diagnostics.append(_visit_diagnostic(error, path))
    return _Salvaged(m.PolicyFile(path=path, declarations=declarations, repeated=repeated), broken, diagnostics)


def _declaration_name(tree: Tree) -> str:
    """The name a parsed statement declares: the first token of its declaration."""
    declaration = tree.children[0] if tree.children else None
    first = declaration.children[0] if isinstance(declaration, Tree) and declaration.children else ""
    return str(first)
