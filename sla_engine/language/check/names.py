"""Names across the whole set: declared once, one meaning, no definition depending on itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sla_engine.language import model as m
from sla_engine.language.check.base import CheckerBase, _article, _called, _kind
from sla_engine.language.check.types import _event_fields
from sla_engine.language.scope import locals_of, written_name
from sla_engine.language.vocabulary import LEAD_FIELDS


def _named_refs(node: Any, event_kind: str | None = None) -> Iterator[tuple[str, m.Node]]:
    """Single names a condition reads (event fields excepted), with the node that reads them."""
    if isinstance(node, m.Ref):
        if len(node.path) == 1 and node.path[0] not in _event_fields(event_kind):
            yield node.path[0], node
    elif isinstance(node, m.Becomes):
        yield node.stage, node
    elif isinstance(node, m.Count):
        if node.where is not None:
            yield from _named_refs(node.where, node.event)
    elif isinstance(node, m.ListValue):
        return  # list items are text constants
    elif isinstance(node, m.Node):
        for name in type(node).model_fields:
            yield from _named_refs(getattr(node, name), event_kind)
    elif isinstance(node, list):
        for item in node:
            yield from _named_refs(item, event_kind)


class NameChecks(CheckerBase):
    """Duplicates, repeated one-value items, shared names and cycles."""

    def check_duplicates(self) -> None:
        """Only the first of two same-named declarations counts: edits to the second would silently do nothing."""
        for first, second in self.ps.duplicates:
            kind, first_kind = _kind(second), _kind(first)
            also = "" if kind == first_kind else f" as {_article(first_kind)}"
            self.report("E203", f"{_called(second)} is already declared{also} at {first.pos}", second.pos,
                        "rename one of them")

    def check_repeated_items(self) -> None:
        """`starts` written twice in a window: the model keeps only the last, so the first is silently ignored."""
        for policy_file in self.ps.files:
            for repeated in policy_file.repeated:
                self.report("E203", f"`{repeated.keyword}` is given twice in {repeated.kind} '{repeated.name}' "
                            f"(first at {repeated.first}); only the last one counts", self.head(repeated.pos),
                            "keep one of them")

    def check_shared_names(self) -> None:
        """Fields, scores, definitions and stages are all read by bare name in conditions: one name, one meaning."""
        named: list[m.Node] = [*self.ps.fields.values(), *self.ps.scores.values(),
                               *self.ps.definitions.values(), *self.ps.stages.values()]
        owners: dict[str, m.Node] = {}
        for decl in sorted(named, key=self.order):
            name = decl.name  # type: ignore[attr-defined]
            earlier = owners.setdefault(name, decl)
            if earlier is not decl:
                self.report("E203", f"{_called(decl)} has the same name as {_called(earlier)} at "
                            f"{earlier.pos}; conditions could not tell them apart", decl.pos, "rename one of them")
            elif not isinstance(decl, m.FieldDecl) and name in LEAD_FIELDS:
                self.report("E203", f"{_kind(decl)} '{name}' has the name of the standard lead field '{name}'; "
                            "conditions could not tell them apart", decl.pos, "rename it")

    def check_local_names(self) -> None:
        """A policy's own definition or stage may shadow a shared one of its kind (that is what it is for);
        shadowing a field or another kind would change what the name is inside the policy."""
        named = (("field", self.ps.fields), ("score", self.ps.scores), ("definition", self.ps.definitions),
                 ("stage", self.ps.stages))
        policies = [d for f in self.ps.files for d in f.declarations if isinstance(d, m.Policy)]
        for policy in policies:
            for decl in locals_of(policy):
                kind = _kind(decl)
                clash = next(((other, ns[decl.name]) for other, ns in named
                              if decl.name in ns and other != kind), None)
                if clash is not None:
                    other, earlier = clash
                    self.report("E203", f"{kind} '{decl.name}' of policy '{policy.name}' has the same name as "
                                f"{other} '{decl.name}' at {earlier.pos}; conditions could not tell them apart",
                                decl.pos, f"a policy may refine a shared {kind} of the same name; rename this one")
                elif decl.name in LEAD_FIELDS:
                    self.report("E203", f"{kind} '{decl.name}' of policy '{policy.name}' has the name of the "
                                f"standard lead field '{decl.name}'; conditions could not tell them apart",
                                decl.pos, "rename it")

    def check_cycles(self) -> None:
        """A definition that depends on itself has no value: the engine would read it as never true."""
        named: dict[str, m.Node] = {**self.ps.stages, **self.ps.scores, **self.ps.definitions}
        graph = {name: [(target, node) for target, node in self.dependencies(decl) if target in named]
                 for name, decl in named.items()}
        state: dict[str, str] = {}
        path: list[str] = []
        reported: set[frozenset[str]] = set()

        def visit(name: str) -> None:
            state[name] = "open"
            path.append(name)
            for target, node in graph[name]:
                if state.get(target) == "open":
                    cycle = [*path[path.index(target):], target]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.report_cycle(named[name], target, node, cycle)
                elif target not in state:
                    visit(target)
            path.pop()
            state[name] = "done"

        for name in sorted(named, key=lambda n: self.order(named[n])):
            if name not in state:
                visit(name)

    def report_cycle(self, decl: m.Node, target: str, node: m.Node, cycle: list[str]) -> None:
        """Report a cycle at the reference that closes it, with the whole loop spelt out."""
        pos = node.pos
        written = written_name(target)  # a policy's own name as its author wrote it
        if isinstance(node, m.Becomes):
            pos = self.within(node.pos, "becomes", written)
        elif isinstance(node, m.ScoreRule):
            pos = self.within(node.pos, "per", written)
        loop = " → ".join(map(written_name, cycle))
        self.report("E204", f"{_called(decl)} refers back to '{written}': {loop}", pos,
                    "a condition cannot depend on itself; break the loop")

    def dependencies(self, decl: m.Node) -> list[tuple[str, m.Node]]:
        """The names a definition, score or stage reads, with the node that reads each."""
        if isinstance(decl, m.ScoreDecl):
            found = [dep for rule in decl.rules for dep in _named_refs(rule.when)]
            found += [(rule.per, rule) for rule in decl.rules if rule.per is not None]
            return found
        return list(_named_refs(getattr(decl, "expr", None)))
