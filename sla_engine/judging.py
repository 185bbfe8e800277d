"""Judging batches of leads on every core: worker processes judge, the run's own process reads
histories and writes results.

Judging is a pure function of the compiled policy set and one lead's events (engine/evaluate.py)
and most of a full run's time; the store has one writer. So the run's process keeps reading and
writing (in its transaction, so events ingested by the same run are seen) while forked workers,
which inherit the compiled policy set, judge the batches it hands them. Results come back in
the order the batches went out, so the store receives exactly what judging in-process gives.
A worker that dies (killed, out of memory) breaks the pool and fails the run, whose chunk in
flight then rolls back: nothing half-judged is kept, and the next run judges what is left.

Only a run with many leads to judge uses workers (`PARALLEL_FROM`): starting them costs more
than judging a cron tick's few leads.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime

from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.store.events import StoredRow, stored_events

Batch = list[tuple[str, list[StoredRow]]]  # (lead, its events as stored), as the store streams them
PARALLEL_FROM = 5_000  # leads to judge before workers are worth starting
AHEAD = 2  # batches in flight per worker: enough to keep each busy while the writer catches up

_evaluator: Evaluator | None = None  # a worker's, inherited from the run's process when it forks


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers_for(leads: int, workers: int | None = None) -> int:
    """How many worker processes judge a run of `leads` leads: none (judge in-process) for a small
    run or off Linux; else one per usable core, or `workers` if given. Workers are forked, which
    only Linux does safely in a process that may run other threads (macOS offers fork, but its
    system libraries are not safe across it)."""
    if not sys.platform.startswith("linux"):
        return 0
    if workers is not None:
        return workers if workers > 1 else 0
    cores = usable_cores()
    return cores if cores > 1 and leads >= PARALLEL_FROM else 0


def judged(evaluator: Evaluator, batches: Iterable[Batch], as_of: datetime, policy_hash: str,
           workers: int) -> Iterator[tuple[Batch, list[LeadResult]]]:
    """Each batch with its leads judged, in order; by `workers` forked processes, or in-process if 0."""
    if workers < 1:
        for batch in batches:
            yield batch, _judge_with(evaluator, batch, as_of, policy_hash)
        return
    global _evaluator
    _evaluator = evaluator  # the workers fork from here and inherit it: compiled closures do not pickle
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_quiet) as pool:
            pending: deque[tuple[Batch, Future[list[LeadResult]]]] = deque()
            for batch in batches:
                pending.append((batch, pool.submit(_judge, batch, as_of, policy_hash)))
                if len(pending) >= workers * AHEAD:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
    finally:
        _evaluator = None


def _quiet() -> None:
    """A worker writes nothing: its own standard streams, so that flushing them as it exits never waits
    on a lock another thread of the run's process (a progress bar) held when it forked."""
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  # open while it lives


def _judge(batch: Batch, as_of: datetime, policy_hash: str) -> list[LeadResult]:
    """In a worker: the batch judged by the evaluator it inherited."""
    assert _evaluator is not None, "a worker judges only with the evaluator its run forked it with"
    return _judge_with(_evaluator, batch, as_of, policy_hash)


def _judge_with(evaluator: Evaluator, batch: Batch, as_of: datetime, policy_hash: str) -> list[LeadResult]:
    return [evaluator.evaluate(lead_id, stored_events(rows), as_of, policy_hash=policy_hash) for lead_id, rows in batch]
