"""One `evaluate` run: ingest sources, judge the leads that need it, record what became due.

The cost of a cron run follows the change: only leads with new events and leads whose next
deadline, warning or escalation has come are judged again. A changed policy set judges every
lead again. An as-of earlier than the last run's is refused (docs/semantics.md, "No going back").
"""

from __future__ import annotations

import gc
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sla_engine.engine.calendar import CALENDAR_TIME
from sla_engine.engine.clock import elapsed_business
from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.engine.status import OPEN_STATUSES, ClockStatus
from sla_engine.engine.targets import due_target_escalations, targets_may_have_changed
from sla_engine.events import utc
from sla_engine.judging import judged, workers_for
from sla_engine.language.policy_set import PolicySet
from sla_engine.store.db import Store, iso
from sla_engine.store.metrics import Metrics
from sla_engine.sync import Item, Pull, SourceCounts, ingest


@dataclass
class RunReport:
    run_id: int
    as_of: datetime
    policy_hash: str
    git_commit: str | None
    dry_run: bool
    full: bool = False
    sources: list[SourceCounts] = field(default_factory=list)
    leads_evaluated: int = 0
    status_counts: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    new_breach_count: int = 0
    new_warning_count: int = 0
    new_breaches: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_KEPT, for display
    new_warnings: list[dict[str, Any]] = field(default_factory=list)
    actions_due: int = 0
    instances: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "as_of": iso(self.as_of),
            "policy_hash": self.policy_hash,
            "git_commit": self.git_commit,
            "dry_run": self.dry_run,
            "full": self.full,
            "sources": [s.as_dict() for s in self.sources],
            "leads_evaluated": self.leads_evaluated,
            "new_breaches": self.new_breach_count,
            "new_warnings": self.new_warning_count,
            "actions_due": self.actions_due,
            "statuses": [
                {"policy": p, "window": w, "tier": t, "status": s, "count": n}
                for (p, w, t, s), n in sorted(self.status_counts.items())
            ],
        }


class BackInTime(Exception):
    """The as-of is earlier than the last run's: the store already holds what happened since."""

    def __init__(self, as_of: datetime, last: datetime) -> None:
        super().__init__(
            f"--as-of {iso(as_of)} is earlier than the last run's as-of {iso(last)}: this store already "
            "holds the clocks finished and the escalations recorded since then, so it cannot show the SLA "
            "as it stood at that instant. Evaluate into a new store instead (--db past.db --as-of "
            f"{iso(as_of)}), or look at one lead with `sla-engine explain LEAD --as-of {iso(as_of)}`."
        )
        self.as_of, self.last = as_of, last


MAX_KEPT = 1000  # new breaches and warnings kept for display; the counts are exact
BATCH_LEADS = 500  # leads judged, then written together: one query and a few executemany calls a batch


@contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects that exist before judging starts (the
    policy set, compiled conditions, calendars, modules): judging allocates and frees millions
    of short-lived objects, and every full collection would walk all of those again."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def git_commit_of(path: Path) -> str | None:
    """The commit of the policies' git checkout, recorded with each run."""
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def evaluate_run(
    policy_set: PolicySet,
    store: Store,
    sources: list[tuple[str, Iterable[Item]]],
    as_of: datetime,
    *,
    dry_run: bool = False,
    git_commit: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_instances: bool = False,
    workers: int | None = None,
) -> RunReport:
    """A whole run in one transaction: a crash or --dry-run leaves the store untouched.

    A run with many leads to judge judges them in worker processes, one per core (sla_engine/judging.py);
    `workers` sets how many (0 or 1: in this process)."""
    as_of = utc(as_of)
    last = store.runs.last()
    if last is not None and as_of < last["as_of"]:
        raise BackInTime(as_of, last["as_of"])
    evaluator = Evaluator(policy_set)
    with store.transaction(rollback=dry_run):
        run_id = store.runs.start(as_of, policy_set.content_hash, git_commit, dry_run)
        report = RunReport(run_id, as_of, policy_set.content_hash, git_commit, dry_run)
        for name, items in sources:
            report.sources.append(ingest(store, name, items, run_id))
            if isinstance(items, Pull):
                items.save(store)  # the cursors advance in the transaction that stores the events
        if last is None or last["policy_hash"] != policy_set.content_hash:
            store.leads.mark_all_dirty()
            report.full = True
        report.leads_evaluated = store.leads.select_to_evaluate(as_of)
        histories = store.events.rows_of_selected_leads()
        batches = iter(lambda: list(islice(histories, BATCH_LEADS)), [])
        done = 0
        with older_objects_frozen():
            for _, results in judged(evaluator, batches, as_of, policy_set.content_hash,
                                     workers_for(report.leads_evaluated, workers)):
                _save_results(store, results, run_id, as_of, report, keep_instances)
                for _ in results:
                    done += 1
                    if progress is not None:
                        progress(done, report.leads_evaluated)
        report.status_counts.update(store.instances.status_counts())
        for row in report.instances:
            row.update(timing(evaluator, row, as_of))
        changed_since = store.events.earliest_new_event
        earliest = datetime.fromisoformat(changed_since) if changed_since else None
        if report.full or targets_may_have_changed(policy_set, last["as_of"] if last else None, as_of, earliest):
            report.actions_due += record_target_escalations(policy_set, store, as_of, run_id,
                                                            since=last["as_of"] if last else None)
        store.runs.finish(run_id, report.summary())
    return report


def _save_results(store: Store, results: list[LeadResult], run_id: int, as_of: datetime, report: RunReport,
                  keep_instances: bool) -> None:
    """Write a batch of judged leads, noting what newly breached or warned."""
    rows = {result.lead_id: [instance.as_row() for instance in result.instances] for result in results}
    now = iso(as_of)
    for row in store.instances.save(rows, run_id):
        if row["status"] == ClockStatus.BREACHED and row["previous_status"] != ClockStatus.BREACHED:
            report.new_breach_count += 1
            if len(report.new_breaches) < MAX_KEPT:
                report.new_breaches.append(row)
        if (row["warning_at"] and row["warning_at"] <= now and row["status"] == ClockStatus.RUNNING
                and not (row["previous_warning_at"] and row["previous_warning_at"] <= now)):
            report.new_warning_count += 1
            if len(report.new_warnings) < MAX_KEPT:
                report.new_warnings.append(row)
    if keep_instances:
        for lead_rows in rows.values():
            report.instances.extend(lead_rows)
    owners = {result.lead_id: result.state.get("owner") for result in results if result.actions}
    report.actions_due += store.record_actions((a for result in results for a in result.actions), run_id, owners)
    store.leads.save_stage_entries({result.lead_id: result.stage_entries for result in results})
    store.leads.save(((result.lead_id, result.state, result.next_check) for result in results), run_id)


def timing(evaluator: Evaluator, row: dict[str, Any], as_of: datetime) -> dict[str, float | None]:
    """Elapsed and remaining business time at as_of, on the instance's own calendar."""
    calendar = evaluator.calendars.get(row.get("calendar") or "", CALENDAR_TIME)
    started = datetime.fromisoformat(row["started_at"])
    ended = row.get("stopped_at") or row.get("ended_at")  # a breached clock ended by a recycle stops counting
    end = datetime.fromisoformat(ended) if ended else as_of
    if row.get("paused_since"):
        end = min(end, datetime.fromisoformat(row["paused_since"]))
    elapsed = elapsed_business(calendar, started, end, row.get("paused_seconds") or 0)
    remaining = None
    if row["status"] in OPEN_STATUSES and row.get("due_at"):
        remaining = max(calendar.diff(end, datetime.fromisoformat(row["due_at"])), timedelta(0)).total_seconds()
    return {"elapsed_business_seconds": elapsed.total_seconds(), "remaining_business_seconds": remaining}


def record_target_escalations(policy_set: PolicySet, store: Store, as_of: datetime, run_id: int,
                              since: datetime | None = None) -> int:
    """Record the due target escalations in the outbox (once each); returns how many are new.

    Called at the end of every evaluate run, inside its transaction.
    """
    if not any(level.when == "missed" for policy in policy_set.policies.values()
               for target in policy.targets for level in target.escalations):
        return 0
    return store.record_actions(due_target_escalations(Metrics(store, policy_set), as_of, since), run_id)
