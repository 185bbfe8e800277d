"""What `sla-engine test` prints: text for people, JSON for tools, JUnit XML for CI systems.

Text shows each failure as expected against actual, field by field, then the lead's explain
trace (the tier conditions with the values they saw), then a one-line summary and coverage.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from sla_engine.policytest.coverage import REASONS, Coverage, combined_percent
from sla_engine.policytest.run import ERROR, FAIL, PASS, CaseResult, Mismatch, RunResult


def _values(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return [f"- {item}" for item in value] or ["(none)"]
    return [value]


def mismatch_lines(mismatch: Mismatch) -> list[str]:
    expected, actual = _values(mismatch.expected), _values(mismatch.actual)
    if not isinstance(mismatch.expected, list) and not isinstance(mismatch.actual, list):
        return [f"    {mismatch.field:<16} expected {expected[0]}", f"    {'':<16} actual   {actual[0]}"]
    lines = [f"    {mismatch.field}:", "      expected:"]
    lines += [f"        {line}" for line in expected]
    lines.append("      actual:")
    lines += [f"        {line}" for line in actual]
    return lines


def failure_lines(result: CaseResult) -> list[str]:
    """A failed or errored test: where, what differs, and the trace that explains it."""
    if result.status == ERROR:
        return [f"ERROR {result.name}" if result.name != "(file)" else "ERROR (test file)", f"  {result.error}"]
    lines = [f"FAIL {result.file}:{result.line}: {result.name}"]
    subject = None
    for mismatch in result.mismatches:
        if mismatch.subject != subject:
            subject = mismatch.subject
            lines.append(f"  {subject}")
        lines += mismatch_lines(mismatch)
    if result.trace:
        lines.append(f"  trace (times in {result.trace_zone}):")
        lines += [f"    {line}" for line in result.trace]
    return lines


def coverage_lines(coverages: list[Coverage], details: bool = True) -> list[str]:
    lines: list[str] = []
    for coverage in coverages:
        kinds = ", ".join(f"{kind}s {c}/{t}" for kind, (c, t) in coverage.by_kind().items())
        lines.append(f"coverage of {coverage.policies}: {coverage.covered}/{coverage.total} "
                     f"({coverage.percent:.1f}%): {kinds}")
        if details and coverage.missing:
            lines.append("  not exercised by any test:")
            lines += [f"    {item.pos.file}:{item.pos.line}: {item.label} ({REASONS[item.kind]})"
                      for item in coverage.missing]
    return lines


def summary_line(run: RunResult) -> str:
    parts = [f"{run.count(PASS)} passed"]
    if run.count(FAIL):
        parts.append(f"{run.count(FAIL)} failed")
    if run.count(ERROR):
        parts.append(f"{run.count(ERROR)} error(s)")
    return f"{', '.join(parts)} in {run.seconds:.2f}s"


def to_text(run: RunResult, verbose: bool = False, coverage: bool = False) -> str:
    lines: list[str] = []
    for result in run.results:
        if result.status == PASS:
            if verbose:
                lines.append(f"ok   {result.file}:{result.line}: {result.name}")
            continue
        lines += failure_lines(result)
        lines.append("")
    if not run.results:
        lines.append("no tests ran")
    lines.append(summary_line(run))
    if coverage:
        lines += coverage_lines(run.coverage)
    return "\n".join(lines)


def _mismatch_dict(mismatch: Mismatch) -> dict[str, Any]:
    return {"subject": mismatch.subject, "field": mismatch.field, "expected": mismatch.expected,
            "actual": mismatch.actual}


def to_dict(run: RunResult, coverage: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "summary": {"passed": run.count(PASS), "failed": run.count(FAIL), "errors": run.count(ERROR),
                    "seconds": round(run.seconds, 3)},
        "tests": [
            {"id": r.test_id, "file": r.file, "line": r.line, "name": r.name, "status": r.status,
             "seconds": round(r.seconds, 4), "mismatches": [_mismatch_dict(m) for m in r.mismatches],
             "trace": r.trace, "trace_zone": r.trace_zone, "error": r.error}
            for r in run.results
        ],
    }
    if coverage:
        payload["coverage"] = {"percent": round(combined_percent(run.coverage), 1),
                               "policy_sets": [c.as_dict() for c in run.coverage]}
    return payload


def to_json(run: RunResult, coverage: bool = False) -> str:
    return json.dumps(to_dict(run, coverage), indent=2)


def to_junit(run: RunResult) -> str:
    """JUnit XML: one testsuite per test file, one testcase per case (and per row).

    Coverage is not part of the JUnit schema; the command prints it to standard error.
    """
    root = ET.Element("testsuites", name="sla-engine test", tests=str(len(run.results)),
                      failures=str(run.count(FAIL)), errors=str(run.count(ERROR)), time=f"{run.seconds:.3f}")
    suites: dict[str, list[CaseResult]] = {}
    for result in run.results:
        suites.setdefault(result.file, []).append(result)
    for file, results in suites.items():
        suite = ET.SubElement(
            root, "testsuite", name=file, tests=str(len(results)),
            failures=str(sum(r.status == FAIL for r in results)), errors=str(sum(r.status == ERROR for r in results)),
            skipped="0", time=f"{sum(r.seconds for r in results):.3f}",
        )
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=file, name=result.name, file=file,
                                 line=str(result.line), time=f"{result.seconds:.4f}")
            if result.status == FAIL:
                first = result.mismatches[0]
                message = f"{first.subject}: {first.field} expected {first.expected}, actual {first.actual}"
                failure = ET.SubElement(case, "failure", message=message, type="expectation")
                failure.text = "\n".join(failure_lines(result))
            elif result.status == ERROR:
                error = ET.SubElement(case, "error", message=(result.error or "").splitlines()[0] if result.error
                                      else "error", type="error")
                error.text = result.error
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
