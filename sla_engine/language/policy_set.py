"""A policy set: every .sla file of a directory, sharing one namespace.

A policy's own definitions and stages join that namespace under scoped names (language/scope.py),
so everything past the language reads one flat set of names.

Loading collects the syntax errors of every file before giving up, so one run shows them all.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sla_engine.language import model as m
from sla_engine.language.errors import Diagnostic, PolicyError
from sla_engine.language.parser import parse_text
from sla_engine.language.scope import resolve

POLICY_SUFFIX = ".sla"


def find_files(paths: Iterable[str | Path], suffix: str) -> list[Path]:
    """The files named, or found recursively (sorted) under the directories named, each once.

    A file that is a link to something outside its directory is left out (see ``linked_outside``).
    """
    return [path for path, root in _candidates(paths, suffix) if is_inside(path, root)]


def linked_outside(paths: Iterable[str | Path], suffix: str) -> list[Path]:
    """The files ``find_files`` leaves out: links that lead out of the directory they were found in.

    A policy set is reviewed as the files in its directory; a link to /proc/self/environ or to a
    file elsewhere would be read (and its lines shown in errors, in CI logs) without anyone
    reviewing what it points at.
    """
    return [path for path, root in _candidates(paths, suffix) if not is_inside(path, root)]


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, links followed, is within ``root`` (links followed too)."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _candidates(paths: Iterable[str | Path], suffix: str) -> list[tuple[Path, Path]]:
    """(file, the directory it must stay inside) for each file named or found, each once."""
    found: dict[Path, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for candidate in sorted(path.rglob(f"*{suffix}")):
                if candidate.is_file() or candidate.is_symlink():
                    found.setdefault(candidate, path)
        elif path.is_file() or path.is_symlink():
            found.setdefault(path, path.parent)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return list(found.items())


def policy_files(paths: Iterable[str | Path]) -> list[Path]:
    """The .sla files named or found under the given paths (never a link out of their directory)."""
    return find_files(paths, POLICY_SUFFIX)


@dataclass
class PolicySet:
    files: list[m.PolicyFile]
    sources: dict[str, str]
    content_hash: str
    fields: dict[str, m.FieldDecl] = field(default_factory=dict)
    scores: dict[str, m.ScoreDecl] = field(default_factory=dict)
    definitions: dict[str, m.Definition] = field(default_factory=dict)
    stages: dict[str, m.Stage] = field(default_factory=dict)
    calendars: dict[str, m.CalendarDecl] = field(default_factory=dict)
    contacts: dict[str, m.ContactDecl] = field(default_factory=dict)
    plans: dict[str, m.PlanDecl] = field(default_factory=dict)
    policies: dict[str, m.Policy] = field(default_factory=dict)
    duplicates: list[tuple[m.Declaration, m.Declaration]] = field(default_factory=list)
    resolved: list[m.Declaration] = field(default_factory=list)  # see declarations()

    def declarations(self) -> Iterator[m.Declaration]:
        """Every declaration in file order, each policy's own definitions and stages under their
        scoped names just before the policy, which reads them by those names (``files`` holds
        the policies as written)."""
        yield from self.resolved

    def namespaces(self) -> dict[type, dict[str, Any]]:
        return {
            m.FieldDecl: self.fields, m.ScoreDecl: self.scores, m.Definition: self.definitions,
            m.Stage: self.stages, m.CalendarDecl: self.calendars, m.ContactDecl: self.contacts,
            m.PlanDecl: self.plans, m.Policy: self.policies,
        }


def content_hash(sources: dict[str, str]) -> str:
    """The set's identity: its files' text and names relative to the set, wherever it was read from."""
    if not sources:
        return hashlib.sha256(b"").hexdigest()[:16]
    paths = [os.path.abspath(p) for p in sources]
    root = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0])
    digest = hashlib.sha256()
    for path, absolute in sorted(zip(sources, paths, strict=True), key=lambda pair: pair[1]):
        name = os.path.relpath(absolute, root)
        digest.update(name.encode() + b"\0" + sources[path].encode() + b"\0")
    return digest.hexdigest()[:16]


def build_policy_set(files: list[m.PolicyFile], sources: dict[str, str]) -> PolicySet:
    policy_set = PolicySet(files=files, sources=sources, content_hash=content_hash(sources))
    namespaces = policy_set.namespaces()
    for policy_file in files:
        for written in policy_file.declarations:
            if isinstance(written, m.Policy):
                hoisted, policy = resolve(written)
                policy_set.resolved.extend([*hoisted, policy])
            else:
                policy_set.resolved.append(written)
    for declaration in policy_set.declarations():
        namespace = namespaces[type(declaration)]
        name = declaration.name
        # One namespace per kind; a name shared across kinds is reported by the checker.
        if name in namespace:
            policy_set.duplicates.append((namespace[name], declaration))
            continue
        namespace[name] = declaration
    return policy_set


def load_policy_set(paths: Iterable[str | Path]) -> PolicySet:
    """Parse every file; raise PolicyError with the syntax errors of all of them."""
    files: list[m.PolicyFile] = []
    sources: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for path in policy_files(paths):
        text = path.read_text(encoding="utf-8")
        sources[str(path)] = text
        try:
            files.append(parse_text(text, str(path)))
        except PolicyError as error:
            diagnostics.extend(error.diagnostics)
    if diagnostics:
        raise PolicyError(diagnostics, sources)
    return build_policy_set(files, sources)


def plan_numbers(plan: m.PlanDecl) -> dict[str, int]:
    """Work the revenue goal backwards, rounding up at each step as finance does.

    300K a month at 25K a deal is 12 clients; at a 30 % win rate 40 opportunities; at 50 %
    SQL to opportunity 80 SQLs; at 25 % MQL to SQL 320 MQLs.
    """
    numbers: dict[str, int] = {}
    if plan.revenue is None or not plan.deal_size:
        return numbers
    clients = math.ceil(round(plan.revenue / plan.deal_size, 9))
    numbers["clients"] = clients
    if not plan.win_rate:
        return numbers
    current_stage, current = "opportunity", math.ceil(round(clients / plan.win_rate, 9))
    numbers["opportunities"] = current
    rates = {c.target: c for c in plan.conversions}
    while current_stage in rates and rates[current_stage].rate > 0:
        conversion = rates.pop(current_stage)
        current = math.ceil(round(current / conversion.rate, 9))
        current_stage = conversion.source
        numbers[_plural(current_stage)] = current
    return numbers


def _plural(stage: str) -> str:
    return {"opportunity": "opportunities"}.get(stage, f"{stage}s")
