"""One `evaluate` run: ingest sources, judge the leads that need it, record what became due.

The cost of a cron run follows the change: only leads with new events and leads whose next
deadline, warning or escalation has come are judged again. A changed policy set queues the
leads to judge again, which this and the next runs work through after the due ones. A run
commits a chunk of leads at a time and the store keeps what is left (store/worklist.py), so a
killed run is finished by the next. An as-of earlier than the last run's is refused
(docs/semantics.md, "No going back").
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
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
from sla_engine.judging import Batch, judged, workers_for
from sla_engine.language.fingerprints import WINDOW, Fingerprint, RuleKey, changes, rule_fingerprints
from sla_engine.language.policy_set import PolicySet
from sla_engine.store.db import Store, iso
from sla_engine.store.metrics import Metrics
from sla_engine.store.worklist import DUE, REJUDGE, Chunk, ChunkCounts, Worklist
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
    judged: int = 0  # leads judged so far in this run
    rejudge_left: int = 0  # leads a policy change queued that later runs will judge
    processes: int = 1  # the processes that judged the run's chunks (others join on PostgreSQL)
    instances: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> ChunkCounts:
        return ChunkCounts(self.judged, self.new_breach_count, self.new_warning_count, self.actions_due)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "as_of": iso(self.as_of),
            "policy_hash": self.policy_hash,
            "git_commit": self.git_commit,
            "dry_run": self.dry_run,
            "full": self.full,
            "rejudge_left": self.rejudge_left,
            "processes": self.processes,
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
CHUNK_LEADS = 5000  # leads judged per transaction: the write-ahead log holds about one chunk's writes


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
    chunk_leads: int | None = None,
    rejudge_seconds: float | None = None,
) -> RunReport:
    """A run committed in chunks of leads: a crash keeps the chunks before it, and the next run
    judges what is left (store/worklist.py). --dry-run is one transaction, rolled back.

    A run with many leads to judge judges them in worker processes, one per core (sla_engine/judging.py);
    ``workers`` sets how many (0 or 1: in this process). ``rejudge_seconds`` bounds the time spent on
    the leads a policy change queued, once the leads with new events or a deadline come are judged
    (at least one chunk; None: all of them).
    """
    as_of = utc(as_of)
    latest = store.runs.latest_as_of()
    if latest is not None and as_of < latest:
        raise BackInTime(as_of, latest)
    evaluator = Evaluator(policy_set)
    fingerprints = rule_fingerprints(policy_set)
    stamps = window_stamps(fingerprints)
    step: Callable[[], AbstractContextManager[None]] = nullcontext if dry_run else store.transaction
    if not dry_run:
        _close_claims(store)  # processes still judging a run that died finish first
    with store.transaction(rollback=True) if dry_run else nullcontext():
        with step():
            report = _begin(policy_set, store, sources, as_of, dry_run, git_commit, fingerprints)
            store.worklist.publish(report.run_id, chunk_leads or CHUNK_LEADS)
        claims = Claims(store, report.run_id, rejudge_seconds)
        with older_objects_frozen():
            processes = workers_for(report.leads_evaluated, workers)
            # Due chunks other processes hold are this run's to finish: wait for them, and judge here
            # those whose process died before committing them.
            judging = True
            while judging:
                _judge(store, evaluator, report, claims, processes, step, progress, keep_instances, stamps)
                judging = store.worklist.wait_for_due(report.run_id)
        if not dry_run:
            _close_claims(store)
        with step():
            _finish(policy_set, store, evaluator, report)
    return report


def join_run(policy_set: PolicySet, store: Store, *, wait_seconds: float = 30.0,
             progress: Callable[[int, int], None] | None = None, workers: int | None = None,
             rejudge_seconds: float | None = None) -> RunReport | None:
    """Judge chunks of the run another process has open on this store (PostgreSQL), beside it.

    Waits up to ``wait_seconds`` for a run to open (its first process may still be ingesting);
    None when none did, or when one began and ended meanwhile (nothing is left to share). The
    run's process ingests, finishes and delivers; a joining one only claims chunks, judges them at
    the run's as-of and commits each, until none is left it may take. Its policy set must be the
    run's: judging a run's leads under other rules would mix two verdicts.
    """
    deadline = time.monotonic() + wait_seconds
    seen = store.runs.newest()
    while (run_id := store.worklist.open_run()) is None:
        newest = store.runs.newest()
        came_and_went = newest is not None and newest != seen and newest[1] != "running"
        if came_and_went or time.monotonic() >= deadline:
            return None
        time.sleep(0.2)
    run = store.runs.get(run_id)
    if run["policy_hash"] != policy_set.content_hash:
        raise PolicyMismatch(run_id, run["policy_hash"], policy_set.content_hash)
    report = RunReport(run_id, run["as_of"], policy_set.content_hash, run["git_commit"], dry_run=False)
    claims = Claims(store, run_id, rejudge_seconds)
    report.leads_evaluated = store.worklist.unclaimed_leads(run_id)
    with older_objects_frozen():
        _judge(store, Evaluator(policy_set), report, claims, workers_for(report.leads_evaluated, workers),
               store.transaction, progress, False, window_stamps(rule_fingerprints(policy_set)))
    report.leads_evaluated = report.judged
    return report


class PolicyMismatch(Exception):
    """A process may join only a run of the same policy set."""

    def __init__(self, run_id: int, run_hash: str, own_hash: str) -> None:
        super().__init__(
            f"run {run_id} judges policy set {run_hash[:12]}, these policies are {own_hash[:12]}: a run's "
            "leads are judged under one policy set. Join with the same policies (the same git commit) as "
            "the process that started the run.")


class Claims:
    """Which lists a process may still claim chunks from: the due chunks always, the re-judge chunks
    for ``rejudge_seconds`` from its first one (at least one; None: no limit)."""

    def __init__(self, store: Store, run_id: int, rejudge_seconds: float | None) -> None:
        self.store, self.run_id, self.rejudge_seconds = store, run_id, rejudge_seconds
        self.rejudge_started: float | None = None

    def lists(self) -> tuple[str, ...]:
        started, limit = self.rejudge_started, self.rejudge_seconds
        if started is not None and limit is not None and time.monotonic() - started >= limit:
            return (DUE,)
        return (DUE, REJUDGE)

    def chunks(self) -> Iterator[Chunk]:
        while chunk := self.store.worklist.claim(self.run_id, self.lists()):
            if chunk.listed == REJUDGE and self.rejudge_started is None:
                self.rejudge_started = time.monotonic()
            yield chunk


def window_stamps(fingerprints: dict[RuleKey, Fingerprint]) -> dict[tuple[str, str], str]:
    """Each window's fingerprint, stamped on its instances."""
    return {(policy, rule): value.whole for (kind, policy, rule), value in fingerprints.items() if kind == WINDOW}


def _close_claims(store: Store) -> None:
    """Close the open run to claims and wait for the processes still judging its chunks."""
    with store.transaction():
        store.worklist.close_run()
    store.worklist.wait_for_claims()


def _begin(policy_set: PolicySet, store: Store, sources: list[tuple[str, Iterable[Item]]], as_of: datetime,
           dry_run: bool, git_commit: str | None, fingerprints: dict[RuleKey, Fingerprint]) -> RunReport:
    """The run's first transaction: record it, ingest, queue what a policy change affects and the
    target streaks to judge, list the due leads."""
    store.runs.mark_interrupted()
    last = store.runs.last()
    run_id = store.runs.start(as_of, policy_set.content_hash, git_commit, dry_run)
    report = RunReport(run_id, as_of, policy_set.content_hash, git_commit, dry_run)
    for name, items in sources:
        report.sources.append(ingest(store, name, items, run_id))
        if isinstance(items, Pull):
            items.save(store)  # the cursors advance in the transaction that stores the events
    worklist = store.worklist
    changed = worklist.state("policy_hash") != policy_set.content_hash
    if changed:
        _queue_policy_change(store, fingerprints)
        worklist.set_state("policy_hash", policy_set.content_hash)
    elif not worklist.fingerprints():  # a store from before fingerprints were kept
        worklist.save_fingerprints({key: (value.whole, value.reach) for key, value in fingerprints.items()})
    report.full = worklist.rejudge_left() > 0
    changed_since = store.events.earliest_new_event
    earliest = datetime.fromisoformat(changed_since) if changed_since else None
    since = last["as_of"] if last else None
    if changed or targets_may_have_changed(policy_set, since, as_of, earliest):
        worklist.set_state("targets_pending", "1")
        if since is not None:  # a first run judges only the last streak (engine/targets.py)
            _targets_from(worklist, min(t for t in (since, earliest) if t is not None))
    report.leads_evaluated = worklist.select_due(as_of) + worklist.queued_besides_due()
    return report


def _targets_from(worklist: Worklist, instant: datetime) -> None:
    """Remember the earliest instant whose streaks the pending target judgement must cover: the last
    run's as-of, or earlier when a late event changed a period already judged. It is kept until the
    targets are judged (a re-judge may take several runs), so no completed period is skipped."""
    kept = worklist.state("targets_from")
    if kept is None or instant < datetime.fromisoformat(kept):
        worklist.set_state("targets_from", iso(instant))


def _queue_policy_change(store: Store, fingerprints: dict[RuleKey, Fingerprint]) -> None:
    """Queue the leads the changed rules can touch: those with an instance of a changed window, or
    every lead judged before when a window's start or segment changed (a dirty lead is on the run's own list)."""
    before = {key: Fingerprint(*value) for key, value in store.worklist.fingerprints().items()}
    touched = changes(before, fingerprints)
    if touched.any_lead:
        store.worklist.queue_judged_leads()
    else:
        store.worklist.queue_leads_of(touched.windows)
    store.worklist.save_fingerprints({key: (value.whole, value.reach) for key, value in fingerprints.items()})


def _judge(store: Store, evaluator: Evaluator, report: RunReport, claims: Claims, workers: int,
           step: Callable[[], AbstractContextManager[None]],
           progress: Callable[[int, int], None] | None, keep_instances: bool,
           stamps: dict[tuple[str, str], str]) -> None:
    """Judge the chunks this process claims, each chunk written in one transaction (``step``) that
    also marks it done with what it counted, and let each go once committed.

    Each instance is stamped with its window's fingerprint (``stamps``): a finished instance keeps
    its verdict unless its own window changed, and an unchanged window's instance is not rewritten.

    Batches are read ahead of the writes (workers judge while the run writes), so each batch is
    followed by the chunk it closes, if any, in the order the results come back.
    """
    closes: deque[Chunk | None] = deque()
    held: list[Chunk] = []
    counts: Counter[tuple[str, str, str, str]] = Counter()  # the open chunk's changes to the status counts
    by = f"{socket.gethostname()}:{os.getpid()}"

    def batches() -> Iterator[Batch]:
        for chunk in claims.chunks():
            held.append(chunk)
            # Read whole before its first batch goes out: no read stays open across a chunk's commit,
            # where it would keep SQLite from starting the write-ahead log over.
            histories = iter(list(store.worklist.histories(chunk)))
            batch = list(islice(histories, BATCH_LEADS))
            if not batch:  # leads without events (all moved to other leads): the chunk still closes
                closes.append(chunk)
                yield []
            while batch:
                following = list(islice(histories, BATCH_LEADS))
                closes.append(None if following else chunk)
                yield batch
                batch = following

    try:
        with ExitStack() as transaction:
            open_chunk = False
            before = report.counts()
            for _, results in judged(evaluator, batches(), report.as_of, report.policy_hash, workers):
                if not open_chunk:
                    transaction.enter_context(step())
                    open_chunk = True
                _save_results(store, results, report.run_id, report.as_of, report, keep_instances, stamps, counts)
                for _ in results:
                    report.judged += 1
                    if progress is not None:
                        progress(report.judged, max(report.leads_evaluated, report.judged))
                chunk = closes.popleft()
                if chunk is not None:
                    after = report.counts()
                    store.instances.add_counts(counts)
                    counts.clear()
                    store.worklist.finished(chunk, ChunkCounts(*(a - b for a, b in zip(after, before, strict=True))),
                                            by)
                    transaction.close()  # commits the chunk
                    open_chunk = False
                    before = after
                    held.remove(chunk)
                    store.worklist.release(chunk)
    finally:
        for chunk in held:  # claimed but not committed: back to the pool (the transaction rolled back)
            store.worklist.release(chunk)


def _finish(policy_set: PolicySet, store: Store, evaluator: Evaluator, report: RunReport) -> None:
    """The run's last transaction: counts, the targets once no re-judge is left, the run's record."""
    # Every chunk carries what it counted, so the run's counts are its processes' together (this one's
    # alone when it judged by itself, and none of them when only processes that joined did).
    totals, processes = store.worklist.totals(report.run_id)
    report.processes = max(processes, 1)
    report.judged, report.new_breach_count, report.new_warning_count, report.actions_due = totals
    report.leads_evaluated = report.judged
    report.rejudge_left = store.worklist.rejudge_left()
    report.status_counts.update(store.instances.status_counts())
    for row in report.instances:
        row.update(timing(evaluator, row, report.as_of))
    if store.worklist.state("targets_pending") and not report.rejudge_left:
        kept = store.worklist.state("targets_from")
        judged_from = datetime.fromisoformat(kept) if kept else None
        report.actions_due += record_target_escalations(policy_set, store, report.as_of, report.run_id,
                                                        since=judged_from)
        store.worklist.set_state("targets_pending", None)
        store.worklist.set_state("targets_from", None)
    store.runs.finish(report.run_id, report.summary())


def _save_results(store: Store, results: list[LeadResult], run_id: int, as_of: datetime, report: RunReport,
                  keep_instances: bool, stamps: dict[tuple[str, str], str],
                  counts: Counter[tuple[str, str, str, str]]) -> None:
    """Write a batch of judged leads, noting what newly breached or warned."""
    rows = {result.lead_id: [_stamped(instance.as_row(), stamps) for instance in result.instances]
            for result in results}
    now = iso(as_of)
    for row in store.instances.save(rows, run_id, stamps, counts):
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
    report.actions_due += store.outbox.record((a for result in results for a in result.actions), run_id, owners)
    store.leads.save_stage_entries({result.lead_id: result.stage_entries for result in results})
    store.leads.save(((result.lead_id, result.state, result.next_check) for result in results), run_id)


def _stamped(row: dict[str, Any], stamps: dict[tuple[str, str], str]) -> dict[str, Any]:
    row["policy_hash"] = stamps[(row["policy"], row["window"])]
    return row


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
    return store.outbox.record(due_target_escalations(Metrics(store, policy_set), as_of, since), run_id)
