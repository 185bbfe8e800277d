"""`sla-engine diff OLD NEW`: re-judge the same lead history under two policy sets and say what changes.

OLD and NEW are each a directory or a git revision of the repository that holds the policies
(materialized with `git archive` into a temporary directory). Events come from a store (SQLite
or PostgreSQL, ``store/replay.py``) or an event-log CSV and are streamed lead by lead: each lead
is judged under both sets in memory, its clocks compared (tier, deadline, outcome, escalations
fired), and only counts and a capped list of changed leads are kept, so a year of events fits in
memory. Targets are judged per period over throwaway SQLite stores, one per side, in the
temporary directory whichever store the events come from. The user's store is only read.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.engine.status import ClockStatus, TargetStatus
from sla_engine.engine.trace import policy_zone
from sla_engine.events import LeadEvent
from sla_engine.language.actions import describe_action
from sla_engine.language.policy_set import PolicySet, build_policy_set, load_policy_set, policy_files
from sla_engine.store.errors import StoreError
from sla_engine.store.replay import Replay, SQLiteReplay, open_replay

NEW_CLOCK, CLOCK_GONE = "new clock", "clock gone"
CHANGE_KINDS = ("tier", "deadline", "outcome", "escalations", NEW_CLOCK, CLOCK_GONE)
END_OF_TIME = datetime(9999, 1, 1, tzinfo=timezone.utc)  # a scratch store keeps every event of the log
STATUS_ORDER = (ClockStatus.MET, ClockStatus.BREACHED, ClockStatus.RUNNING, ClockStatus.PAUSED,
                ClockStatus.CANCELLED, ClockStatus.NOT_APPLICABLE)


class DiffError(Exception):
    """OLD, NEW or the events cannot be read; the message says which and why."""


# ---------------------------------------------------------------- the two policy sets


@dataclass
class Side:
    label: str  # as given, with the commit for a revision: "origin/main (3f2a1c9d)"
    directory: Path | None  # None: the revision has no policies at that path
    policy_set: PolicySet


def _git(repo: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess[Any]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=not binary, timeout=120,
                          check=False)


def _repository(policies: Path) -> Path:
    start = policies if policies.is_dir() else policies.parent
    while not start.exists() and start != start.parent:
        start = start.parent
    out = _git(start, "rev-parse", "--show-toplevel")
    if out.returncode != 0:
        raise DiffError(f"{policies} is not inside a git repository, so revisions cannot be read; "
                        "give OLD and NEW as directories")
    return Path(out.stdout.strip())


def check_or_fail(directory: Path, label: str) -> PolicySet:
    """Load a side's policy set, refusing one with errors (as `evaluate` would)."""
    from sla_engine.language.check import check_paths
    from sla_engine.language.errors import render_all

    diagnostics, sources = check_paths([directory])
    if diagnostics:
        raise DiffError(f"{label}: the policy set has {len(diagnostics)} error(s)\n{render_all(diagnostics, sources)}")
    return load_policy_set([directory])


def resolve_side(spec: str, policies: Path, workdir: Path, name: str) -> Side:
    """A directory (or .sla file) as is; anything else is a git revision of the policies' repository."""
    path = Path(spec)
    if path.exists():
        return Side(spec, path, check_or_fail(path, spec))
    repo = _repository(policies)
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
    if out.returncode != 0:
        raise DiffError(f"{spec!r} is neither a directory nor a git revision of {repo}")
    commit = out.stdout.strip()
    relative = policies.resolve().relative_to(repo.resolve()).as_posix()
    label = f"{spec} ({commit[:8]})"
    listed = _git(repo, "ls-tree", "-r", "--name-only", commit, "--", relative)
    if listed.returncode != 0 or not listed.stdout.strip():
        empty = build_policy_set([], {})
        return Side(label, None, empty)  # the policies do not exist yet at that revision
    archive = _git(repo, "archive", "--format=tar", commit, "--", relative, binary=True)
    if archive.returncode != 0:
        raise DiffError(f"git archive {spec} failed: {archive.stderr.decode(errors='replace').strip()}")
    target = workdir / name
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    directory = target / relative
    if not policy_files([directory]):
        return Side(label, None, build_policy_set([], {}))
    return Side(label, directory, check_or_fail(directory, label))


def same_policies(old: Side, new: Side) -> bool:
    """Identical .sla files (by path relative to the policy directory and content)."""
    def files(side: Side) -> dict[str, str]:
        if side.directory is None:
            return {}
        base = side.directory if side.directory.is_dir() else side.directory.parent
        return {Path(p).resolve().relative_to(base.resolve()).as_posix(): text
                for p, text in side.policy_set.sources.items()}
    return files(old) == files(new)


# ---------------------------------------------------------------- events


@dataclass
class EventSource:
    """Lead histories, one lead at a time in lead order, from a store's events (either store, read only)."""

    replay: Replay
    rejected: int = 0  # rows of an event log the csv connector could not read

    @property
    def label(self) -> str:
        return self.replay.label

    def histories(self, as_of: datetime) -> Iterator[tuple[str, list[LeadEvent]]]:
        try:
            yield from self.replay.histories(as_of)
        except StoreError as error:
            raise DiffError(str(error)) from None

    def lead_count(self, as_of: datetime) -> int:
        return self.replay.lead_count(as_of)

    def close(self) -> None:
        self.replay.close()


def open_events(spec: str, workdir: Path, progress: Callable[[int, int | None], None] | None = None) -> EventSource:
    """A store (an SQLite ``PATH`` or a ``postgresql://`` URL, read only) or ``csv:PATH`` of an event log
    (read into a scratch store; ``progress`` is told how many of its rows are read)."""
    if spec.startswith("csv:"):
        return _csv_events(spec, workdir, progress)
    try:
        return EventSource(open_replay(spec))
    except StoreError as error:
        raise DiffError(str(error)) from None


def _csv_events(spec: str, workdir: Path, progress: Callable[[int, int | None], None] | None) -> EventSource:
    """The event log read by the csv connector plugin, as a sync would read it, into a scratch store."""
    from sla_engine.connector import ConnectorError
    from sla_engine.plugins import PluginError, connectors
    from sla_engine.store.db import Store
    from sla_engine.sync import Pull, ingest

    store = Store(workdir / "events.db")
    try:
        connector = connectors()["csv"].from_target(spec, spec[4:])
        try:
            with store.transaction():
                pull = Pull(store, connector, END_OF_TIME)
                pull.progress = progress
                counts = ingest(store, spec, pull, None)
        finally:
            connector.close()
    except (ConnectorError, PluginError, KeyError) as error:
        store.close()
        raise DiffError(str(error).strip("'")) from None
    return EventSource(SQLiteReplay(store.conn, spec), rejected=counts.quarantined)


# ---------------------------------------------------------------- comparing one lead


@dataclass(frozen=True)
class Outcome:
    """What one policy set decided about one clock (policy, window, cycle) of a lead."""

    tier: str | None
    status: str  # met_late for a breach met later
    due_at: datetime | None
    escalations: tuple[str, ...]


def outcomes(result: LeadResult) -> dict[tuple[str, str, int], Outcome]:
    fired: dict[tuple[str, str, int], list[str]] = {}
    for action in result.actions:
        fired.setdefault((action.policy, action.window, action.cycle), []).append(
            f"{action.level}: {describe_action(action.action)}")
    return {
        (i.policy, i.window, i.cycle): Outcome(
            tier=i.tier, status="met_late" if i.met_late else i.status, due_at=i.due_at,
            escalations=tuple(sorted(fired.get((i.policy, i.window, i.cycle), []))),
        )
        for i in result.instances
    }


@dataclass
class ClockChange:
    lead_id: str
    policy: str
    window: str
    cycle: int
    kinds: list[str]
    old: Outcome | None
    new: Outcome | None


def compare_lead(lead_id: str, old: LeadResult, new: LeadResult) -> list[ClockChange]:
    before, after = outcomes(old), outcomes(new)
    changes: list[ClockChange] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if a is None or b is None:
            kinds = [NEW_CLOCK if a is None else CLOCK_GONE]
        else:
            kinds = [kind for kind, differs in (
                ("tier", a.tier != b.tier), ("deadline", a.due_at != b.due_at),
                ("outcome", a.status != b.status), ("escalations", a.escalations != b.escalations),
            ) if differs]
        changes.append(ClockChange(lead_id, key[0], key[1], key[2], kinds, a, b))
    return changes


# ---------------------------------------------------------------- the whole history


@dataclass
class TargetChange:
    policy: str
    target: str
    period: str
    group: str
    old_status: str | None
    new_status: str | None
    old_value: float | None
    new_value: float | None
    unit: str


@dataclass
class DiffReport:
    old: str
    new: str
    events: str
    as_of: datetime
    identical: bool = False
    leads: int = 0
    events_read: int = 0
    rejected: int = 0
    changed_leads: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    totals: dict[tuple[str, str, str], tuple[Counter[str], Counter[str]]] = field(default_factory=dict)
    details: list[ClockChange] = field(default_factory=list)
    more_leads: int = 0
    targets: list[TargetChange] = field(default_factory=list)
    zones: dict[str, str] = field(default_factory=dict)
    limit: int = 50
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.changed_leads or self.targets)


def _count(report: DiffReport, result: LeadResult, side: int) -> None:
    for instance in result.instances:
        key = (instance.policy, instance.window, instance.tier or "-")
        pair = report.totals.setdefault(key, (Counter(), Counter()))
        pair[side][instance.status] += 1


class _TargetStores:
    """One throwaway store per side, filled with the same events and each side's results."""

    def __init__(self, workdir: Path, stack: ExitStack) -> None:
        from sla_engine.store.db import Store

        self.stores = [Store(workdir / "old.db"), Store(workdir / "new.db")]
        for store in self.stores:
            stack.callback(store.close)
            stack.enter_context(store.transaction())

    def add(self, lead_id: str, events: list[LeadEvent], results: tuple[LeadResult, LeadResult]) -> None:
        for store, result in zip(self.stores, results, strict=True):
            store.events.upsert(events, 0)
            store.instances.save({lead_id: [i.as_row() for i in result.instances]}, 0)
            store.leads.save_stage_entries({lead_id: result.stage_entries})
            store.leads.save([(lead_id, result.state, result.next_check)], 0)




def run_diff(old: Side, new: Side, source: EventSource, as_of: datetime, workdir: Path,
             limit: int = 50, progress: Callable[[int, int | None], None] | None = None) -> DiffReport:
    """Judge every lead under both sets and collect the changes (details for the first ``limit`` leads);
    ``progress`` is told how many leads are judged, of how many."""
    started = time.perf_counter()
    as_of = as_of.astimezone(timezone.utc)
    report = DiffReport(old.label, new.label, source.label, as_of, rejected=source.rejected, limit=limit)
    report.zones = {name: policy_zone(side.policy_set, name) for side in (old, new)
                    for name in side.policy_set.policies}
    if same_policies(old, new):
        report.identical = True
        report.seconds = time.perf_counter() - started
        return report
    evaluators = (Evaluator(old.policy_set), Evaluator(new.policy_set))
    has_targets = any(p.targets for side in (old, new) for p in side.policy_set.policies.values())
    first_event: datetime | None = None
    with ExitStack() as stack:
        stores = _TargetStores(workdir, stack) if has_targets else None
        total = source.lead_count(as_of) if progress is not None else None
        for lead_id, events in source.histories(as_of):
            report.leads += 1
            if progress is not None:
                progress(report.leads, total)
            report.events_read += len(events)
            first_event = min(first_event or events[0].occurred_at, events[0].occurred_at)
            results = (evaluators[0].evaluate(lead_id, events, as_of, policy_hash=old.policy_set.content_hash),
                       evaluators[1].evaluate(lead_id, events, as_of, policy_hash=new.policy_set.content_hash))
            _count(report, results[0], 0)
            _count(report, results[1], 1)
            if stores is not None:
                stores.add(lead_id, events, results)
            changes = compare_lead(lead_id, *results)
            if not changes:
                continue
            report.changed_leads += 1
            report.by_kind.update({kind for change in changes for kind in change.kinds})
            if report.changed_leads <= limit or limit <= 0:
                report.details.extend(changes)
            else:
                report.more_leads += 1
        if stores is not None and first_event is not None:
            report.targets = compare_targets(old.policy_set, new.policy_set, stores.stores, first_event, as_of)
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------- targets


TargetKey = tuple[str, str, str, str]  # policy, target, period, group


def _target_rows(policy_set: PolicySet, store: Any, since: datetime, as_of: datetime) -> dict[TargetKey, Any]:
    """Every target's row for each of its periods from the first event to as-of, per group."""
    from sla_engine.engine.periods import period_of, zone_of
    from sla_engine.engine.targets import DEFAULT_PERIOD, evaluate_target
    from sla_engine.store.metrics import Metrics

    metrics = Metrics(store, policy_set)
    rows: dict[TargetKey, Any] = {}
    for policy in policy_set.policies.values():
        zone = zone_of(policy.timezone)
        for target in policy.targets:
            period = period_of(target.period or DEFAULT_PERIOD, since, zone)
            periods = []
            while period.start <= as_of:
                periods.append(period)
                period = period.next()
            for row in evaluate_target(metrics, policy, target, periods, as_of):
                rows[(policy.name, target.name, row.period.label, row.group_label or "all")] = row
    return rows


def compare_targets(old: PolicySet, new: PolicySet, stores: list[Any], since: datetime,
                    as_of: datetime) -> list[TargetChange]:
    """Targets whose status in some period and group differs between the two sets."""

    before = _target_rows(old, stores[0], since, as_of)
    after = _target_rows(new, stores[1], since, as_of)
    changes = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        # A group with no row on one side has nothing to judge there: "no data".
        old_status, new_status = (a.status if a else TargetStatus.NO_DATA), (b.status if b else TargetStatus.NO_DATA)
        if old_status == new_status:
            continue
        either = b or a
        assert either is not None  # the key came from one side or the other
        policy, target, period, group = key
        changes.append(TargetChange(policy, target, period, group, old_status=old_status, new_status=new_status,
                                    old_value=a.value if a else None, new_value=b.value if b else None,
                                    unit=either.unit))
    return changes


# ---------------------------------------------------------------- rendering


def _when(value: datetime | None, zone: str) -> str:
    if value is None:
        return "none"
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def change_rows(report: DiffReport, change: ClockChange) -> list[tuple[str, str, str]]:
    """(what changed, before, after) for one clock, in the policy's own time zone."""
    zone = report.zones.get(change.policy, "UTC")
    a, b = change.old, change.new
    if a is None or b is None:
        present = a or b
        assert present is not None
        text = f"{present.status}, tier {present.tier or '-'}, due {_when(present.due_at, zone)}"
        return [(change.kinds[0], "—" if a is None else text, text if a is None else "—")]
    rows = []
    for kind in change.kinds:
        if kind == "tier":
            rows.append((kind, a.tier or "none", b.tier or "none"))
        elif kind == "deadline":
            rows.append((kind, _when(a.due_at, zone), _when(b.due_at, zone)))
        elif kind == "outcome":
            rows.append((kind, a.status, b.status))
        else:
            gone = sorted((Counter(a.escalations) - Counter(b.escalations)).elements())
            added = sorted((Counter(b.escalations) - Counter(a.escalations)).elements())
            rows.append((kind, "; ".join(gone) or "—", "; ".join(added) or "—"))
    return rows


def _amount(value: float | None, unit: str) -> str:
    from sla_engine.policytest.run import amount_text

    return amount_text(value, unit)


def _total_rows(report: DiffReport) -> tuple[list[str], list[list[str]], int]:
    """Per window and tier whose counts change: each status's count before → after; and how many are unchanged."""
    changed = {key: pair for key, pair in report.totals.items() if pair[0] != pair[1]}
    present = [s for s in STATUS_ORDER if any(s in old or s in new for old, new in changed.values())]
    rows = []
    for (policy, window, tier), (old, new) in sorted(changed.items()):
        cells = []
        for status in present:
            a, b = old[status], new[status]
            cells.append(f"{a}" if a == b else f"{a} → {b} ({b - a:+d})")
        rows.append([f"{policy}/{window}", tier, *cells])
    return ["window", "tier", *present], rows, len(report.totals) - len(changed)


def _summary(report: DiffReport) -> list[str]:
    if report.identical:
        return ["The policies are the same in both: no outcome can change."]
    lines = [f"Re-judged {report.leads:,} lead(s) ({report.events_read:,} events from {report.events}) "
             f"as of {report.as_of:%Y-%m-%d %H:%M} UTC in {report.seconds:.1f}s."]
    if report.rejected:
        lines.append(f"{report.rejected:,} unreadable row(s) of the event log were skipped.")
    if not report.changed:
        lines.append("No lead's tier, deadline, outcome or escalations change, and no target's status.")
        return lines
    kinds = ", ".join(f"{k} {report.by_kind[k]:,}" for k in CHANGE_KINDS if report.by_kind[k])
    lines.append(f"{report.changed_leads:,} of {report.leads:,} lead(s) change" + (f" ({kinds})." if kinds else "."))
    if report.targets:
        lines.append(f"{len(report.targets)} target period(s) change status.")
    return lines


def to_text(report: DiffReport) -> str:
    lines = [f"sla-engine diff {report.old} → {report.new}", *_summary(report)]
    if report.identical:
        return "\n".join(lines)
    header, rows, same = _total_rows(report)
    if rows:
        lines += ["", "Clocks per window and tier, by status (before → after):", _plain_table(header, rows)]
        if same:
            lines.append(f"  ({same} window and tier row(s) unchanged)")
    if report.targets:
        target_rows, more = _target_table(report)
        lines += ["", "Targets whose status changes:", _plain_table(
            ["target", "period", "group", "before", "after"], target_rows)]
        if more:
            lines.append(f"  … and {more} more")
    if report.details:
        lines += ["", "Changed leads:"]
        for change in report.details:
            lines.append(f"  {change.lead_id}  {change.policy}/{change.window} cycle {change.cycle}")
            lines += [f"    {kind}: {before} → {after}" for kind, before, after in change_rows(report, change)]
        if report.more_leads:
            lines.append(f"  … and {report.more_leads:,} more lead(s)")
    return "\n".join(lines)


def _target_table(report: DiffReport) -> tuple[list[list[str]], int]:
    """Changed target periods, overall rows before per-group ones, capped like the lead details."""
    ordered = sorted(report.targets, key=lambda t: (t.group != "all", t.policy, t.target, t.period, t.group))
    shown = ordered if report.limit <= 0 else ordered[:report.limit]
    rows = [[f"{t.policy}/{t.target}", t.period, t.group,
             f"{t.old_status or '—'} ({_amount(t.old_value, t.unit)})",
             f"{t.new_status or '—'} ({_amount(t.new_value, t.unit)})"] for t in shown]
    return rows, len(ordered) - len(shown)


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in out)


def to_markdown(report: DiffReport) -> str:
    """A pull-request comment: the summary first, the per-lead details folded away."""
    from sla_engine.reports.render.markdown import md_escape as e

    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(e(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|",
                *("| " + " | ".join(e(c) for c in row) + " |" for row in rows), ""]

    lines = [f"### sla-engine diff: `{report.old}` → `{report.new}`", ""]
    lines += [e(line) for line in _summary(report)]
    lines.append("")
    if report.identical:
        return "\n".join(lines)
    header, rows, same = _total_rows(report)
    if rows:
        lines += ["#### Clocks per window and tier, by status (before → after)", "", *table(header, rows)]
        if same:
            lines += [f"{same} window and tier row(s) unchanged.", ""]
    if report.targets:
        target_rows, more = _target_table(report)
        lines += ["#### Targets whose status changes", "",
                  *table(["target", "period", "group", "before", "after"], target_rows)]
        if more:
            lines += [f"… and {more} more.", ""]
    if report.details:
        shown = report.changed_leads - report.more_leads
        lines += [f"<details><summary>Changed leads ({report.changed_leads:,}"
                  + (f", first {shown:,}" if report.more_leads else "") + ")</summary>", ""]
        detail_rows = [
            [change.lead_id, f"{change.policy}/{change.window} #{change.cycle}", kind, before, after]
            for change in report.details for kind, before, after in change_rows(report, change)
        ]
        lines += table(["lead", "clock", "change", "before", "after"], detail_rows)
        if report.more_leads:
            lines += [f"… and {report.more_leads:,} more lead(s).", ""]
        lines += ["</details>", ""]
    return "\n".join(lines)


def _outcome(outcome: Outcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {"tier": outcome.tier, "status": outcome.status,
            "due_at": outcome.due_at.astimezone(timezone.utc).isoformat() if outcome.due_at else None,
            "escalations": list(outcome.escalations)}


def to_dict(report: DiffReport) -> dict[str, Any]:
    return {
        "old": report.old,
        "new": report.new,
        "events": report.events,
        "as_of": report.as_of.isoformat(),
        "identical": report.identical,
        "summary": {
            "leads": report.leads, "events": report.events_read, "rejected_rows": report.rejected,
            "changed_leads": report.changed_leads, "by_kind": {k: report.by_kind[k] for k in CHANGE_KINDS},
            "target_changes": len(report.targets), "seconds": round(report.seconds, 3),
        },
        "totals": [
            {"policy": p, "window": w, "tier": t, "old": dict(old), "new": dict(new)}
            for (p, w, t), (old, new) in sorted(report.totals.items())
        ],
        "targets": [vars(t) for t in report.targets],  # all of them: a few per period and group at most
        "changes": [
            {"lead_id": c.lead_id, "policy": c.policy, "window": c.window, "cycle": c.cycle, "kinds": c.kinds,
             "old": _outcome(c.old), "new": _outcome(c.new)}
            for c in report.details
        ],
        "more_leads": report.more_leads,
    }


def to_json(report: DiffReport) -> str:
    return json.dumps(to_dict(report), indent=2, default=str)
