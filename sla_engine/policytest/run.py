"""Run test cases: build each case's events, judge them with the engine, compare with what it expects.

A case is judged exactly as `sla-engine evaluate` judges a lead (Evaluator.evaluate with the
case's fixed as-of); target expectations go through a throwaway store, as a cron run would.
A failure keeps the expected and actual value of every field that differs and the explain
trace of the lead, so the output says why.
"""

from __future__ import annotations

import difflib
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from sla_engine.engine.clock import Instance
from sla_engine.engine.evaluate import Evaluator, LeadResult
from sla_engine.engine.targets import TargetAction
from sla_engine.events import LeadEvent
from sla_engine.language import model as m
from sla_engine.language.actions import describe_action
from sla_engine.language.policy_set import PolicySet
from sla_engine.language.scope import stages_seen_by
from sla_engine.policytest.coverage import Coverage, Recorder, definitions_read, items
from sla_engine.policytest.files import (
    Case,
    TargetExpect,
    TestFileError,
    WindowExpect,
    find_test_files,
    load_test_file,
)

PASS, FAIL, ERROR = "pass", "fail", "error"
NONE = "none"


@dataclass
class Mismatch:
    """One expectation that does not hold: what was expected and what the engine decided."""

    subject: str  # "first_response (cycle 1)", "stages", "target tier2_contact 2026-W47"
    field: str
    expected: str | list[str]
    actual: str | list[str]
    clock: tuple[str, str] | None = None  # (policy, window) when the subject is a clock


@dataclass
class CaseResult:
    file: str
    line: int
    name: str
    status: str
    mismatches: list[Mismatch] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    trace_zone: str = "UTC"  # every time in the trace is in this zone: the test file's
    error: str | None = None
    seconds: float = 0.0

    @property
    def test_id(self) -> str:
        return f"{self.file}::{self.name}"


@dataclass
class RunResult:
    results: list[CaseResult]
    coverage: list[Coverage]
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        return all(r.status == PASS for r in self.results)


class CaseError(Exception):
    """The case names something the policy set does not have: an error, not a failure."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


# ---------------------------------------------------------------- the policy sets under test


@dataclass
class Subject:
    """One policy set, compiled once for every case that tests it, with its coverage recorder."""

    directory: Path
    policy_set: PolicySet | None
    evaluator: Evaluator | None
    recorder: Recorder
    error: str | None = None


def load_subject(directory: Path) -> Subject:
    """The policy set, checked as `evaluate` checks it; a broken set makes its cases errors."""
    from sla_engine.language.check import check_paths
    from sla_engine.language.errors import render_all
    from sla_engine.language.policy_set import load_policy_set

    recorder = Recorder()
    try:
        diagnostics, sources = check_paths([directory])
        if diagnostics:
            message = (f"the policy set {directory} has {len(diagnostics)} error(s); run `sla-engine check`\n"
                       + render_all(diagnostics, sources))
            return Subject(directory, None, None, recorder, message)
        policy_set = load_policy_set([directory])
    except Exception as error:  # a broken set must not stop the other files' tests
        return Subject(directory, None, None, recorder, f"{directory}: {error}")
    evaluator = Evaluator(policy_set)
    recorder.observe(evaluator)
    return Subject(directory, policy_set, evaluator, recorder)


# ---------------------------------------------------------------- running


def shown(path: Path) -> Path:
    """A path relative to the working directory when it is below it, as a reader typed it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def run_paths(paths: Iterable[Path], pattern: str | None = None, policies: Path | None = None) -> RunResult:
    """Every case of every test file under ``paths`` whose id matches ``pattern`` (a regex)."""
    started = time.perf_counter()
    subjects: dict[Path, Subject] = {}
    results: list[CaseResult] = []
    wanted = re.compile(pattern, re.IGNORECASE) if pattern else None
    for path in map(shown, find_test_files(paths)):
        try:
            test_file = load_test_file(path, policies)
        except TestFileError as error:
            if wanted is None or wanted.search(str(path)):
                results.extend(CaseResult(file=p.file, line=p.line, name="(file)", status=ERROR, error=str(p))
                               for p in error.problems)
            continue
        directory = test_file.policies.resolve()
        for case in test_file.cases:
            if wanted is not None and not wanted.search(case.test_id):
                continue
            if directory not in subjects:
                subjects[directory] = load_subject(shown(directory))
            results.append(run_case(case, subjects[directory]))
    coverage = [
        Coverage(str(subject.directory), items(subject.policy_set), subject.recorder.exercised)
        for subject in subjects.values() if subject.policy_set is not None
    ]
    return RunResult(results, coverage, time.perf_counter() - started)


def build_events(case: Case) -> dict[str, list[LeadEvent]]:
    """The case's timeline per lead; same-instant events keep their order in the file."""
    leads: dict[str, list[LeadEvent]] = {case.lead_id: []}
    for spec in case.events:
        try:
            event = LeadEvent.build(source="test", lead_id=spec.lead_id, type=spec.type, occurred_at=spec.at,
                                    payload=spec.payload, event_id=f"{spec.index:05d}")
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                                 for e in error.errors())
            raise CaseError(f"events[{spec.index + 1}] ({spec.type}): {problems}") from None
        leads.setdefault(spec.lead_id, []).append(event)
    return leads


def run_case(case: Case, subject: Subject) -> CaseResult:
    started = time.perf_counter()
    result = CaseResult(file=str(case.file), line=case.line, name=case.title, status=PASS)
    if subject.policy_set is None or subject.evaluator is None:
        result.status, result.error = ERROR, subject.error
        return result
    try:
        leads = build_events(case)
        judged: dict[str, LeadResult] = {}
        for lead_id, events in leads.items():
            judged[lead_id] = subject.evaluator.evaluate(lead_id, events, case.as_of,
                                                         policy_hash=subject.policy_set.content_hash, explain=True)
            subject.recorder.lead(judged[lead_id])
        result.mismatches = compare(case, subject, leads, judged)
    except CaseError as error:
        result.status = ERROR
        result.error = f"{case.file}:{error.line or case.line}: case '{case.title}': {error}"
    else:
        if result.mismatches:
            result.status = FAIL
            result.trace = trace_for(case, judged.get(case.lead_id), result.mismatches)
            result.trace_zone = case.zone.key
    result.seconds = time.perf_counter() - started
    return result


def compare(case: Case, subject: Subject, leads: dict[str, list[LeadEvent]],
            judged: dict[str, LeadResult]) -> list[Mismatch]:
    policy_set = subject.policy_set
    assert policy_set is not None
    found: list[Mismatch] = []
    if case.stages is not None:
        found += compare_stages(case, policy_set, judged[case.lead_id])
    for expect in case.windows:
        try:
            if expect.lead_id not in judged:
                raise CaseError(f"{expect.key}: no events for lead {expect.lead_id!r}")
            policy, window = resolve(policy_set, expect.key, case.policy, "window")
        except CaseError as error:
            raise CaseError(str(error), expect.line) from None
        found += compare_window(case, expect, policy, window, judged[expect.lead_id])
    if case.targets:
        found += compare_targets(case, subject, [e for events in leads.values() for e in events])
    return found


# ---------------------------------------------------------------- names


def resolve(policy_set: PolicySet, key: str, default_policy: str | None, kind: str) -> tuple[str, str]:
    """``window`` or ``policy/window`` (likewise targets) to the policy and name it means."""
    def names(policy: m.Policy) -> list[str]:
        return [w.name for w in policy.windows] if kind == "window" else [t.name for t in policy.targets]

    policies = policy_set.policies
    if "/" in key:
        policy_name, _, name = key.partition("/")
        if policy_name not in policies:
            raise CaseError(f"no policy named {policy_name!r} (policies: {', '.join(policies) or 'none'})")
        if name not in names(policies[policy_name]):
            raise CaseError(f"policy {policy_name} has no {kind} {name!r} "
                            f"({kind}s: {', '.join(names(policies[policy_name])) or 'none'})")
        return policy_name, name
    if default_policy is not None:
        if default_policy not in policies:
            raise CaseError(f"policy = {default_policy!r}: no such policy (policies: {', '.join(policies)})")
        if key in names(policies[default_policy]):
            return default_policy, key
    owners = [p.name for p in policies.values() if key in names(p)]
    if len(owners) == 1:
        return owners[0], key
    if owners:
        raise CaseError(f"{kind} {key!r} is in several policies ({', '.join(owners)}): write "
                        f"\"{owners[0]}/{key}\" or set policy = \"...\"")
    every = sorted({f"{p.name}/{n}" for p in policies.values() for n in names(p)})
    close = difflib.get_close_matches(key, [name.split("/")[1] for name in every], n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise CaseError(f"no {kind} named {key!r} ({hint}known: {', '.join(every) or 'none'})")


# ---------------------------------------------------------------- formatting values


def local_time(value: datetime | None, zone: ZoneInfo) -> str:
    """An instant as the test file writes it: local wall-clock time in the case's zone."""
    if value is None:
        return NONE
    local = value.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
    return f"{text} {local.tzname()}"


def status_of(instance: Instance) -> str:
    return "met_late" if instance.met_late else instance.status


def escalation_text(level: str, action: dict[str, Any]) -> str:
    return f"{level}: {describe_action(action)}"


def _norm(text: str) -> str:
    """Escalations compare ignoring case, spacing and the kind of quotes."""
    text = re.sub(r"\s+", " ", text.replace('"', "'")).strip().casefold()
    return re.sub(r"\s*:\s*", ": ", text, count=1)


def fired(result: LeadResult, policy: str, window: str, cycle: int) -> list[str]:
    return [escalation_text(a.level, a.action) for a in result.actions
            if (a.policy, a.window, a.cycle) == (policy, window, cycle)]


# ---------------------------------------------------------------- stages


def compare_stages(case: Case, policy_set: PolicySet, result: LeadResult) -> list[Mismatch]:
    expect = case.stages
    assert expect is not None
    # Stages as the policy under test names them: its own `mql` is `mql` here (language/scope.py).
    seen = stages_seen_by(case.policy, list(policy_set.stages))
    order = list(seen.values())
    named = [*(expect.entered or []), *expect.at]
    for stage in named:
        if stage not in order:
            raise CaseError(f"expect.stages: no stage named {stage!r} (stages: {', '.join(order)})")
    entries: dict[str, list[datetime]] = {}
    for stage, at in result.stage_entries:
        if stage in seen:
            entries.setdefault(seen[stage], []).append(at)
    found: list[Mismatch] = []
    if expect.entered is not None:
        wanted = sorted(set(expect.entered), key=order.index)
        got = sorted(entries, key=order.index)
        if wanted != got:
            found.append(Mismatch("stages", "entered", wanted, got))
    for stage, want in expect.at.items():
        got_at = entries.get(stage, [])
        if isinstance(want, bool):
            if want != bool(got_at):
                found.append(Mismatch("stages", stage, "entered" if want else "never entered",
                                      _entries_text(got_at, case.zone)))
        elif sorted(want) != sorted(got_at):
            found.append(Mismatch("stages", stage, [local_time(t, case.zone) for t in sorted(want)],
                                  [local_time(t, case.zone) for t in sorted(got_at)] or ["never entered"]))
    return found


def _entries_text(entries: list[datetime], zone: ZoneInfo) -> str:
    if not entries:
        return "never entered"
    return "entered " + ", ".join(local_time(t, zone) for t in entries)


# ---------------------------------------------------------------- windows


def compare_window(case: Case, expect: WindowExpect, policy: str, window: str,
                   result: LeadResult) -> list[Mismatch]:
    subject = f"{expect.key} (cycle {expect.cycle})"
    clock = (policy, window)
    if expect.lead_id != case.lead_id:
        subject += f" of lead {expect.lead_id}"
    instance = next((i for i in result.instances
                     if (i.policy, i.window, i.cycle) == (policy, window, expect.cycle)), None)
    wanted = expect.fields
    if instance is None:
        if wanted.get("status") == "not_started":
            return []
        cycles = sum(1 for i in result.instances if (i.policy, i.window) == (policy, window))
        return [Mismatch(subject, "clock", "started", f"not started ({cycles} cycle(s) in all)", clock)]
    if wanted.get("status") == "not_started":
        return [Mismatch(subject, "status", "not_started", status_of(instance), clock)]
    zone = case.zone
    actual: dict[str, Any] = {
        "tier": instance.tier or NONE,
        "status": status_of(instance),
        "due": instance.due_at,
        "started": instance.started_at,
        "stopped": instance.stopped_at,
        "breached": instance.breached_at,
        "warning": instance.warning_at,
        "met_late": instance.met_late,
        "goal": instance.goal or NONE,
        "calendar": instance.calendar or NONE,
        "cancelled_reason": instance.cancelled_reason or NONE,
    }
    found: list[Mismatch] = []
    for name, want in wanted.items():
        if name == "escalations":
            got = fired(result, policy, window, expect.cycle)
            if Counter(_norm(t) for t in want) != Counter(_norm(t) for t in got):
                found.append(Mismatch(subject, "escalations", list(want), got, clock))
            continue
        have = actual[name]
        if name == "status":
            same = want == have or (want == "breached" and have == "met_late")
        elif isinstance(want, datetime):
            same = have is not None and want == have
            want, have = local_time(want, zone), local_time(have, zone)
        elif isinstance(want, bool):
            same = want == have
            want, have = str(want).lower(), str(have).lower()
        else:
            same = _norm(str(want)) == _norm(str(have))
        if not same:
            found.append(Mismatch(subject, name, str(want), str(have), clock))
    return found


# ---------------------------------------------------------------- targets


def parse_amount(value: Any, unit: str) -> float:
    """An expected target value in the metric's unit: percentage points, leads, or seconds."""
    if isinstance(value, int | float):
        return float(value) * (3600 if unit == "seconds" else 1)  # a plain number is hours, as in a goal
    text = str(value).strip()
    if text.endswith("%"):
        return float(text[:-1])
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)\b", text)
    if parts and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*[wdhms]\b)+\s*", text):
        seconds = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
        return sum(float(n) * seconds[u] for n, u in parts)
    try:
        return float(text)
    except ValueError:
        raise CaseError(f"{value!r} is not a number, a percentage or a duration such as \"1h 30m\"") from None


def amount_text(value: float | None, unit: str) -> str:
    if value is None:
        return NONE
    if unit == "percent":
        return f"{value:.2f}".rstrip("0").rstrip(".") + "%"
    if unit == "seconds":
        minutes = round(value / 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"
    return f"{value:g}"


def compare_targets(case: Case, subject: Subject, events: list[LeadEvent]) -> list[Mismatch]:
    """Judge the case's leads in a throwaway store, then read each target as `report` does."""
    from sla_engine.engine.periods import PeriodError, parse_period, zone_of
    from sla_engine.engine.targets import current_period, due_target_escalations, evaluate_target
    from sla_engine.runner import evaluate_run
    from sla_engine.store.db import Store
    from sla_engine.store.metrics import Metrics

    policy_set = subject.policy_set
    assert policy_set is not None
    found: list[Mismatch] = []
    with tempfile.TemporaryDirectory(prefix="sla-engine-test-") as tmp:
        store = Store(Path(tmp) / "case.db")
        try:
            evaluate_run(policy_set, store, [("test", iter(events))], case.as_of)
            metrics = Metrics(store, policy_set)
            fired_rows = due_target_escalations(metrics, case.as_of)
            for fired in fired_rows:
                subject.recorder.target_escalation(policy_set.policies[fired.policy], fired.target, fired.level)
            for expect in case.targets:
                try:
                    policy_name, target_name = resolve(policy_set, expect.key, case.policy, "target")
                except CaseError as error:
                    raise CaseError(str(error), expect.line) from None
                policy = policy_set.policies[policy_name]
                target = next(t for t in policy.targets if t.name == target_name)
                subject.recorder.target(policy_name, target_name, definitions_read(policy_set, target))
                try:
                    period = (parse_period(expect.period, zone_of(policy.timezone)) if expect.period
                              else current_period(policy, target, case.as_of, None))
                except PeriodError as error:
                    raise CaseError(f"targets.{expect.key}.period: {error}", expect.line) from None
                if set(expect.fields) - {"escalations"}:
                    rows = evaluate_target(metrics, policy, target, [period], case.as_of)
                    found += _compare_target_row(expect, f"target {expect.key} {period.label}", rows)
                if "escalations" in expect.fields:
                    found += _compare_target_escalations(expect, policy_name, target_name, fired_rows)
        finally:
            store.close()
    return found


def _compare_target_row(expect: TargetExpect, subject: str, rows: list[Any]) -> list[Mismatch]:
    def matches(row: Any) -> bool:
        values = dict(row.group)
        return all(str(values.get(k)).casefold() == str(v).casefold() for k, v in expect.group.items())

    chosen = [row for row in rows if matches(row)]
    if expect.group:
        subject += " " + ", ".join(f"{k}={v}" for k, v in expect.group.items())
    if len(chosen) != 1:
        groups = "; ".join(row.group_label or "all" for row in rows) or "none"
        wanted = ", ".join(f"{k}={v}" for k, v in expect.group.items()) or "one group"
        return [Mismatch(subject, "group", wanted, f"{len(chosen)} matching (groups: {groups})")]
    row = chosen[0]
    found: list[Mismatch] = []
    if "value" in expect.fields:
        want = parse_amount(expect.fields["value"], row.unit)
        tolerance = 0.5 if row.unit == "seconds" else 0.005
        if row.value is None or abs(row.value - want) > tolerance:
            found.append(Mismatch(subject, "value", amount_text(want, row.unit), amount_text(row.value, row.unit)))
    if "status" in expect.fields and expect.fields["status"] != row.status:
        found.append(Mismatch(subject, "status", expect.fields["status"], row.status))
    if "sample" in expect.fields and expect.fields["sample"] != row.sample:
        found.append(Mismatch(subject, "sample", str(expect.fields["sample"]), str(row.sample)))
    return found


def _compare_target_escalations(expect: TargetExpect, policy: str, target: str,
                                fired: list[TargetAction]) -> list[Mismatch]:
    """Every action a target's `escalate when missed N periods` fired up to as-of (any period)."""
    def in_group(action: TargetAction) -> bool:
        label = action.action.get("target", {}).get("group") or ""
        return all(f"{k}={v}".casefold() in label.casefold() for k, v in expect.group.items())

    got = [escalation_text(action.level, action.action) for action in fired
           if action.policy == policy and action.target == target and in_group(action)]
    want = expect.fields["escalations"]
    if Counter(_norm(t) for t in want) == Counter(_norm(t) for t in got):
        return []
    return [Mismatch(f"target {expect.key}", "escalations", list(want), got)]


# ---------------------------------------------------------------- explain trace

def trace_for(case: Case, result: LeadResult | None, mismatches: list[Mismatch]) -> list[str]:
    """The lead's explain trace, every time in the case's zone like the test file, narrowed to the
    windows that failed."""
    if result is None or all(m.subject.startswith("target ") for m in mismatches):
        return []  # a target is judged over every lead of the case: no one lead's trace explains it
    windows = {m.clock for m in mismatches if m.clock is not None}
    narrow = all(m.clock is not None for m in mismatches)
    return [line.text(case.zone) for line in result.trace
            if not (narrow and line.clock is not None and line.clock not in windows)]

