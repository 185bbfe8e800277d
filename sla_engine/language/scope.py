"""A policy's own definitions and stages, and the names that mean them.

Two SLAs in one repository may disagree about what an MQL is (two regions really do). So a
policy may declare `define` and `stage` inside its block: inside that policy a bare name means
its own declaration first, then the shared vocabulary; everywhere else only the shared one
(lexical scope, as in most languages: a shared definition always means what its text says).
In a local declaration's own body its name still means the shared one, so
`stage mql when mql and icp` refines the shared MQL instead of referring to itself.

The engine, the store and the reports know one namespace. Each local declaration therefore
gets a scoped name, ``POLICY.NAME`` (a declared name never holds a dot, so none can clash),
and the policy's references to it are rewritten to that name: everything past the language
sees an ordinary stage or definition that only this policy reads.
"""

from __future__ import annotations

from typing import Any

from sla_engine.language import model as m
from sla_engine.language.vocabulary import EVENT_FIELDS

Local = m.Definition | m.Stage


def scoped_name(policy: str, name: str) -> str:
    """The name a policy's own definition or stage is known by outside the language."""
    return f"{policy}.{name}"


def split_scoped(name: str) -> tuple[str | None, str]:
    """(policy, name as written) of a scoped name; (None, name) of a shared one."""
    policy, dot, local = name.partition(".")
    return (policy, local) if dot else (None, name)


def written_name(name: str) -> str:
    """The name as the policy author wrote it, for messages and hints."""
    return split_scoped(name)[1]


def stage_words(name: str) -> str:
    """A stage as a trace says it: `mql`, or `mql (latam's own)` for a policy's own stage."""
    policy, local = split_scoped(name)
    return f"{local} ({policy}'s own)" if policy is not None else local


def locals_of(policy: m.Policy) -> list[Local]:
    """A policy's own definitions and stages, in the order they were written."""
    found: list[Local] = [*policy.definitions, *policy.stages]
    return sorted(found, key=lambda decl: (decl.pos.line, decl.pos.column))


def resolve(policy: m.Policy) -> tuple[list[Local], m.Policy]:
    """The policy's own declarations under their scoped names, and the policy reading them.

    A policy without its own declarations is returned as it is.
    """
    own = locals_of(policy)
    if not own:
        return [], policy
    names = {decl.name: scoped_name(policy.name, decl.name) for decl in own}
    hoisted: list[Local] = []
    for decl in own:
        inner = {name: scoped for name, scoped in names.items() if name != decl.name}
        hoisted.append(decl.model_copy(update={
            "name": names[decl.name],
            "expr": _renamed(decl.expr, inner, None) if decl.expr is not None else None,
        }))
    body = {key: _renamed(getattr(policy, key), names, None) for key in type(policy).model_fields
            if key not in ("pos", "name", "definitions", "stages")}
    return hoisted, policy.model_copy(update={**body, "definitions": [], "stages": []})


def _renamed(node: Any, names: dict[str, str], event_kind: str | None) -> Any:
    """``node`` with every reference to a local name made scoped; untouched parts are shared, not copied."""
    if isinstance(node, list):
        items = [_renamed(item, names, event_kind) for item in node]
        return node if all(a is b for a, b in zip(items, node, strict=True)) else items
    if not isinstance(node, m.Node):
        return node
    if isinstance(node, m.Ref):
        name = node.path[0]
        shadowed = event_kind is not None and name in EVENT_FIELDS.get(event_kind, {})
        if len(node.path) == 1 and name in names and not shadowed:
            return node.model_copy(update={"path": [names[name]]})
        return node
    if isinstance(node, m.Member):  # a bare name in a list is an enum value, not a reference
        operand = _renamed(node.operand, names, event_kind)
        return node if operand is node.operand else node.model_copy(update={"operand": operand})
    update: dict[str, Any] = {}
    if isinstance(node, m.Becomes) and node.stage in names:
        update["stage"] = names[node.stage]
    if isinstance(node, m.Count):
        event_kind = node.event
        if node.since in names:
            update["since"] = names[node.since]
    if isinstance(node, m.Trigger):
        if node.where is not None:
            update["where"] = _renamed(node.where, names, node.event)
        if node.condition is not None:
            update["condition"] = _renamed(node.condition, names, None)
    if isinstance(node, m.Metric) and node.kind in ("count", "rate"):
        for key in ("subject", "among"):
            if getattr(node, key) in names:
                update[key] = names[getattr(node, key)]
    if isinstance(node, m.Target) and any(name in names for name in node.group_by):
        update["group_by"] = [names.get(name, name) for name in node.group_by]
    for key in type(node).model_fields:
        if key == "pos" or key in update:
            continue
        value = getattr(node, key)
        renamed = _renamed(value, names, event_kind)
        if renamed is not value:
            update[key] = renamed
    return node.model_copy(update=update) if update else node


def stages_seen_by(policy: str | None, stages: list[str]) -> dict[str, str]:
    """The stages as ``policy`` names them (scoped name → name as written), in funnel order.

    The shared stages, each it refines replaced by its own in the same place, then its own new
    ones; the other policies' own stages are not there. ``policy`` None: the shared stages.
    """
    own = {local: stage for stage in stages
           for owner, local in [split_scoped(stage)] if owner is not None and owner == policy}
    seen: dict[str, str] = {}
    for stage in stages:
        owner, local = split_scoped(stage)
        if owner is None:
            seen[own.pop(local, stage)] = local
    seen.update({stage: local for local, stage in own.items()})
    return seen
